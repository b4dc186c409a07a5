"""Message-id normalisation and per-account detection of how an SMSC spells its ids.

Carriers disagree with themselves: the submit_sm_resp may say ``0A3F9C`` while the
delivery receipt says ``671644`` (the same number in decimal), or ``a3f9c``, or
``00000a3f9c``. Gateways that compare strings lose these receipts. Here every id is
reduced to a canonical string, and a receipt id is tried in up to three *kinds*:

``same``
    the receipt spells the id like the response: compared without letter case and
    without leading zeros (``00AB12`` == ``ab12``).
``hex2dec``
    the receipt is hex, the response was decimal: ``AB12`` -> ``43794``.
``dec2hex``
    the receipt is decimal, the response was hex: ``43794`` -> ``ab12``.

The correlation entry is always stored under ``canonical(response id)``, the
``same`` normalisation, so the three kinds are three lookups of one key space.

The SMSC profile (``message_id_format`` in the bind config: how *receipts* spell the
id) narrows the kinds: ``str`` -> same only; ``hex`` -> same, hex2dec; ``dec`` ->
same, dec2hex; ``auto`` -> all three. Within those, :class:`FormatDetector` learns
from the first receipts which kind this account's SMSC uses and then tries only that
one, so that a coincidental match in another kind (``123`` is valid hex *and*
decimal) cannot correlate a receipt with the wrong message once the format is known.

Why not ``engine.smpp.receipts.normalize_message_id``: it canonicalises one id given
its format (hex ids become decimal numbers), which needs the response's format at
submit time. The tracker stores each submit once, before any receipt has shown the
SMSC's habits, so it keeps the literal form and converts the *receipt* side; the two
agree on every id both can read (tests/tracking/test_tracker.py has the table).
"""

from __future__ import annotations

__all__ = [
    "KINDS",
    "PROFILE_KINDS",
    "canonical",
    "candidates",
    "FormatDetector",
    "DETECT_MIN_MATCHES",
    "DETECT_DOMINANCE",
]

KINDS = ("same", "hex2dec", "dec2hex")

PROFILE_KINDS: dict[str, tuple[str, ...]] = {
    "auto": KINDS,
    "str": ("same",),
    "hex": ("same", "hex2dec"),
    "dec": ("same", "dec2hex"),
}

# A kind is adopted for an account after this many matches ...
DETECT_MIN_MATCHES = 5
# ... provided it has at least this many times the matches of every other kind: a
# stray coincidental match in another kind must not block detection forever, and a
# genuinely mixed SMSC (it happens after a carrier migration) is never locked.
DETECT_DOMINANCE = 20

_HEX = frozenset("0123456789abcdefABCDEF")
_DEC = frozenset("0123456789")
# SMPP 3.4 message_id is a C-octet string of at most 65 octets; ids longer than this
# are not ids, and converting a 1000-digit "number" would only waste time.
MAX_ID_LENGTH = 65


def canonical(raw: str) -> str:
    """The ``same`` form: surrounding blanks and NULs removed (some SMSCs send the
    C-string terminator inside the TLV), lower case, no leading zeros.

    An id of only zeros is ``"0"``; an empty id stays empty (it can never match,
    since :func:`candidates` returns nothing for it).
    """
    if raw.isalnum():
        # The common case, an id without blanks or NULs: nothing to strip (a third of
        # the cost, and this runs twice per message at 20,000 messages/s).
        return raw.lower().lstrip("0") or "0"
    t = raw.strip().strip("\0").strip()
    s = t.lower().lstrip("0")
    if not s and t:
        return "0"
    return s


def candidates(raw: str, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    """``[(canonical id, kind), ...]`` for a receipt's id, in the order to try them.

    Duplicates are dropped (a one-digit id is the same in every kind), so that a
    match is attributed to the first, most literal, kind.
    """
    if len(kinds) == 1 and kinds[0] == "same" and raw.isalnum() and len(raw) <= MAX_ID_LENGTH:
        # The format is known to be "same" (learned or profiled): one candidate.
        return [(raw.lower().lstrip("0") or "0", "same")]
    s = raw.strip().strip("\0").strip()
    if not s or len(s) > MAX_ID_LENGTH:
        return [(canonical(raw), "same")] if s else []
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for kind in kinds:
        if kind == "same":
            c = canonical(s)
        elif kind == "hex2dec":
            if not _HEX.issuperset(s):
                continue
            c = str(int(s, 16))
        elif kind == "dec2hex":
            if not _DEC.issuperset(s):
                continue
            c = format(int(s), "x")
        else:
            raise ValueError(f"unknown message id kind {kind!r}; expected one of {KINDS}")
        if c not in seen:
            seen.add(c)
            out.append((c, kind))
    return out


class FormatDetector:
    """Which kinds to try for one account; learns from match counts.

    Holds one small dict per *account* (never per message). Counts are also kept in
    Redis (``<prefix>idfmt:<account>``) by the tracker so that a restarted engine, or
    a second engine process, starts from what the first learned.
    """

    __slots__ = ("profile", "counts", "locked")

    def __init__(self, profile: str = "auto", counts: dict[str, int] | None = None) -> None:
        if profile not in PROFILE_KINDS:
            raise ValueError(
                f"message_id_format must be one of {', '.join(PROFILE_KINDS)}, got {profile!r}"
            )
        self.profile = profile
        self.counts: dict[str, int] = {k: 0 for k in PROFILE_KINDS[profile]}
        self.locked: str | None = None
        for kind, n in (counts or {}).items():
            if kind in self.counts:
                self.counts[kind] += int(n)
        self._decide()

    def kinds(self) -> tuple[str, ...]:
        if self.locked is not None:
            return (self.locked,)
        return PROFILE_KINDS[self.profile]

    def matched(self, kind: str) -> None:
        self.learn({kind: 1})

    def learn(self, counts: dict[str, int]) -> None:
        """Add the matches of one batch, ``{kind: n}``, then decide once.

        All of them before deciding: fed one kind at a time, the first kind read would
        be judged alone (6 coincidental hex2dec matches lock hex2dec before the 30
        literal ones of the same batch are counted), and the lock is never undone.
        """
        for kind, n in counts.items():
            if kind in self.counts:
                self.counts[kind] += int(n)
        if self.locked is None:
            self._decide()

    def _decide(self) -> None:
        if len(self.counts) == 1:
            self.locked = next(iter(self.counts))
            return
        best = max(self.counts, key=self.counts.__getitem__)
        n = self.counts[best]
        if n < DETECT_MIN_MATCHES:
            return
        if all(n >= DETECT_DOMINANCE * m for k, m in self.counts.items() if k != best):
            self.locked = best
