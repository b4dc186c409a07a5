"""Destination numbers to E.164 and sender names to SMPP source addresses.

Destinations are parsed with ``phonenumbers`` (Google's libphonenumber metadata)
given a default region, so that every common written form of one number
(``+7903...``, ``8903...``, ``7 (903) ...``, ``8-903-...``, ``00 44 ...``) becomes
the same E.164 string. Short codes and numbers that cannot be valid are refused
with an :class:`InvalidNumber` that names the input and the reason.

Senders are either alphanumeric (at most 11 Latin letters, digits and spaces,
at least one letter: TON 5 / NPI 0), a short code (TON 3 / NPI 0) or an
international number of at most 15 digits (TON 1 / NPI 1); anything else is an
:class:`InvalidSender`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult
from phonenumbers import shortnumberinfo

__all__ = [
    "InvalidNumber",
    "InvalidSender",
    "NumberNormalizer",
    "Sender",
    "normalize_number",
    "validate_sender",
    "ALPHANUMERIC_SENDER_MAX",
    "NUMERIC_SENDER_MAX",
    "SHORT_CODE_MAX_DIGITS",
]

# GSM 03.40 TP-OA holds 11 packed GSM characters when the type of number is
# alphanumeric; SMSCs truncate or reject longer names.
ALPHANUMERIC_SENDER_MAX = 11
# ITU-T E.164: a full international number has at most 15 digits.
NUMERIC_SENDER_MAX = 15
# Sender short codes in service are 3 to 6 digits in most countries (RU 4, UK 5,
# US 5-6) and up to 8 in a few; a longer all-digit sender is taken as a full number.
SHORT_CODE_MAX_DIGITS = 8
# No country has subscriber numbers of 6 digits or fewer once the area code is
# included (libphonenumber's shortest national numbers elsewhere are 7+ digits for
# mobiles), and libphonenumber's short-code metadata misses many commercial SMS
# short codes (RU 4-digit ones): up to this length, call it a short code.
_SHORT_CODE_SURE_DIGITS = 6
# Raw inputs remembered per normaliser: a campaign repeats numbers (households,
# test rows, retries), and parsing one costs ~30 us. Bounded so that a
# 10-million-row file cannot grow memory without limit (~150 bytes per entry).
NUMBER_CACHE_MAX = 200_000

# Characters people write inside phone numbers; anything else (letters, '*', '#',
# ',' ...) makes the input not a number we will guess at.
_NUMBER_CHARS = re.compile(r"^[+\d\s().\-/]+$")
_NON_DIGITS = re.compile(r"\D")
_ALNUM_SENDER = re.compile(r"^[A-Za-z0-9 ]+$")


class InvalidNumber(ValueError):
    """A destination that is not a valid phone number; ``.number`` and ``.reason`` say why."""

    def __init__(self, number: str, reason: str) -> None:
        super().__init__(f"invalid number {number!r}: {reason}")
        self.number = number
        self.reason = reason


class InvalidSender(ValueError):
    """A sender that no SMSC would accept as a source address; ``.sender`` and ``.reason`` say why."""

    def __init__(self, sender: str, reason: str) -> None:
        super().__init__(f"invalid sender {sender!r}: {reason}")
        self.sender = sender
        self.reason = reason


_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    ValidationResult.TOO_SHORT: "too short for its country",
    ValidationResult.TOO_LONG: "too long for its country",
    ValidationResult.INVALID_LENGTH: "wrong length for its country",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "a local number without its area code",
}


def _parse(number: str, region: str) -> str:
    text = number.strip()
    if not text:
        raise InvalidNumber(number, "empty")
    if not _NUMBER_CHARS.match(text):
        raise InvalidNumber(number, "contains characters that are not part of a phone number")
    digits = _NON_DIGITS.sub("", text)
    if not digits:
        raise InvalidNumber(number, "no digits")
    if text.count("+") > 1 or ("+" in text and not text.startswith("+")):
        raise InvalidNumber(number, "'+' is only allowed at the start")
    try:
        # Only the digits (and the '+'): separators carry no meaning, and
        # phonenumbers' own extraction of them costs about a quarter of a parse.
        parsed = phonenumbers.parse("+" + digits if text.startswith("+") else digits, region)
    except NumberParseException as exc:
        raise InvalidNumber(number, _parse_error_reason(exc)) from None
    # Validation is most of the cost (~15 us): ask once per candidate.
    if phonenumbers.is_valid_number(parsed):
        return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    if not text.startswith("+") and digits.startswith("00"):
        # "00" is the international prefix of most of the world (not of RU: 8~10,
        # nor US: 011), and people write it whatever the default region is.
        try:
            alt = phonenumbers.parse("+" + digits[2:], None)
        except NumberParseException:
            alt = None
        if alt is not None and phonenumbers.is_valid_number(alt):
            return phonenumbers.format_number(alt, PhoneNumberFormat.E164)
    if not text.startswith("+") and len(digits) <= SHORT_CODE_MAX_DIGITS and (
        len(digits) <= _SHORT_CODE_SURE_DIGITS or _is_short_code(digits, region)
    ):
        raise InvalidNumber(number, f"a short code ({len(digits)} digits), not a subscriber number")
    reason = phonenumbers.is_possible_number_with_reason(parsed)
    if reason in _POSSIBLE_REASONS:
        detail = _POSSIBLE_REASONS[reason]
    else:
        detail = "not a number in use in its country"
    region_code = phonenumbers.region_code_for_number(parsed) or f"+{parsed.country_code}"
    raise InvalidNumber(number, f"{detail} ({region_code}, parsed as +{parsed.country_code} {parsed.national_number})")


def _is_short_code(digits: str, region: str) -> bool:
    try:
        short = phonenumbers.parse(digits, region)
    except NumberParseException:
        return False
    return bool(shortnumberinfo.is_possible_short_number_for_region(short, region))


def _parse_error_reason(exc: NumberParseException) -> str:
    return {
        NumberParseException.INVALID_COUNTRY_CODE: "unknown country code (or no default region)",
        NumberParseException.NOT_A_NUMBER: "not a phone number",
        NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
        NumberParseException.TOO_SHORT_NSN: "too short",
        NumberParseException.TOO_LONG: "too long",
    }.get(exc.error_type, str(exc))


def _check_region(region: str) -> str:
    region = region.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown default region {region!r}: use an ISO 3166 code such as RU, GB, US, BR")
    return region


class NumberNormalizer:
    """Normalises destinations for one default region, remembering recent answers.

    The cache key is the raw input, and errors are remembered too, so a campaign
    that repeats a number (good or bad) parses it once.
    """

    __slots__ = ("region", "_cache", "hits", "misses")

    def __init__(self, region: str = "RU") -> None:
        self.region = _check_region(region)
        self._cache: dict[str, str | InvalidNumber] = {}
        self.hits = 0
        self.misses = 0

    def __call__(self, number: str) -> str:
        """E.164 form of ``number`` (``+79031234567``); raises :class:`InvalidNumber`."""
        found = self._cache.get(number)
        if found is not None:
            self.hits += 1
            if isinstance(found, InvalidNumber):
                raise found
            return found
        self.misses += 1
        try:
            result: str | InvalidNumber = _parse(number, self.region)
        except InvalidNumber as exc:
            result = exc
        if len(self._cache) >= NUMBER_CACHE_MAX:
            # Dropping everything is cheaper than LRU bookkeeping on every hit, and a
            # campaign's repeats are usually near each other.
            self._cache.clear()
        self._cache[number] = result
        if isinstance(result, InvalidNumber):
            raise result
        return result


def normalize_number(number: str, region: str = "RU") -> str:
    """E.164 form of one destination; raises :class:`InvalidNumber` with the reason."""
    if not isinstance(number, str):
        raise TypeError(f"number must be str, not {type(number).__name__}")
    return _parse(number, _check_region(region))


@dataclass(frozen=True, slots=True)
class Sender:
    """An SMPP source address with its type of number and numbering plan."""

    address: str
    ton: int
    npi: int

    @property
    def kind(self) -> str:
        return {5: "alphanumeric", 1: "international", 3: "short code"}.get(self.ton, "other")


TON_INTERNATIONAL, TON_NETWORK_SPECIFIC, TON_ALPHANUMERIC = 1, 3, 5
NPI_UNKNOWN, NPI_E164 = 0, 1


def validate_sender(sender: str, region: str = "RU") -> Sender:
    """Check a sender and choose its TON/NPI; raises :class:`InvalidSender` with the reason.

    All-digit senders (an optional leading ``+``) up to ``SHORT_CODE_MAX_DIGITS``
    digits are short codes (3/0); longer ones must be valid phone numbers, read as
    international digits first (``447911123456``), else in national form for
    ``region`` (``89031234567``), and are sent in international form without the
    ``+`` (1/1). Anything else must be an
    alphanumeric name.
    """
    if not isinstance(sender, str):
        raise TypeError(f"sender must be str, not {type(sender).__name__}")
    if not sender:
        raise InvalidSender(sender, "empty")
    if sender != sender.strip():
        raise InvalidSender(sender, "leading or trailing spaces (SMSCs trim or reject them)")
    compact = sender[1:] if sender.startswith("+") else sender
    if compact.isascii() and compact.replace(" ", "").replace("-", "").isdigit():
        digits = compact.replace(" ", "").replace("-", "")
        if len(digits) > NUMERIC_SENDER_MAX:
            raise InvalidSender(sender, f"{len(digits)} digits; a number has at most {NUMERIC_SENDER_MAX}")
        if not sender.startswith("+") and len(digits) <= SHORT_CODE_MAX_DIGITS:
            if digits != compact:
                raise InvalidSender(sender, "a short code is written without spaces or dashes")
            return Sender(digits, TON_NETWORK_SPECIFIC, NPI_UNKNOWN)
        # Numeric senders are usually written in international form without the '+'
        # (the SMPP convention): try that reading first, then the national one.
        try:
            e164 = normalize_number("+" + digits, region)
        except InvalidNumber as as_international:
            if sender.startswith("+"):
                raise InvalidSender(sender, f"not a valid phone number: {as_international.reason}") from None
            try:
                e164 = normalize_number(sender, region)
            except InvalidNumber as as_national:
                raise InvalidSender(
                    sender,
                    f"not a valid phone number, neither international (+{digits}: "
                    f"{as_international.reason}) nor national for {region} ({as_national.reason})",
                ) from None
        return Sender(e164[1:], TON_INTERNATIONAL, NPI_E164)
    if len(sender) > ALPHANUMERIC_SENDER_MAX:
        raise InvalidSender(
            sender, f"{len(sender)} characters; an alphanumeric sender has at most {ALPHANUMERIC_SENDER_MAX}"
        )
    if not _ALNUM_SENDER.match(sender):
        bad = next(c for c in sender if not (c.isascii() and (c.isalnum() or c == " ")))
        raise InvalidSender(sender, f"character {bad!r} not allowed (only Latin letters, digits and spaces)")
    if not any(c.isalpha() for c in sender):
        raise InvalidSender(sender, "an alphanumeric sender needs at least one letter")
    return Sender(sender, TON_ALPHANUMERIC, NPI_UNKNOWN)
