"""The Berkeley Function-Calling Leaderboard's data, read from the `bfcl-eval` wheel.

BFCL (Patil et al., "The Berkeley Function Calling Leaderboard", ICML 2025; gorilla.cs.berkeley.edu,
Apache-2.0) ships its questions as `bfcl_eval/data/BFCL_v4_<category>.json` (one JSON object a
line: `id`, `question` = a list of turns, each a list of `{role, content}` messages, and
`function` = the function documents) and the accepted calls as
`bfcl_eval/data/possible_answer/BFCL_v4_<category>.json` (`id`, `ground_truth` = a list of
`{function name: {parameter: [accepted values]}}`, where `""` among the accepted values means
the parameter may be omitted).

The package is never imported (its declared dependencies pin numpy==1.26.4 and pull in every
provider's SDK) and is not a dependency of trueloop. `find_source` looks, in order, at:
1. the `path` given (the task's `path`, `[task] path` in a run config): the `.whl` file itself,
   an unpacked wheel, a `bfcl_eval` package folder, its `data` folder, or one JSONL file of
   question objects each carrying its `ground_truth` (the fixtures in tests/data are such files);
2. an installed `bfcl_eval`, located with `importlib.util.find_spec` (which does not import it);
3. `$TRUELOOP_CACHE/bfcl/bfcl_eval-2026.3.23-py3-none-any.whl`, where `DOWNLOAD` puts it.

A line that cannot be read (invalid JSON, no accepted answer, a parameter type BFCL's checker
does not know) is skipped and recorded in `Category.skipped` as "file:line: why": the upstream
files are not ours to fix, and one bad row should not hide the other 399.
"""

from __future__ import annotations

import importlib.util
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trueloop.cache import cache_dir

BFCL_VERSION = "2026.3.23"
WHEEL = f"bfcl_eval-{BFCL_VERSION}-py3-none-any.whl"
DOWNLOAD = f"python -m pip download --no-deps bfcl-eval=={BFCL_VERSION} -d {{folder}}"
# the one command that fetches the wheel (about 5 MB) without installing anything

CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance",
              "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple",
              "live_irrelevance")
# the single-turn Python categories this module reads (Java, JavaScript and multi-turn are not)

SCHEMA_TYPES = {"string": "string", "integer": "integer", "float": "number",
                "boolean": "boolean", "array": "array", "tuple": "array", "dict": "object",
                "any": "string"}
# BFCL's parameter types -> JSON Schema types for the prompt (BFCL's own prompt mapping)


@dataclass(frozen=True)
class Item:
    """One BFCL question with its function documents and accepted calls."""

    id: str
    category: str
    messages: tuple[dict[str, str], ...]
    # the conversation of the single turn, as BFCL gives it ({role, content})
    functions: tuple[dict[str, Any], ...]
    # BFCL's function documents, unchanged (the checker reads their types)
    ground_truth: tuple[dict[str, Any], ...] | None
    # accepted calls; None for irrelevance (the right answer is no call)


@dataclass(frozen=True)
class Category:
    items: tuple[Item, ...]
    skipped: tuple[str, ...] = field(default_factory=tuple)
    # "file:line: why" for every line that was not read


class Source:
    """Where BFCL's data is: a wheel ("zip"), a folder holding its `data/` tree ("dir"), or one
    JSONL file of questions that carry their own `ground_truth` ("rows": a subset, such as the
    test fixtures); `read(rel)` reads the text of `data/<rel>`."""

    def __init__(self, root: Path, kind: str) -> None:
        self.root, self.kind = root, kind

    def __repr__(self) -> str:
        return f"Source({str(self.root)!r})"

    def read(self, rel: str) -> str | None:
        """The text of `data/<rel>`, or None when the source has no such file."""
        if self.kind == "rows":
            return self.root.read_text(encoding="utf-8")
        if self.kind == "zip":
            with zipfile.ZipFile(self.root) as z:
                name = f"bfcl_eval/data/{rel}"
                return z.read(name).decode("utf-8") if name in z.namelist() else None
        path = self.root / rel
        return path.read_text(encoding="utf-8") if path.is_file() else None


def _data_folder(path: Path) -> Path | None:
    for candidate in (path, path / "data", path / "bfcl_eval" / "data"):
        if (candidate / "possible_answer").is_dir():
            return candidate
    return None


def find_source(path: str | Path | None = None) -> Source:
    """Where BFCL's data is (see the module docstring for the order); ValueError saying what to
    run when it is nowhere."""
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            return Source(p, "zip" if zipfile.is_zipfile(p) else "rows")
        folder = _data_folder(p) if p.is_dir() else None
        if folder is None:
            raise ValueError(f"BFCL data path {str(p)!r} is neither the bfcl-eval wheel, a "
                             f"JSONL file of questions nor a folder holding data/possible_answer/"
                             f"; {how_to_get()}.")
        return Source(folder, "dir")
    spec = importlib.util.find_spec("bfcl_eval")  # locates, never imports, the package
    if spec is not None and spec.submodule_search_locations:
        folder = _data_folder(Path(next(iter(spec.submodule_search_locations))))
        if folder is not None:
            return Source(folder, "dir")
    cached = cache_dir() / "bfcl" / WHEEL
    if cached.is_file():
        return Source(cached, "zip")
    raise ValueError(f"BFCL data not found: bfcl_eval is not installed and {cached} does not "
                     f"exist; {how_to_get()}.")


def how_to_get() -> str:
    folder = cache_dir() / "bfcl"
    return (f"download the wheel with `{DOWNLOAD.format(folder=folder)}` (nothing is installed), "
            f"or pass path= (`[task] path`) pointing at a copy of it")


def _lines(text: str, where: str, skipped: list[str]) -> dict[str, tuple[int, dict]]:
    rows = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            skipped.append(f"{where}:{lineno}: invalid JSON ({e})")
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            skipped.append(f"{where}:{lineno}: not an object with a string id")
            continue
        rows[obj["id"]] = (lineno, obj)
    return rows


def load_category(source: Source, category: str) -> Category:
    """Every readable question of one category, in file order, with its accepted calls."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown BFCL category {category!r}; known: {list(CATEGORIES)}.")
    name = f"BFCL_v4_{category}.json"
    text = source.read(name)
    if text is None:
        raise ValueError(f"{source} has no data/{name}: not a bfcl-eval {BFCL_VERSION} copy; "
                         f"{how_to_get()}.")
    skipped: list[str] = []
    questions = _lines(text, name, skipped)
    answers = {}
    if source.kind == "rows":  # each question carries its own ground_truth
        answers = questions
    elif "irrelevance" not in category:
        answers = _lines(source.read(f"possible_answer/{name}") or "",
                         f"possible_answer/{name}", skipped)
    items = []
    for qid, (lineno, q) in questions.items():
        why = _problem_with(q, answers.get(qid), "irrelevance" in category)
        if why:
            skipped.append(f"{name}:{lineno}: {why}")
            continue
        gold = None if "irrelevance" in category else tuple(answers[qid][1]["ground_truth"])
        items.append(Item(qid, category, tuple(q["question"][0]), tuple(q["function"]), gold))
    return Category(tuple(items), tuple(skipped))


def _problem_with(q: dict, answer: tuple[int, dict] | None, irrelevance: bool) -> str | None:
    """Why a question cannot be served (None when it can)."""
    turns, functions = q.get("question"), q.get("function")
    if not (isinstance(turns, list) and len(turns) == 1 and isinstance(turns[0], list)
            and all(isinstance(m, dict) and isinstance(m.get("content"), str)
                    and m.get("role") in ("system", "user", "assistant") for m in turns[0])):
        return "question is not one turn of {role, content} messages"
    if not isinstance(functions, list) or not functions:
        return "no function documents"
    for f in functions:
        bad = _bad_types(f.get("parameters", {}).get("properties", {}))
        if bad:
            return f"function {f.get('name')!r} has parameter types {bad} the checker lacks"
    if irrelevance:
        return None
    if answer is None:
        return "no possible_answer row"
    gold = answer[1].get("ground_truth")
    if not (isinstance(gold, list) and gold and all(
            isinstance(g, dict) and len(g) == 1 and isinstance(next(iter(g.values())), dict)
            for g in gold)):
        return "ground_truth is not a list of {name: {param: [values]}}"
    return None


def _bad_types(properties: dict) -> list[str]:
    bad = []
    for p in properties.values():
        t = p.get("type")
        if t not in SCHEMA_TYPES:
            bad.append(str(t))
        elif t in ("array", "tuple") and p.get("items", {}).get("type", "any") not in SCHEMA_TYPES:
            bad.append(f"{t} of {p['items'].get('type')}")
    return bad


def json_schema(function: dict[str, Any]) -> dict[str, Any]:
    """A BFCL function document as an OpenAI/HF tool (`{"type": "function", "function": ...}`)
    with JSON Schema types, the form `apply_chat_template(tools=...)` takes."""
    params = function.get("parameters", {})
    return {"type": "function", "function": {
        "name": function["name"], "description": function.get("description", ""),
        "parameters": {**_schema(params), "type": "object"}}}


def _schema(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    out = {k: _schema(v) if k in ("items", "additionalProperties") else v
           for k, v in node.items() if k != "properties"}
    if isinstance(node.get("type"), str):
        out["type"] = SCHEMA_TYPES.get(node["type"], node["type"])
    if isinstance(node.get("properties"), dict):
        out["properties"] = {k: _schema(v) for k, v in node["properties"].items()}
    return out
