"""trueloop.distributed: where rollouts and verification run (docs/distributed.md).

    backend = make_backend(cfg, task, policy)     # [distributed] backend = local | ray
    backend.sync(policy, step)                    # new weights out, once per step (ray)
    played = backend.play(task, policy, problems, start, generator)   # sample + verify
    backend.metrics()                             # distributed/restarts this step
    backend.close()

The learner (the update) always stays in the driver. `local` runs everything in this process;
`ray` (an optional extra, imported only when chosen) shards verification over verification actors
and, with `rollout_workers`, groups over rollout actors holding a copy of the policy. With
`unit = "group"` every backend and worker count gives bit-identical runs on CPU (units.py).

Adding a backend: a class with the five methods above and one entry in BACKENDS.
"""

from __future__ import annotations

from importlib import import_module

from trueloop.config import RunConfig
from trueloop.policy import Policy
from trueloop.tasks.base import Task

BACKENDS = {
    "local": "trueloop.distributed.local:LocalBackend",
    "ray": "trueloop.distributed.ray_backend:RayBackend",
}
# module:class, imported on use (Ray is an optional extra)


def make_backend(cfg: RunConfig, task: Task, policy: Policy):
    """The backend `cfg.distributed.backend` names, started (a Ray backend joins or starts Ray)."""
    module, name = BACKENDS[cfg.distributed.backend].split(":")
    return getattr(import_module(module), name)(cfg, task, policy)
