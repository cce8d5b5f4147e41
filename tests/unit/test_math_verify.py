"""The strict math verifier: the regression table, timeouts, the JSONL runner and its CLI."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from math_table import ADVERSARIAL, TABLE, box

from trueloop.config import VerifyConfig
from trueloop.types import REASONS
from trueloop.verify.math import answers_equal, verify_math, verify_rows
from trueloop.verify.math.timeout import TimedOut, pool

PATHOLOGICAL = ("\\sin(x)^{1000}\\cos(y)^{1000}", box("(1-\\cos(x)^2)^{500}(1-\\sin(y)^2)^{500}"))


@pytest.fixture(scope="module", autouse=True)
def warm_worker():
    """Start the sympy worker once, so no single test pays its start-up."""
    assert answers_equal("\\sqrt{2}", "\\sqrt2")


def test_table_is_large_and_covers_every_comparison_reason():
    assert len(TABLE) >= 200
    assert {r for *_, r in TABLE} >= set(REASONS) - {"timeout", "bad_input"}
    assert all(not ok for *_, ok, _ in [(g, c, ok, r) for g, c, ok, r in ADVERSARIAL if r != "ok"])


@pytest.mark.parametrize("gold, completion, correct, reason", TABLE,
                         ids=[f"{i}:{g[:20]}" for i, (g, *_) in enumerate(TABLE)])
def test_regression_table(gold, completion, correct, reason):
    v = verify_math(gold, completion)
    assert (v.correct, v.reason) == (correct, reason), (v.extracted, v.details)
    assert v.reward == (1.0 if correct else 0.0)
    assert v.reason in REASONS


def test_verdict_carries_extracted_answer_and_hidden_char_count():
    v = verify_math("42", "work\u200b\u200b \\boxed{42}")
    assert (v.correct, v.extracted) == (True, "42")
    assert "stego:hidden_chars" in v.flags and v.details["hidden_chars"] == 2


def test_last_number_fallback_is_off_by_default_and_configurable():
    text = "so we get 12 cookies"
    assert verify_math("12", text).reason == "no_answer"
    assert verify_math("12", text, VerifyConfig(last_number_fallback=True)).correct


def test_answers_equal_compares_without_extraction():
    assert answers_equal("\\frac{1}{2}", "0.5")
    assert not answers_equal("7", "3+4")
    assert not answers_equal("7", "\\boxed{7}x")


def test_unparseable_gold_is_loud_and_never_rewarded(caplog):
    with caplog.at_level(logging.WARNING, logger="trueloop.verify.math"):
        v = verify_math("\\frac{1}{2", box("1"))  # a gold no other test uses: warned once each
    assert (v.correct, v.reward, v.reason) == (False, 0.0, "unparseable_gold")
    assert "unparseable gold" in caplog.text
    assert verify_math(None, box("1")).reason == "unparseable_gold"
    assert verify_math("\\sqrt{", "no answer here").reason == "unparseable_gold"


@pytest.mark.slow
def test_pathological_input_times_out_and_the_verifier_recovers():
    cfg = VerifyConfig(timeout_s=0.5)
    start = time.perf_counter()
    v = verify_math(*PATHOLOGICAL, cfg)
    elapsed = time.perf_counter() - start
    assert (v.correct, v.reason) == (False, "timeout")
    assert elapsed < cfg.timeout_s + 1.0
    assert verify_math("2\\sqrt{2}", box("\\sqrt{8}"), cfg).correct  # a fresh worker took over
    assert verify_math(*PATHOLOGICAL, cfg).reason == "timeout"  # timeouts are not cached as ok


@pytest.mark.slow
@pytest.mark.parametrize("target, args, why", [
    ("os:abort", (), "died"),  # a crash in C code kills the worker process
    ("builtins:bytearray", (8 << 30,), "memory"),  # over the worker's address-space limit
])
def test_worker_death_and_memory_exhaustion_are_results_not_crashes(target, args, why):
    assert pool().call(target, args, 5.0) == TimedOut(5.0, why)
    assert pool().call("math:factorial", (5,), 5.0) == 120  # a fresh worker took over


@pytest.mark.slow
def test_symbolic_checks_and_rows_run_from_several_threads():
    pairs = [(f"{k}\\sqrt{{2}}", box(f"\\sqrt{{{2 * k * k}}}")) for k in range(2, 10)]
    with ThreadPoolExecutor(4) as ex:
        verdicts = list(ex.map(lambda p: verify_math(*p), pairs))
    assert all(v.correct for v in verdicts)
    rows = [{"gold": g, "completion": c} for g, c in pairs] + [{"gold": "2", "completion": "1"}]
    out = verify_rows(rows, VerifyConfig(workers=3))
    assert [o["correct"] for o in out] == [True] * len(pairs) + [False]


def test_verify_rows_marks_malformed_rows_bad_input():
    rows = [{"gold": "7", "completion": box("7")}, {"_bad_line": 2, "_error": "invalid JSON"},
            {"gold": 7, "completion": box("7")}, {"completion": "x"}, ["not", "a", "dict"],
            {"gold": "7", "completion": box("8")}]
    out = verify_rows(rows, VerifyConfig())
    assert [o["reason"] for o in out] == ["ok", "bad_input", "bad_input", "bad_input",
                                          "bad_input", "wrong"]
    assert [o["reward"] for o in out] == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert out[0]["extracted"] == "7" and out[0]["flags"] == []


@pytest.mark.slow
def test_cli_verifies_a_file_with_a_malformed_line(tmp_path):
    src = tmp_path / "in.jsonl"
    lines = [json.dumps({"gold": "\\frac12", "completion": box("0.5")}), "{not json",
             json.dumps({"gold": "7", "completion": box("3+4")}), "",
             json.dumps({"gold": "7", "completion": 7})]
    src.write_text("\n".join(lines) + "\n")
    dst = tmp_path / "out.jsonl"
    proc = subprocess.run([sys.executable, "-m", "trueloop", "verify", "math", str(src), "-o",
                           str(dst), "--no-progress"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in dst.read_text().splitlines()]
    assert [r["reason"] for r in rows] == ["ok", "bad_input", "wrong", "bad_input"]
    assert rows[0]["gold"] == "\\frac12"  # input fields are kept
    summary = json.loads(proc.stderr.strip().splitlines()[-1])
    assert summary["rows"] == 4 and summary["correct"] == 1
