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
    # Leading bare words that name benchmarks select them; everything else
    # (``--count 1000`` as well as ``--count=1000``) goes to each benchmark.
    available = _available()
    names: list[str] = []
    while argv and argv[0] in available:
        names.append(argv.pop(0))
    if argv and not argv[0].startswith("-"):
        print(f"unknown benchmark {argv[0]!r}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    names = names or available
    extra = argv
    status = 0
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        status |= module.main(extra)
    return status


if __name__ == "__main__":
    sys.exit(main(list(sys.argv[1:])))
