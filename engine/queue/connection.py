"""Opening the asyncio Redis client: URL, TLS and password from arguments, environment, config."""

from __future__ import annotations

import os
from typing import Any, Mapping

import redis.asyncio as aioredis

__all__ = ["connect", "resolve_redis_settings", "DEFAULT_REDIS_URL"]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# A Redis that does not accept a connection within this long is down or unreachable;
# failing fast lets the CLI say so instead of hanging.
CONNECT_TIMEOUT_S = 5.0


def resolve_redis_settings(
    url: str | None = None,
    password: str | None = None,
    *,
    config: Any = None,
    env: Mapping[str, str] | None = None,
) -> tuple[str, str | None, str | None]:
    """(url, password, tls_ca_file). Precedence: argument, then ``REDIS_URL`` /
    ``REDIS_PASSWORD`` in the environment, then ``config.redis`` (an
    ``engine.config.Config`` or its ``RedisConfig``), then the default URL.
    A password inside the URL is used when no other is given.
    """
    env = os.environ if env is None else env
    rc = getattr(config, "redis", config)
    final_url = url or env.get("REDIS_URL") or getattr(rc, "url", None) or DEFAULT_REDIS_URL
    if not final_url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"Redis URL must start with redis://, rediss:// or unix://, got {final_url!r}")
    final_password = password or env.get("REDIS_PASSWORD") or None
    if final_password is None and rc is not None and getattr(rc, "password", None) is not None:
        final_password = rc.password.reveal()
    return final_url, final_password, getattr(rc, "tls_ca_file", None)


def connect(
    url: str | None = None,
    password: str | None = None,
    *,
    config: Any = None,
    env: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> "aioredis.Redis":
    """An asyncio client (hiredis parser when installed, which the package depends on).

    ``rediss://`` URLs use TLS; ``tls_ca_file`` from the config verifies the server.
    Responses are decoded to str.
    """
    final_url, final_password, ca_file = resolve_redis_settings(url, password, config=config, env=env)
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "health_check_interval": 30,
    }
    if final_password is not None:
        options["password"] = final_password
    if ca_file and final_url.startswith("rediss://"):
        options["ssl_ca_certs"] = ca_file
    options.update(kwargs)
    return aioredis.from_url(final_url, **options)
