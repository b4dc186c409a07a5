"""The engine's configuration: one validated object loaded from TOML, secrets from the environment.

A bad value stops start-up with a :class:`ConfigError` that names the key path and the
fix, e.g. ``smscs[0].binds[1].window: must be an integer from 1 to 10000, got "ten"``.
Unknown keys are errors too (a typo must not silently fall back to a default).

Layout of the file (see ``config/carrier-example.toml`` for a documented example)::

    [redis]    url, password_env, ...            -> RedisConfig
    [metrics]  host, port, enabled               -> MetricsConfig
    [engine]   stream names, batch sizes, ...    -> EngineConfig
    [[smscs]]  one table per SMSC                -> SmscConfig
      every bind setting may be given here as the SMSC-wide default ...
      [[smscs.binds]]  ... and overridden per bind (count = N repeats a bind)
      [smscs.source_ton_npi]  TON/NPI rules for source addresses

Passwords are never in the file: ``password_env`` names the environment variable that
holds them. The value lives in a :class:`Secret`, whose repr and str hide it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ConfigError",
    "Secret",
    "TlsConfig",
    "BackoffConfig",
    "SourceTonNpi",
    "BindConfig",
    "SmscConfig",
    "RedisConfig",
    "MetricsConfig",
    "EngineConfig",
    "Config",
    "load_config",
    "parse_config",
    "dump_toml",
    "BIND_TYPES",
    "CONCAT_METHODS",
    "MESSAGE_ID_FORMATS",
]

# --- named limits -----------------------------------------------------------------

# Window: SMSCs grant 1..a few hundred; 10000 is far above any carrier's and keeps a
# typo (100000) from allocating a huge in-flight table.
MAX_WINDOW = 10_000
# SMPP 3.4 §5.2.1: system_id is a C-Octet String of at most 16 octets (incl. NUL).
MAX_SYSTEM_ID = 15
# §5.2.2: password at most 9 octets including NUL.
MAX_PASSWORD = 8
# §5.2.3: system_type at most 13 octets including NUL.
MAX_SYSTEM_TYPE = 12
# More than one hour for any single SMPP timeout is a misconfiguration, not a choice.
MAX_TIMEOUT_S = 3600.0
# A bind repeated more than this many times per table is almost surely a typo.
MAX_BIND_COUNT = 64

BIND_TYPES = ("tx", "rx", "trx")
CONCAT_METHODS = ("udh8", "udh16", "sar", "payload")
MESSAGE_ID_FORMATS = ("auto", "hex", "dec", "str")
_NATIONAL_LANGUAGES = ("turkish", "spanish", "portuguese")


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the key and the fix."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem


class Secret:
    """A password: ``repr``/``str`` never show it; ``.reveal()`` is the only way to read it."""

    __slots__ = ("_value", "_source")

    def __init__(self, value: str, source: str = "") -> None:
        self._value = value
        self._source = source

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        where = f" from ${self._source}" if self._source else ""
        return f"Secret('***'{where})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self):  # pickling would be a way to leak it into logs or files
        raise TypeError("Secret values are not picklable")


# --- sections --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """TLS towards the SMSC. ``verify=False`` is for test SMSCs only."""

    enabled: bool = False
    ca_file: str | None = None
    verify: bool = True
    server_hostname: str | None = None

    def ssl_context(self):
        """An ``ssl.SSLContext`` for ``asyncio.open_connection``, or None when TLS is off."""
        if not self.enabled:
            return None
        import ssl

        ctx = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


@dataclass(frozen=True, slots=True)
class BackoffConfig:
    """Reconnect delays: initial, doubled up to ``max``, each multiplied by 1 ± ``jitter``."""

    initial: float = 0.5
    max: float = 30.0
    jitter: float = 0.2


@dataclass(frozen=True, slots=True)
class SourceTonNpi:
    """TON/NPI given to a source address, by the kind of address it is.

    alphanumeric sender (any non-digit) -> ``alphanumeric``; ``+`` followed by digits or
    more than ``short_code_max_digits`` digits -> ``international``; at most that many
    digits -> ``short_code``. Destinations use ``destination``.
    """

    alphanumeric: tuple[int, int] = (5, 0)
    international: tuple[int, int] = (1, 1)
    short_code: tuple[int, int] = (3, 0)
    national: tuple[int, int] = (2, 1)
    destination: tuple[int, int] = (1, 1)
    short_code_max_digits: int = 8

    def for_source(self, addr: str, *, national: bool = False) -> tuple[str, int, int]:
        """``(address as sent, ton, npi)`` for a source address (a leading ``+`` is dropped)."""
        if addr.startswith("+") and addr[1:].isdigit():
            return addr[1:], *self.international
        if addr.isdigit() and addr.isascii():
            if len(addr) <= self.short_code_max_digits:
                return addr, *self.short_code
            if national:
                return addr, *self.national
            return addr, *self.international
        return addr, *self.alphanumeric

    def for_destination(self, addr: str, *, national: bool = False) -> tuple[str, int, int]:
        addr = addr[1:] if addr.startswith("+") else addr
        if national:
            return addr, *self.national
        return addr, *self.destination


# An unlimited bind never adapts below this many segments/s unless ``min_rate`` says
# otherwise (engine.client.ratelimit: a limit of ~0 would stall the bind).
DEFAULT_MIN_RATE = 10.0


@dataclass(frozen=True, slots=True)
class BindConfig:
    """Everything one SMPP connection needs. ``name`` is ``<smsc>/<index>``."""

    name: str
    host: str
    port: int
    system_id: str
    password: Secret = field(repr=True)
    system_type: str = ""
    bind_type: str = "trx"
    tls: TlsConfig = TlsConfig()
    window: int = 10
    # Segments (submit_sm PDUs) per second; 0 means no limit.
    rate: float = 0.0
    # The lowest rate an unlimited bind slows down to when the SMSC throttles (segments/s;
    # a configured rate has its own floor, a quarter of it). engine.client.ratelimit.
    min_rate: float = DEFAULT_MIN_RATE
    connect_timeout: float = 5.0
    bind_timeout: float = 5.0
    response_timeout: float = 10.0
    enquire_link_interval: float = 30.0
    # Unbind on shutdown waits this long for the window to drain.
    drain_timeout: float = 10.0
    reconnect: BackoffConfig = BackoffConfig()
    # Pause after ESME_RTHROTTLED / ESME_RMSGQFUL before retrying (doubles while it repeats).
    throttle_pause: float = 0.2
    concat: str = "udh8"
    gsm_packed: bool = False
    gsm_data_coding: int = 0x00
    message_id_format: str = "auto"
    registered_delivery: int = 1
    national: tuple[str, ...] = ()
    addr: SourceTonNpi = SourceTonNpi()
    interface_version: int = 0x34
    # How long the parts of a concatenated MO message may take to all arrive.
    mo_reassembly_timeout: float = 300.0

    @property
    def can_transmit(self) -> bool:
        return self.bind_type in ("tx", "trx")

    @property
    def can_receive(self) -> bool:
        return self.bind_type in ("rx", "trx")


@dataclass(frozen=True, slots=True)
class SmscConfig:
    name: str
    binds: tuple[BindConfig, ...]


@dataclass(frozen=True, slots=True)
class RedisConfig:
    url: str = "redis://127.0.0.1:6379/0"
    password: Secret | None = None
    tls_ca_file: str | None = None
    # Entries in one XREADGROUP / pipeline round trip.
    batch_size: int = 500


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9108


def _default_consumer() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"



STATUS_EVENTS = ("all", "final")

@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Names and limits of the Redis-side service (issue 4)."""

    stream: str = "smpp:outbound"
    priority_stream: str = "smpp:outbound:priority"
    group: str = "smpp-engine"
    consumer: str = field(default_factory=_default_consumer)
    status_stream: str = "smpp:status"
    key_prefix: str = "smpp:"
    # Pending entries idle this long belong to a dead consumer and are reclaimed.
    claim_idle_seconds: float = 60.0
    # How long a submitted message waits for its receipt before correlation is dropped.
    correlation_ttl_seconds: float = 3 * 24 * 3600.0
    default_region: str = "US"
    # Which SMSC gets a message that does not name one.
    default_smsc: str | None = None
    # Status events on status_stream: "all" (submitted and every later state change)
    # or "final" (delivered, undeliverable, expired, ... only: one event per message).
    status_events: str = "all"


@dataclass(frozen=True, slots=True)
class Config:
    smscs: tuple[SmscConfig, ...] = ()
    redis: RedisConfig = RedisConfig()
    metrics: MetricsConfig = MetricsConfig()
    engine: EngineConfig = field(default_factory=EngineConfig)
    path: str | None = None

    def smsc(self, name: str) -> SmscConfig:
        for s in self.smscs:
            if s.name == name:
                return s
        raise KeyError(f"no SMSC named {name!r}; configured: {[s.name for s in self.smscs]}")


# --- validation helpers -------------------------------------------------------------


def _show(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    return repr(value)


def _int(key: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(key, f"must be an integer from {lo} to {hi}, got {_show(value)}")
    return value


def _number(key: str, value: Any, lo: float, hi: float, *, lo_open: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > lo if lo_open else value >= lo) and value <= hi
    if not ok:
        low = f"greater than {lo:g}" if lo_open else f"at least {lo:g}"
        raise ConfigError(key, f"must be a number {low} and at most {hi:g}, got {_show(value)}")
    return float(value)


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, f"must be true or false, got {_show(value)}")
    return value


def _str(key: str, value: Any, *, max_len: int | None = None, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise ConfigError(key, f"must be a string, got {_show(value)}")
    if not empty and not value:
        raise ConfigError(key, "must not be empty")
    if max_len is not None and len(value.encode("ascii", "replace")) > max_len:
        raise ConfigError(key, f"must be at most {max_len} characters (SMPP 3.4 limit), got {_show(value)}")
    return value


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(key, f"must be one of {', '.join(choices)}, got {_show(value)}")
    return value


def _table(key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"must be a table, got {_show(value)}")
    return value


def _check_keys(key: str, table: Mapping[str, Any], allowed: set[str] | frozenset[str]) -> None:
    for k in table:
        if k not in allowed:
            where = f"{key}.{k}" if key else k
            raise ConfigError(where, f"unknown key; known keys here: {', '.join(sorted(allowed))}")


def _ton_npi(key: str, value: Any) -> tuple[int, int]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 255 for v in value)
    ):
        raise ConfigError(key, f"must be a pair [ton, npi] of integers from 0 to 255, got {_show(value)}")
    return (value[0], value[1])


def _secret(key: str, value: Any, env: Mapping[str, str], *, required: bool, max_len: int | None) -> Secret | None:
    name = _str(key, value, empty=False)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ConfigError(key, f"must name an environment variable (letters, digits, _), got {_show(name)}")
    if name not in env:
        if required:
            raise ConfigError(key, f"environment variable {name} is not set; export {name}=<password> before starting")
        return None
    secret = env[name]
    if max_len is not None and len(secret.encode("latin-1", "replace")) > max_len:
        # Never echo the value itself.
        raise ConfigError(key, f"the password in ${name} is longer than {max_len} characters (SMPP 3.4 limit)")
    return Secret(secret, name)


# Bind settings, accepted at the SMSC level (defaults for its binds) and per bind.
_BIND_KEYS = frozenset(
    {
        "host", "port", "tls", "system_id", "password_env", "system_type", "bind_type",
        "window", "rate", "min_rate", "connect_timeout", "bind_timeout", "response_timeout",
        "enquire_link_interval", "drain_timeout", "reconnect", "throttle_pause", "concat",
        "gsm_packed", "gsm_data_coding", "message_id_format", "registered_delivery",
        "national", "source_ton_npi", "interface_version", "mo_reassembly_timeout",
    }
)
_SMSC_KEYS = _BIND_KEYS | {"name", "binds"}
_BIND_ONLY_KEYS = _BIND_KEYS | {"count"}


def _bind(key: str, name: str, s: Mapping[str, Any], env: Mapping[str, str], origin: Mapping[str, str]) -> BindConfig:
    """``s`` is the merged settings (SMSC defaults overlaid by the bind's own); ``origin``
    says where each was written, so an error names the key the user has to fix."""

    def at(k: str) -> str:
        return f"{origin.get(k, key)}.{k}"

    for required in ("host", "port", "system_id", "password_env"):
        if required not in s:
            raise ConfigError(f"{key}.{required}", "is required (set it on the SMSC or on the bind)")
    tls = TlsConfig()
    if "tls" in s:
        t = s["tls"]
        if isinstance(t, bool):
            tls = TlsConfig(enabled=t)
        else:
            t = _table(f"{at('tls')}", t)
            _check_keys(f"{at('tls')}", t, {"enabled", "ca_file", "verify", "server_hostname"})
            ca = t.get("ca_file")
            if ca is not None:
                ca = _str(f"{at('tls')}.ca_file", ca, empty=False)
                if not Path(ca).is_file():
                    raise ConfigError(f"{at('tls')}.ca_file", f"file {ca} does not exist; give the path of a PEM CA bundle")
            tls = TlsConfig(
                enabled=_bool(f"{at('tls')}.enabled", t.get("enabled", True)),
                ca_file=ca,
                verify=_bool(f"{at('tls')}.verify", t.get("verify", True)),
                server_hostname=(
                    _str(f"{at('tls')}.server_hostname", t["server_hostname"]) if "server_hostname" in t else None
                ),
            )
    backoff = BackoffConfig()
    if "reconnect" in s:
        r = _table(f"{at('reconnect')}", s["reconnect"])
        _check_keys(f"{at('reconnect')}", r, {"initial", "max", "jitter"})
        initial = _number(f"{at('reconnect')}.initial", r.get("initial", backoff.initial), 0, MAX_TIMEOUT_S, lo_open=True)
        mx = _number(f"{at('reconnect')}.max", r.get("max", backoff.max), 0, MAX_TIMEOUT_S, lo_open=True)
        if mx < initial:
            raise ConfigError(f"{at('reconnect')}.max", f"must be at least reconnect.initial ({initial:g}), got {mx:g}")
        backoff = BackoffConfig(initial, mx, _number(f"{at('reconnect')}.jitter", r.get("jitter", backoff.jitter), 0, 1))
    addr = SourceTonNpi()
    if "source_ton_npi" in s:
        a = _table(f"{at('source_ton_npi')}", s["source_ton_npi"])
        names = {"alphanumeric", "international", "short_code", "national", "destination"}
        _check_keys(f"{at('source_ton_npi')}", a, names | {"short_code_max_digits"})
        kwargs: dict[str, Any] = {n: _ton_npi(f"{at('source_ton_npi')}.{n}", a[n]) for n in names if n in a}
        if "short_code_max_digits" in a:
            kwargs["short_code_max_digits"] = _int(f"{at('source_ton_npi')}.short_code_max_digits", a["short_code_max_digits"], 1, 15)
        addr = SourceTonNpi(**kwargs)
    national: tuple[str, ...] = ()
    if "national" in s:
        n = s["national"]
        if not isinstance(n, list) or any(x not in _NATIONAL_LANGUAGES for x in n):
            raise ConfigError(f"{at('national')}", f"must be a list of {', '.join(_NATIONAL_LANGUAGES)}, got {_show(n)}")
        national = tuple(n)
    d = BindConfig.__dataclass_fields__
    return BindConfig(
        name=name,
        host=_str(f"{at('host')}", s["host"], empty=False),
        port=_int(f"{at('port')}", s["port"], 1, 65535),
        system_id=_str(f"{at('system_id')}", s["system_id"], max_len=MAX_SYSTEM_ID, empty=False),
        password=_secret(f"{at('password_env')}", s["password_env"], env, required=True, max_len=MAX_PASSWORD),  # type: ignore[arg-type]
        system_type=_str(f"{at('system_type')}", s.get("system_type", ""), max_len=MAX_SYSTEM_TYPE),
        bind_type=_choice(f"{at('bind_type')}", s.get("bind_type", d["bind_type"].default), BIND_TYPES),
        tls=tls,
        window=_int(f"{at('window')}", s.get("window", d["window"].default), 1, MAX_WINDOW),
        rate=_number(f"{at('rate')}", s.get("rate", 0.0), 0, 1_000_000),
        min_rate=_number(f"{at('min_rate')}", s.get("min_rate", d["min_rate"].default), 0, 1_000_000, lo_open=True),
        connect_timeout=_number(f"{at('connect_timeout')}", s.get("connect_timeout", d["connect_timeout"].default), 0, MAX_TIMEOUT_S, lo_open=True),
        bind_timeout=_number(f"{at('bind_timeout')}", s.get("bind_timeout", d["bind_timeout"].default), 0, MAX_TIMEOUT_S, lo_open=True),
        response_timeout=_number(f"{at('response_timeout')}", s.get("response_timeout", d["response_timeout"].default), 0, MAX_TIMEOUT_S, lo_open=True),
        enquire_link_interval=_number(f"{at('enquire_link_interval')}", s.get("enquire_link_interval", d["enquire_link_interval"].default), 0, MAX_TIMEOUT_S, lo_open=True),
        drain_timeout=_number(f"{at('drain_timeout')}", s.get("drain_timeout", d["drain_timeout"].default), 0, MAX_TIMEOUT_S),
        reconnect=backoff,
        throttle_pause=_number(f"{at('throttle_pause')}", s.get("throttle_pause", d["throttle_pause"].default), 0, MAX_TIMEOUT_S, lo_open=True),
        concat=_choice(f"{at('concat')}", s.get("concat", "udh8"), CONCAT_METHODS),
        gsm_packed=_bool(f"{at('gsm_packed')}", s.get("gsm_packed", False)),
        gsm_data_coding=_int(f"{at('gsm_data_coding')}", s.get("gsm_data_coding", 0), 0, 0xFF),
        message_id_format=_choice(f"{at('message_id_format')}", s.get("message_id_format", "auto"), MESSAGE_ID_FORMATS),
        registered_delivery=_int(f"{at('registered_delivery')}", s.get("registered_delivery", 1), 0, 0xFF),
        national=national,
        addr=addr,
        interface_version=_int(f"{at('interface_version')}", s.get("interface_version", 0x34), 0, 0xFF),
        mo_reassembly_timeout=_number(f"{at('mo_reassembly_timeout')}", s.get("mo_reassembly_timeout", 300.0), 0, 24 * 3600.0, lo_open=True),
    )


def _smsc(key: str, raw: Any, env: Mapping[str, str], index: int) -> SmscConfig:
    t = _table(key, raw)
    _check_keys(key, t, _SMSC_KEYS)
    name = _str(f"{key}.name", t.get("name", f"smsc{index}"), empty=False)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ConfigError(f"{key}.name", f"must be letters, digits, '_', '.' or '-' (it names metrics), got {_show(name)}")
    defaults = {k: v for k, v in t.items() if k in _BIND_KEYS}
    raw_binds = t.get("binds")
    if raw_binds is None:
        raw_binds = [{}]  # one bind with the SMSC-level settings
    if not isinstance(raw_binds, list) or not raw_binds:
        raise ConfigError(f"{key}.binds", f"must be a non-empty array of tables ([[smscs.binds]]), got {_show(raw_binds)}")
    binds: list[BindConfig] = []
    for j, rb in enumerate(raw_binds):
        bkey = f"{key}.binds[{j}]"
        bt = _table(bkey, rb)
        _check_keys(bkey, bt, _BIND_ONLY_KEYS)
        count = _int(f"{bkey}.count", bt.get("count", 1), 1, MAX_BIND_COUNT)
        merged = {**defaults, **{k: v for k, v in bt.items() if k != "count"}}
        origin = {k: (bkey if k in bt else key) for k in merged}
        for _ in range(count):
            binds.append(_bind(bkey, f"{name}/{len(binds)}", merged, env, origin))
    return SmscConfig(name=name, binds=tuple(binds))


def _section(key: str, raw: Any, cls: type, env: Mapping[str, str]) -> Any:
    t = _table(key, raw)
    names = {f.name for f in dataclasses.fields(cls)}
    if cls is RedisConfig:
        names = (names - {"password"}) | {"password_env"}
    _check_keys(key, t, names)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in t and not (f.name == "password" and "password_env" in t):
            continue
        k = f"{key}.{f.name}"
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.name == "password":
            kwargs["password"] = _secret(f"{key}.password_env", t["password_env"], env, required=True, max_len=None)
        elif f.name == "port":
            kwargs[f.name] = _int(k, t[f.name], 0, 65535)
        elif isinstance(default, bool):
            kwargs[f.name] = _bool(k, t[f.name])
        elif isinstance(default, int):
            kwargs[f.name] = _int(k, t[f.name], 1, 1_000_000)
        elif isinstance(default, float):
            kwargs[f.name] = _number(k, t[f.name], 0, 10 * 365 * 24 * 3600.0, lo_open=True)
        else:
            kwargs[f.name] = _str(k, t[f.name], empty=False)
    if cls is EngineConfig and kwargs.get("status_events", "all") not in STATUS_EVENTS:
        raise ConfigError(f"{key}.status_events", f"must be one of {', '.join(STATUS_EVENTS)}, got "
                                                   f"{_show(kwargs['status_events'])}")
    if cls is RedisConfig and "url" in kwargs and not re.match(r"^(redis|rediss|unix)://", kwargs["url"]):
        raise ConfigError(f"{key}.url", f"must start with redis://, rediss:// or unix://, got {_show(kwargs['url'])}")
    if cls is RedisConfig and "tls_ca_file" in kwargs and not Path(kwargs["tls_ca_file"]).is_file():
        raise ConfigError(f"{key}.tls_ca_file", f"file {kwargs['tls_ca_file']} does not exist")
    return cls(**kwargs)


_TOP_KEYS = ("smscs", "redis", "metrics", "engine")


def parse_config(data: Mapping[str, Any], env: Mapping[str, str] | None = None, *, path: str | None = None) -> Config:
    """Validate an already-parsed TOML document (a dict). Raises :class:`ConfigError`."""
    env = os.environ if env is None else env
    _check_keys("", data, set(_TOP_KEYS))
    raw_smscs = data.get("smscs", [])
    if not isinstance(raw_smscs, list):
        raise ConfigError("smscs", "must be an array of tables: write [[smscs]] (double brackets)")
    smscs = tuple(_smsc(f"smscs[{i}]", s, env, i) for i, s in enumerate(raw_smscs))
    seen: set[str] = set()
    for i, s in enumerate(smscs):
        if s.name in seen:
            raise ConfigError(f"smscs[{i}].name", f"duplicate SMSC name {_show(s.name)}; names must be unique")
        seen.add(s.name)
    cfg = Config(
        smscs=smscs,
        redis=_section("redis", data.get("redis", {}), RedisConfig, env),
        metrics=_section("metrics", data.get("metrics", {}), MetricsConfig, env),
        engine=_section("engine", data.get("engine", {}), EngineConfig, env),
        path=path,
    )
    if cfg.engine.default_smsc is not None and cfg.engine.default_smsc not in seen:
        raise ConfigError("engine.default_smsc", f"names no configured SMSC ({', '.join(sorted(seen)) or 'none'}), got {_show(cfg.engine.default_smsc)}")
    return cfg


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a TOML file. Raises :class:`ConfigError` (also for unreadable files)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("", f"config file {p} not found; pass --config PATH (see config/carrier-example.toml)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{p} is not valid TOML: {exc}") from None
    return parse_config(data, env, path=str(p))


# --- writing TOML (tomllib only reads) -------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
# TOML integers are signed 64-bit; a larger Python int would write a file no reader takes.
_TOML_INT_MIN, _TOML_INT_MAX = -(2**63), 2**63 - 1
_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_str(s: str) -> str:
    out = []
    for ch in s:
        esc = _TOML_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch < " " or ch == "\x7f":  # control characters must be escaped in a basic string
            out.append(f"\\u{ord(ch):04X}")
        elif "\ud800" <= ch <= "\udfff":
            raise ValueError(f"dump_toml: {s!r} holds a lone surrogate (U+{ord(ch):04X}); TOML text is Unicode scalars")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(k: Any, where: str) -> str:
    if not isinstance(k, str):
        raise TypeError(f"dump_toml: key {k!r} in {where or 'the top level'} is not a string")
    return k if _BARE_KEY.fullmatch(k) else _toml_str(k)


def _toml_value(v: Any, where: str) -> str:
    if isinstance(v, bool):  # before int: bool is an int
        return "true" if v else "false"
    if isinstance(v, int):
        if not _TOML_INT_MIN <= v <= _TOML_INT_MAX:
            raise ValueError(f"dump_toml: {where} = {v} does not fit a TOML integer (signed 64-bit)")
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)  # always has a '.' or an exponent, so it reads back as a float
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x, f"{where}[{i}]") for i, x in enumerate(v)) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_toml_key(k, where)} = {_toml_value(x, f'{where}.{k}')}"
                               for k, x in v.items()) + "}"
    raise TypeError(f"dump_toml: {where} is a {type(v).__name__} ({v!r}); TOML has strings, numbers, "
                    "booleans, arrays and tables (no None)")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and bool(v) and all(isinstance(x, Mapping) for x in v)


def _toml_table(table: Mapping[str, Any], path: list[str], names: list[str], lines: list[str]) -> None:
    """Append the key/value lines of ``table``, then its sub-tables and arrays of tables
    (TOML wants a table's own keys before any header that opens another table)."""
    for k, v in table.items():
        if not isinstance(v, Mapping) and not _is_table_array(v):
            lines.append(f"{_toml_key(k, '.'.join(names))} = {_toml_value(v, '.'.join(names + [str(k)]))}")
    for k, v in table.items():
        sub_path, sub_names = path + [_toml_key(k, ".".join(names))], names + [str(k)]
        if isinstance(v, Mapping):
            lines += ["", f"[{'.'.join(sub_path)}]"]
            _toml_table(v, sub_path, sub_names, lines)
        elif _is_table_array(v):
            for i, item in enumerate(v):
                lines += ["", f"[[{'.'.join(sub_path)}]]"]
                _toml_table(item, sub_path, sub_names[:-1] + [f"{k}[{i}]"], lines)


def dump_toml(data: Mapping[str, Any]) -> str:
    """``data`` as a TOML document that ``tomllib.loads`` turns back into an equal dict:
    the configuration files tests and benchmarks generate. Dicts become tables, lists of
    dicts arrays of tables (``[[smscs]]``), other lists inline arrays. A value TOML cannot
    hold (None, a date, an integer beyond 64 bits) raises ``TypeError``/``ValueError``
    naming its key."""
    if not isinstance(data, Mapping):
        raise TypeError(f"dump_toml: the document must be a dict (a table), got {type(data).__name__}")
    lines: list[str] = []
    _toml_table(data, [], [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"
