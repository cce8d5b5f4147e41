"""The Ray backend on a two-node cluster simulated on loopback (ray.cluster_utils.Cluster: two
raylets, two CPUs each): rollout actors spread over both nodes give the driver's results; a
rollout actor killed after the weights went out changes nothing; stale weights are refused."""

from __future__ import annotations

import pytest
import torch

from trueloop.config import load_config
from trueloop.distributed import make_backend
from trueloop.distributed.units import play_groups
from trueloop.policy import build_tiny
from trueloop.tasks import task_from_config

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from trueloop.distributed.ray_backend import StaleWeightsError  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair():
    """Two nodes; a backend with two rollout actors at weights version 7; the problems it plays."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    cluster.add_node(num_cpus=2)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    cfg = load_config(overrides=["--task.name", "arithmetic", "--rollout.prompts_per_step", "4",
                                 "--rollout.group_size", "2", "--rollout.max_new_tokens", "8",
                                 "--distributed.backend", "ray", "--distributed.unit", "group",
                                 "--distributed.rollout_workers", "2",
                                 "--distributed.worker_cpus", "1"])
    policy, task = build_tiny("0.5m", seed=0), task_from_config(cfg.task)
    problems = task.problems(4, "train", cfg.task.seed, start=10)
    backend = make_backend(cfg, task, policy)
    backend.sync(policy, 7)
    yield cfg, policy, task, problems, backend
    backend.close()
    ray.shutdown()
    cluster.shutdown()


def node_of(actor) -> str:
    return ray.get(actor.__ray_call__.remote(lambda self: ray.get_runtime_context().get_node_id()))


def test_rollout_actors_on_two_nodes_give_the_driver_result(pair):
    cfg, policy, task, problems, backend = pair
    assert len({node_of(a) for a in backend.rollout.actors}) == 2
    here = play_groups(task, policy, problems, cfg, 10)
    there = backend.play(task, policy, problems, 10, torch.Generator())
    assert torch.equal(there.batch.input_ids, here.batch.input_ids)
    assert torch.equal(there.batch.logprobs, here.batch.logprobs)
    assert there.verdicts == here.verdicts


def test_an_actor_killed_mid_step_changes_nothing(pair):
    cfg, policy, task, problems, backend = pair
    here = play_groups(task, policy, problems, cfg, 10)
    backend.metrics()
    ray.kill(backend.rollout.actors[1], no_restart=True)  # after the weights went out
    there = backend.play(task, policy, problems, 10, torch.Generator())
    assert backend.metrics() == {"distributed/restarts": 1.0}
    assert torch.equal(there.batch.input_ids, here.batch.input_ids)
    assert torch.equal(there.batch.logprobs, here.batch.logprobs)
    assert there.verdicts == here.verdicts


def test_a_stale_weights_version_is_refused(pair):
    cfg, policy, task, problems, backend = pair
    backend.rollout.actors[0].load.remote(backend.weights, 6)  # as if it missed a step
    with pytest.raises(StaleWeightsError, match="version 6.*version 7"):
        backend.play(task, policy, problems, 10, torch.Generator())
    backend.rollout.actors[0].load.remote(backend.weights, 7)
    backend.play(task, policy, problems, 10, torch.Generator())  # and it recovers




def test_a_hung_rollout_actor_is_replaced_past_the_deadline(pair):
    """An actor stuck past `rollout_deadline_s` is killed; its replacement gets the step's weights
    and plays the same shard: the driver's result, one restart."""
    import dataclasses
    import time

    cfg, policy, task, problems, backend = pair
    here = play_groups(task, policy, problems, cfg, 10)
    backend.cfg = dataclasses.replace(cfg, distributed=dataclasses.replace(
        cfg.distributed, rollout_deadline_s=4.0))
    try:
        backend.metrics()
        backend.rollout.actors[0].__ray_call__.remote(lambda self: time.sleep(60))
        t0 = time.monotonic()
        there = backend.play(task, policy, problems, 10, torch.Generator())
        assert time.monotonic() - t0 >= 4
        assert backend.metrics() == {"distributed/restarts": 1.0}
        assert torch.equal(there.batch.input_ids, here.batch.input_ids)
        assert there.verdicts == here.verdicts
    finally:
        backend.cfg = cfg
