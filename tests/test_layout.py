"""The package's shape: one private compiled module, imported in one place."""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_compiled_module_is_release_and_versioned():
    from engine import _smsencode

    assert _smsencode.__version__ == "0.1.0"
    assert _smsencode.DEBUG_BUILD is False


def test_compiled_module_is_imported_only_by_the_facades():
    # One facade per user of the compiled module: the encoder, the SMPP codec, the intake.
    allowed = {ROOT / "engine" / "encoding" / "__init__.py", ROOT / "engine" / "smpp" / "_native.py",
               ROOT / "engine" / "queue" / "_native.py"}
    importers = {
        path
        for path in (ROOT / "engine").rglob("*.py")
        if "_smsencode" in path.read_text(encoding="utf-8")
    }
    assert importers <= allowed, sorted(str(p) for p in importers - allowed)
