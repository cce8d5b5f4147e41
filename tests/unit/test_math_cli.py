"""`trueloop verify`: bare-answer rows, unencodable text in any field, the unparseable-gold summary.

Runs the CLI's `run` in-process (no subprocess), so each test stays well under a second."""

from __future__ import annotations

import argparse
import json

import pytest

from trueloop.cli import verify as cli
from trueloop.config import VerifyConfig
from trueloop.verify.math import verify_math, verify_rows


def _args(kind: str, src, dst, *overrides: str) -> argparse.Namespace:
    return argparse.Namespace(kind=kind, input=str(src), output=str(dst),
                              last_number_fallback=None, timeout_s=None, workers=None,
                              partial_credit=None, no_progress=True, overrides=list(overrides))


def echo_rows(rows: list, config: VerifyConfig) -> list[dict]:
    """A stand-in verifier whose output fields carry a lone surrogate (as code stderr may)."""
    return [{"correct": False, "reward": 0.0, "reason": "wrong", "flags": [],
             "details": {"stderr": "bad \udc80 byte"}} for _ in rows]


def test_answer_rows_are_compared_whole_without_extraction():
    out = verify_rows([{"gold": "\\frac34", "answer": "0.75"},
                       {"gold": "(1, 3]", "answer": "(1,3]"},
                       {"gold": "7", "answer": "The answer is 7."},  # no extraction: wrong
                       {"gold": "7", "answer": ""},
                       {"gold": "7"},
                       {"gold": "7", "answer": "7", "completion": "\\boxed{7}"}], VerifyConfig())
    assert [o["reason"] for o in out] == ["ok", "ok", "wrong", "no_answer", "bad_input",
                                          "bad_input"]
    assert verify_math("3", answer="x = 3").correct
    assert not verify_math("3", "x = 3").correct  # a completion still needs a final answer


def test_answer_keeps_hidden_character_flag():
    v = verify_math("42", answer="4\u200b2")
    assert v.correct and "stego:hidden_chars" in v.flags


@pytest.mark.parametrize("kind", ["math", "echo"])
def test_output_never_crashes_on_a_lone_surrogate(tmp_path, monkeypatch, capsys, kind):
    monkeypatch.setitem(cli.ROW_VERIFIERS, "echo", "test_math_cli:echo_rows")
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"gold": "7", "completion": "\\\\boxed{7} \\ud800"}\n', encoding="utf-8")
    assert cli.run(_args(kind, src, dst)) == 0
    row = json.loads(dst.read_text(encoding="utf-8"))
    assert row["completion"].endswith("\ud800")  # the escape reads back as the same text
    if kind == "echo":
        assert row["details"]["stderr"] == "bad \udc80 byte"


def test_unparseable_golds_are_summarised_not_logged_per_row(tmp_path, capsys, caplog):
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{"gold": f"\\frac{{{k}", "completion": "\\boxed{1} \\boxed{2}"} for k in range(40)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert cli.run(_args("math", src, dst)) == 0
    err = capsys.readouterr().err
    assert "40 rows have a gold answer that cannot be read (40 distinct)" in err
    assert err.count("  gold ") == cli.GOLD_EXAMPLES
    assert "unparseable gold answer" not in caplog.text
    out = [json.loads(line) for line in dst.read_text().splitlines()]
    assert {o["reason"] for o in out} == {"unparseable_gold"}
    assert all("cannot be read (ParseError" in o["details"]["detail"] for o in out)
    assert json.loads(err.strip().splitlines()[-1])["unparseable_gold_rows"] == 40


@pytest.mark.parametrize("setting", [["--verify.last_number_fallback", "true"],
                                     ["--last-number-fallback"]])
def test_verify_settings_are_overrides_and_the_flags_shorthands(tmp_path, capsys, setting):
    from trueloop.cli import main

    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"gold": "7", "completion": "so it is 7"}\n')
    assert main(["verify", "math", str(src), "-o", str(dst), "--no-progress"]) == 0
    assert json.loads(dst.read_text())["reason"] == "no_answer"
    assert main(["verify", "math", str(src), "-o", str(dst), "--no-progress", *setting]) == 0
    assert json.loads(dst.read_text())["correct"]


@pytest.mark.parametrize(("overrides", "message"), [
    (["--update.lr", "1"], "takes [verify] settings only"),
    (["--verify.timeout_s", "0"], "verify.timeout_s must be > 0"),
    (["--verify.any_boxx", "true"], "unknown key(s) ['any_boxx'] in [verify]"),
])
def test_a_bad_verify_setting_is_a_sentence(tmp_path, capsys, overrides, message):
    src = tmp_path / "in.jsonl"
    src.write_text('{"gold": "7", "completion": "7"}\n')
    assert cli.run(_args("math", src, tmp_path / "out.jsonl", *overrides)) == 2
    assert message in capsys.readouterr().err
