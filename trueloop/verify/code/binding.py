"""Binding a test's helpers: the names a test uses are bound from the problem's trusted text,
never from the submission.

A HumanEval `check()` often calls a helper the problem's prompt defines (HumanEval/32
`find_zero` is checked with `poly(xs, x)`, /38 and /50 encode with `encode_cyclic` and
`encode_shift`). Like the tests, those helpers are trusted code: `bind` finds, for the names a
test reads that neither the test, the setup nor the builtins define, their definitions in the
problem's trusted text (`truth["setup"]`, then the top-level definitions and imports of
`truth["reference"]` other than the entry point, taken with what they need in turn), and the
checker process runs that code before the test. The submission provides only the entry point
and the names the problem lets it define (`truth["candidate_names"]`); a name found nowhere is
left unbound, so the test fails with a NameError rather than asking the submission.
`redefined` names the helpers a submission defines differently from the trusted text: with a
failing test, that is `hack:patched` (a submission that copies the prompt's helper verbatim, or
rewrites it and passes, is not flagged).
"""

from __future__ import annotations

import ast
import builtins
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_BUILTINS = frozenset(dir(builtins))
_PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError)


@dataclass(frozen=True)
class Binding:
    """What the checker binds for a problem's unsplit tests."""

    code: str
    # trusted code run in the checker after the setup: imports and helper definitions
    helpers: tuple[str, ...]
    # the helper names it defines (for `redefined`)
    proxied: tuple[str, ...]
    # names forwarded to the submission: the entry point and `candidate_names`


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text or "")
    except _PARSE_ERRORS:
        return None


def bound_names(tree: ast.AST) -> set[str]:
    """Every name `tree` binds anywhere (assignments, defs, imports, arguments)."""
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            out.add(n.id)
        elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(n.name)
        elif isinstance(n, ast.alias):
            out.add((n.asname or n.name).split(".")[0])
        elif isinstance(n, ast.arg):
            out.add(n.arg)
    return out


def free_names(code: str | ast.AST, *context: str) -> set[str]:
    """Names `code` reads that neither it, the `context` texts nor the builtins bind."""
    tree = _parse(code) if isinstance(code, str) else code
    if tree is None:
        return set()
    bound = set(_BUILTINS) | bound_names(tree)
    for text in context:
        if (t := _parse(text)) is not None:
            bound |= bound_names(t)
    loads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
             and isinstance(n.ctx, ast.Load)}
    return loads - bound


def _top_level(tree: ast.Module, entry: str) -> tuple[list[ast.stmt], dict[str, ast.stmt]]:
    """A reference's imports, and its definitions by name (the entry point left out)."""
    imports, defs = [], {}
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            imports.append(node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name != entry:
                defs[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            for name in bound_names(node):
                defs.setdefault(name, node)
    return imports, defs


def bind(truth: Mapping[str, Any], tests: Iterable[str]) -> Binding:
    """The trusted code and proxies for `tests` (the unsplit asserts of one problem)."""
    entry, setup = str(truth.get("entry_point", "")), str(truth.get("setup", ""))
    proxied = tuple(dict.fromkeys([entry, *truth.get("candidate_names", ())]) if entry else
                    truth.get("candidate_names", ()))
    wanted = set().union(*(free_names(t, setup) for t in tests)) - set(proxied)
    tree = _parse(str(truth.get("reference", ""))) or ast.Module([], [])
    imports, defs = _top_level(tree, entry)
    chosen: dict[int, ast.stmt] = {}
    todo = sorted(wanted & set(defs))
    while todo:
        node = defs[todo.pop()]
        if id(node) not in chosen:
            chosen[id(node)] = node
            todo += sorted((free_names(node) - set(proxied)) & set(defs))
    body = [n for n in tree.body if id(n) in chosen]
    helpers = sorted(name for name, node in defs.items() if id(node) in chosen)
    stdlib = sorted((wanted - set(defs)) & sys.stdlib_module_names)
    code = "".join(f"import {m}\n" for m in stdlib)  # used unimported (the submission did)
    code += "\n".join(ast.unparse(n) for n in [*imports, *body]) if body else ""
    return Binding(code, tuple(helpers), proxied)


def _shape(node: ast.AST) -> str:
    """A definition's AST without docstrings (a verbatim copy of the prompt compares equal)."""
    node = ast.parse(ast.unparse(node)).body[0]
    for n in ast.walk(node):
        body = getattr(n, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            n.body = body[1:] or [ast.Pass()]
    return ast.dump(node)


def redefined(source: str, truth: Mapping[str, Any], helpers: Iterable[str]) -> list[str]:
    """The trusted helpers that `source` defines or assigns at top level differently."""
    mine, theirs = _parse(source), _parse(str(truth.get("reference", "")))
    if mine is None or theirs is None:
        return []
    _, trusted = _top_level(theirs, str(truth.get("entry_point", "")))
    _, own = _top_level(mine, str(truth.get("entry_point", "")))
    return sorted(h for h in helpers if h in own and h in trusted and
                  _shape(own[h]) != _shape(trusted[h]))
