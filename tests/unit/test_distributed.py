"""trueloop.distributed without Ray: the unit of work, the local backend, the [distributed] checks.

The Ray backend's own tests (equivalence, faults, resume) are in tests/e2e/test_distributed*.py.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from trueloop.config import load_config
from trueloop.distributed import make_backend
from trueloop.distributed.local import LocalBackend
from trueloop.distributed.units import group_seed, play_groups, shards
from trueloop.policy import build_tiny
from trueloop.tasks import task_from_config
from trueloop.update.collect import collect

SMALL = ["--task.name", "arithmetic", "--rollout.prompts_per_step", "3", "--rollout.group_size",
         "2", "--rollout.max_new_tokens", "8"]


@pytest.fixture(scope="module")
def policy():
    return build_tiny("0.5m", seed=0)


def rows(batch) -> list[tuple[list[int], list[float]]]:
    """Each row's sampled ids and their logprobs, padding removed (comparable across batches)."""
    mask = batch.action_mask.bool()
    return [(batch.input_ids[i][mask[i]].tolist(), batch.logprobs[i][mask[i]].tolist())
            for i in range(len(batch))]


def test_group_seeds_differ_by_run_seed_and_index():
    seeds = {group_seed(s, i) for s in range(3) for i in range(100)}
    assert len(seeds) == 300
    assert all(0 <= s < 2**63 for s in seeds)
    assert group_seed(1, 5) == group_seed(1, 5)


@pytest.mark.parametrize("n, k", [(0, 3), (1, 3), (4, 3), (7, 2), (5, 5)])
def test_shards_cover_in_order_without_empties(n, k):
    parts = shards(n, k)
    assert [i for r in parts for i in r] == list(range(n))
    assert len(parts) == min(n, k) and all(len(r) > 0 for r in parts)
    assert max(map(len, parts), default=0) - min(map(len, parts), default=0) <= 1


def test_a_group_is_the_same_whatever_else_is_played(policy):
    """The unit's bits do not depend on the batch around it (what makes worker counts agree)."""
    cfg = load_config(overrides=SMALL + ["--distributed.unit", "group"])
    task = task_from_config(cfg.task)
    problems = task.problems(4, "train", cfg.task.seed, start=0)
    whole = play_groups(task, policy, problems, cfg, 0)
    tail = play_groups(task, policy, problems[2:], cfg, 2)
    assert rows(whole.batch)[4:] == rows(tail.batch)
    assert whole.verdicts[4:] == tail.verdicts
    assert rows(whole.batch)[:2] != rows(whole.batch)[2:4]  # groups do not share draws


def test_the_local_batch_backend_is_the_default_path(policy):
    cfg = load_config(overrides=SMALL)
    task = task_from_config(cfg.task)
    plain = collect(task, policy, cfg, 0, torch.Generator().manual_seed(0))
    backend = make_backend(cfg, task, policy)
    assert isinstance(backend, LocalBackend)
    via = collect(task, policy, cfg, 0, torch.Generator().manual_seed(0), backend)
    assert torch.equal(plain.batch.input_ids, via.batch.input_ids)
    assert torch.equal(plain.batch.logprobs, via.batch.logprobs)
    assert backend.metrics() == {"distributed/restarts": 0.0}


def test_group_units_ignore_the_trainer_generator(policy):
    cfg = load_config(overrides=SMALL + ["--distributed.unit", "group"])
    task = task_from_config(cfg.task)
    backend = make_backend(cfg, task, policy)
    a = collect(task, policy, cfg, 0, torch.Generator().manual_seed(0), backend)
    b = collect(task, policy, cfg, 0, torch.Generator().manual_seed(1), backend)
    assert rows(a.batch) == rows(b.batch)


@pytest.mark.parametrize("overrides, words", [
    (["--distributed.rollout_workers", "2"], "need distributed.backend"),
    (["--distributed.backend", "ray", "--distributed.rollout_workers", "2"], "unit = \"group\""),
    (["--distributed.backend", "ray", "--distributed.verify_workers", "-1"], ">= 0"),
    (["--distributed.backend", "ray", "--distributed.verify_deadline_s", "0"], "deadline_s > 0"),
    (["--distributed.backend", "ray", "--distributed.unit", "group", "--distributed.verify_workers",
      "1", "--distributed.rollout_workers", "1"], "either-or"),
    (["--distributed.backend", "ray", "--distributed.unit", "group", "--distributed.rollout_workers",
      "1", "--rollout.engine", "vllm"], "vLLM inside actors is not built"),
])
def test_bad_distributed_settings_fail_with_the_fix(overrides, words):
    with pytest.raises(ValueError) as err:
        load_config(overrides=overrides)
    assert "distributed." in str(err.value) and words in str(err.value)


def test_ray_missing_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(ValueError, match=r"pip install 'trueloop\[ray\]'"):
        load_config(overrides=["--distributed.backend", "ray"])


@pytest.mark.parametrize("overrides", [["--task.name", "memory"], ["--curriculum.enabled", "true",
                                                 "--curriculum.levels", "[1, 2]"]])
def test_ray_refuses_what_its_actors_cannot_share(overrides):
    pytest.importorskip("ray")
    from trueloop.distributed.ray_backend import RayBackend

    cfg = load_config(overrides=overrides + ["--distributed.backend", "ray", "--distributed.unit",
                                             "group", "--distributed.rollout_workers", "1"])
    with pytest.raises(ValueError, match="distributed.backend|rollout_workers = 0"):
        RayBackend(cfg, task_from_config(cfg.task), None)
