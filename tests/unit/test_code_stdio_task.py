"""The stdin/stdout bank, its task and the public-layout loader (issue 9 §4)."""

from __future__ import annotations

import base64
import json
import pickle
import zlib

import pytest

from trueloop.config import VerifyConfig
from trueloop.sandbox import Sandbox, SandboxLimits
from trueloop.tasks.code import CodeStdioTask, load_stdio_bank
from trueloop.tasks.code_datasets import load_stdio, stdio_row, to_problems
from trueloop.verify.code import verify_batch


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxLimits(timeout_s=2.0), workers=2) as box:
        yield box


def test_bank_has_thirty_problems_with_visible_and_hidden_pairs():
    bank = load_stdio_bank()
    assert len(bank) >= 30 and len({r["id"] for r in bank}) == len(bank)
    assert all(len(r["visible_tests"]) >= 2 and len(r["hidden_tests"]) >= 5 for r in bank)
    big = [r for r in bank if max(len(t["input"]) for t in r["hidden_tests"]) > 100_000]
    assert len(big) >= 5  # large hidden inputs where a complexity bound matters
    assert {r["difficulty"] for r in bank} == {1, 2, 3}


def test_task_oracle_passes_and_a_wrong_program_fails(sb):
    task = CodeStdioTask(difficulty=1)
    problems = task.problems(4, "train", seed=0)
    assert all("Example input" in p.prompt for p in problems)
    texts = [task.oracle(p) for p in problems] + ["```python\nprint(0)\n```"] * len(problems)
    verdicts = verify_batch([(p.truth, t) for p, t in zip(problems * 2, texts, strict=True)],
                            VerifyConfig(timeout_s=2.0), sb)
    assert [v.correct for v in verdicts] == [True] * len(problems) + [False] * len(problems)


@pytest.mark.slow
def test_every_reference_passes_and_a_quadratic_program_times_out(sb):
    bank = load_stdio_bank()
    verdicts = verify_batch([(r, f"```python\n{r['reference']}```") for r in bank],
                            VerifyConfig(timeout_s=2.0), sb)
    assert [v.reason for v in verdicts] == ["ok"] * len(bank)
    inv = next(r for r in bank if r["id"] == "stdio_inversions")
    slow = ("import sys\nd = list(map(int, sys.stdin.read().split()))[1:]\n"
            "print(sum(d[i] > d[j] for i in range(len(d)) for j in range(i + 1, len(d))))\n")
    (v,) = verify_batch([(inv, slow)], VerifyConfig(timeout_s=2.0), sb)
    assert v.details["passed_visible"] == 3 and v.reason == "timeout"


def test_loader_reads_codecontests_apps_livecodebench_and_plain_layouts(tmp_path):
    packed = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(
        [{"input": "3\n", "output": "6\n", "testtype": "stdin"}])))).decode()
    rows = [
        {"name": "cc1", "description": "Double it.", "public_tests": {"input": ["1\n"],
         "output": ["2\n"]}, "private_tests": {"input": ["2\n"], "output": ["4\n"]},
         "generated_tests": {"input": [], "output": []},
         "solutions": {"language": [2, 3], "solution": ["cpp", "print(2 * int(input()))"]}},
        {"problem_id": 7, "question": "Double it.", "input_output": json.dumps(
            {"inputs": ["1\n", "5\n"], "outputs": ["2\n", "10\n"]}),
         "solutions": json.dumps(["print(2 * int(input()))"])},
        {"problem_id": 8, "question": "f", "input_output": json.dumps(
            {"fn_name": "f", "inputs": [[1]], "outputs": [2]})},  # call-based: left out
        {"question_id": "lcb1", "question_content": "Double it.",
         "public_test_cases": json.dumps([{"input": "1\n", "output": "2\n",
                                           "testtype": "stdin"}]),
         "private_test_cases": packed},
        {"id": "p1", "statement": "Double it.", "inputs": ["4\n", "0\n"],
         "outputs": ["8\n", "0\n"]},
    ]
    path = tmp_path / "stdio.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    got = load_stdio(path)
    assert [r["id"] for r in got] == ["stdio/cc1", "stdio/7", "stdio/lcb1", "stdio/p1"]
    assert got[0]["hidden_tests"] == [{"input": "2\n", "output": "4\n"}]
    assert got[0]["reference"] == "print(2 * int(input()))"
    assert got[2]["hidden_tests"] == [{"input": "3\n", "output": "6\n"}]
    problems = to_problems(got, "stdio")
    assert "Example input" in problems[0].prompt and "4\n" not in problems[0].prompt
    assert problems[0].truth["hidden_tests"] == got[0]["hidden_tests"]


def test_a_pickle_that_is_not_a_plain_string_is_never_unpickled():
    class Boom:
        def __reduce__(self):
            return (print, ("executed",))

    packed = base64.b64encode(zlib.compress(pickle.dumps(Boom()))).decode()
    with pytest.raises(ValueError, match="opcode"):
        stdio_row({"question_id": "x", "public_test_cases": "[]",
                   "private_test_cases": packed})
