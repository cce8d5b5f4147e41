"""BFCL's AST rules, as trueloop verdicts: is a model's set of function calls one BFCL accepts?

Written from BFCL's `eval_checker/ast_eval/ast_checker.py` (bfcl-eval 2026.3.23, Apache-2.0;
the rules, not its code). Calls are read from the completion with trueloop's one tool-call parser
(`trueloop.envs.tools`, "hermes" format: `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`,
or a JSON list of such objects in one block, as SmolLM2 writes them); text around them is ignored.

One call against one accepted call (`{name: {param: [accepted values]}}`) and its document:
- the name must be the accepted name, exactly (`wrong_function`);
- every `required` parameter present (`missing_required`); no parameter that is not both
  documented and in the accepted call (`unexpected_param`); an accepted parameter may be left
  out only when `""` is among its accepted values (`missing_param`);
- types, Python rules (`wrong_type`): string, integer, float, boolean, array/tuple (list), dict,
  any (string), compared with `type(v) is T` (a bool is not an integer); an integer is accepted
  for a float (converted first); array items are checked one level deep, against the item type or
  the type of that accepted list's own items; a value whose type is the accepted values' type
  instead of the documented one (BFCL writes variable names as strings) is a "variable" and must
  equal an accepted value exactly;
- values (`wrong_value`): a string matches after BFCL's normalisation (drop spaces and
  `,./-_*^`, lower-case, `'` -> `"`); a list element-wise after normalising its strings; a dict
  key by key (each value normalised, absent keys must accept `""`); a list of dicts dict by dict,
  in order; anything else by Python `==` (so 2 == 2.0).

Per category: simple and multiple take exactly one call (`wrong_count`), checked against the
accepted call's document (multiple = the model must pick the right one of several functions);
parallel and parallel_multiple take exactly as many calls as accepted, matched in any order;
irrelevance is right when the completion says "no call" the way the prompt asks,
`<tool_call>[]</tool_call>`, and makes no call (`called_irrelevant`, `malformed_call`,
`no_answer`).

Departures from BFCL, each measured by `benchmarks/bfcl_agreement.py`:
- parallel calls are matched by a maximum bipartite matching; BFCL matches greedily (each
  accepted call takes the first unmatched call that fits), which rejects some valid orders when
  one call fits two accepted calls. Only ever looser than BFCL, and only there.
- BFCL reads calls from Python syntax or provider JSON; here they come from `<tool_call>` blocks.
  A malformed block is `malformed_call` (BFCL: a decode failure).
- irrelevance: BFCL counts any output it cannot decode as a call as right (an empty answer, a
  refusal, garbage); here only the explicit empty list is, so that emptiness and junk earn no
  reward. Stricter than BFCL, and only there.

Threat model. Covered: any completion gets a verdict, never an exception: invalid or deeply
nested JSON, non-object arguments, a flood of calls, unhashable or huge values, completions over
`MAX_CHARS` (`too_long`, not parsed), empty or junk answers on irrelevance. Not covered: a
model that guesses accepted values without reading the question (BFCL's accepted lists are the
whole truth); a policy that always answers `<tool_call>[]</tool_call>` wins irrelevance, so
train irrelevance mixed with the calling categories.
"""

from __future__ import annotations

import json
import re
from typing import Any

from trueloop.envs.tools import CALL, ToolCall, parse_calls
from trueloop.types import Verdict

MAX_CHARS = 32_000
# a longer completion is not parsed (reason too_long): no quadratic work on floods
PY_TYPES: dict[str, type] = {"string": str, "integer": int, "float": float, "boolean": bool,
                             "array": list, "tuple": list, "dict": dict, "any": str}
_NOISE = re.compile(r"[ ,./\-_*^]")


def verify_bfcl(truth: dict[str, Any], completion: str) -> Verdict:
    """The verdict on one completion; `truth` = {category, functions, ground_truth}."""
    if len(completion) > MAX_CHARS:
        return _wrong("too_long", f"{len(completion)} characters (limit {MAX_CHARS})")
    calls = parse_calls(completion, call_format="hermes")
    good = [c for c in calls if c.error is None]
    extracted = json.dumps([{c.name: c.arguments} for c in good], ensure_ascii=False)[:2000]
    if "irrelevance" in truth["category"]:
        if good:
            return _wrong("called_irrelevant", f"called {[c.name for c in good]}", extracted)
        if calls:
            return _wrong("malformed_call", next(c.error for c in calls if c.error), extracted)
        if not CALL.search(completion):
            return _wrong("no_answer", "no <tool_call>[]</tool_call> (the explicit no-call)")
        return Verdict(True, 1.0, "ok", extracted=extracted)
    if not calls:
        return _wrong("no_answer", "no <tool_call> block")
    if len(good) < len(calls):
        return _wrong("malformed_call", next(c.error for c in calls if c.error), extracted)
    error = check_calls(good, truth["functions"], truth["ground_truth"], truth["category"])
    if error:
        return _wrong(error[0], error[1], extracted)
    return Verdict(True, 1.0, "ok", extracted=extracted)


def _wrong(reason: str, why: str, extracted: str | None = None) -> Verdict:
    return Verdict(False, 0.0, reason, extracted=extracted, details={"why": why})


Error = tuple[str, str] | None
# (reason, what was wrong) or None when the calls are accepted


def check_calls(calls: list[ToolCall], functions: list[dict], gold: list[dict],
                category: str) -> Error:
    if len(calls) != len(gold):
        return "wrong_count", f"{len(calls)} calls, expected {len(gold)}"
    docs = {f["name"]: f for f in functions}
    if "parallel" not in category:
        name = next(iter(gold[0]))
        return check_call(calls[0], docs.get(name, functions[0]), gold[0])
    fits = [[check_call(c, docs.get(next(iter(g)), functions[0]), g) for c in calls]
            for g in gold]
    unmatched = _unmatched(fits)
    if unmatched is None:
        return None
    errors = [e for e in fits[unmatched] if e is not None]
    named = [e for e in errors if e[0] != "wrong_function"]
    reason, why = (named or errors)[0]
    return reason, f"no call matches accepted call {unmatched} ({why})"


def _unmatched(fits: list[list[Error]]) -> int | None:
    """The first accepted call left unmatched by a maximum matching (Kuhn's augmenting paths;
    fits[g][c] is None when call c fits accepted call g), or None when all are matched."""
    owner: dict[int, int] = {}

    def augment(g: int, seen: set[int]) -> bool:
        for c, err in enumerate(fits[g]):
            if err is None and c not in seen:
                seen.add(c)
                if c not in owner or augment(owner[c], seen):
                    owner[c] = g
                    return True
        return False

    for g in range(len(fits)):
        if not augment(g, set()):
            return g
    return None


def check_call(call: ToolCall, doc: dict, accepted: dict) -> Error:
    """One call against one accepted call and its function document."""
    name, params = next(iter(accepted.items()))
    if call.name != name:
        return "wrong_function", f"called {call.name!r}, expected {name!r}"
    schema = doc.get("parameters", {})
    props = schema.get("properties", {})
    for p in schema.get("required", []):
        if p not in call.arguments:
            return "missing_required", f"{name}: required parameter {p!r} missing"
    for p, value in call.arguments.items():
        if p not in props or p not in params:
            return "unexpected_param", f"{name}: unexpected parameter {p!r}"
        error = check_value(p, value, props[p], params[p])
        if error:
            return error
    for p, values in params.items():
        if p not in call.arguments and "" not in values:
            return "missing_param", f"{name}: parameter {p!r} missing and not optional"
    return None


def check_value(param: str, value: Any, prop: dict, accepted: list) -> Error:
    """BFCL's type rule, then its value rule, for one parameter."""
    kind = prop.get("type")
    expected = PY_TYPES[kind]
    if kind == "float" and type(value) is int:
        value = float(value)
    gold_type = _gold_type(accepted)
    variable = gold_type is not None and gold_type is not expected
    item_kind = prop.get("items", {}).get("type") if kind in ("array", "tuple") else None
    if type(value) is expected:
        if item_kind is not None and not _items_fit(value, PY_TYPES[item_kind], accepted):
            return "wrong_type", f"{param}: items of {_short(value)} are not all {item_kind}"
    elif gold_type is not None and type(value) is gold_type:
        variable = True
    else:
        return "wrong_type", f"{param}: expected {kind}, got {type(value).__name__}"
    if variable:
        ok = value in accepted
    elif expected is dict:
        ok = _dict_fits(value, accepted)
    elif expected is list and item_kind is not None and PY_TYPES[item_kind] is dict:
        ok = any(_dicts_fit(value, a) for a in accepted)
    elif expected is str:
        ok = _norm(value) in [_norm(a) for a in accepted if type(a) is str]
    elif expected is list:
        ok = any(_norm_list(value) == _norm_list(a) for a in accepted if isinstance(a, list | str))
    else:
        ok = value in accepted
    return None if ok else ("wrong_value", f"{param}: {_short(value)} not in {_short(accepted)}")


def _gold_type(accepted: list) -> type | None:
    """The type of the first accepted value that is not the omitted marker ""."""
    return next((type(a) for a in accepted if a != ""), None)


def _items_fit(value: list, item_type: type, accepted: list) -> bool:
    """One level of item types: some accepted entry that is no list, or a list whose items'
    type (or the item type) every item of `value` has."""
    for a in accepted:
        if type(a) is not list:
            return True
        own = _gold_type(a)
        if all(type(v) is item_type or (own is not None and type(v) is own) for v in value):
            return True
    return False


def _norm(s: str) -> str:
    return _NOISE.sub("", s).lower().replace("'", '"')


def _norm_list(values: list | str) -> list:
    # an accepted "" (omitted) compares as the empty list, as in BFCL
    return [_norm(v) if type(v) is str else v for v in values]


def _dict_fits(value: dict, accepted: list) -> bool:
    for a in accepted:
        if not isinstance(a, dict):
            continue
        if all(k in a and (_norm(v) if type(v) is str else v) in
               [_norm(x) if type(x) is str else x for x in a[k]] for k, v in value.items()) and \
                all(k in value or "" in vs for k, vs in a.items()):
            return True
    return False


def _dicts_fit(value: list, accepted: list | str) -> bool:
    if len(value) != len(accepted):
        return False
    pairs = zip(value, accepted, strict=True)
    return all(isinstance(v, dict) and _dict_fits(v, [a]) for v, a in pairs)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."
