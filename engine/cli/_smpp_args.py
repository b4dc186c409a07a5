"""Connection options shared by ``send`` and ``load``, and the BindConfig they make."""

from __future__ import annotations

import argparse
import os

__all__ = ["add_connection_args", "bind_config", "password_from", "smsc_config", "option_error"]


def add_connection_args(p: argparse.ArgumentParser, *, bind_default: str = "trx") -> None:
    g = p.add_argument_group("SMSC connection")
    g.add_argument("--host", default="127.0.0.1", help="SMSC host (default 127.0.0.1)")
    g.add_argument("--port", type=int, default=2775, help="SMSC port (default 2775)")
    g.add_argument("--system-id", required=True, help="system_id to bind with")
    g.add_argument("--password", default=None,
                   help="password (default: $SMPP_PASSWORD; prefer the variable: arguments show in ps)")
    g.add_argument("--system-type", default="", help="system_type (default empty)")
    g.add_argument("--bind", choices=("tx", "rx", "trx"), default=bind_default, help=f"bind type (default {bind_default})")
    g.add_argument("--tls", action="store_true", help="connect with TLS")
    g.add_argument("--tls-ca-file", default=None, help="CA bundle for TLS (default: the system's)")
    g.add_argument("--tls-insecure", action="store_true", help="do not verify the SMSC's certificate (test SMSCs only)")
    g.add_argument("--connect-timeout", type=float, default=5.0)
    g.add_argument("--bind-timeout", type=float, default=5.0)
    g.add_argument("--response-timeout", type=float, default=10.0)
    g.add_argument("--concat", choices=("udh8", "udh16", "sar", "payload"), default="udh8")
    g.add_argument("--gsm-packed", action="store_true", help="pack GSM septets (default unpacked)")
    g.add_argument("--gsm-data-coding", type=lambda s: int(s, 0), default=0, help="data_coding for GSM text (0 or e.g. 0x01)")


def password_from(args: argparse.Namespace) -> str:
    if args.password is not None:
        return args.password
    return os.environ.get("SMPP_PASSWORD", "")


def bind_config(args: argparse.Namespace, *, name: str, bind_type: str | None = None, window: int = 10,
                rate: float = 0.0, registered_delivery: int = 0):
    """The bind's config table and environment; ``smsc_config`` validates them."""
    env = {"SMPP_PASSWORD": password_from(args)}
    table = {
        "name": "cli",
        "host": args.host,
        "port": args.port,
        "system_id": args.system_id,
        "password_env": "SMPP_PASSWORD",
        "system_type": args.system_type,
        "bind_type": bind_type or args.bind,
        "window": window,
        "rate": rate,
        "connect_timeout": args.connect_timeout,
        "bind_timeout": args.bind_timeout,
        "response_timeout": args.response_timeout,
        "concat": args.concat,
        "gsm_packed": args.gsm_packed,
        "gsm_data_coding": args.gsm_data_coding,
        "registered_delivery": registered_delivery,
        "reconnect": {"initial": 0.2, "max": 2.0, "jitter": 0.2},
    }
    if args.tls:
        tls: dict = {"enabled": True, "verify": not args.tls_insecure}
        if args.tls_ca_file:
            tls["ca_file"] = args.tls_ca_file
        table["tls"] = tls
    return table, env


def smsc_config(tables: list[dict], env: dict, name: str = "cli"):
    from engine.config import parse_config

    base = dict(tables[0])
    base["name"] = name
    base["binds"] = [{k: v for k, v in t.items() if k == "bind_type"} for t in tables]
    cfg = parse_config({"smscs": [base]}, env)
    return cfg.smscs[0]


_OPTION_NAMES = {"system_id": "--system-id", "password_env": "--password / SMPP_PASSWORD", "system_type": "--system-type",
                 "gsm_data_coding": "--gsm-data-coding", "bind_type": "--bind", "rate": "--tps"}


def option_error(exc) -> str:
    """A ConfigError about the synthesized config, phrased with the command-line option."""
    key = exc.key.rsplit(".", 1)[-1] if exc.key else ""
    if not key:
        return str(exc)
    option = _OPTION_NAMES.get(key, "--" + key.replace("_", "-"))
    return f"{option}: {exc.problem}"
