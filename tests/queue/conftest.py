"""Fixtures for the intake tests: a key prefix per test on the shared real redis-server."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis

from engine.queue import Keys, connect


@pytest.fixture
def prefix(redis_url):
    """A fresh key prefix; every key under it is deleted after the test."""
    p = f"t-{uuid.uuid4().hex[:12]}:"
    yield p
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=p + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def keys(prefix):
    return Keys.with_prefix(prefix)


@pytest.fixture
def arun(redis_url):
    """Run a coroutine function ``fn(client)`` with a fresh asyncio client."""

    def runner(fn, *args, **kwargs):
        async def main():
            client = connect(redis_url)
            try:
                return await fn(client, *args, **kwargs)
            finally:
                await client.aclose()

        return asyncio.run(main())

    return runner
