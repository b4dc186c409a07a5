"""``python -m bench [NAME ...]``: run the named benchmarks (all when none is named).

Each benchmark module ``bench/bench_NAME.py`` defines ``main(argv) -> int``.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def _available() -> list[str]:
    return sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")] or _available()
    extra = [a for a in argv if a.startswith("-")]
    status = 0
    for name in names:
        if name not in _available():
            print(f"unknown benchmark {name!r}; available: {', '.join(_available())}", file=sys.stderr)
            return 2
        module = importlib.import_module(f"bench.bench_{name}")
        status |= module.main(extra)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
