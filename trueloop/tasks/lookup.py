"""`lookup`: follow pointers through a key-value store over H `get` calls to a number.

    Store 4821: follow q.                    the prompt (answer_format="none"): no facts in it
    <get>q</get>       -> c=w q=m            the asked key's entry, shuffled among decoy entries
    <get>m</get>       -> m=b a=r
    <get>b</get>       -> b=48 k=73          the last key holds a number
    \\boxed{48}

The store lives in the environment (the problem's hidden truth), never in the prompt. Every
result line shows the asked key's entry and decoy entries of the same kind (other pointers on a
pointer step, other numbers on the last step) in a shuffled order, so the policy must match the
key it asked for; copying a decoy's value is just wrong. Keys are single letters (two letters when
the store outgrows the alphabet).

Horizon = H, the number of `get` calls (default 3). Difficulty sets the decoys per result line
(1 at d1-3, 2 at d4-6, 3 at d7-9, 4 at d10) and the value digits (2 at d1-2, 3 at d3-4, ...).
The split key is the question text: the start key and a store number (0..9999, drawn per problem;
it names the store and reveals nothing in it), so prompts of the two splits never coincide.
Judged as every horizon env is (`tool_chain.HorizonEnv`).
"""

from __future__ import annotations

import itertools
import random
import string
from typing import ClassVar

from trueloop.config import VerifyConfig
from trueloop.envs.horizon import HorizonEnv
from trueloop.envs.tools import Tool
from trueloop.tasks.base import Draw
from trueloop.tasks.horizon import HorizonTask
from trueloop.types import Problem, Verdict


class LookupEnv(HorizonEnv):
    def __init__(self, problem: Problem, verify: VerifyConfig | None = None) -> None:
        super().__init__(problem, verify)
        self.tools = {"get": Tool.from_function(self.get, name="get")}

    def get(self, key: str) -> str:
        """The store's entry for a key (shown among other entries)."""
        return self.problem.truth["view"].get(str(key).strip(), "no such key")

    def oracle_actions(self, problem: Problem) -> list[str]:
        return [f"<get>{k}</get>" for k in problem.truth["chain"]] + [
            f"\\boxed{{{problem.answer}}}"]

    def verify(self) -> Verdict:
        return self.judge(str(self.problem.answer))


class Lookup(HorizonTask):
    name: ClassVar[str] = "lookup"
    description: ClassVar[str] = "follow H pointers through a key-value store with get calls"
    env_class: ClassVar[type[HorizonEnv]] = LookupEnv
    tool_names: ClassVar[tuple[str, ...]] = ("get",)

    @property
    def decoys(self) -> int:
        return 1 + (self.difficulty - 1) // 3

    def draw(self, rng: random.Random) -> Draw:
        h, n = self.steps, self.decoys
        size = 2 * h + 2 * n + 6
        letters = string.ascii_lowercase
        names = list(letters) if size <= 26 else [a + b for a, b in
                                                   itertools.product(letters, repeat=2)]
        keys = rng.sample(names, size)
        chain, rest = keys[:h], keys[h:]
        pointers, numbers = rest[: len(rest) // 2], rest[len(rest) // 2:]
        digits = 1 + (self.difficulty + 1) // 2
        answer = rng.randrange(10 ** (digits - 1), 10**digits)
        store = {a: b for a, b in zip(chain, chain[1:], strict=False)}
        store[chain[-1]] = str(answer)
        store.update({k: rng.choice(keys) for k in pointers})
        for k in numbers:  # uniform over the other numbers of this many digits
            v = rng.randrange(10 ** (digits - 1), 10**digits - 1)
            store[k] = str(v + (v >= answer))
        pools = {True: pointers, False: numbers}  # decoys of the same kind as the entry
        view = {}
        for k in keys:
            shown = [k, *rng.sample([o for o in pools[k not in numbers and k != chain[-1]]
                                     if o != k], n)]
            rng.shuffle(shown)
            view[k] = " ".join(f"{o}={store[o]}" for o in shown)
        number = rng.randrange(9_999)
        number += number >= answer  # 0..9999, never the answer
        question = f"Store {number}: follow {chain[0]}."
        return Draw(question=question, answer=str(answer), key=question,
                    truth={"chain": chain, "store": store, "view": view},
                    meta={"horizon": h})
