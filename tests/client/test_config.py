"""engine.config: validated TOML, errors that name the key, secrets that never show."""

from __future__ import annotations

import logging
import pathlib
import pickle

import pytest

from engine.config import ConfigError, Secret, load_config, parse_config

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENV = {"SMPP_PASSWORD_CARRIERX": "s3cr3tX", "SMPP_PASSWORD_CARRIERY": "pw2", "SMPP_REDIS_PASSWORD": "r",
       "SMPP_PASSWORD_LOCAL": "localpw", "PW": "hunter2"}

pytestmark = pytest.mark.timeout(30)


def smsc(**over):
    base = {"name": "x", "host": "127.0.0.1", "port": 2775, "system_id": "acme", "password_env": "PW"}
    base.update(over)
    return base


def test_example_files_load():
    cfg = load_config(ROOT / "config" / "carrier-example.toml", ENV)
    x, y = cfg.smscs
    assert [b.bind_type for b in x.binds] == ["tx", "tx", "rx"]
    assert [b.name for b in x.binds] == ["carrierx/0", "carrierx/1", "carrierx/2"]
    assert x.binds[0].tls.enabled and x.binds[0].window == 50 and x.binds[0].rate == 100.0
    assert x.binds[0].response_timeout == 15.0 and x.binds[0].bind_timeout == 10.0 and x.binds[0].connect_timeout == 5.0
    assert x.binds[0].addr.short_code_max_digits == 6
    assert len(y.binds) == 3 and y.binds[2].concat == "sar" and y.binds[0].gsm_data_coding == 1
    assert y.binds[0].message_id_format == "dec" and y.binds[0].national == ("turkish",)
    assert cfg.redis.url.startswith("rediss://") and cfg.redis.password.reveal() == "r"
    assert cfg.engine.default_smsc == "carrierx" and cfg.metrics.port == 9108
    demo = load_config(ROOT / "config" / "engine.toml", ENV)
    assert demo.smscs[0].binds[0].port == 2775 and len(demo.smscs[0].binds) == 2


def test_bad_value_names_the_key_and_the_fix():
    data = {"smscs": [smsc(binds=[{"bind_type": "tx"}, {"window": "ten"}])]}
    with pytest.raises(ConfigError) as e:
        parse_config(data, ENV)
    assert str(e.value) == 'smscs[0].binds[1].window: must be an integer from 1 to 10000, got "ten"'
    assert e.value.key == "smscs[0].binds[1].window"


@pytest.mark.parametrize(
    "over, key, words",
    [
        ({"port": 70000}, "smscs[0].port", "from 1 to 65535"),
        ({"bind_type": "tranceiver"}, "smscs[0].bind_type", "one of tx, rx, trx"),
        ({"concat": "udh7"}, "smscs[0].concat", "udh8, udh16, sar, payload"),
        ({"response_timeout": 0}, "smscs[0].response_timeout", "greater than 0"),
        ({"rate": -1}, "smscs[0].rate", "at least 0"),
        ({"system_id": "a-very-long-system-id"}, "smscs[0].system_id", "at most 15"),
        ({"gsm_packed": "yes"}, "smscs[0].gsm_packed", "true or false"),
        ({"message_id_format": "base64"}, "smscs[0].message_id_format", "auto, hex, dec, str"),
        ({"reconnect": {"initial": 5, "max": 1}}, "smscs[0].reconnect.max", "at least reconnect.initial"),
        ({"source_ton_npi": {"alphanumeric": [5]}}, "smscs[0].source_ton_npi.alphanumeric", "pair [ton, npi]"),
        ({"windw": 5}, "smscs[0].windw", "unknown key"),
        ({"password_env": "NOT_SET_ANYWHERE"}, "smscs[0].password_env", "NOT_SET_ANYWHERE is not set"),
        ({"tls": {"ca_file": "/nonexistent/ca.pem"}}, "smscs[0].tls.ca_file", "does not exist"),
    ],
)
def test_each_bad_value_is_named(over, key, words):
    with pytest.raises(ConfigError) as e:
        parse_config({"smscs": [smsc(**over)]}, ENV)
    assert e.value.key == key, str(e.value)
    assert words in str(e.value)


def test_unknown_top_level_key_and_sections():
    with pytest.raises(ConfigError, match=r"^smsc: unknown key"):
        parse_config({"smsc": []}, ENV)
    with pytest.raises(ConfigError, match=r"^redis.uri: unknown key; known keys here: .*url"):
        parse_config({"redis": {"uri": "redis://x"}}, ENV)
    with pytest.raises(ConfigError, match=r"^redis.url: must start with redis://"):
        parse_config({"redis": {"url": "http://x"}}, ENV)
    with pytest.raises(ConfigError, match=r"^metrics.port: must be an integer from 0 to 65535"):
        parse_config({"metrics": {"port": "9100"}}, ENV)
    with pytest.raises(ConfigError, match=r"^engine.default_smsc: names no configured SMSC"):
        parse_config({"engine": {"default_smsc": "nope"}, "smscs": [smsc()]}, ENV)
    with pytest.raises(ConfigError, match=r"^smscs: must be an array of tables"):
        parse_config({"smscs": {"name": "x"}}, ENV)
    with pytest.raises(ConfigError, match=r"smscs\[1\].name: duplicate SMSC name"):
        parse_config({"smscs": [smsc(), smsc()]}, ENV)


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", ENV)
    bad = tmp_path / "bad.toml"
    bad.write_text("[[smscs]\nname=1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, ENV)


def test_bind_inherits_smsc_defaults_and_count_repeats():
    cfg = parse_config({"smscs": [smsc(window=7, binds=[{"count": 3, "bind_type": "tx"}, {"bind_type": "rx", "window": 1}])]}, ENV)
    binds = cfg.smscs[0].binds
    assert [(b.bind_type, b.window) for b in binds] == [("tx", 7), ("tx", 7), ("tx", 7), ("rx", 1)]
    assert binds[3].can_receive and not binds[3].can_transmit


def test_password_is_never_shown(caplog):
    cfg = parse_config({"smscs": [smsc()], "redis": {"password_env": "PW"}}, ENV)
    bind = cfg.smscs[0].binds[0]
    assert bind.password.reveal() == "hunter2"
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("config %s %r %s", cfg, cfg, bind)
    for text in (repr(cfg), str(cfg), repr(bind), str(bind.password), caplog.text):
        assert "hunter2" not in text
    assert "Secret('***' from $PW)" in repr(bind)
    with pytest.raises(TypeError):
        pickle.dumps(bind.password)
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")


def test_password_too_long_error_does_not_echo_it():
    with pytest.raises(ConfigError) as e:
        parse_config({"smscs": [smsc()]}, {"PW": "muchtoolongpassword"})
    assert "muchtoolongpassword" not in str(e.value) and "longer than 8" in str(e.value)


def test_source_ton_npi_rules():
    cfg = parse_config({"smscs": [smsc(source_ton_npi={"short_code": [6, 0]})]}, ENV)
    rules = cfg.smscs[0].binds[0].addr
    assert rules.for_source("ACME") == ("ACME", 5, 0)
    assert rules.for_source("+4915112345678") == ("4915112345678", 1, 1)
    assert rules.for_source("4915112345678") == ("4915112345678", 1, 1)
    assert rules.for_source("12345") == ("12345", 6, 0)
    assert rules.for_source("015112345678", national=True) == ("015112345678", 2, 1)
    assert rules.for_destination("+4915112345678") == ("4915112345678", 1, 1)


def test_status_events_all_or_final():
    assert parse_config({}, ENV).engine.status_events == "all"
    assert parse_config({"engine": {"status_events": "final"}}, ENV).engine.status_events == "final"
    with pytest.raises(ConfigError, match=r'^engine.status_events: must be one of all, final, got "every"'):
        parse_config({"engine": {"status_events": "every"}}, ENV)


def test_min_rate_is_a_bind_setting_the_limiter_takes():
    from engine.client.bind import Bind
    from engine.client.ratelimit import MIN_RATE

    cfg = parse_config({"smscs": [smsc(min_rate=50, binds=[{}, {"min_rate": 2.5}])]}, ENV)
    a, b = cfg.smscs[0].binds
    assert (a.min_rate, b.min_rate) == (50.0, 2.5)
    assert Bind(a).rate.min_rate == 50.0 and Bind(b).rate.min_rate == 2.5
    assert parse_config({"smscs": [smsc()]}, ENV).smscs[0].binds[0].min_rate == MIN_RATE == 10.0
    with pytest.raises(ConfigError, match=r"smscs\[0\]\.min_rate: must be a number greater than 0"):
        parse_config({"smscs": [smsc(min_rate=0)]}, ENV)
