"""verl integration contract (verl itself is not installed): parquet layout and compute_score."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from trueloop.integrations.verl import (
    PREFIX,
    compute_score,
    compute_score_batch,
    to_verl_rows,
    write_parquet,
)
from trueloop.tasks import make_task

KEYS = {"score", "acc", "pred", "reason", "hacked"}
PROCEDURAL = [("arithmetic", {"difficulty": 5}), ("chain", {"difficulty": 2, "horizon": 3}),
              ("countdown", {"difficulty": 2}), ("linear_equation", {"difficulty": 3}),
              ("word_problem", {"difficulty": 2})]


def test_rows_have_verls_layout():
    rows = to_verl_rows("arithmetic", n=3, split="test", seed=2, difficulty=4)
    problems = make_task("arithmetic", difficulty=4).problems(3, split="test", seed=2)
    for row, p in zip(rows, problems, strict=True):
        assert set(row) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
        assert row["data_source"] == "trueloop/arithmetic" and row["ability"] == "math"
        assert row["prompt"] == [{"role": "user", "content": p.prompt}]
        assert row["reward_model"]["style"] == "rule"
        truth = json.loads(row["reward_model"]["ground_truth"])
        assert truth["answer"] == p.answer and truth["options"]["difficulty"] == 4
        assert row["extra_info"] == {"split": "test", "index": p.meta["index"], "seed": 2,
                                     "problem_id": p.id}
    assert to_verl_rows("code", n=1)[0]["ability"] == "code"


@pytest.mark.parametrize("name,options", PROCEDURAL)
def test_parquet_round_trip_oracle_scores_one_and_junk_zero(tmp_path, name, options):
    task = make_task(name, **options)
    path = write_parquet(tmp_path / "d" / "train.parquet", name, n=4, seed=1, **options)
    rows = pq.read_table(path).to_pylist()
    for row, p in zip(rows, task.problems(4, seed=1), strict=True):
        args = (row["data_source"], task.oracle(p), row["reward_model"]["ground_truth"])
        good = compute_score(*args, row["extra_info"])
        assert good["score"] == 1.0 and good["acc"] == 1.0 and good["reason"] == "ok"
        bad = compute_score(row["data_source"], "I give up", args[2], row["extra_info"])
        assert bad == {"score": 0.0, "acc": 0.0, "pred": "", "reason": "no_answer",
                       "hacked": 0.0}


def test_hidden_truth_stays_out_of_the_prompt():
    for row in to_verl_rows("countdown", n=5, difficulty=3):
        solution = json.loads(row["reward_model"]["ground_truth"])["truth"]["solution"]
        assert solution not in row["prompt"][-1]["content"]


def test_code_hack_scores_zero_and_is_reported():
    task = make_task("code")
    row = to_verl_rows(task, n=1)[0]
    gt = row["reward_model"]["ground_truth"]
    assert compute_score(row["data_source"], task.oracle(task.problem(0)), gt)["score"] == 1.0
    hacked = compute_score(row["data_source"], "```python\nimport os\nos._exit(0)\n```", gt)
    assert hacked["score"] == 0.0 and hacked["hacked"] == 1.0


@pytest.mark.parametrize("garbage", [None, 7, "", "\\boxed{", "9" * 100_000])
def test_garbage_solution_scores_zero_with_the_same_keys(garbage):
    row = to_verl_rows("arithmetic", n=1)[0]
    out = compute_score(row["data_source"], garbage, row["reward_model"]["ground_truth"])
    assert set(out) == KEYS and out["score"] == 0.0 and isinstance(out["reason"], str)


def test_batch_entry_point_matches_per_sample_and_keeps_order_across_tasks():
    rows, texts = [], []
    for name, options in PROCEDURAL[:3]:
        task = make_task(name, **options)
        for row, p in zip(to_verl_rows(task, n=3), task.problems(3), strict=True):
            rows.append(row)
            texts.append(task.oracle(p) if p.meta["index"] != 1 else "\\boxed{-1}")
    args = ([r["data_source"] for r in rows], texts,
            [r["reward_model"]["ground_truth"] for r in rows], [r["extra_info"] for r in rows])
    batch = compute_score_batch(*args, workers=2)
    single = [compute_score(d, s, g, e) for d, s, g, e in zip(*args, strict=True)]
    assert batch == single
    assert [b["score"] for b in batch] == [1.0, 0.0, 1.0] * 3


def test_wrong_data_source_is_a_data_bug():
    row = to_verl_rows("arithmetic", n=1)[0]
    with pytest.raises(ValueError, match="trueloop/arithmetic"):
        compute_score("openai/gsm8k", "\\boxed{1}", row["reward_model"]["ground_truth"])
    assert PREFIX == "trueloop/"


def test_rebuilt_task_keeps_the_options_it_was_written_with():
    row = to_verl_rows("chain", n=1, difficulty=6, horizon=5)[0]
    options = json.loads(row["reward_model"]["ground_truth"])["options"]
    assert options == {"difficulty": 6, "horizon": 5, "answer_format": "boxed"}
