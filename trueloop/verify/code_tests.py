"""Assert splitting: which part of a test runs in the sandbox and which check runs here.

`split_test("assert f(2) == 4")` -> call `f(2)` (evaluated in the sandbox), check `eq`,
expected `4` (kept in the verifier). Known shapes: `CALL == EXPECTED` (either order), `!=`,
`is None/True/False`, `is not ...`, `assert CALL`, `assert not CALL`, `abs(CALL - LIT) < TOL`,
`math.isclose(CALL, LIT, ...)`. The expected side is a literal, or an expression that does not
mention the entry point (`set([1, 2])`, `float('inf')`, `sorted(...)`): `resolve_expected`
evaluates those in a separate sandbox run that contains *no submission* (trusted test code and
setup only), cached per test set, so expected values still never enter a submission's process.
Anything else stays whole (`call=None`) and runs as a statement in the sandbox.
"""

from __future__ import annotations

import ast
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from trueloop.verify.code_scan import NOT_LITERAL, literal
from trueloop.verify.sandbox import Job, Sandbox

CACHE_SIZE = 4096


@dataclass(frozen=True)
class SplitTest:
    """One assert, split into the expression run in the sandbox and a check done here."""

    source: str
    call: str | None
    # expression evaluated in the sandbox; None = the assert runs whole (unsplit)
    check: str = "eq"
    # eq | ne | is | is_not | truthy | falsy | close
    expected: Any = None
    tol: float = 0.0
    expected_expr: str | None = None
    # expected side still to be evaluated by `resolve_expected` (no submission in that run)

    def passes(self, got: Any) -> bool:
        if self.check == "eq":
            return got == self.expected
        if self.check == "ne":
            return got != self.expected
        if self.check == "is":
            return got is self.expected
        if self.check == "is_not":
            return got is not self.expected
        if self.check == "truthy":
            return bool(got)
        if self.check == "falsy":
            return not got
        return (type(got) in (int, float) and type(self.expected) in (int, float)
                and abs(got - self.expected) <= self.tol)

    def visible_literals(self) -> list[Any]:
        """Expected value and literal call arguments (the special-casing fingerprint)."""
        out = [self.expected] if self.call is not None and self.check in ("eq", "close") else []
        try:
            node = ast.parse(self.call or self.source, mode="eval" if self.call else "exec")
        except SyntaxError:
            return out
        for n in ast.walk(node):
            if isinstance(n, ast.Call):
                args = [literal(a) for a in n.args]
                out += [v for v in args if v is not NOT_LITERAL]
                if len(args) > 1 and NOT_LITERAL not in args:
                    out.append(tuple(args))  # a lookup table keyed on the whole argument tuple
        return out


def split_test(test: str, entry_point: str = "") -> SplitTest:
    """Split one assert string; anything not of a known shape stays whole (call=None)."""
    try:
        tree = ast.parse(test.strip())
    except (SyntaxError, ValueError):
        return SplitTest(test, None)
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return SplitTest(test, None)
    return _split_expr(test, tree.body[0].test, entry_point) or SplitTest(test, None)


def _mentions(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def _split_expr(test: str, e: ast.expr, entry: str) -> SplitTest | None:
    if isinstance(e, ast.Compare) and len(e.ops) == 1:
        left, op, right = e.left, e.ops[0], e.comparators[0]
        if isinstance(op, ast.Eq | ast.NotEq):
            check = "eq" if isinstance(op, ast.Eq) else "ne"
            for call, lit in ((left, right), (right, left)):
                if (v := literal(lit)) is not NOT_LITERAL and literal(call) is NOT_LITERAL:
                    return SplitTest(test, ast.unparse(call), check, v)
            for call, exp in ((left, right), (right, left)):
                if entry and _mentions(call, entry) and not _mentions(exp, entry):
                    return SplitTest(test, ast.unparse(call), check,
                                     expected_expr=ast.unparse(exp))
        if isinstance(op, ast.Is | ast.IsNot) and isinstance(right, ast.Constant) and \
                right.value in (None, True, False):
            return SplitTest(test, ast.unparse(left), "is" if isinstance(op, ast.Is)
                             else "is_not", right.value)
        if isinstance(op, ast.Lt | ast.LtE):
            return _split_abs(test, left, right)
        return None
    if isinstance(e, ast.Call) and ast.unparse(e.func) in ("math.isclose", "isclose") and \
            len(e.args) == 2:
        if (v := literal(e.args[1])) is not NOT_LITERAL and isinstance(v, int | float):
            kw = {k.arg: literal(k.value) for k in e.keywords}
            rel, abs_ = kw.get("rel_tol", 1e-9), kw.get("abs_tol", 0.0)
            if isinstance(rel, int | float) and isinstance(abs_, int | float):
                return SplitTest(test, ast.unparse(e.args[0]), "close", v,
                                 max(rel * abs(v), abs_))
        return None
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.Not):
        return SplitTest(test, ast.unparse(e.operand), "falsy")
    if isinstance(e, ast.Call | ast.Subscript | ast.Attribute):
        return SplitTest(test, ast.unparse(e), "truthy")
    return None


def _split_abs(test: str, left: ast.expr, right: ast.expr) -> SplitTest | None:
    tol = literal(right)
    if not (isinstance(left, ast.Call) and ast.unparse(left.func) == "abs" and
            len(left.args) == 1 and isinstance(left.args[0], ast.BinOp) and
            isinstance(left.args[0].op, ast.Sub) and isinstance(tol, int | float)):
        return None
    a, b = left.args[0].left, left.args[0].right
    for call, lit in ((a, b), (b, a)):
        if isinstance(v := literal(lit), int | float) and literal(call) is NOT_LITERAL:
            return SplitTest(f"{test}", ast.unparse(call), "close", v, float(tol))
    return None


_CACHE: OrderedDict[tuple[str, tuple[str, ...]], tuple[tuple[bool, Any], ...]] = OrderedDict()


def resolve_expected(groups: Iterable[tuple[str, tuple[SplitTest, ...]]],
                     sandbox: Sandbox) -> list[tuple[SplitTest, ...]]:
    """For each (setup, tests) group, evaluate the deferred expected expressions in one
    submission-free sandbox run (cached) and return the tests with `expected` filled in; a test
    whose expected side fails to evaluate stays whole (unsplit)."""
    groups = list(groups)
    todo = {}
    for setup, tests in groups:
        exprs = tuple(t.expected_expr for t in tests if t.expected_expr is not None)
        if exprs and (setup, exprs) not in _CACHE:
            todo[(setup, exprs)] = Job(source="", calls=exprs, setup=setup)
    for key, run in zip(todo, sandbox.run_many(list(todo.values())), strict=True):
        _CACHE[key] = tuple((c.ok, c.value) for c in run.calls)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return [_fill(tests, _CACHE.get((setup, tuple(t.expected_expr for t in tests
                                                 if t.expected_expr is not None)), ()))
            for setup, tests in groups]


def _fill(tests: tuple[SplitTest, ...], values: tuple[tuple[bool, Any], ...]) -> tuple[
        SplitTest, ...]:
    it = iter(values)
    out = []
    for t in tests:
        if t.expected_expr is None:
            out.append(t)
            continue
        ok, value = next(it, (False, None))
        out.append(replace(t, expected=value, expected_expr=None) if ok
                   else SplitTest(t.source, None))
    return tuple(out)
