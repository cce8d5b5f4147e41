"""The Ray backend: verification and rollout actors; the learner stays in the driver.

    start      ray.init(address) (None: a local Ray; "auto" / "host:port": join a cluster), or
               reuse the Ray this process already runs; `verify_workers` VerifyWorkers and
               `rollout_workers` RolloutWorkers (actors.py), `worker_cpus` CPUs each, spread
               over the nodes
    sync       ray.put(trainable weights) once per step with the step as version; every rollout
               actor loads it before its next call (an actor runs its calls in order)
    play       rollout actors: the batch's groups split into contiguous shards, one per actor; a
               result from another weights version raises StaleWeightsError, never trained on.
               no rollout actors: episodes here, single-turn verification sharded over the
               verification actors (other envs verify here: their state lives in this process)
    faults     an actor that dies is replaced and its shard re-run (same seeds: same result); a
               verification call past `verify_deadline_s`, or a rollout shard past
               `rollout_deadline_s` (when set), is killed, replaced (a rollout actor gets the
               step's weights again) and re-run; each counts in `distributed/restarts`. More
               than `max_restarts` replacements in one call, or Ray gone, raise ClusterError
               (checkpoints are written by the driver only, so the last one is intact).

Departure from verl / OpenRLHF: no weight-sync collective (NCCL); the object store carries the
weights, which fits CPU clusters and small models and is the part to replace for large ones.
"""

from __future__ import annotations

import time
from dataclasses import replace

import ray
import torch
from ray.exceptions import RayActorError

from trueloop.config import RunConfig
from trueloop.distributed.actors import RolloutWorker, VerifyWorker, trainable_state
from trueloop.distributed.units import concat_played, play_here, shards
from trueloop.envs.base import Env, SingleTurnEnv, verify_episodes
from trueloop.policy import Policy
from trueloop.rollout import Played
from trueloop.tasks.base import Task
from trueloop.types import Problem, Verdict


class StaleWeightsError(RuntimeError):
    """A rollout result sampled with weights other than the driver's current version."""


class ClusterError(RuntimeError):
    """Ray is gone, or actors keep dying: the run cannot go on."""


START_TIMEOUT_S = 300.0
# an actor not up (process started, task and model built) after this long: the cluster is broken


class _Pool:
    """Actors of one class; `call` runs one shard per actor, replacing dead or hung ones. Actors
    are waited for until they are up, so a deadline times the call, not an actor's start."""

    def __init__(self, make, size: int, backend: RayBackend) -> None:
        self.make, self.backend = make, backend
        self.actors = [make() for _ in range(size)]
        self.ready(self.actors)

    def ready(self, actors: list) -> None:
        refs = [a.__ray_ready__.remote() for a in actors]
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=START_TIMEOUT_S)
        if len(done) < len(refs):
            raise ClusterError(f"{len(refs) - len(done)} Ray actors did not start within "
                               f"{START_TIMEOUT_S:.0f} s (not enough CPUs for worker_cpus?). "
                               f"{self.backend.advice}")
        ray.get(done)  # an actor that failed in its constructor raises its error here

    def replace(self, k: int, *, kill: bool) -> None:
        if kill:
            ray.kill(self.actors[k], no_restart=True)
        self.backend.restarts += 1
        self.actors[k] = self.make()
        self.ready([self.actors[k]])

    def call(self, method: str, args: list[tuple], deadline: float | None = None) -> list:
        """`actors[k].method(*args[k])` for every k; results in the order of `args`."""
        out: list = [None] * len(args)
        pending: dict = {}
        replaced = 0

        def submit(k: int) -> None:
            pending[getattr(self.actors[k], method).remote(*args[k])] = (k, time.monotonic())

        def retry(k: int, *, kill: bool) -> None:
            nonlocal replaced
            replaced += 1
            if replaced > self.backend.cfg.distributed.max_restarts:
                raise ClusterError(f"{replaced} Ray actors died or hung in one {method} call; the "
                                   f"cluster looks broken. {self.backend.advice}")
            self.replace(k, kill=kill)
            submit(k)

        for k in range(len(args)):
            submit(k)
        while pending:
            wait = None if deadline is None else max(
                0.0, min(t for _, t in pending.values()) + deadline - time.monotonic())
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=wait)
            if not ready:  # the oldest call passed the deadline: that actor hangs
                ref = min(pending, key=lambda r: pending[r][1])
                retry(pending.pop(ref)[0], kill=True)
                continue
            k, _ = pending.pop(ready[0])
            try:
                out[k] = ray.get(ready[0])
            except RayActorError:  # the actor died (killed, OOM, node lost): same work elsewhere
                retry(k, kill=False)
        return out


class RayBackend:
    def __init__(self, cfg: RunConfig, task: Task, policy: Policy) -> None:
        d = cfg.distributed
        if d.rollout_workers and task.has_run_state:
            raise ValueError(f"task {cfg.task.name!r} keeps run-level state between steps, which "
                             f"rollout actors would not share; use distributed.rollout_workers = 0"
                             f" (verification actors still apply).")
        if cfg.curriculum.enabled:
            raise ValueError("the curriculum moves between task levels that Ray actors, built "
                             "from [task], do not see; use distributed.backend = \"local\" with "
                             "curriculum.enabled.")
        self.cfg, self.restarts, self.version, self.weights = cfg, 0, -1, None
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            ray.init(address=d.address, include_dashboard=False, log_to_driver=False)
        self.advice = (f"Check the cluster ({d.address or 'local Ray'}: `ray status`); the last "
                       f"checkpoint is intact: rerun the same command with --resume.")
        threads = torch.get_num_threads()
        options = {"num_cpus": d.worker_cpus, "scheduling_strategy": "SPREAD"}  # across nodes
        skeleton = ray.put(policy) if d.rollout_workers else None
        rollout, verify = (ray.remote(c).options(**options)
                           for c in (RolloutWorker, VerifyWorker))

        def make_rollout():
            actor = rollout.remote(cfg, skeleton, threads)
            if self.weights is not None:
                actor.load.remote(self.weights, self.version)
            return actor

        self.rollout = _Pool(make_rollout, d.rollout_workers, self)
        self.verify = _Pool(lambda: verify.remote(cfg.task, threads), d.verify_workers, self)

    def sync(self, policy: Policy, version: int) -> None:
        """New weights to every rollout actor, once per step, through the object store."""
        if not self.rollout.actors:
            return
        self._alive()
        self.version, self.weights = version, ray.put(trainable_state(policy))
        for actor in self.rollout.actors:
            actor.load.remote(self.weights, version)

    def play(self, task: Task, policy: Policy, problems: list[Problem], start: int,
             generator: torch.Generator) -> Played:
        self._alive()
        if not self.rollout.actors:
            verifier = self._verify if self.verify.actors else verify_episodes
            return play_here(task, policy, problems, self.cfg, start, generator, verifier)
        parts = shards(len(problems), len(self.rollout.actors))
        results = self.rollout.call("play", [([problems[i] for i in r], start + r.start)
                                             for r in parts],
                                    self.cfg.distributed.rollout_deadline_s or None)
        for version, _ in results:
            if version != self.version:
                raise StaleWeightsError(f"a rollout actor sampled with weights version {version}, "
                                        f"but the driver is at version {self.version}; a stale "
                                        f"result is never trained on.")
        parts = [p for _, p in results]  # shards ran side by side: the slowest one's times
        seconds = {k: max(p.seconds[k] for p in parts) for k in parts[0].seconds}
        return replace(concat_played(parts), seconds=seconds)

    def _verify(self, envs: list[Env]) -> list[Verdict]:
        """Single-turn envs verified on the verification actors, in shards; others here."""
        out: list[Verdict | None] = [None] * len(envs)
        remote = [i for i, e in enumerate(envs) if type(e) is SingleTurnEnv]
        here = [i for i, e in enumerate(envs) if type(e) is not SingleTurnEnv]
        parts = [[remote[j] for j in r] for r in shards(len(remote), len(self.verify.actors))]
        args = [([envs[i].problem for i in rows], [envs[i].action or "" for i in rows],
                 self.cfg.verify) for rows in parts]
        results = self.verify.call("verify", args, self.cfg.distributed.verify_deadline_s)
        for rows, verdicts in zip(parts, results, strict=True):
            for i, v in zip(rows, verdicts, strict=True):
                out[i] = v
        for i, v in zip(here, verify_episodes([envs[i] for i in here]) if here else [],
                        strict=True):
            out[i] = v
        return out  # type: ignore[return-value]

    def _alive(self) -> None:
        if not ray.is_initialized():
            raise ClusterError(f"Ray is not running any more. {self.advice}")

    def metrics(self) -> dict[str, float]:
        """`distributed/restarts`: actors replaced since the last call (this step)."""
        n, self.restarts = self.restarts, 0
        return {"distributed/restarts": float(n)}

    def close(self) -> None:
        if not ray.is_initialized():
            return
        for actor in self.rollout.actors + self.verify.actors:
            ray.kill(actor, no_restart=True)
        if self.owns_ray:
            ray.shutdown()

    def __enter__(self) -> RayBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
