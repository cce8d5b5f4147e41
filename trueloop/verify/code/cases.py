"""Assert splitting: which part of a test runs in the sandbox and which check runs here.

`split_test("assert f(2) == 4")` -> call `f(2)` (evaluated in the sandbox), check `eq`,
expected `4` (kept in the verifier). Known shapes, each a `Check` on one call's value:
`CALL == EXPECTED` (either order), `!=`, `is None/True/False`, `is not ...`, `assert CALL`,
`assert not CALL`, `abs(CALL - LIT) < TOL`, `math.isclose(CALL, LIT, ...)`, membership
(`CALL in LIT`, `LIT in CALL`, `not in`), order (`CALL < LIT`, ...), chained comparisons with
one call and literals (`0 <= CALL < 10`), and boolean combinations (`A and B`, `A or B`,
`not A` for the shapes whose negation is exact). The expected side is a literal, or an
expression that does not mention the entry point (`set([1, 2])`, `float('inf')`):
`resolve_expected` evaluates those in a separate sandbox run that contains *no submission*
(trusted test code and setup only), cached per test set, so expected values never enter a
submission's process. Anything else, and a call that is not the entry point's own call on
arguments that read no other name (`len(f(x))`, `f(x)[0]`, `f(encode(s))`), stays whole (no
checks) and runs in the sandbox's checker process, which holds no submission code, binds the
test's helpers from the problem's trusted text and calls the entry point through proxies
(`binding.bind`).
Every comparison is `sandbox_wire.compare`, on plain values, in trusted code.
"""

from __future__ import annotations

import ast
import sys
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from trueloop.sandbox import Job, Sandbox
from trueloop.sandbox import sandbox_wire as wire
from trueloop.verify.code.binding import free_names
from trueloop.verify.code.scan import NOT_LITERAL, TRIVIAL, literal
from trueloop.verify.code.special import Visible

CACHE_SIZE = 4096
_FLIP = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "eq": "eq", "ne": "ne"}
_NEGATE = {"eq": "ne", "ne": "eq", "is": "is_not", "is_not": "is", "truthy": "falsy",
           "falsy": "truthy", "in": "not_in", "not_in": "in", "contains": "not_contains",
           "not_contains": "contains"}
_OPS = {ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt",
        ast.GtE: "ge", ast.In: "in", ast.NotIn: "not_in", ast.Is: "is", ast.IsNot: "is_not"}


@dataclass(frozen=True)
class Check:
    """One comparison of one call's value with an expected value, decided here."""

    call: str
    # expression evaluated in the sandbox
    op: str = "eq"
    # a `sandbox_wire.CHECKS` name
    expected: Any = None
    tol: float = 0.0
    expected_expr: str | None = None
    # expected side still to be evaluated by `resolve_expected` (no submission in that run)


@dataclass(frozen=True)
class SplitTest:
    """One assert: checks on call values (split), or none (runs whole in the checker)."""

    source: str
    checks: tuple[Check, ...] = ()
    any_of: bool = False
    # the assert is an `or` of its checks instead of an `and`

    @property
    def call(self) -> str | None:
        return self.checks[0].call if self.checks else None

    @property
    def check(self) -> str:
        return self.checks[0].op if self.checks else "eq"

    @property
    def expected(self) -> Any:
        return self.checks[0].expected if self.checks else None

    @property
    def calls(self) -> tuple[str, ...]:
        """Distinct call expressions, in order (`0 < f(x) < 9` evaluates f(x) once)."""
        return tuple(dict.fromkeys(c.call for c in self.checks))

    def passes(self, values: Mapping[str, tuple[bool, Any]]) -> bool:
        """`values[call]` = (came back ok, plain value)."""
        results = (values[c.call][0] and wire.compare(c.op, values[c.call][1], c.expected, c.tol)
                   for c in self.checks)
        return any(results) if self.any_of else all(results)

    def several_answers(self, values: Mapping[str, tuple[bool, Any]]) -> bool:
        """A failed `== EXPECTED` whose call returned a list, tuple or set of two or more
        candidates, the expected value among them: several answers given at once."""
        for c in self.checks:
            ok, got = values.get(c.call, (False, None))
            want = c.expected
            if c.op == "eq" and ok and type(want) in (int, float, str) and \
                    repr(want) not in TRIVIAL and type(got) in (list, tuple, set, frozenset) and \
                    len(got) >= 2 and any(type(g) is type(want) and g == want for g in got):
                return True
        return False

    def expect(self) -> tuple[str, float, Any] | None:
        """(check, tol, expected) when one check on one call decides the test (fail fast)."""
        return (self.checks[0].op, self.checks[0].tol, self.checks[0].expected) \
            if len(self.checks) == 1 else None

    def fingerprint(self) -> Visible:
        """Literal call arguments (and their tuple: a lookup table keyed on it) as the input,
        expected values as the output: what special-casing keys on (`special.py`)."""
        inputs: list[Any] = []
        for src, mode in [(c, "eval") for c in self.calls] or [(self.source, "exec")]:
            try:
                node = ast.parse(src, mode=mode)
            except SyntaxError:
                continue
            for n in ast.walk(node):
                if isinstance(n, ast.Call):
                    args = [literal(a) for a in n.args]
                    inputs += [v for v in args if v is not NOT_LITERAL]
                    if len(args) > 1 and NOT_LITERAL not in args:
                        inputs.append(tuple(args))
        outputs = tuple(c.expected for c in self.checks if c.op in ("eq", "close"))
        return Visible(tuple(inputs), outputs)


def split_test(test: str, entry_point: str = "") -> SplitTest:
    """Split one assert string; anything not of a known shape stays whole (no checks)."""
    try:
        tree = ast.parse(test.strip())
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return SplitTest(test)
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return SplitTest(test)
    split = _split_expr(tree.body[0].test, entry_point)
    if split and entry_point and not all(_direct(c.call, entry_point) for c in split[0]):
        return SplitTest(test)  # the checker applies it to plain values, helpers bound there
    return SplitTest(test, *split) if split else SplitTest(test)


def _direct(call: str, entry: str) -> bool:
    """`call` is the entry point called (or a method of what it returned, `Foo(2).area()`) on
    arguments that read no other name: nothing the submission wrote runs on the value after it
    comes back (`len(f(x))`, `f(x)[0]` or `any(f(x))` would call a returned object's rigged
    `__len__`, `__getitem__` or `__bool__` inside the submission's process)."""
    node = ast.parse(call, mode="eval").body
    if free_names(node) - {entry}:
        return False
    while isinstance(node, ast.Call | ast.Attribute):
        node = node.func if isinstance(node, ast.Call) else node.value
        if isinstance(node, ast.Attribute) and not isinstance(node.value, ast.Call | ast.Name):
            return False
    return isinstance(node, ast.Name) and node.id == entry


def _mentions(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


Split = tuple[tuple[Check, ...], bool]


def _split_expr(e: ast.expr, entry: str) -> Split | None:
    if isinstance(e, ast.BoolOp):
        parts = [_split_expr(v, entry) for v in e.values]
        if any(p is None or p[1] for p in parts):
            return None
        if isinstance(e.op, ast.Or) and any(len(p[0]) != 1 for p in parts):
            return None
        return tuple(c for p in parts for c in p[0]), isinstance(e.op, ast.Or)
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.Not):
        inner = _split_expr(e.operand, entry)
        if inner and len(inner[0]) == 1 and inner[0][0].op in _NEGATE:
            c = inner[0][0]
            return (replace(c, op=_NEGATE[c.op]),), False
        return None
    if isinstance(e, ast.Compare):
        return _split_compare(e, entry)
    if isinstance(e, ast.Call) and ast.unparse(e.func) in ("math.isclose", "isclose"):
        return _split_isclose(e)
    if isinstance(e, ast.Call | ast.Subscript | ast.Attribute):
        return (Check(ast.unparse(e), "truthy"),), False
    return None


def _split_compare(e: ast.Compare, entry: str) -> Split | None:
    operands = [e.left, *e.comparators]
    if len(e.ops) == 1 and isinstance(e.ops[0], ast.Lt | ast.LtE) and \
            (close := _split_abs(e.left, e.comparators[0])):
        return (close,), False
    checks = []
    for (a, b), op in zip(zip(operands, operands[1:], strict=False), e.ops, strict=True):
        c = _pair(a, _OPS.get(type(op)), b, entry, single=len(e.ops) == 1)
        if c is None:
            return None
        checks.append(c)
    if len({c.call for c in checks}) != 1:
        return None  # several different calls compared with each other: the checker's job
    return tuple(checks), False


def _pair(a: ast.expr, op: str | None, b: ast.expr, entry: str, single: bool) -> Check | None:
    """`a op b` with one side the call and the other its expected side."""
    if op is None:
        return None
    la, lb = literal(a), literal(b)
    if op in ("is", "is_not"):
        ok = isinstance(b, ast.Constant) and b.value in (None, True, False)
        return Check(ast.unparse(a), op, b.value) if ok and la is NOT_LITERAL else None
    if lb is not NOT_LITERAL and la is NOT_LITERAL:
        return Check(ast.unparse(a), op, lb)
    if la is not NOT_LITERAL and lb is NOT_LITERAL:
        flipped = {"in": "contains", "not_in": "not_contains"}.get(op) or _FLIP[op]
        return Check(ast.unparse(b), flipped, la)
    if single and op in ("eq", "ne") and entry:
        for call, exp, o in ((a, b, op), (b, a, op)):
            if _mentions(call, entry) and not _mentions(exp, entry):
                return Check(ast.unparse(call), o, expected_expr=ast.unparse(exp))
    return None


def _split_isclose(e: ast.Call) -> Split | None:
    if len(e.args) != 2 or not isinstance(v := literal(e.args[1]), int | float) or \
            isinstance(v, bool):
        return None
    kw = {k.arg: literal(k.value) for k in e.keywords}
    rel, abs_ = kw.get("rel_tol", 1e-9), kw.get("abs_tol", 0.0)
    if not (isinstance(rel, int | float) and isinstance(abs_, int | float)):
        return None
    return (Check(ast.unparse(e.args[0]), "close", v, max(rel * abs(v), abs_)),), False


def _split_abs(left: ast.expr, right: ast.expr) -> Check | None:
    tol = literal(right)
    if not (isinstance(left, ast.Call) and ast.unparse(left.func) == "abs" and
            len(left.args) == 1 and isinstance(left.args[0], ast.BinOp) and
            isinstance(left.args[0].op, ast.Sub) and isinstance(tol, int | float)):
        return None
    a, b = left.args[0].left, left.args[0].right
    for call, lit in ((a, b), (b, a)):
        if isinstance(v := literal(lit), int | float) and literal(call) is NOT_LITERAL:
            return Check(ast.unparse(call), "close", v, float(tol))
    return None


_CACHE: OrderedDict[tuple[str, tuple[str, ...]], tuple[tuple[bool, Any], ...]] = OrderedDict()


def _deferred(tests: tuple[SplitTest, ...]) -> tuple[str, ...]:
    return tuple(c.expected_expr for t in tests for c in t.checks if c.expected_expr is not None)


def resolve_expected(groups: Iterable[tuple[str, tuple[SplitTest, ...]]],
                     sandbox: Sandbox) -> list[tuple[SplitTest, ...]]:
    """For each (setup, tests) group, evaluate the deferred expected expressions in one
    submission-free sandbox run (cached) and return the tests with `expected` filled in; a test
    whose expected side fails to evaluate stays whole (unsplit)."""
    groups = list(groups)
    todo = {}
    for setup, tests in groups:
        exprs = _deferred(tests)
        if exprs and (setup, exprs) not in _CACHE:
            todo[(setup, exprs)] = Job(source=_stdlib_imports(exprs), calls=exprs, setup=setup)
    for key, run in zip(todo, sandbox.run_many(list(todo.values())), strict=True):
        _CACHE[key] = tuple((c.ok, c.value) for c in run.calls)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return [_fill(tests, _CACHE.get((setup, _deferred(tests)), ())) for setup, tests in groups]


def _stdlib_imports(exprs: tuple[str, ...]) -> str:
    """`import m` for each standard-library module the expressions use without importing it
    (in a test, the submission usually imported it)."""
    names = set()
    for e in exprs:
        try:
            names |= {n.id for n in ast.walk(ast.parse(e, mode="eval")) if isinstance(n, ast.Name)}
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
    return "".join(f"import {m}\n" for m in sorted(names & sys.stdlib_module_names))


def _fill(tests: tuple[SplitTest, ...], values: tuple[tuple[bool, Any], ...]) -> tuple[
        SplitTest, ...]:
    it = iter(values)
    out = []
    for t in tests:
        checks, ok = [], True
        for c in t.checks:
            if c.expected_expr is None:
                checks.append(c)
                continue
            good, value = next(it, (False, None))
            ok = ok and good
            checks.append(replace(c, expected=value, expected_expr=None))
        out.append(replace(t, checks=tuple(checks)) if ok else SplitTest(t.source))
    return tuple(out)
