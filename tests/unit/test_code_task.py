"""The built-in code task and the MBPP / HumanEval loaders."""

from __future__ import annotations

import json

import pytest

from trueloop.config import VerifyConfig
from trueloop.sandbox import Sandbox, SandboxLimits
from trueloop.tasks import make_task
from trueloop.tasks.base import split_of
from trueloop.tasks.code import load_bank
from trueloop.tasks.code_datasets import load_humaneval, load_mbpp, to_problems
from trueloop.verify.code import split_test, verify_batch


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxLimits(timeout_s=2.0), workers=2) as box:
        yield box


def test_the_code_name_draws_bank_problems_with_their_tests():
    bank = {r["id"]: r for r in load_bank()}
    for difficulty in (1, 5, 10):
        for p in make_task("code", difficulty=difficulty).problems(8, seed=2):
            row = bank[p.meta["bank_id"]]
            assert p.truth["visible_tests"] == row["visible_tests"]
            assert p.truth["hidden_tests"] == row["hidden_tests"]
            assert p.truth["entry_point"] == row["entry_point"]
            assert row["statement"] in p.prompt and f"`{row['entry_point']}`" in p.prompt


def test_bank_shape():
    bank = load_bank()
    assert len(bank) >= 40
    assert len({r["entry_point"] for r in bank}) == len(bank)
    for r in bank:
        assert len(r["visible_tests"]) >= 3 and len(r["hidden_tests"]) >= 5
        assert all(split_test(t).call is not None for t in r["visible_tests"] + r["hidden_tests"])


def test_every_reference_passes_and_a_stub_fails(sb):
    bank = load_bank()
    items = [(r, f"```python\n{r['reference']}```") for r in bank]
    stubs = [(r, f"def {r['entry_point']}(*args):\n    return None\n") for r in bank]
    verdicts = verify_batch(items + stubs, VerifyConfig(), sandbox=sb)
    good, bad = verdicts[: len(bank)], verdicts[len(bank):]
    assert [r["id"] for r, v in zip(bank, good, strict=True) if not v.correct] == []
    assert all(not v.correct and v.reward == 0 for v in bad)


@pytest.mark.parametrize("difficulty,level", [(1, 1), (5, 2), (10, 3)])
def test_difficulty_knob_selects_a_level(difficulty, level):
    task = make_task("code", difficulty=difficulty)
    assert {p.meta["level"] for p in task.problems(20)} == {level}


def test_splits_disjoint_and_deterministic():
    task = make_task("code", difficulty=4)
    train = {p.meta["bank_id"] for p in task.problems(60, "train", seed=1)}
    test = {p.meta["bank_id"] for p in task.problems(20, "test", seed=1)}
    assert train and test and not train & test
    assert all(split_of(f"code|{b}") == "test" for b in test)
    assert task.problems(5, seed=3) == make_task("code", difficulty=4).problems(5, seed=3)


def test_prompt_shows_visible_tests_only():
    p = make_task("code", difficulty=7).problem(0)
    assert all(t in p.prompt for t in p.truth["visible_tests"])
    assert not any(t in p.prompt for t in p.truth["hidden_tests"])
    assert "```python" in p.prompt


def test_oracle_verifies_through_the_task():
    task = make_task("code", difficulty=2)
    p = task.problem(0)
    assert task.verify(p, task.oracle(p)).correct
    assert not task.verify(p, "no code").correct


MBPP_ROW = {"task_id": 7, "text": "Write a function to add two numbers.",
            "code": "def add(a, b):\n    return a + b", "test_setup_code": "",
            "test_list": ["assert add(1, 2) == 3", "assert add(0, 0) == 0",
                          "assert add(-1, 1) == 0"], "challenge_test_list": []}
HE_ROW = {"task_id": "HumanEval/0", "entry_point": "inc",
          "prompt": "def inc(x):\n    \"\"\"Add one.\"\"\"\n",
          "canonical_solution": "    return x + 1\n",
          "test": "METADATA = {}\n\ndef check(candidate):\n    assert candidate(1) == 2\n"
                  "    assert candidate(-1) == 0\n    assert candidate(10) == 11\n"
                  "    assert candidate(0) == 1\n"}
HE_LOOP = {**HE_ROW, "task_id": "HumanEval/1",
           "test": "def check(candidate):\n    for i in range(5):\n"
                   "        assert candidate(i) == i + 1\n"}


def test_mbpp_loader(tmp_path, sb):
    path = tmp_path / "mbpp.jsonl"
    path.write_text(json.dumps(MBPP_ROW) + "\n")
    (row,) = load_mbpp(path)
    assert row["entry_point"] == "add" and len(row["visible_tests"]) == 1
    assert len(row["hidden_tests"]) == 2
    (v,) = verify_batch([(row, row["reference"])], VerifyConfig(), sandbox=sb)
    assert v.correct


def test_humaneval_loader_splits_asserts_and_keeps_loops_whole(tmp_path, sb):
    path = tmp_path / "he.jsonl"
    path.write_text(json.dumps(HE_ROW) + "\n" + json.dumps(HE_LOOP) + "\n")
    plain, loop = load_humaneval(path)
    assert plain["visible_tests"] == ["assert inc(1) == 2", "assert inc(-1) == 0",
                                      "assert inc(10) == 11"]
    assert plain["hidden_tests"] == ["assert inc(0) == 1"]
    assert split_test(loop["hidden_tests"][0]).call is None
    wrong = "def inc(x):\n    return x + 2\n"
    verdicts = verify_batch([(plain, plain["reference"]), (loop, loop["reference"]),
                             (loop, wrong)], VerifyConfig(), sandbox=sb)
    assert [v.correct for v in verdicts] == [True, True, False]
    assert verdicts[1].details["unsplit"] == 1
    problems = to_problems([plain, loop], "humaneval")
    assert problems[0].truth["entry_point"] == "inc" and "assert inc(0)" not in problems[0].prompt


def test_verify_batch_matches_one_by_one_and_runs_in_parallel():
    from trueloop.tasks import make_task

    task = make_task("code", difficulty=2)
    problems = task.problems(6, "train", seed=1)
    texts = [task.oracle(p) if i % 2 == 0 else "def nope(): pass" for i, p in enumerate(problems)]
    batch = task.verify_batch(problems, texts)
    single = [task.verify(p, t) for p, t in zip(problems, texts, strict=True)]
    assert [v.correct for v in batch] == [v.correct for v in single] == [True, False] * 3
