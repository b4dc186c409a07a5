"""Helpers for the client tests: a config pointing at an in-process simulator, a runner."""

from __future__ import annotations

import asyncio

from engine.config import parse_config

PASSWORD = "pw-7x!q"


def smsc_config(port: int, *, binds=None, **over):
    table = {
        "name": "sim", "host": "127.0.0.1", "port": port, "system_id": "esme", "password_env": "SIM_PW",
        "window": 10, "connect_timeout": 2.0, "bind_timeout": 2.0, "response_timeout": 2.0,
        "enquire_link_interval": 30.0, "reconnect": {"initial": 0.05, "max": 0.2, "jitter": 0.1},
        "throttle_pause": 0.02,
    }
    table.update(over)
    if binds is not None:
        table["binds"] = binds
    return parse_config({"smscs": [table]}, {"SIM_PW": PASSWORD}).smscs[0]


def arun(coro, timeout: float = 20.0):
    """Run a test coroutine on a fresh loop, failing (not hanging) after ``timeout``."""

    async def bounded():
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())
