"""A private redis-server for the demo and the benchmarks: a temporary directory, a free
port on 127.0.0.1, no persistence, stopped (and its directory removed) by ``stop()``."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time

__all__ = ["LocalRedis", "REDIS_START_TIMEOUT_S"]

REDIS_START_TIMEOUT_S = 10.0  # a cold start on a loaded 2-core machine takes well under a second


class LocalRedis:
    """Start redis-server now; raises FileNotFoundError when it is not installed and
    RuntimeError when it does not answer within REDIS_START_TIMEOUT_S."""

    def __init__(self, prefix: str = "smpp-redis-") -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the local redis-server did not start within {REDIS_START_TIMEOUT_S:g} s")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
