"""BFCL function-calling tasks: pick the right function(s) and arguments for a question.

    bfcl_simple             BFCL simple_python (400): one function documented, one call expected
    bfcl_multiple           multiple (200): several functions, one call to the right one
    bfcl_parallel           parallel (200): one function, several calls (any order)
    bfcl_parallel_multiple  parallel_multiple (200): several functions, several calls
    bfcl_irrelevance        irrelevance (240): no function fits; the right answer is no call

Data: the `bfcl-eval` wheel (Apache-2.0), read without importing it (`tasks/bfcl_data.py` says
where it is looked for; `path=` / `[task] path` points at a copy). Verdicts: BFCL's AST rules
(`tasks/bfcl_check.py`, agreement with BFCL's own checker in `benchmarks/bfcl_agreement.py`).

Prompt: the functions are `Problem.tools` (JSON Schema tool documents) and `Problem.messages` is
trueloop's system message listing them and asking for `<tool_call>[...]</tool_call>`, then the
question (`envs/tool_prompt.py`). Rollouts render the question with `apply_chat_template(...,
tools=...)` instead where the tokenizer's template has a tools section of its own (Qwen2.5,
Llama 3.1); SmolLM2's has none, so it sees trueloop's system message.

Splits: a question is in the test split when the hash of its BFCL id falls in the test bucket
(`tasks.base.split_of`), so train and test are disjoint by id; `index` walks a seeded permutation
of the split (one epoch per len(split) indices), as the other dataset tasks do. `difficulty` is
recorded, not used. Lines of the data that cannot be served are in `task.skipped`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from trueloop.envs.tool_prompt import with_tools
from trueloop.tasks.base import Draw, Task, split_of
from trueloop.tasks.bfcl_check import verify_bfcl
from trueloop.tasks.bfcl_data import Category, Item, find_source, json_schema, load_category
from trueloop.tasks.math_datasets import DatasetTask
from trueloop.types import Problem, Split, Verdict

if TYPE_CHECKING:
    from trueloop.config import VerifyConfig

NO_CALL = "None of the functions fits this question.\n<tool_call>[]</tool_call>"
# the oracle's answer on irrelevance


@cache
def _category(path: str | None, category: str) -> Category:
    return load_category(find_source(path), category)


class BFCLTask(DatasetTask):
    """One BFCL category as a task (see the module docstring)."""

    name: ClassVar[str] = "bfcl_simple"
    description: ClassVar[str] = "BFCL simple_python: one function call from its document"
    category: ClassVar[str] = "simple_python"

    def __init__(self, path: str | Path | None = None, test_path: str | Path | None = None,
                 difficulty: int = 3, horizon: int | None = None,
                 answer_format: str = "none") -> None:
        Task.__init__(self, difficulty, horizon, answer_format)
        if test_path is not None:
            raise ValueError(f"task {self.name!r} splits BFCL by question id; drop test_path "
                             f"(got {str(test_path)!r}).")
        data = _category(None if path is None else str(path), self.category)
        self.skipped = data.skipped
        self.rows = {s: [self._draw(i) for i in data.items if split_of(f"{self.name}|{i.id}") == s]
                     for s in ("train", "test")}
        self._orders: dict[tuple[str, int, int], list[int]] = {}

    def _draw(self, item: Item) -> Draw:
        truth = {"category": item.category, "functions": list(item.functions),
                 "ground_truth": None if item.ground_truth is None else list(item.ground_truth)}
        meta = {"bfcl_id": item.id, "category": item.category,
                "question": [dict(m) for m in item.messages],
                "tools": [json_schema(f) for f in item.functions]}
        question = "\n".join(m["content"] for m in item.messages if m["role"] != "system")
        return Draw(question=question, answer=None, key=item.id, truth=truth, meta=meta)

    def _build(self, d: Draw, index: int, split: Split, seed: int) -> Problem:
        meta = {"difficulty": self.difficulty, "horizon": self.horizon, "split": split,
                "seed": seed, "index": index, **(d.meta or {})}
        tools = tuple(meta.pop("tools"))  # Problem.tools, not kept twice in meta
        messages = with_tools(meta["question"], tools)
        return Problem(id=f"{self.name}/{split}/{seed}/{index}", task=self.name,
                       prompt=messages[-1].content, messages=messages,
                       answer=None, truth=d.truth or {}, meta=meta, tools=tools)

    def verify(self, problem: Problem, completion: str,
               cfg: VerifyConfig | None = None) -> Verdict:
        return verify_bfcl(problem.truth, completion)

    def oracle(self, problem: Problem) -> str:
        gold = problem.truth["ground_truth"]
        if gold is None:
            return NO_CALL
        docs = {f["name"]: f for f in problem.truth["functions"]}
        calls = [{"name": name, "arguments": oracle_arguments(
                    params, docs.get(name, {}).get("parameters", {}).get("required", ()))}
                 for g in gold for name, params in g.items()]
        return f"<tool_call>{json.dumps(calls, ensure_ascii=False)}</tool_call>"


def oracle_arguments(params: dict[str, list], required: Any = ()) -> dict[str, Any]:
    """An accepted call's arguments: the first accepted value of each parameter; a parameter
    whose accepted values include "" (may be omitted) is left out unless its document requires
    it (a few BFCL rows mark a required parameter optional; BFCL's checker requires it)."""
    return {p: _first(values, nested=True) for p, values in params.items()
            if "" not in values or p in required}


def _first(values: list, nested: bool = False) -> Any:
    value = next((v for v in values if v != ""), "")
    if not nested:
        return value
    if isinstance(value, dict):  # a dict parameter: each key's accepted values (one level)
        return _one_dict(value)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [_one_dict(v) for v in value]  # a list of such dicts
    return value


def _one_dict(accepted: dict[str, list]) -> dict[str, Any]:
    return {k: _first(vs) for k, vs in accepted.items() if "" not in vs}


def _variant(task_name: str, category: str, text: str) -> type[BFCLTask]:
    return type(f"BFCL_{category}", (BFCLTask,), {
        "name": task_name, "category": category, "description": text,
        "__doc__": f"BFCL {category}: {text}."})


BFCL_TASKS: dict[str, type[Task]] = {
    "bfcl_simple": BFCLTask,
    "bfcl_multiple": _variant("bfcl_multiple", "multiple",
                              "BFCL multiple: call the right one of several functions"),
    "bfcl_parallel": _variant("bfcl_parallel", "parallel",
                              "BFCL parallel: several calls of one function, any order"),
    "bfcl_parallel_multiple": _variant("bfcl_parallel_multiple", "parallel_multiple",
                                       "BFCL parallel_multiple: several calls, several functions"),
    "bfcl_irrelevance": _variant("bfcl_irrelevance", "irrelevance",
                                 "BFCL irrelevance: no function fits, make no call"),
}
# registered in tasks/__init__.py; a new category is one more entry
