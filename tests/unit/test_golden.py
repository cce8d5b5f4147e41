"""Golden values: the content-hash split, the per-group sampling seed and a few problems, pinned
to outputs computed once, checked in this process and in a fresh one with another PYTHONHASHSEED.

A change to the split hash or its bucket, to a seed string or to a generator changes which
problems are held out and what every run samples: it must be a deliberate edit of these tables,
never an accident (and never depend on Python's salted `hash()`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trueloop.tasks import make_task
from trueloop.tasks.base import split_of

ROOT = Path(__file__).resolve().parents[2]

SPLITS = {  # key -> split_of(key): SHA-256 of the key, first byte mod 8 == 0 is "test"
    "arithmetic|0 + 0": "train",
    "arithmetic|1 + 1": "test",
    "arithmetic|2 + 2": "train",
    "arithmetic|15 + 15": "test",
    "arithmetic|27 + 27": "test",
    "chain|Start at 3, then +4. Result?": "train",
    "code|add_two": "train",
    "word_problem|x": "train",
    "": "train",
}

GROUP_SEEDS = {  # (run seed, train problem index) -> group_seed
    (0, 0): 2172053265793625659,
    (0, 1): 6697825187151307830,
    (1, 0): 7051965492903258161,
    (3, 17): 6186929717972493224,
    (12345, 999999): 8511589252173572309,
}

PROBLEMS = {  # (task, split, seed, index) -> (prompt, answer), default knobs
    ("arithmetic", "train", 0, 0):
        ("Compute 0 - 4 * 6. Put your final answer in \\boxed{}.", "-24"),
    ("arithmetic", "test", 0, 0):
        ("Compute 6 * 2 - 5. Put your final answer in \\boxed{}.", "7"),
    ("arithmetic", "train", 3, 5):
        ("Compute 2 * 7 - 8. Put your final answer in \\boxed{}.", "6"),
    ("chain", "train", 0, 0):
        ("Mod 100. Start at 3, then -2, *2, +4. Result? Put your final answer in \\boxed{}.", "6"),
    ("word_problem", "train", 0, 0):
        ("Liam has 2 cards. He triples the number of cards. He buys 2 more cards. How many "
         "cards does Liam have now? Put your final answer in \\boxed{}.", "8"),
}

CHILD_TASKS = """
import json, sys
from trueloop.tasks import make_task
from trueloop.tasks.base import split_of
keys, problems = json.loads(sys.argv[1])
print(json.dumps({"splits": [split_of(k) for k in keys],
                  "problems": [[p.prompt, p.answer] for p in
                               (make_task(t).problem(i, s, seed) for t, s, seed, i in problems)]}))
"""

CHILD_SEEDS = """
import json, sys
from trueloop.distributed.units import group_seed
print(json.dumps([group_seed(s, i) for s, i in json.loads(sys.argv[1])]))
"""


def child(script: str, arg: object) -> object:
    """Run `script` in a fresh interpreter whose PYTHONHASHSEED differs from this process's."""
    seed = "1" if os.environ.get("PYTHONHASHSEED") == "0" else "0"
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run([sys.executable, "-c", script, json.dumps(arg)], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=120, check=True)
    return json.loads(out.stdout)


def test_split_of_golden_values() -> None:
    assert {k: split_of(k) for k in SPLITS} == SPLITS


def test_group_seed_golden_values() -> None:
    from trueloop.distributed.units import group_seed

    assert {k: group_seed(*k) for k in GROUP_SEEDS} == GROUP_SEEDS


def test_problem_golden_values() -> None:
    for (name, split, seed, index), (prompt, answer) in PROBLEMS.items():
        p = make_task(name).problem(index, split, seed)
        assert (p.prompt, p.answer) == (prompt, answer), (name, split, seed, index)


def test_splits_and_problems_are_the_same_under_another_hash_seed() -> None:
    out = child(CHILD_TASKS, [list(SPLITS), [list(k) for k in PROBLEMS]])
    assert out["splits"] == list(SPLITS.values())
    assert [tuple(p) for p in out["problems"]] == list(PROBLEMS.values())


@pytest.mark.slow  # the child imports torch and the policy stack (seconds)
def test_group_seeds_are_the_same_under_another_hash_seed() -> None:
    assert child(CHILD_SEEDS, [list(k) for k in GROUP_SEEDS]) == list(GROUP_SEEDS.values())
