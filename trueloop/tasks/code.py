"""Built-in code task: write a small Python function that passes visible and hidden unit tests.

The bank (`data/code_problems.jsonl`, 42 problems written for trueloop) gives each problem a
statement, an entry point, a reference solution, 3 visible tests (shown in the prompt) and at
least 5 hidden tests (never shown). Expected values in the tests were computed by running the
reference solutions. The `difficulty` knob picks a level: 1-3 -> level 1 (one-liners),
4-6 -> level 2 (loops, dicts), 7-10 -> level 3 (small algorithms).

Splits: a bank problem belongs to the test split exactly when the hash of its id falls in the
test bucket (`tasks.base.split_of`), and `draw()` only ever returns bank problems, so the base
class's redraw loop keeps train and test disjoint by construction, whatever the seed.
Verification: `trueloop.verify.code.verify_code` (sandboxed, hack-flagging).

`CodeStdioTask` (`code_stdio`) is the competitive-programming variant: whole programs that read
stdin and print, from `data/code_stdio_problems.jsonl` (see its docstring).
"""

from __future__ import annotations

import json
import random
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from trueloop.tasks.base import Draw, Task, split_of
from trueloop.types import Problem, Verdict

if TYPE_CHECKING:
    from trueloop.config import VerifyConfig

INSTRUCTION = ("Write the complete function in a single ```python code block. Use only the "
               "standard library; do not print anything or read input.")


@cache
def load_bank() -> tuple[dict[str, Any], ...]:
    text = resources.files("trueloop.tasks").joinpath("data/code_problems.jsonl").read_text()
    return tuple(json.loads(line) for line in text.splitlines() if line.strip())


def level_of(difficulty: int) -> int:
    return 1 + (difficulty - 1) * 3 // 10


def render_tests(tests: list[str]) -> str:
    """The visible tests as the prompt shows them (the dataset loaders too; audit.canaries
    rewrites them)."""
    return "\n".join(tests)


def render_prompt(row: dict[str, Any]) -> str:
    return (f"{row['statement']}\nName the function `{row['entry_point']}`. It must pass these "
            f"tests (and further hidden ones):\n{render_tests(row['visible_tests'])}\n")


class CodeTask(Task):
    name = "code"
    system_prompt = "You are a careful Python programmer."
    bank = staticmethod(load_bank)
    # the problem bank this task draws from (a variant points it at another file)

    def __init__(self, difficulty: int = 3, horizon: int | None = None,
                 answer_format: str = "none") -> None:
        super().__init__(difficulty, horizon, answer_format)
        level = level_of(self.difficulty)
        self.pool = [r for r in self.bank() if r["difficulty"] == level]
        for split in ("train", "test"):
            if not any(split_of(f"{self.name}|{r['id']}") == split for r in self.pool):
                raise ValueError(f"code bank level {level} has no {split} problem; add one.")

    def draw(self, rng: random.Random) -> Draw:
        row = rng.choice(self.pool)
        truth = {k: row[k] for k in ("entry_point", "visible_tests", "hidden_tests", "reference")}
        return Draw(question=render_prompt(row), answer=None, key=row["id"], truth=truth,
                    meta={"bank_id": row["id"], "level": row["difficulty"]})

    def render(self, question: str) -> str:
        return f"{question}{INSTRUCTION}"

    def verify(self, problem: Problem, completion: str,
               cfg: VerifyConfig | None = None) -> Verdict:
        from trueloop.verify.code import verify_code  # lazy: the sandbox, code tasks only

        return verify_code(problem.truth, completion, cfg)

    def verify_batch(self, problems: list[Problem], completions: list[str],
                     cfg: VerifyConfig | None = None) -> list[Verdict]:
        """All submissions at once, in parallel on the sandbox pool (one warm worker per core)."""
        from trueloop.verify.code import verify_batch  # lazy: the sandbox, code tasks only

        pairs = [(p.truth, c) for p, c in zip(problems, completions, strict=True)]
        return verify_batch(pairs, cfg)

    def oracle(self, problem: Problem) -> str:
        return f"```python\n{problem.truth['reference']}```"


STDIO_INSTRUCTION = ("Write a complete Python program in a single ```python code block that reads "
                     "standard input and prints the answer to standard output. Use only the "
                     "standard library.")


@cache
def load_stdio_bank() -> tuple[dict[str, Any], ...]:
    text = resources.files("trueloop.tasks").joinpath("data/code_stdio_problems.jsonl").read_text()
    return tuple(json.loads(line) for line in text.splitlines() if line.strip())


def render_examples(tests: list[dict[str, str]]) -> str:
    """The visible input/output pairs as the prompt shows them."""
    return "\n".join(f"Example input:\n{t['input']}Example output:\n{t['output']}" for t in tests)


def render_stdio_prompt(row: dict[str, Any]) -> str:
    return f"{row['statement']}\n{render_examples(row['visible_tests'])}\n"


class CodeStdioTask(CodeTask):
    """Competitive-programming problems: a whole program reads stdin and prints its answer.

    The bank (`data/code_stdio_problems.jsonl`, 38 problems written for trueloop and built by
    `data/code_stdio_build.py`): each has a statement, a reference program, 3 visible
    input/output pairs (shown in the prompt as examples) and at least 5 hidden ones; level-3
    problems carry one large hidden input where a quadratic program runs out of time. Judged by
    `trueloop.verify.code.stdio` (online-judge rules, outputs compared in trusted code)."""

    name = "code_stdio"
    system_prompt = "You are a careful competitive programmer writing Python."
    bank = staticmethod(load_stdio_bank)

    def draw(self, rng: random.Random) -> Draw:
        row = rng.choice(self.pool)
        truth = {k: row[k] for k in ("visible_tests", "hidden_tests", "reference",
                                     "compare", "tolerance") if k in row}
        return Draw(question=render_stdio_prompt(row), answer=None, key=row["id"], truth=truth,
                    meta={"bank_id": row["id"], "level": row["difficulty"]})

    def render(self, question: str) -> str:
        return f"{question}{STDIO_INSTRUCTION}"
