"""Loaders for MBPP- and HumanEval-format JSONL files on local disk (no hub access needed).

Both return rows in the built-in bank's schema (`id`, `statement`, `entry_point`, `reference`,
`visible_tests`, `hidden_tests`, `setup`), which `trueloop.verify.code.verify_code` takes as
`truth`, and `to_problems` turns into `Problem`s split by content hash like every task.

- MBPP (Austin et al. 2021, arXiv:2108.07732): `task_id`, `text` (or `prompt` in the sanitized
  file), `code`, `test_list`, `test_setup_code`, `challenge_test_list`. The first `n_visible`
  asserts of `test_list` are visible; the rest and the challenge tests are hidden.
- HumanEval (Chen et al. 2021, arXiv:2107.03374): `task_id`, `prompt`, `canonical_solution`,
  `test` (a `check(candidate)` function), `entry_point`. Top-level asserts of `check` become
  single tests with `candidate` renamed to the entry point; a `check` with other statements
  (loops, helpers) becomes one unsplit test that runs it whole. Module-level statements of
  `test` other than `check` (imports, METADATA) become `setup`.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from trueloop.tasks.base import split_of
from trueloop.types import Message, Problem

CodeRow = dict[str, Any]


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _entry_point_of(code: str) -> str:
    for node in ast.parse(code).body:
        if isinstance(node, ast.FunctionDef):
            return node.name
    raise ValueError("MBPP row has no top-level function in `code`")


def mbpp_row(raw: dict[str, Any], n_visible: int = 1) -> CodeRow:
    tests = list(raw["test_list"])
    entry = _entry_point_of(raw["code"])
    return {
        "id": f"mbpp/{raw['task_id']}",
        "statement": raw.get("text") or raw["prompt"],
        "entry_point": entry,
        "reference": raw["code"],
        "visible_tests": tests[:n_visible],
        "hidden_tests": tests[n_visible:] + list(raw.get("challenge_test_list") or []),
        "setup": "\n".join(filter(None, [raw.get("test_setup_code") or "",
                                         *(raw.get("test_imports") or [])])),
    }


class _RenameCandidate(ast.NodeTransformer):
    def __init__(self, entry: str) -> None:
        self.entry = entry

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.Name(self.entry, node.ctx) if node.id == "candidate" else node


def humaneval_row(raw: dict[str, Any], n_visible: int = 3) -> CodeRow:
    entry = raw["entry_point"]
    tree = ast.parse(raw["test"])
    check = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check")
    setup = [ast.unparse(n) for n in tree.body if n is not check]
    body = [n for n in check.body if not (isinstance(n, ast.Expr) and
                                          isinstance(n.value, ast.Constant))]
    if all(isinstance(n, ast.Assert) for n in body):
        tests = [ast.unparse(_RenameCandidate(entry).visit(n)) for n in body]
    else:
        tests = [f"{raw['test']}\ncheck({entry})"]
    return {
        "id": f"humaneval/{raw['task_id']}",
        "statement": raw["prompt"],
        "entry_point": entry,
        "reference": raw["prompt"] + raw["canonical_solution"],
        "visible_tests": tests[:n_visible] if len(tests) > 1 else [],
        "hidden_tests": tests[n_visible:] if len(tests) > 1 else tests,
        "setup": "\n".join(setup),
    }


def load_mbpp(path: str | Path, n_visible: int = 1) -> list[CodeRow]:
    return [mbpp_row(r, n_visible) for r in read_jsonl(path)]


def load_humaneval(path: str | Path, n_visible: int = 3) -> list[CodeRow]:
    return [humaneval_row(r, n_visible) for r in read_jsonl(path)]


def to_problems(rows: list[CodeRow], task: str) -> list[Problem]:
    """Problems with visible tests in the prompt; split = hash bucket of the row id."""
    out = []
    for i, row in enumerate(rows):
        tests = "\n".join(row["visible_tests"])
        prompt = (f"{row['statement']}\n"
                  + (f"Your code must pass these tests:\n{tests}\n" if tests else "")
                  + "Write the complete function in a single ```python code block.")
        truth = {k: row[k] for k in ("entry_point", "visible_tests", "hidden_tests", "setup",
                                     "reference")}
        out.append(Problem(id=row["id"], task=task, prompt=prompt,
                           messages=(Message("user", prompt),), answer=None, truth=truth,
                           meta={"split": split_of(f"{task}|{row['id']}"), "index": i}))
    return out
