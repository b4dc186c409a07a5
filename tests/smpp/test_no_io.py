"""engine/smpp/ is sans-IO: nothing in it imports I/O, a clock or threads."""

from __future__ import annotations

import ast
import pathlib

import pytest

pytestmark = pytest.mark.timeout(60)

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "engine" / "smpp"
FORBIDDEN = {"asyncio", "socket", "ssl", "selectors", "redis", "time", "threading", "uvloop", "datetime"}


def _imported_modules(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            names.add("__import__")
    return names


def test_package_has_files():
    assert len(list(PACKAGE.glob("*.py"))) >= 4


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_no_io_imports(path):
    bad = _imported_modules(path) & (FORBIDDEN | {"__import__"})
    assert not bad, f"{path.name} imports {sorted(bad)}: engine/smpp/ must stay sans-IO (time is an argument)"


def test_the_check_would_catch_an_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import time\nfrom asyncio import sleep\n")
    assert _imported_modules(probe) >= {"time", "asyncio"}
