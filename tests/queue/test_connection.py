"""Reaching Redis over TLS (rediss://) with a password, from the config and the
environment: a private redis-server with a throw-away CA, the CLI as a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]

PASSWORD = "s3cret-pw"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tls_redis(tmp_path):
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the test certificates (apt-get install openssl)")

    def ssl(*args):
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True, timeout=60)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=smpp-engine test CA")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    (tmp_path / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "srv.crt", "-days", "2", "-extfile", "ext")
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", "srv.crt", "--tls-key-file", "srv.key", "--tls-ca-cert-file", "ca.crt",
         "--tls-auth-clients", "no", "--requirepass", PASSWORD, "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("TLS redis-server did not start (is this redis-server built with TLS?)")
    yield f"rediss://127.0.0.1:{port}/0", str(tmp_path / "ca.crt")
    proc.terminate()
    proc.wait(timeout=10)


def enqueue(*args, env):
    full = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_PASSWORD")}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "engine", "enqueue", "--to", "+79031234567", "--sender",
                           "MyShop", "--text", "over TLS", "--json", *args],
                          capture_output=True, text=True, timeout=60, env=full)


def test_tls_and_password_from_config_and_environment(tls_redis, tmp_path):
    url, ca = tls_redis
    cfg = tmp_path / "engine.toml"
    cfg.write_text(f'[redis]\nurl = "{url}"\ntls_ca_file = "{ca}"\npassword_env = "TEST_REDIS_PW"\n')
    # password through the config's password_env
    p = enqueue("--config", str(cfg), env={"TEST_REDIS_PW": PASSWORD})
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["to"] == "+79031234567"
    # REDIS_PASSWORD wins over the config's
    p = enqueue("--config", str(cfg), env={"TEST_REDIS_PW": "wrong", "REDIS_PASSWORD": PASSWORD})
    assert p.returncode == 0, p.stderr
    # REDIS_URL alone (no config): TLS works, the password is refused when wrong
    p = enqueue(env={"REDIS_URL": url, "REDIS_PASSWORD": "wrong"})
    assert p.returncode == 3 and "cannot use Redis" in p.stderr
    assert "wrong" not in p.stderr  # the password is never printed
    # without the CA the server's certificate is not trusted: a clear failure, not a hang
    p = enqueue(env={"REDIS_URL": url, "REDIS_PASSWORD": PASSWORD})
    assert p.returncode == 3 and "certificate" in p.stderr.lower()

    import redis

    r = redis.Redis.from_url(url, password=PASSWORD, ssl_ca_certs=ca, decode_responses=True)
    assert r.xlen("smpp:outbound:priority") == 2
    r.close()
