"""The Ray backend on a local Ray (2 CPUs): training runs bit-identical to the local backend, a run
broken by a dead cluster resumed exactly, verification actors (a hung one replaced).
test_distributed_cluster.py covers two nodes, killed rollout actors and stale weights.

One Ray for the module; actors take half a CPU each so that three fit on two cores.
"""

from __future__ import annotations

import time

import pytest
import torch

from trueloop.config import load_config
from trueloop.distributed import make_backend
from trueloop.pipelines.train import train_run as train
from trueloop.policy import build_tiny
from trueloop.tasks import task_from_config
from trueloop.tracking import TIMING_PREFIXES, read_metrics
from trueloop.update.checkpoint import latest_step

ray = pytest.importorskip("ray")
from trueloop.distributed.ray_backend import ClusterError, RayBackend  # noqa: E402

pytestmark = pytest.mark.slow

GROUP = ["--distributed.unit", "group"]


def on_ray(workers: int, *extra: str) -> list[str]:
    return GROUP + ["--distributed.backend", "ray", "--distributed.rollout_workers", str(workers),
                    "--distributed.worker_cpus", "0.5", *extra]


@pytest.fixture(scope="module", autouse=True)
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def run_record(out, policy) -> tuple[list[dict], dict[str, torch.Tensor]]:
    rows = [{k: v for k, v in r.items() if not k.startswith(TIMING_PREFIXES)}
            for r in read_metrics(out / "metrics.jsonl")]
    return rows, {k: v.clone() for k, v in policy.model.state_dict().items()}


def assert_same_run(a, b) -> None:
    assert a[0] == b[0]  # every metric, bit for bit (floats compared exactly)
    assert a[1].keys() == b[1].keys()
    assert all(torch.equal(a[1][k], b[1][k]) for k in a[1]), "weights differ"


def test_ray_runs_equal_the_local_run(tiny_config, tmp_path, monkeypatch):
    """3 steps, group units: local; 3 rollout actors; 1 rollout actor that dies at step 2 and may
    not be replaced (max_restarts 0: a clear error, the step-2 checkpoint intact), then resumed.
    Metrics and weights of all three are the same bits."""
    config = tiny_config(steps=3, every=1)
    local = tmp_path / "local"
    reference = run_record(local, train(load_config(config, GROUP), local))
    assert any(r["reward/std"] > 0 for r in reference[0]), "no reward signal: proves nothing"

    run = run_record(tmp_path / "ray3", train(load_config(config, on_ray(3)), tmp_path / "ray3"))
    assert_same_run(run, reference)
    assert [r["distributed/restarts"] for r in run[0]] == [0.0, 0.0, 0.0]

    out, sync = tmp_path / "ray1", RayBackend.sync

    def dying_sync(self, policy, version):
        if version == 2:
            for actor in self.rollout.actors:
                ray.kill(actor, no_restart=True)
        sync(self, policy, version)

    monkeypatch.setattr(RayBackend, "sync", dying_sync)
    with pytest.raises(ClusterError, match="--resume"):
        train(load_config(config, on_ray(1, "--distributed.max_restarts", "0")), out)
    assert latest_step(out) == 2
    monkeypatch.setattr(RayBackend, "sync", sync)
    policy = train(load_config(config, on_ray(1)), out, resume=True)
    assert_same_run(run_record(out, policy), reference)


def outcomes(verdicts) -> list[tuple]:
    return [(v.correct, v.reward, v.reason, v.flags) for v in verdicts]  # details hold wall times


def test_verification_actors_match_the_driver_and_a_hung_one_is_replaced():
    """The code task on two verification actors: the driver's verdicts, in order; an actor that
    hangs past the deadline is killed, replaced and its shard re-run."""
    cfg = load_config(overrides=["--task.name", "code", "--rollout.prompts_per_step", "3",
                                 "--rollout.group_size", "2", "--distributed.backend", "ray",
                                 "--distributed.verify_workers", "2", "--distributed.worker_cpus",
                                 "0.5", "--distributed.verify_deadline_s", "4"])
    task = task_from_config(cfg.task)
    problems = task.problems(6, "train", cfg.task.seed, start=0)
    answers = [task.oracle(p) if i % 2 else "def f():\n    return None\n"
               for i, p in enumerate(problems)]
    local = outcomes(task.verify_batch(problems, answers, cfg.verify))
    assert {v[0] for v in local} == {True, False}
    with make_backend(cfg, task, build_tiny("0.5m")) as backend:
        envs = [task.make_env(p, verify=cfg.verify) for p in problems]
        for env, answer in zip(envs, answers, strict=True):
            env.reset(env.problem, seed=0)
            env.step(answer)
        assert outcomes(backend._verify(envs)) == local
        backend.verify.actors[1].__ray_call__.remote(lambda self: time.sleep(60))
        t0 = time.monotonic()
        assert outcomes(backend._verify(envs)) == local
        assert time.monotonic() - t0 >= 4
        assert backend.metrics() == {"distributed/restarts": 1.0}
