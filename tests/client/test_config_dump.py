"""engine.config.dump_toml: what it writes, tomllib reads back equal, and engine.config
accepts as the same configuration (the generated configs of the service tests and the
end-to-end benchmark)."""

from __future__ import annotations

import math
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config import dump_toml, load_config, parse_config

from service.conftest import PASSWORD, PASSWORD_ENV, config_dict  # tests/ is on sys.path (rootdir-relative packages)

pytestmark = pytest.mark.timeout(60)

ENV = {PASSWORD_ENV: PASSWORD, "BENCH_E2E_PW": "x"}


def _bench_config() -> dict:
    """The shape ``bench/bench_e2e.py`` writes for ``smpp-engine run --processes N``."""
    prefix = 'e2e-receipts-w100-1234:'
    return {
        "redis": {"url": "redis://127.0.0.1:6390/0", "batch_size": 500},
        "metrics": {"enabled": True, "host": "127.0.0.1", "port": 0},
        "engine": {"key_prefix": prefix, "stream": f"{prefix}outbound", "priority_stream": f"{prefix}outbound:priority",
                   "status_stream": f"{prefix}status", "group": "smpp-engine"},
        "smscs": [{"name": "sim", "host": "127.0.0.1", "port": 2775, "system_id": "bench",
                   "password_env": "BENCH_E2E_PW", "window": 100, "response_timeout": 30.0,
                   "binds": [{"bind_type": "trx", "count": 2}]}],
    }


@pytest.mark.parametrize("shape", ["service", "bench"])
def test_generated_configs_round_trip_and_load_the_same(shape, tmp_path):
    d = (config_dict("redis://127.0.0.1:6379/0", "svc-ab12:", 2775, window=20, binds=3, claim_idle=1.5)
         if shape == "service" else _bench_config())
    text = dump_toml(d)
    assert tomllib.loads(text) == d
    path = tmp_path / "engine.toml"
    path.write_text(text)
    loaded = load_config(path, ENV)
    assert loaded == parse_config(d, ENV, path=str(path))
    assert len(loaded.smscs[0].binds) == (3 if shape == "service" else 2)


def test_layout_tables_before_arrays_of_tables_and_nested_tables():
    d = {
        "top": 1,
        "redis": {"url": "redis://x/0"},
        "smscs": [
            {"name": "a", "reconnect": {"initial": 0.05, "max": 0.5}, "binds": [{"bind_type": "tx"}, {"count": 2}]},
            {"name": "b", "binds": [{"bind_type": "rx"}]},
        ],
    }
    assert dump_toml(d) == (
        'top = 1\n'
        '\n[redis]\nurl = "redis://x/0"\n'
        '\n[[smscs]]\nname = "a"\n'
        '\n[smscs.reconnect]\ninitial = 0.05\nmax = 0.5\n'
        '\n[[smscs.binds]]\nbind_type = "tx"\n'
        '\n[[smscs.binds]]\ncount = 2\n'
        '\n[[smscs]]\nname = "b"\n'
        '\n[[smscs.binds]]\nbind_type = "rx"\n'
    )
    assert tomllib.loads(dump_toml(d)) == d


def test_scalars_exactly():
    d = {"s": 'a "quoted" C:\\path\\ tab\there\nnew €', "t": True, "f": False, "i": -42, "big": 2**63 - 1,
         "x": 0.1, "e": 1e-05, "g": 1e16, "neg0": -0.0, "inf": math.inf, "ninf": -math.inf,
         "ctl": "\x00\x1b\x7f", "list": [1, "two", [3.5]], "empty": [], "weird key": 1, "": "empty key",
         "inl": [{"a": 1}, 2]}
    text = dump_toml(d)
    assert 's = "a \\"quoted\\" C:\\\\path\\\\ tab\\there\\nnew €"' in text
    assert 'ctl = "\\u0000\\u001B\\u007F"' in text
    assert "t = true\nf = false\ni = -42\n" in text
    assert 'inf = inf\nninf = -inf\n' in text and '"weird key" = 1' in text and '"" = "empty key"' in text
    assert 'inl = [{a = 1}, 2]' in text
    back = tomllib.loads(text)
    assert back == d
    assert math.copysign(1, back["neg0"]) == -1 and isinstance(back["x"], float) and isinstance(back["g"], float)
    assert math.isnan(tomllib.loads(dump_toml({"n": math.nan}))["n"])


@pytest.mark.parametrize("bad, message", [
    ({"redis": {"password": None}}, r"redis\.password is a NoneType"),
    ({"smscs": [{"binds": [{"count": 2**63}]}]}, r"smscs\[0\]\.binds\[0\]\.count = 9223372036854775808 does not fit"),
    ({"a": {1: "x"}}, r"key 1 in a is not a string"),
    ({"a": {"b": object()}}, r"a\.b is a object"),
    ({"s": "\ud800"}, r"lone surrogate \(U\+D800\)"),
])
def test_values_toml_cannot_hold_are_refused_naming_the_key(bad, message):
    with pytest.raises((TypeError, ValueError), match=message):
        dump_toml(bad)
    with pytest.raises(TypeError, match="must be a dict"):
        dump_toml([1])


_scalars = (st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
            | st.text(st.characters(codec="utf-8"), max_size=20))
_keys = st.text(st.characters(codec="utf-8"), max_size=8)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(_keys, inner, max_size=3), max_leaves=12)
_tables = st.recursive(st.dictionaries(_keys, _values, max_size=4),
                       lambda inner: st.dictionaries(_keys, inner | st.lists(inner, min_size=1, max_size=2),
                                                     max_size=3), max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(_tables)
def test_any_document_round_trips(doc):
    assert tomllib.loads(dump_toml(doc)) == doc
