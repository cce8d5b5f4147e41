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
import base64
import json
import pickletools
import zlib
from pathlib import Path
from typing import Any

from trueloop.tasks.base import split_of
from trueloop.tasks.code import render_examples, render_tests
from trueloop.tasks.jsonl import read_jsonl
from trueloop.types import Message, Problem

CodeRow = dict[str, Any]


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
    return [mbpp_row(r, n_visible) for _, r in read_jsonl(path)]


def load_humaneval(path: str | Path, n_visible: int = 3) -> list[CodeRow]:
    return [humaneval_row(r, n_visible) for _, r in read_jsonl(path)]


def to_problems(rows: list[CodeRow], task: str) -> list[Problem]:
    """Problems with visible tests in the prompt; split = hash bucket of the row id."""
    out = []
    for i, row in enumerate(rows):
        if "entry_point" not in row:  # a stdin/stdout problem
            prompt, truth = _stdio_prompt(row), {k: row[k] for k in (
                "visible_tests", "hidden_tests", "reference", "compare", "tolerance") if k in row}
            out.append(Problem(id=row["id"], task=task, prompt=prompt,
                               messages=(Message("user", prompt),), answer=None, truth=truth,
                               meta={"split": split_of(f"{task}|{row['id']}"), "index": i}))
            continue
        tests = render_tests(row["visible_tests"])
        prompt = (f"{row['statement']}\n"
                  + (f"Your code must pass these tests:\n{tests}\n" if tests else "")
                  + "Write the complete function in a single ```python code block.")
        truth = {k: row[k] for k in ("entry_point", "visible_tests", "hidden_tests", "setup",
                                     "reference")}
        out.append(Problem(id=row["id"], task=task, prompt=prompt,
                           messages=(Message("user", prompt),), answer=None, truth=truth,
                           meta={"split": split_of(f"{task}|{row['id']}"), "index": i}))
    return out


# --- stdin/stdout problems (competitive programming) -------------------------------------

PYTHON3 = 3
# CodeContests' `solutions.language` code for Python 3


def stdio_row(raw: dict[str, Any], n_visible: int = 1) -> CodeRow:
    """A stdin/stdout problem from a public JSONL layout, in the stdio bank's schema (`id`,
    `statement`, `reference`, `visible_tests` / `hidden_tests` as {"input", "output"} lists):
    - CodeContests (Li et al. 2022, arXiv:2203.07814): `name`, `description`, `public_tests`
      (visible), `private_tests` + `generated_tests` (hidden), each {"input": [...],
      "output": [...]}; `solutions` {"language": [...], "solution": [...]} (Python 3 = 3);
    - APPS (Hendrycks et al. 2021, arXiv:2105.09938): `problem_id`, `question`, `input_output`
      (a JSON string of {"inputs", "outputs"}; rows with `fn_name` are call-based: ValueError),
      `solutions` (a JSON string list);
    - LiveCodeBench (Jain et al. 2024, arXiv:2403.07974): `question_id`, `question_content`,
      `public_test_cases` (visible) and `private_test_cases` (hidden): JSON strings of
      [{"input", "output", "testtype"}]; the compressed form (base64 of zlib of a pickled
      string) is read by walking the pickle's opcodes, never by unpickling;
    - plain `inputs` / `outputs` lists (with `id`, `statement`).
    Where a layout has no visible/hidden split, the first `n_visible` pairs are visible."""
    visible, hidden = _stdio_pairs(raw, n_visible)
    rid = next((raw[k] for k in ("name", "problem_id", "question_id", "task_id", "id")
                if k in raw), "?")
    statement = next((raw[k] for k in ("description", "question", "question_content",
                                       "statement") if raw.get(k)), "")
    return {"id": f"stdio/{rid}", "statement": str(statement), "reference": _reference(raw),
            "visible_tests": visible, "hidden_tests": hidden}


def _stdio_pairs(raw: dict[str, Any], n_visible: int) -> tuple[list[dict], list[dict]]:
    if "public_tests" in raw:  # CodeContests
        hidden = _zip_io(raw.get("private_tests")) + _zip_io(raw.get("generated_tests"))
        return _zip_io(raw["public_tests"]), hidden
    if "public_test_cases" in raw:  # LiveCodeBench
        return (_cases(raw["public_test_cases"]), _cases(raw.get("private_test_cases") or "[]"))
    io = raw.get("input_output")
    if io is not None:  # APPS
        io = json.loads(io) if isinstance(io, str) else io
        if io.get("fn_name"):
            raise ValueError(f"APPS row {raw.get('problem_id')} is call-based (fn_name), "
                             "not a stdin/stdout problem")
        pairs = _zip_io({"input": io["inputs"], "output": io["outputs"]})
    else:
        pairs = _zip_io({"input": raw["inputs"], "output": raw["outputs"]})
    return pairs[:n_visible], pairs[n_visible:]


def _zip_io(tests: dict[str, Any] | None) -> list[dict[str, str]]:
    if not tests:
        return []
    return [{"input": _text(i), "output": _text(o)}
            for i, o in zip(tests["input"], tests["output"], strict=True)]


def _text(x: Any) -> str:
    return "\n".join(map(str, x)) + "\n" if isinstance(x, list) else str(x)


def _cases(text: str) -> list[dict[str, str]]:
    try:
        cases = json.loads(text)
    except ValueError:
        cases = json.loads(_pickled_string(zlib.decompress(base64.b64decode(text))))
    return [{"input": str(c["input"]), "output": str(c["output"])} for c in cases
            if c.get("testtype", "stdin") == "stdin"]


def _pickled_string(data: bytes) -> str:
    """The string a pickle holds, read from its opcodes; anything but a plain string (a global,
    a call, any object) raises ValueError, so nothing in it is ever executed."""
    allowed = {"PROTO", "FRAME", "MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT", "STOP",
               "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"}
    value = None
    for op, arg, _ in pickletools.genops(data):
        if op.name not in allowed:
            raise ValueError(f"refusing a pickle with opcode {op.name}: only a string may be read")
        if isinstance(arg, str) and op.name != "PROTO":
            value = arg
    if value is None:
        raise ValueError("the pickle holds no string")
    return value


def _reference(raw: dict[str, Any]) -> str:
    sols = raw.get("solutions")
    if isinstance(sols, dict):  # CodeContests
        return next((s for lang, s in zip(sols.get("language", []), sols.get("solution", []),
                                          strict=False) if lang == PYTHON3), "")
    if isinstance(sols, str):  # APPS
        try:
            sols = json.loads(sols)
        except ValueError:
            return ""
    return str(sols[0]) if isinstance(sols, list) and sols else ""


def load_stdio(path: str | Path, n_visible: int = 1) -> list[CodeRow]:
    """Stdin/stdout rows of a local JSONL file in any layout `stdio_row` reads; call-based
    APPS rows are left out."""
    rows = []
    for _, raw in read_jsonl(path):
        io = raw.get("input_output")
        if isinstance(io, str) and '"fn_name"' in io:
            continue
        rows.append(stdio_row(raw, n_visible))
    return rows


def _stdio_prompt(row: CodeRow) -> str:
    return (f"{row['statement']}\n{render_examples(row['visible_tests'])}\nWrite a complete "
            "Python program in a single ```python code block that reads standard input and "
            "prints the answer.")
