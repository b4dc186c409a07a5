"""``smpp-engine encode`` run as a real subprocess, on the Python reference backend."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from engine.encoding import reference

pytestmark = pytest.mark.timeout(120)

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLI = pathlib.Path(sys.executable).parent / "smpp-engine"


def run(*args: str, stdin: str | bytes = "") -> subprocess.CompletedProcess:
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    return subprocess.run([str(CLI), "encode", *args], input=data, capture_output=True, timeout=60, cwd=ROOT)


def lines(proc) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]


def test_one_line_per_text_matches_the_reference():
    texts = ["hello", "Привет мир", "a" * 200, "€uro {x}", ""]
    proc = run("--backend", "python", stdin="\n".join(texts) + "\n")
    assert proc.returncode == 0, proc.stderr
    out = lines(proc)
    assert [o["line"] for o in out] == [1, 2, 3, 4, 5]
    assert [o["encoding"] for o in out] == ["gsm7", "ucs2", "gsm7", "gsm7", "gsm7"]
    assert [o["data_coding"] for o in out] == [0, 8, 0, 0, 0]
    assert [o["segments"] for o in out] == [1, 1, 2, 1, 1]
    assert out[0]["parts"] == ["68656c6c6f"]
    assert out[3]["units"] == 11  # € { } cost two septets each
    # The CLI's references come from one counter per run: 1 for the first long text.
    assert out[2]["ref"] == 1 and out[2]["udhi"] is True
    expected = reference.encode("a" * 200, ref=1)
    assert out[2]["parts"] == [p.hex() for p in expected.parts]


def test_options_are_passed_on():
    proc = run("--backend", "python", "--concat", "udh16", "--packed", stdin="a" * 161 + "\n")
    assert proc.returncode == 0, proc.stderr
    (o,) = lines(proc)
    assert o["segments"] == 2 and o["parts"][0].startswith("06080400010201")
    assert o["parts"] == [p.hex() for p in reference.encode("a" * 161, concat="udh16", packed=True, ref=1).parts]
    proc = run("--backend", "python", "--national", "tr", stdin="ş" * 100 + "\n")
    (o,) = lines(proc)
    assert o["encoding"] == "gsm7" and o["national"] == ["turkish", None]
    assert o["parts"] == ["03250101" + "1d" * 100]
    proc = run("--backend", "python", "--concat", "sar", stdin="a" * 200 + "\n")
    (o,) = lines(proc)
    assert o["sar"] == [[1, 2, 1], [1, 2, 2]] and o["udhi"] is False


def test_bad_line_is_reported_and_the_rest_goes_on():
    proc = run("--backend", "python", "--encoding", "gsm7", stdin="hello\nabc中\nworld\n")
    assert proc.returncode == 1
    out = lines(proc)
    assert [o["line"] for o in out] == [1, 3]
    err = proc.stderr.decode("utf-8")
    assert "line 2" in err and "UnencodableCharacter" in err and "中" in err and "index 3" in err


def test_invalid_utf8_line_is_reported():
    proc = run("--backend", "python", stdin=b"ok\n\xff\xfe\nfine\n")
    assert proc.returncode == 1
    assert [o["line"] for o in lines(proc)] == [1, 3]
    assert "line 2" in proc.stderr.decode() and "UTF-8" in proc.stderr.decode()


def test_jsonl_with_per_line_options():
    stdin = "\n".join(
        [
            json.dumps({"text": "ç" + "a" * 80, "national": ["es"]}),
            json.dumps({"text": "hi", "encoding": "ucs2"}),
            json.dumps({"text_hex": "00ff", "encoding": "binary"}),
            json.dumps({"text": "a" * 200, "ref": 77}),
            "not json",
            json.dumps({"text": "x", "colour": "red"}),
            json.dumps({"text": "ends with CR\r"}),
        ]
    )
    proc = run("--backend", "python", "--jsonl", stdin=stdin + "\n")
    assert proc.returncode == 1
    out = {o["line"]: o for o in lines(proc)}
    assert sorted(out) == [1, 2, 3, 4, 7]
    assert out[1]["national"] == [None, "spanish"] and out[1]["parts"] == ["03240102" + "1b09" + "61" * 80]
    assert out[2]["parts"] == ["00680069"]
    assert out[3]["encoding"] == "binary" and out[3]["parts"] == ["00ff"]
    assert out[4]["ref"] == 77
    assert out[7]["parts"][0].endswith("0d")
    err = proc.stderr.decode()
    assert "line 5" in err and "JSON" in err
    assert "line 6" in err and "colour" in err


def test_summary_totals_a_campaign(tmp_path):
    campaign = tmp_path / "campaign.txt"
    campaign.write_text("hello\n" + "a" * 200 + "\n" + "Привет\n" + "abc中\n", encoding="utf-8")
    proc = run("--backend", "python", "--encoding", "gsm7", "--summary", str(campaign))
    assert proc.returncode == 1
    (summary,) = lines(proc)
    assert summary["messages"] == 4 and summary["ok"] == 2 and summary["failed"] == 2
    assert summary["segments"] == 3
    assert summary["by_encoding"] == {"gsm7": {"messages": 2, "segments": 3}}
    assert [f["line"] for f in summary["failures"]] == [3, 4]
    assert "UnencodableCharacter" in summary["failures"][1]["reason"]
    proc = run("--backend", "python", "--summary", str(campaign))
    assert proc.returncode == 0
    (summary,) = lines(proc)
    assert summary["by_encoding"] == {"gsm7": {"messages": 2, "segments": 3}, "ucs2": {"messages": 2, "segments": 2}}
    assert summary["failures"] == []


def test_bad_options_stop_with_a_message():
    for args in (["--concat", "udh9"], ["--national", "xx"], ["--max-parts", "0"], ["--encoding", "utf8"]):
        proc = run("--backend", "python", *args, stdin="hi\n")
        assert proc.returncode == 2, args
        assert proc.stdout == b""
        assert "bad option" in proc.stderr.decode()


def test_too_many_parts_line():
    proc = run("--backend", "python", "--max-parts", "2", stdin="a" * 400 + "\nok\n")
    assert proc.returncode == 1
    assert [o["line"] for o in lines(proc)] == [2]
    assert "TooManyParts" in proc.stderr.decode() and "3 parts" in proc.stderr.decode()


def test_rust_backend_is_used_or_its_absence_is_said_plainly():
    import engine.encoding

    proc = run("--backend", "rust", stdin="hello\n")
    if callable(getattr(engine.encoding, "encode", None)):
        assert proc.returncode == 0, proc.stderr
        assert lines(proc)[0]["parts"] == ["68656c6c6f"]
    else:
        assert proc.returncode == 2
        assert "no encode() yet" in proc.stderr.decode()
