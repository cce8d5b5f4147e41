"""GSM8K / MATH JSONL loaders and the dataset tasks, on small files each test writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trueloop.tasks import make_task
from trueloop.tasks.math_datasets import load_gsm8k, load_math


def write(path: Path, rows: list) -> Path:
    """Rows are dicts (written as JSON) or raw strings (written as they are)."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def gsm(q: str, gold: str) -> dict:
    return {"question": q, "answer": f"Some steps <<1+1=2>>.\n#### {gold}"}


def test_gsm8k_loads_questions_and_gold(tmp_path):
    f = write(tmp_path / "g.jsonl", [gsm("How many?", "1,234"), "", gsm("And now?", "-7")])
    problems = load_gsm8k(f, split="test")
    assert [p.answer for p in problems] == ["1234", "-7"]
    assert [p.id for p in problems] == ["gsm8k/test/0", "gsm8k/test/1"]
    assert problems[0].prompt.startswith("How many?") and "\\boxed{}" in problems[0].prompt
    assert problems[1].meta["line"] == 3 and problems[1].meta["split"] == "test"
    assert "1234" not in problems[0].prompt  # the worked solution never reaches the prompt


@pytest.mark.parametrize("bad", [
    "{not json",
    json.dumps(["a", "list"]),
    json.dumps({"question": "Q?"}),
    json.dumps({"question": "Q?", "answer": "no marker 5"}),
    json.dumps({"question": "Q?", "answer": "steps\n#### five"}),
    json.dumps({"question": "", "answer": "#### 5"}),
])
def test_gsm8k_malformed_row_names_file_and_line(tmp_path, bad):
    f = write(tmp_path / "g.jsonl", [gsm("A?", "1"), gsm("B?", "2"), bad])
    with pytest.raises(ValueError, match=r"g\.jsonl:3\b"):
        load_gsm8k(f)


def test_math_gold_from_answer_field_or_boxed_solution(tmp_path):
    f = write(tmp_path / "m.jsonl", [
        {"problem": "P1", "solution": "So $\\boxed{\\frac{1}{2}}$.", "level": "Level 3",
         "type": "Algebra"},
        {"problem": "P2", "solution": "irrelevant \\boxed{9}", "answer": "3\\sqrt{2}"},
        {"problem": "P3", "solution": "First \\boxed{4}, and the final answer is \\boxed{4}."},
    ])
    problems = load_math(f)
    assert [p.answer for p in problems] == ["\\frac{1}{2}", "3\\sqrt{2}", "4"]
    assert problems[0].meta["level"] == "Level 3" and problems[0].meta["type"] == "Algebra"
    assert problems[0].id == "math/test/0"


@pytest.mark.parametrize("bad", [
    {"problem": "P", "solution": "no box here, 5"},
    {"problem": "P", "solution": "\\boxed{1} or \\boxed{2}"},
    {"problem": "P"},
    {"solution": "\\boxed{1}"},
])
def test_math_malformed_row_names_file_and_line(tmp_path, bad):
    f = write(tmp_path / "m.jsonl", [{"problem": "ok", "answer": "1"}, bad])
    with pytest.raises(ValueError, match=r"m\.jsonl:2\b"):
        load_math(f)


def test_dataset_task_needs_a_path():
    with pytest.raises(ValueError, match="path="):
        make_task("gsm8k")


def test_dataset_task_hash_split_and_epoch_order(tmp_path):
    rows = [gsm(f"Question {i}?", str(i)) for i in range(40)]
    task = make_task("gsm8k", path=write(tmp_path / "g.jsonl", rows))
    n_train, n_test = len(task.rows["train"]), len(task.rows["test"])
    assert n_train + n_test == 40 and n_test > 0
    epoch = [p.prompt for p in task.problems(n_train, "train", seed=4)]
    assert len(set(epoch)) == n_train  # one epoch visits every row once
    nxt = [p.prompt for p in task.problems(n_train, "train", seed=4, start=n_train)]
    assert sorted(nxt) == sorted(epoch) and nxt != epoch  # the next epoch reshuffles
    test = {p.prompt for p in task.problems(3 * n_test, "test")}
    assert len(test) == n_test and not test & set(epoch)


def test_dataset_task_with_test_file_drops_contaminated_train_rows(tmp_path):
    train = write(tmp_path / "train.jsonl", [gsm("Shared?", "1"), gsm("Only train?", "2")])
    test = write(tmp_path / "test.jsonl", [gsm("Shared?", "1"), gsm("Only test?", "3")])
    task = make_task("gsm8k", path=train, test_path=test)
    assert [r.question for r in task.rows["train"]] == ["Only train?"]
    assert {p.answer for p in task.problems(4, "test")} == {"1", "3"}
    p = task.problem(0, "train")
    assert task.verify(p, task.oracle(p)).correct


def test_task_from_config_passes_dataset_paths(tmp_path):
    from trueloop.config import TaskConfig
    from trueloop.tasks import task_from_config

    f = write(tmp_path / "g.jsonl", [gsm(f"Question {i}?", str(i)) for i in range(20)])
    task = task_from_config(TaskConfig(name="gsm8k", path=str(f), answer_format="none"))
    assert sum(len(r) for r in task.rows.values()) == 20 and task.answer_format == "none"
    chain = task_from_config(TaskConfig(name="chain", difficulty=2, horizon=4))
    assert chain.problem(0).meta["horizon"] == 4
