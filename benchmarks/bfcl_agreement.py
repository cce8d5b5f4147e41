"""Benchmark: trueloop's BFCL verdicts beside BFCL's own checker, on the same outputs.

Outputs, for every question of every single-turn Python category (`bfcl_data.CATEGORIES`):
`oracle` (the first accepted value of each parameter, optional ones left out, as the tasks'
oracle), `alternate` (the last accepted value of each parameter, optional ones given), `reordered`
(parallel: the oracle's calls reversed), `case_noise` (a string value upper-cased with a space
added: BFCL normalises both), and corruptions: `wrong_value`, `missing_required`, `wrong_type`,
`extra_call`, `wrong_function`, `dropped_call` (parallel), `text_only` (no call at all). On
irrelevance: `oracle` = `<tool_call>[]</tool_call>`, `called` (a call of the first function) and
`text_only` (a refusal in words).

trueloop reads each output as a completion (`<tool_call>[{"name", "arguments"}...]</tool_call>`)
through `trueloop.tasks.bfcl_check.verify_bfcl`. BFCL gets the same calls already decoded
(`[{name: arguments}]`, `None` for text without calls: a decode failure) and judges them with
`bfcl_eval.eval_checker.ast_eval.ast_checker.ast_checker` (irrelevance: its relevance rule, no
decodable non-empty call list, with `bfcl_eval.utils.is_empty_output`), run in a separate venv
because bfcl-eval's own dependencies must not enter trueloop's. One stub: the model-config table
that `ast_checker` consults only to rename `.` to `_` in function names for some providers
(importing it imports every provider SDK); the stub renames nothing.

Every disagreement is classified: `irrelevance_explicit_no_call` (trueloop requires
`<tool_call>[]</tool_call>` where BFCL accepts any output without a call, documented in
bfcl_check.py), `parallel_greedy_matching` (BFCL's greedy matcher rejects a valid order that a
maximum matching accepts), else `unclassified` (a bug on one side until argued otherwise).
Prints ONE JSON line: agreement, n, trueloop_looser, trueloop_stricter, agreement outside the
documented classes and per category, counts by kind and class, every disagreement, and cases/s
per side (trueloop's figure includes reading the calls out of the text; BFCL gets them decoded).

    python3 -m venv /tmp/bfcl-venv
    /tmp/bfcl-venv/bin/pip install --no-deps bfcl_eval-2026.3.23-py3-none-any.whl filelock
    .venv/bin/python benchmarks/bfcl_agreement.py --wheel bfcl_eval-2026.3.23-py3-none-any.whl \\
        --bfcl-python /tmp/bfcl-venv/bin/python
(`--wheel` defaults to where `trueloop.tasks.bfcl_data.find_source` looks; get the wheel with
`python -m pip download --no-deps bfcl-eval==2026.3.23 -d ~/.cache/trueloop/bfcl`.)
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from machine import commit, hardware

from trueloop.tasks.bfcl import oracle_arguments
from trueloop.tasks.bfcl_check import verify_bfcl
from trueloop.tasks.bfcl_data import CATEGORIES, Item, find_source, load_category

BFCL_SIDE = r'''
import json, sys, time, types
config = types.ModuleType("bfcl_eval.constants.model_config")
class _NoRename:
    underscore_to_dot = False
class _Table(dict):
    def __getitem__(self, key):
        return _NoRename()
config.MODEL_CONFIG_MAPPING = _Table()
sys.modules["bfcl_eval.constants.model_config"] = config
from bfcl_eval.constants.enums import Language
from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
from bfcl_eval.utils import is_empty_output, is_function_calling_format_output
cases = json.load(open(sys.argv[1]))
out, t0 = [], time.perf_counter()
for c in cases:
    calls = c["bfcl_output"]
    if "irrelevance" in c["category"]:
        called = calls is not None and not is_empty_output(calls)
        out.append({"valid": not called, "error_type": "irrelevance_error" if called else None})
        continue
    if calls is None or not is_function_calling_format_output(calls):
        out.append({"valid": False, "error_type": "ast_decoder:decoder_failed"})
        continue
    try:
        r = ast_checker(c["functions"], calls, c["ground_truth"], Language.PYTHON,
                        c["category"], "trueloop_stub")
        out.append({"valid": bool(r["valid"]), "error_type": r.get("error_type")})
    except Exception as e:
        out.append({"valid": False, "error_type": f"bfcl_raised:{type(e).__name__}"})
print(json.dumps({"results": out, "seconds": time.perf_counter() - t0}))
'''


def completion(calls: list[dict] | None, text: str = "") -> str:
    """trueloop's view of an output: the calls as one <tool_call> list block."""
    if calls is None:
        return text
    body = [{"name": name, "arguments": args} for call in calls for name, args in call.items()]
    return f"{text}<tool_call>{json.dumps(body, ensure_ascii=False)}</tool_call>"


def required_of(item: Item, name: str) -> list[str]:
    doc = next((f for f in item.functions if f["name"] == name), {})
    return doc.get("parameters", {}).get("required", [])


def alternate_arguments(params: dict[str, list]) -> dict[str, Any]:
    """The last accepted value of each parameter, optional ones given (one level into dicts
    and lists of dicts, where BFCL's accepted values are per key)."""
    out = {}
    for p, values in params.items():
        concrete = [v for v in values if v != ""]
        if not concrete:
            continue
        v = concrete[-1]
        if isinstance(v, dict):
            v = {k: [x for x in vs if x != ""][-1] for k, vs in v.items()
                 if [x for x in vs if x != ""]}
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            v = [{k: [y for y in vs if y != ""][-1] for k, vs in x.items()
                  if [y for y in vs if y != ""]} for x in v]
        out[p] = v
    return out


def oracle_calls(item: Item) -> list[dict]:
    return [{name: oracle_arguments(params, required_of(item, name))}
            for g in item.ground_truth for name, params in g.items()]


def first_arg(calls: list[dict], kinds: tuple[type, ...]) -> tuple[str, str] | None:
    name, args = next(iter(calls[0].items()))
    for p, v in args.items():
        if type(v) in kinds:
            return name, p
    return None


def corrupt_value(v: Any) -> Any:
    if type(v) is bool:
        return not v
    if type(v) is int:
        return v + 7919
    if type(v) is float:
        return v + 0.5371
    if type(v) is list:
        return v + (v[:1] if v else ["qzx"])
    return f"{v} qzx"


def wrong_type(v: Any) -> Any:
    return 12345 if type(v) is str else str(v)


def cases_of(item: Item) -> list[tuple[str, list[dict] | None, str]]:
    """(kind, decoded calls or None, text before the calls) for one question."""
    if item.ground_truth is None:
        f = item.functions[0]
        props = f.get("parameters", {}).get("properties", {})
        args = {p: ("1" if d.get("type") in ("string", "any") else 1)
                for p, d in props.items() if p in f.get("parameters", {}).get("required", [])}
        return [("oracle", [], "No function fits. "), ("called", [{f["name"]: args}], ""),
                ("text_only", None, "None of these functions can answer that.")]
    base = oracle_calls(item)
    out = [("oracle", base, ""), ("text_only", None, "I would call a function here.")]
    out.append(("alternate", [{name: alternate_arguments(params)}
                              for g in item.ground_truth for name, params in g.items()], ""))
    if len(base) > 1:
        out.append(("reordered", base[::-1], ""))
        out.append(("dropped_call", base[:-1], ""))
    out.append(("extra_call", base + base[:1], ""))
    name = next(iter(base[0]))
    others = [f["name"] for f in item.functions if f["name"] != name]
    out.append(("wrong_function", [{others[0] if others else f"{name}_v2": base[0][name]}]
                + base[1:], ""))
    required = [p for p in required_of(item, name) if p in base[0][name]]
    if required:
        calls = copy.deepcopy(base)
        del calls[0][name][required[0]]
        out.append(("missing_required", calls, ""))
    for kind, change, types in (("wrong_value", corrupt_value, (str, int, float, bool, list)),
                                ("wrong_type", wrong_type, (str, int, float, bool, list, dict)),
                                ("case_noise", lambda v: f" {v.upper()}", (str,))):
        where = first_arg(base, types)
        if where:
            calls = copy.deepcopy(base)
            calls[0][where[0]][where[1]] = change(calls[0][where[0]][where[1]])
            out.append((kind, calls, ""))
    return out


def build(source, categories: list[str]) -> tuple[list[dict], dict[str, int]]:
    cases, skipped = [], {}
    for category in categories:
        data = load_category(source, category)
        skipped[category] = len(data.skipped)
        for item in data.items:
            for kind, calls, text in cases_of(item):
                cases.append({"id": f"{item.id}:{kind}", "category": category, "kind": kind,
                              "functions": list(item.functions),
                              "ground_truth": None if item.ground_truth is None
                              else list(item.ground_truth),
                              "bfcl_output": calls, "completion": completion(calls, text)})
    return cases, skipped


def run_bfcl(python: str, cases: list[dict]) -> tuple[list[dict], float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cases.json"
        path.write_text(json.dumps(cases))
        done = subprocess.run([python, "-c", BFCL_SIDE, str(path)], capture_output=True,
                              text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"BFCL's checker failed in {python}:\n{done.stderr[-3000:]}\n"
                         f"install it with `{python} -m pip install --no-deps <wheel> filelock`.")
    result = json.loads(done.stdout)
    return result["results"], result["seconds"]


def classify(case: dict, ours: dict, theirs: dict) -> str:
    if "irrelevance" in case["category"] and ours["reason"] == "no_answer" and theirs["valid"]:
        return "irrelevance_explicit_no_call"
    if (ours["correct"] and "parallel" in case["category"]
            and theirs["error_type"] == "parallel_function_checker_no_order:cannot_find_match"):
        return "parallel_greedy_matching"
    return "unclassified"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", default=None, help="bfcl-eval wheel or data folder")
    ap.add_argument("--bfcl-python", default="/tmp/bfcl-venv/bin/python",
                    help="a python with bfcl-eval installed (--no-deps, plus filelock)")
    ap.add_argument("--categories", nargs="*", default=list(CATEGORIES))
    args = ap.parse_args()
    cases, skipped = build(find_source(args.wheel), args.categories)
    t0 = time.perf_counter()
    ours = [verify_bfcl({"category": c["category"], "functions": c["functions"],
                         "ground_truth": c["ground_truth"]}, c["completion"]) for c in cases]
    our_s = time.perf_counter() - t0
    ours = [{"correct": v.correct, "reason": v.reason} for v in ours]
    theirs, their_s = run_bfcl(args.bfcl_python, cases)
    disagreements = []
    for c, o, t in zip(cases, ours, theirs, strict=True):
        if o["correct"] != t["valid"]:
            disagreements.append({"id": c["id"], "category": c["category"], "kind": c["kind"],
                                  "trueloop": o["reason"], "bfcl": t["error_type"],
                                  "looser": o["correct"], "class": classify(c, o, t)})
    n = len(cases)
    classes = Counter(d["class"] for d in disagreements)
    by_cat = Counter(d["category"] for d in disagreements)
    documented = sum(v for k, v in classes.items() if k != "unclassified")
    print(json.dumps({
        "benchmark": "bfcl_agreement", "commit": commit(), "hardware": hardware(),
        "bfcl_eval": "2026.3.23", "categories": args.categories, "skipped_lines": skipped,
        "n": n, "agreement": round(1 - len(disagreements) / n, 5),
        "trueloop_looser": sum(d["looser"] for d in disagreements),
        "trueloop_stricter": sum(not d["looser"] for d in disagreements),
        "agreement_outside_documented": round(1 - (len(disagreements) - documented) / n, 5),
        "by_class": dict(classes),
        "agreement_by_category": {
            cat: round(1 - by_cat[cat] / total, 5)
            for cat, total in Counter(c["category"] for c in cases).items()},
        "disagreements_by_kind": dict(Counter(d["kind"] for d in disagreements)),
        "cases_by_kind": dict(Counter(c["kind"] for c in cases)),
        "accepted": {"trueloop": sum(o["correct"] for o in ours),
                     "bfcl": sum(t["valid"] for t in theirs)},
        "cases_per_s": {"trueloop": round(n / our_s), "bfcl": round(n / their_s),
                        "ratio": round(their_s / our_s, 2)},
        "disagreements": disagreements,
    }))


if __name__ == "__main__":
    sys.exit(main())
