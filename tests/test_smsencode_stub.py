"""The hand-written stub engine/_smsencode.pyi matches the compiled module (mypy.stubtest)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.timeout(300)
def test_stub_matches_the_compiled_module():
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "engine._smsencode", "--mypy-config-file", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout


@pytest.mark.timeout(300)
def test_facade_type_checks_against_the_stub():
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "engine/encoding/__init__.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
