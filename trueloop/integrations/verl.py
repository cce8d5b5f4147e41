"""trueloop tasks as verl parquet files, trueloop verifiers as verl `compute_score` functions.

    trueloop.integrations.verl.write_parquet("train.parquet", "arithmetic", n=10_000, difficulty=3)
    # verl config:
    #   data.train_files=train.parquet
    #   custom_reward_function.path=<site-packages>/trueloop/integrations/verl.py
    #   custom_reward_function.name=compute_score        (reward_model.reward_manager=naive)
    #   custom_reward_function.name=compute_score_batch  (reward_model.reward_manager=batch)

Row layout (verl's RL dataset, as its `examples/data_preprocess/gsm8k.py` writes it):

    data_source   "trueloop/<task>"                       how compute_score dispatches
    prompt        [{"role": "user", "content": ...}]      chat messages; verl applies the template
    ability       "code" for the code task, else "math"
    reward_model  {"style": "rule", "ground_truth": JSON}  JSON: task, options, answer, truth, id
    extra_info    {"split", "index", "seed", "problem_id"}

`ground_truth` is a string (verl passes it through untouched), so the hidden truth is a JSON
payload; the task is rebuilt once per process from `make_task(task, **options)` and cached.

Return value: verl's reward managers accept a float or a dict with `score`; every other key of
the dict becomes a per-sample `reward_extra_info` column (validation metrics skip strings, and
`pred` feeds verl's majority-vote metrics). `compute_score` returns
`{"score", "acc", "pred", "reason", "hacked"}`, the same keys for every sample, as verl's
batching requires. Assumption, documented in docs/verl.md: the verl version in use calls
`compute_score(data_source=, solution_str=, ground_truth=, extra_info=, **kwargs)` (naive
manager) or `compute_score(data_sources=, solution_strs=, ground_truths=, extra_infos=,
**kwargs)` (batch manager); verl is not installed here, so the contract is tested without it.

Threat model: as `integrations.trl`; in addition, a `data_source` that is not `trueloop/<task>`
or a malformed `ground_truth` is a data bug and raises (it is not model output).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from trueloop.config import RewardConfig
from trueloop.integrations import (
    batch_verifier,
    problem_from_hidden,
    resolve_task,
    task_options,
    verify_parallel,
)
from trueloop.reward import compute_reward
from trueloop.tasks.base import Task
from trueloop.types import Problem, Split, Verdict

PREFIX = "trueloop/"
# data_source = PREFIX + task name
ABILITY: dict[str, str] = {"code": "code"}
# verl's `ability` column per task; every other task is "math"
REWARD = RewardConfig()
# correct = 1, no format bonus; a flagged hack scores 0


def to_verl_rows(task: str | Task, n: int, split: Split = "train", seed: int = 0, *,
                 start: int = 0, **options: Any) -> list[dict[str, Any]]:
    """`n` problems of `task` as verl dataset rows (see the module docstring for the layout)."""
    t = resolve_task(task, options)
    knobs = {**task_options(t), **options}
    return [_row(p, knobs, split, seed) for p in t.problems(n, split=split, seed=seed,
                                                            start=start)]


def _row(p: Problem, options: dict[str, Any], split: Split, seed: int) -> dict[str, Any]:
    payload = {"task": p.task, "options": options, "answer": p.answer, "truth": p.truth,
               "id": p.id}
    return {
        "data_source": PREFIX + p.task,
        "prompt": [{"role": m.role, "content": m.content} for m in p.messages],
        "ability": ABILITY.get(p.task, "math"),
        "reward_model": {"style": "rule",
                         "ground_truth": json.dumps(payload, sort_keys=True, default=str)},
        "extra_info": {"split": split, "index": int(p.meta.get("index", 0)), "seed": seed,
                       "problem_id": p.id},
    }


def write_parquet(path: str | Path, task: str | Task, n: int, split: Split = "train",
                  seed: int = 0, **options: Any) -> Path:
    """Write `to_verl_rows(...)` to a parquet file verl's RLHFDataset reads; returns the path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(to_verl_rows(task, n, split, seed, **options)), path)
    return path


@cache
def _task(name: str, options_json: str) -> Task:
    return resolve_task(name, json.loads(options_json))


def _decode(data_source: str, ground_truth: str | dict, solution_str: str) -> tuple[Task, Problem]:
    payload = ground_truth if isinstance(ground_truth, dict) else json.loads(ground_truth)
    name = payload["task"]
    if data_source != PREFIX + name:
        raise ValueError(f"data_source must be {PREFIX + name!r} for a trueloop/{name} ground "
                         f"truth; got {data_source!r}. Rows come from write_parquet().")
    task = _task(name, json.dumps(payload.get("options", {}), sort_keys=True))
    problem = problem_from_hidden("", problem_id=payload.get("id"), task=name,
                                  answer=payload.get("answer"), truth=payload.get("truth"))
    return task, problem


def _result(v: Verdict) -> dict[str, Any]:
    score, _ = compute_reward(v, finish_reason="stop", num_tokens=0, max_new_tokens=1,
                              cfg=REWARD)
    return {"score": float(score), "acc": float(v.correct), "pred": v.extracted or "",
            "reason": v.reason, "hacked": float(v.hacked)}


def compute_score(data_source: str, solution_str: str, ground_truth: str,
                  extra_info: dict | None = None, **kwargs: Any) -> dict[str, Any]:
    """verl's per-sample reward entry point (naive reward manager)."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info])[0]


def compute_score_batch(data_sources: list[str], solution_strs: list[str],
                        ground_truths: list[str], extra_infos: list[dict | None] | None = None,
                        workers: int = 0, **kwargs: Any) -> list[dict[str, Any]]:
    """verl's batched entry point (batch reward manager): verifies in parallel, one task at a
    time, and returns one result dict per sample in input order."""
    texts = [s if isinstance(s, str) else "" for s in solution_strs]
    decoded = [_decode(d, g, s) for d, g, s in zip(data_sources, ground_truths, texts,
                                                   strict=True)]
    out: list[dict[str, Any] | None] = [None] * len(texts)
    for task in {id(t): t for t, _ in decoded}.values():
        idx = [i for i, (t, _) in enumerate(decoded) if t is task]
        verdicts = verify_parallel(batch_verifier(task), [decoded[i][1] for i in idx],
                                   [texts[i] for i in idx], workers)
        for i, v in zip(idx, verdicts, strict=True):
            out[i] = _result(v)
    return [r for r in out if r is not None]


__all__ = ["ABILITY", "PREFIX", "compute_score", "compute_score_batch", "to_verl_rows",
           "write_parquet"]
