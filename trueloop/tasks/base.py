"""The Task contract: a seeded generator of Problems plus the verifier that checks them.

A procedural task draws each problem from `random.Random("<task>:<split>:<seed>:<index>:<try>")`
(string seeds hash with SHA-512, so problems do not depend on PYTHONHASHSEED or the platform).
Train and test are disjoint *by construction*: a problem belongs to the test split exactly when
the SHA-256 of its canonical content falls in the test bucket (1 in `TEST_BUCKETS`), and a generator
redraws until the content lands in the split it was asked for. The same content can therefore
never appear in both splits, whatever the seeds; `tests/unit/test_tasks.py` checks it on 100k items.

How to add a task: subclass `Task` in `tasks/<name>.py`, implement `draw()` (and `verify()` if
the gold is not a single math answer, or `make_env()` for a multi-turn environment), then add one
line to `TASKS` in `tasks/__init__.py`, or call `trueloop.tasks.register(name, cls)` from your own
code (no trueloop edit needed).
"""

from __future__ import annotations

import hashlib
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from trueloop.envs.base import Env, SingleTurnEnv
from trueloop.types import Message, Problem, Split, Verdict
from trueloop.verify import Verifier

if TYPE_CHECKING:
    from trueloop.config import VerifyConfig

TEST_BUCKETS = 8
# one problem content in TEST_BUCKETS goes to the test split
MAX_REDRAWS = 10_000

ANSWER_FORMATS: dict[str, str] = {
    "boxed": "Put your final answer in \\boxed{}.",
    "answer_is": 'End with "The answer is N".',
    "none": "",
}


@dataclass(frozen=True)
class Draw:
    """What a task's `draw()` returns: the question body, its gold answer and hidden truth."""

    question: str
    answer: str | None
    key: str
    # canonical content that decides the split (e.g. the question text)
    truth: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None


def split_of(key: str) -> Split:
    digest = hashlib.sha256(key.encode()).digest()
    return "test" if digest[0] % TEST_BUCKETS == 0 else "train"


class Task(ABC):
    """A problem generator with `difficulty` (1 trivial ... 10 hard) and an optional `horizon`."""

    name: ClassVar[str]
    has_horizon: ClassVar[bool] = False
    system_prompt: ClassVar[str] = ""

    def __init__(
        self, difficulty: int = 3, horizon: int | None = None, answer_format: str = "boxed"
    ) -> None:
        if not 1 <= int(difficulty) <= 10:
            raise ValueError(f"difficulty must be an integer in 1..10; got {difficulty!r}.")
        if horizon is not None and not self.has_horizon:
            raise ValueError(f"task {self.name!r} has no horizon knob; drop --horizon.")
        if horizon is not None and not 1 <= int(horizon) <= 64:
            raise ValueError(f"horizon must be an integer in 1..64; got {horizon!r}.")
        if answer_format not in ANSWER_FORMATS:
            raise ValueError(
                f"unknown answer_format {answer_format!r}; known: {sorted(ANSWER_FORMATS)}."
            )
        self.difficulty = int(difficulty)
        self.horizon = None if horizon is None else int(horizon)
        self.answer_format = answer_format

    @abstractmethod
    def draw(self, rng: random.Random) -> Draw:
        """Draw one problem at this task's difficulty/horizon from `rng`."""

    def verify(self, problem: Problem, completion: str,
               cfg: VerifyConfig | None = None) -> Verdict:
        """Default: strict math comparison of the completion's final answer with the gold, under
        the run's `[verify]` settings (`VerifyConfig()` defaults when None)."""
        from trueloop.verify.math import verify_math  # lazy: 0.2 s of import, math tasks only

        return verify_math(problem.answer, completion, cfg)

    def verify_batch(self, problems: list[Problem], completions: list[str],
                     cfg: VerifyConfig | None = None) -> list[Verdict]:
        """Verify many completions; tasks with expensive checks (code) override this to run in
        parallel. `problems[i]` is the problem of `completions[i]`. Training and evaluation call
        it through `verifier(cfg.verify)`."""
        return [self.verify(p, c, cfg) for p, c in zip(problems, completions, strict=True)]

    def verifier(self, settings: VerifyConfig | None = None) -> Verifier:
        """This task's batch check bound to the run's `[verify]` settings."""
        return Verifier(self.verify_batch, settings)

    def make_env(self, problem: Problem, *, verify: VerifyConfig | None = None) -> Env:
        """The environment of one episode of `problem`. Default: one action, then done, judged by
        `verifier(verify)` (single-turn); multi-turn tasks return their own `Env`."""
        return SingleTurnEnv(problem, self.verifier(verify))

    def stop_strings(self) -> tuple[str, ...]:
        """Strings that end an action, besides EOS and `rollout.stop` (a tool env's closing
        tags, so a turn ends right after a call). Default: none."""
        return ()

    def end_step(self) -> None:
        """Called by the trainer after every training step: a task with run-level state (the
        `memory` environment's store) commits what the step's episodes wrote. Default: none."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """Run-level state to checkpoint (restored bit-exactly by `--resume`). Default: none."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        return None

    @property
    def has_run_state(self) -> bool:
        """Whether episodes depend on run-level state (the task overrides `end_step` or
        `state_dict`): what rollout actors, curriculum levels and rescoring cannot share."""
        cls = type(self)
        return cls.end_step is not Task.end_step or cls.state_dict is not Task.state_dict

    def solution(self, problem: Problem) -> str:
        """A worked solution for supervised pretraining (the prior); defaults to the oracle."""
        return self.oracle(problem)

    def oracle(self, problem: Problem) -> str:
        """A completion that must verify correct (used by contract tests and the prior)."""
        return f"\\boxed{{{problem.answer}}}"

    def problem(self, index: int, split: Split = "train", seed: int = 0) -> Problem:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test'; got {split!r}.")
        for attempt in range(MAX_REDRAWS):
            rng = random.Random(f"{self.name}:{self.difficulty}:{self.horizon}:{split}:{seed}:"
                                f"{index}:{attempt}")
            d = self.draw(rng)
            if split_of(f"{self.name}|{d.key}") == split:
                return self._build(d, index, split, seed)
        raise RuntimeError(f"{self.name}: no {split} problem after {MAX_REDRAWS} draws")

    def problems(
        self, n: int, split: Split = "train", seed: int = 0, start: int = 0
    ) -> list[Problem]:
        return [self.problem(i, split, seed) for i in range(start, start + n)]

    def render(self, question: str) -> str:
        instruction = ANSWER_FORMATS[self.answer_format]
        return f"{question} {instruction}".strip() if instruction else question

    def _build(self, d: Draw, index: int, split: Split, seed: int) -> Problem:
        prompt = self.render(d.question)
        messages = (Message("user", prompt),)
        if self.system_prompt:
            messages = (Message("system", self.system_prompt),) + messages
        meta = {"difficulty": self.difficulty, "horizon": self.horizon, "split": split,
                "seed": seed, "index": index, **(d.meta or {})}
        return Problem(
            id=f"{self.name}/{split}/{seed}/{index}",
            task=self.name,
            prompt=prompt,
            messages=messages,
            answer=d.answer,
            truth=d.truth or {},
            meta=meta,
        )
