"""Loaders for external math datasets read from local JSONL files in their public formats.

- GSM8K (Cobbe et al., arXiv:2110.14168; github.com/openai/grade-school-math): one JSON object per
  line with `question` and `answer`, the answer's worked solution ending in `#### N`; the gold is
  N with thousands separators removed.
- MATH (Hendrycks et al., arXiv:2103.03874) and MATH-500-style files: `problem` plus either an
  `answer` field or a `solution` whose final `\\boxed{}` is the gold, read by
  `trueloop.verify.extract.extract_answer` (the same extraction that reads model answers).
  `level`, `type`/`subject` and `unique_id` are kept in `meta` when present.

A malformed row (invalid JSON, a missing field, no `####` or boxed answer) raises `ValueError`
naming the file and line: a dataset is input we control, so it fails loudly, unlike model output.

The tasks `gsm8k` and `math` serve these rows through the Task interface
(`make_task("gsm8k", path="train.jsonl", test_path="test.jsonl")`). With `test_path` the files are
the splits (train rows whose question also appears in the test file are dropped, so even a
contaminated pair of files gives disjoint splits); without it the rows of `path` are split by
content hash exactly like procedural tasks (`tasks/base.py`). Problem `index` walks a seeded
permutation of the split's rows; a new permutation starts every len(rows) indices (one epoch).
`difficulty` is accepted for the common interface and recorded, but does not filter rows.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any, ClassVar

from trueloop.tasks.base import ANSWER_FORMATS, Draw, Task, split_of
from trueloop.tasks.jsonl import read_jsonl
from trueloop.types import Message, Problem, Split
from trueloop.verify.extract import extract_answer

_GSM8K_GOLD = re.compile(r"-?\d+(?:\.\d+)?")


def _text_field(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: field {key!r} must be a non-empty string; got {value!r}.")
    return value


def gsm8k_rows(path: str | Path) -> list[Draw]:
    """GSM8K rows as Draws (question, gold after `####`); meta keeps the file line."""
    out = []
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        question = _text_field(obj, "question", where)
        solution = _text_field(obj, "answer", where)
        if "####" not in solution:
            raise ValueError(f"{where}: GSM8K answer must end with '#### N'; no '####' found.")
        gold = solution.rsplit("####", 1)[1].strip().replace(",", "").rstrip(".")
        if not _GSM8K_GOLD.fullmatch(gold):
            raise ValueError(f"{where}: GSM8K gold after '####' must be a number; got {gold!r}.")
        out.append(Draw(question=question.strip(), answer=gold, key=question.strip(),
                        meta={"source": str(path), "line": lineno}))
    return out


def math_rows(path: str | Path) -> list[Draw]:
    """MATH rows as Draws: gold from `answer`, else the single final boxed answer of `solution`."""
    out = []
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        problem = _text_field(obj, "problem", where)
        if isinstance(obj.get("answer"), str) and obj["answer"].strip():
            gold = obj["answer"].strip()
        else:
            ext = extract_answer(_text_field(obj, "solution", where))
            if ext.answer is None:
                raise ValueError(f"{where}: no 'answer' field and no single final answer in "
                                 f"'solution' ({ext.reason}); candidates: {list(ext.candidates)}.")
            gold = ext.answer
        meta = {k: obj[k] for k in ("level", "type", "subject", "unique_id") if k in obj}
        out.append(Draw(question=problem.strip(), answer=gold, key=problem.strip(),
                        meta={"source": str(path), "line": lineno, **meta}))
    return out


def _as_problems(name: str, rows: list[Draw], split: Split, answer_format: str) -> list[Problem]:
    instruction = ANSWER_FORMATS[answer_format]
    problems = []
    for i, d in enumerate(rows):
        prompt = f"{d.question} {instruction}".strip() if instruction else d.question
        problems.append(Problem(id=f"{name}/{split}/{i}", task=name, prompt=prompt,
                                messages=(Message("user", prompt),), answer=d.answer,
                                meta={"split": split, "index": i, **(d.meta or {})}))
    return problems


def load_gsm8k(path: str | Path, split: Split = "train",
               answer_format: str = "boxed") -> list[Problem]:
    """Every row of a GSM8K JSONL file as a Problem (ids `gsm8k/<split>/<row index>`)."""
    return _as_problems("gsm8k", gsm8k_rows(path), split, answer_format)


def load_math(path: str | Path, split: Split = "test",
              answer_format: str = "boxed") -> list[Problem]:
    """Every row of a MATH-style JSONL file as a Problem (ids `math/<split>/<row index>`)."""
    return _as_problems("math", math_rows(path), split, answer_format)


class DatasetTask(Task):
    """A Task over the rows of local files; see the module docstring for splits and order."""

    reader: ClassVar[Any]

    def __init__(self, path: str | Path | None = None, test_path: str | Path | None = None,
                 difficulty: int = 3, horizon: int | None = None,
                 answer_format: str = "boxed") -> None:
        super().__init__(difficulty, horizon, answer_format)
        if path is None:
            raise ValueError(f"task {self.name!r} reads a local JSONL file; pass path=... "
                             f"(e.g. make_task({self.name!r}, path='data/{self.name}.jsonl')).")
        rows = type(self).reader(path)
        if test_path is not None:
            test = type(self).reader(test_path)
            seen = {r.key for r in test}
            self.rows = {"train": [r for r in rows if r.key not in seen], "test": test}
        else:
            self.rows = {s: [r for r in rows if split_of(f"{self.name}|{r.key}") == s]
                         for s in ("train", "test")}
        self._orders: dict[tuple[str, int, int], list[int]] = {}

    def draw(self, rng: random.Random) -> Draw:
        return rng.choice(self.rows["train"])

    def problem(self, index: int, split: Split = "train", seed: int = 0) -> Problem:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test'; got {split!r}.")
        rows = self.rows[split]
        if not rows:
            raise ValueError(f"task {self.name!r} has no {split} rows; pass test_path= or a "
                             f"larger file.")
        epoch, pos = divmod(index, len(rows))
        key = (split, seed, epoch)
        if key not in self._orders:
            order = list(range(len(rows)))
            random.Random(f"{self.name}:{split}:{seed}:{epoch}").shuffle(order)
            self._orders = {key: order}  # keep one permutation: memory stays O(rows)
        return self._build(rows[self._orders[key][pos]], index, split, seed)


class GSM8K(DatasetTask):
    name: ClassVar[str] = "gsm8k"
    description: ClassVar[str] = "GSM8K grade-school word problems from a local JSONL file"
    reader = staticmethod(gsm8k_rows)


class MathDataset(DatasetTask):
    name: ClassVar[str] = "math"
    description: ClassVar[str] = "MATH competition problems from a local JSONL file"
    reader = staticmethod(math_rows)
