"""`word_problem`: templated multi-step word problems; horizon = number of dependent steps.

A person starts with some items and each sentence changes the count, so every step depends on
the one before (GSM8K-like chains without the reading noise; Cobbe et al., arXiv:2110.14168).
Horizon (1..64, default 1 + difficulty // 2) is the number of such steps. Difficulty sets:
- numbers: start up to 10 * difficulty, step operands up to 3 + 2 * difficulty;
- operations: more/fewer (d1-2), times-as-many (d3+), equal sharing and boxes-of-n (d5+);
- distractors: from d7 one irrelevant sentence about another person is mixed in (the
  GSM-NoOp perturbation of arXiv:2410.05229), so copying every number stops working.
Counts never go negative and sharing is always exact, so the answer is a non-negative integer.
The split key is the question text.
"""

from __future__ import annotations

import random
from typing import ClassVar

from trueloop.tasks.base import Draw, Task

PEOPLE = (("Mia", "She"), ("Noah", "He"), ("Ava", "She"), ("Liam", "He"), ("Zoe", "She"),
          ("Omar", "He"), ("Lena", "She"), ("Ravi", "He"), ("Ines", "She"), ("Kofi", "He"),
          ("Yuki", "She"), ("Tom", "He"), ("Sara", "She"), ("Ivan", "He"), ("Nora", "She"),
          ("Eli", "He"))
ITEMS = ("apples", "marbles", "stickers", "coins", "books", "pencils", "cards", "shells",
         "stamps", "cookies")
GAIN = ("{p} buys {k} more {item}.", "{p} finds {k} {item}.", "A friend gives {o} {k} {item}.",
        "{p} wins {k} {item} in a game.")
LOSS = ("{p} gives {k} {item} to a neighbour.", "{p} sells {k} {item}.", "{p} loses {k} {item}.",
        "{p} uses {k} {item}.")
TIMES = {2: "{p} doubles the number of {item}.", 3: "{p} triples the number of {item}."}
TIMES_K = "{p} ends up with {k} times as many {item} as before."
SHARE = "{p} splits the {item} into {k} equal piles and keeps one pile."
BOXES = "{p} buys {m} boxes of {item} with {k} in each box."
DISTRACTOR = "{q} has {k} {other}."
OBJECT = {"She": "her", "He": "him"}


def default_horizon(difficulty: int) -> int:
    return 1 + difficulty // 2


class WordProblem(Task):
    name: ClassVar[str] = "word_problem"
    has_horizon: ClassVar[bool] = True
    description: ClassVar[str] = "templated multi-step word problem (horizon = dependent steps)"

    def draw(self, rng: random.Random) -> Draw:
        d = self.difficulty
        steps = self.horizon or default_horizon(d)
        (name, pron), item = rng.choice(PEOPLE), rng.choice(ITEMS)
        value = rng.randint(2, 10 * d)
        sentences = [f"{name} has {value} {item}."]
        # from d7 an irrelevant sentence goes before sentence `noise_at`; the step after it
        # names the person again so the pronoun cannot point at the distractor's person
        noise_at = rng.randint(1, steps + 1) if d >= 7 else None
        for i in range(1, steps + 1):
            sentence, value = self._step(rng, value, name if i == noise_at else pron, item)
            sentences.append(sentence)
        if noise_at is not None:
            q = rng.choice([p for p, _ in PEOPLE if p != name])
            other = rng.choice([i for i in ITEMS if i != item])
            noise = DISTRACTOR.format(q=q, k=rng.randint(2, 10 * d), other=other)
            sentences.insert(noise_at, noise)
        sentences.append(f"How many {item} does {name} have now?")
        question = " ".join(sentences)
        return Draw(question=question, answer=str(value), key=question, meta={"horizon": steps})

    def _step(self, rng: random.Random, value: int, pron: str, item: str) -> tuple[str, int]:
        """One dependent sentence and the new count."""
        d = self.difficulty
        k = rng.randint(2, 3 + 2 * d)
        fmt = {"p": pron, "o": OBJECT.get(pron, pron), "k": k, "item": item}
        kinds = ["gain", "loss"] + (["times"] if d >= 3 else []) + (["share", "boxes"] * (d >= 5))
        kind = rng.choice(kinds)
        if kind == "loss" and k <= value:
            return rng.choice(LOSS).format(**fmt), value - k
        times = min(k, rng.randint(2, 5))
        if kind == "times" and value * times <= 100 * d * d:
            text = TIMES.get(times, TIMES_K)
            return text.format(**{**fmt, "k": times}), value * times
        if kind == "share":
            divisors = [j for j in range(2, 10) if value % j == 0 and value // j > 0]
            if divisors:
                j = rng.choice(divisors)
                return SHARE.format(**{**fmt, "k": j}), value // j
        if kind == "boxes":
            m = rng.randint(2, 6)
            return BOXES.format(**fmt, m=m), value + m * k
        return rng.choice(GAIN).format(**fmt), value + k
