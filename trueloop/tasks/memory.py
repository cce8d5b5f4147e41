"""`memory`: on-the-job learning. Facts revealed in earlier episodes are needed in later ones.

    ab=48. cd?                               the prompt (answer_format="none"): a new fact, and a
                                             question about one revealed k train problems ago
    <write>ab=48</write>     -> ok           staged; committed by `Task.end_step()`
    <read>cd</read>          -> cd=73 ef=12  the asked entry and a neighbouring one (a decoy),
                                             from the snapshot: the store as of the last commit
    \\boxed{73}

Train problem i (of a seed) reveals the fact `key_i=value_i` (key_i: a seeded permutation of the
676 two-letter names, so keys are unique within any 676 consecutive problems; value_i: random,
`1 + (difficulty + 1) // 2` digits) and asks about the fact of train problem i - k, with the age k
drawn from 1..H (H = horizon, default 3; clamped to i, so problem 0 asks its own fact, age 0).
Values are fresh random numbers, never a fixed table, so they cannot be learned into the weights:
the only way to answer is to have written the fact into the store when it was shown, and to read
it back. Test problem i is the held-out twin of train problem i: its own (test-split) fact, and a
question about train fact i - k.

The store is run-level state on the task:
- every episode reads the snapshot taken at its `reset` (the store as of the last commit), so the
  G episodes of a group all see the same store, whatever the others write;
- writes are staged when a train episode is verified and committed, in order, only by
  `end_step()` (the trainer calls it after every step); writes from test-split episodes
  (`problem.meta["split"] == "test"`) and from `verify(problem, text)` replays never commit;
- `state_dict()` / `load_state_dict()` round-trip the store (and anything staged) exactly; the
  trainer checkpoints it and `--resume` restores it. At most `STORE_MAX` entries are kept (the
  least recently written go first).

Metric: success by age. Every verdict carries `details={"age": k, "stored": bool}`: k is how many
train problems ago the fact was shown (relative to the question's own index; for a test problem,
to train problem i), `stored` whether the snapshot held the right value. Training and
evaluation log them bucketed by age (`rollout.metrics.success_by_age`):
`episode/success_by_age/<k>`, and `episode/stored_by_age/<k>`, which separates "never written"
from "not read back".
With B problems per step, facts shown in the same step are not yet committed, so ages below about
B are mostly unanswerable by design. The split key is the revealed fact. Judged as every horizon
env is (`tool_chain.HorizonEnv`).
"""

from __future__ import annotations

import itertools
import random
import string
from typing import TYPE_CHECKING, Any, ClassVar

from trueloop.envs.base import Observation
from trueloop.envs.horizon import HorizonEnv
from trueloop.envs.tools import Tool
from trueloop.tasks.base import MAX_REDRAWS, Draw, split_of
from trueloop.tasks.horizon import HorizonTask
from trueloop.types import Problem, Split, Verdict

if TYPE_CHECKING:
    from trueloop.config import VerifyConfig

STORE_MAX = 4096
# entries the run-level store keeps (least recently written dropped first)
MAX_KEY, MAX_VALUE = 16, 32
# characters of a written key / value; longer writes are refused (an error observation)
NAMES = tuple(a + b for a, b in itertools.product(string.ascii_lowercase, repeat=2))


class MemoryEnv(HorizonEnv):
    def __init__(self, problem: Problem, task: Memory, stage: bool = True) -> None:
        super().__init__(problem)
        self.task, self.stage = task, stage
        self.tools = {"write": Tool.from_function(self.write, name="write"),
                      "read": Tool.from_function(self.read, name="read")}
        self.snapshot, self.writes, self.staged = task.store, [], False

    def reset(self, problem: Problem, *, seed: int) -> Observation:
        self.snapshot, self.writes, self.staged = self.task.store, [], False
        return super().reset(problem, seed=seed)

    def write(self, entry: str) -> str:
        """Store a fact for later episodes, written key=value."""
        key, sep, value = str(entry).partition("=")
        key, value = key.strip(), value.strip()
        if not (sep and key and value and len(key) <= MAX_KEY and len(value) <= MAX_VALUE):
            raise ValueError(f"write key=value (key <= {MAX_KEY}, value <= {MAX_VALUE} chars)")
        self.writes.append((key, value))
        return "ok"

    def read(self, key: str) -> str:
        """A stored fact (shown with its neighbour in the store)."""
        key = str(key).strip()
        if key not in self.snapshot:
            return f"{key}=none"
        keys = list(self.snapshot)
        near = keys[(keys.index(key) + 1) % len(keys)]
        return " ".join(f"{k}={self.snapshot[k]}" for k in sorted({key, near}))

    def oracle_actions(self, problem: Problem) -> list[str]:
        key, value = problem.truth["reveal"]
        return [f"<write>{key}={value}</write>", f"<read>{problem.truth['target']}</read>",
                f"\\boxed{{{problem.answer}}}"]

    def verify(self) -> Verdict:
        if self.stage and not self.staged and self.problem.meta["split"] == "train":
            self.task.staged.extend(self.writes)
            self.staged = True
        truth = str(self.problem.answer)
        stored = self.snapshot.get(self.problem.truth["target"]) == truth
        return self.judge(truth, age=self.problem.truth["age"], stored=stored)


class Memory(HorizonTask):
    name: ClassVar[str] = "memory"
    description: ClassVar[str] = "facts shown in earlier episodes, recalled through a store"
    env_class: ClassVar[type[HorizonEnv]] = MemoryEnv
    tool_names: ClassVar[tuple[str, ...]] = ("write", "read")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.store: dict[str, str] = {}
        # committed facts, oldest write first; replaced (never mutated) at each commit
        self.staged: list[tuple[str, str]] = []
        # writes of verified train episodes since the last commit, in order
        self._names: dict[int, list[str]] = {}

    def make_env(self, problem: Problem, *, verify: VerifyConfig | None = None) -> MemoryEnv:
        return MemoryEnv(problem, self)

    def replay_env(self, problem: Problem) -> MemoryEnv:
        return MemoryEnv(problem, self, stage=False)

    def end_step(self) -> None:
        store = dict(self.store)
        for key, value in self.staged:
            store.pop(key, None)  # a rewrite moves the key to the newest end
            store[key] = value
        for key in list(store)[: max(0, len(store) - STORE_MAX)]:
            del store[key]
        self.store, self.staged = store, []

    def state_dict(self) -> dict[str, Any]:
        return {"store": [[k, v] for k, v in self.store.items()],
                "staged": [[k, v] for k, v in self.staged]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.store = {str(k): str(v) for k, v in state.get("store", [])}
        self.staged = [(str(k), str(v)) for k, v in state.get("staged", [])]

    def draw(self, rng: random.Random) -> Draw:
        """A revealed value (the key comes from the index; see `problem`)."""
        digits = 1 + (self.difficulty + 1) // 2
        value = str(rng.randrange(10 ** (digits - 1), 10**digits))
        return Draw(question="", answer=value, key=value)

    def reveal(self, index: int, split: Split, seed: int) -> tuple[str, str, random.Random]:
        """Problem `index`'s fact (key, value), drawn until it lands in `split`, and its rng."""
        if seed not in self._names:
            self._names[seed] = list(NAMES)
            random.Random(f"{self.name}:keys:{seed}").shuffle(self._names[seed])
        names = self._names[seed]
        key = names[index % len(names)]
        for attempt in range(MAX_REDRAWS):
            rng = random.Random(f"{self.name}:{self.difficulty}:{self.horizon}:{split}:{seed}:"
                                f"{index}:{attempt}")
            value = self.draw(rng).answer
            if split_of(f"{self.name}|{key}={value}") == split:
                return key, value, rng
        raise RuntimeError(f"{self.name}: no {split} fact after {MAX_REDRAWS} draws")

    def problem(self, index: int, split: Split = "train", seed: int = 0) -> Problem:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test'; got {split!r}.")
        key, value, rng = self.reveal(index, split, seed)
        age = min(rng.randint(1, self.steps), index)
        target, truth = (key, value) if age == 0 else self.reveal(index - age, "train", seed)[:2]
        d = Draw(question=f"{key}={value}. {target}?", answer=truth, key=f"{key}={value}",
                 truth={"reveal": [key, value], "target": target, "age": age},
                 meta={"horizon": self.steps, "age": age})
        return self._build(d, index, split, seed)
