"""Sets, solved inequalities and named assignments for the symbolic comparison (`symbolic.py`).

- A solved inequality in one variable is the set of reals it describes: `-2x > -6` is
  `(-\\infty, 3)`, `|x| \\le 2` is `[-2, 2]`, `x \\ne 2` is `(-\\infty, 2) \\cup (2, \\infty)`,
  `1 < 2x - 1 \\le 5` is `(1, 3]` (sympy's `solveset` over the reals, inside the worker's time
  limit). Equations are not solved here (see `symbolic.py`).
- Set differences (`\\mathbb{R} \\setminus \\{2\\}`) are computed with sympy sets.
- Named assignments bind names to values: `a = 2, b = 7` is not `a = 7, b = 2`; a list of
  assignments to one name (`x = 1, x = 6`) stays a solution list. Assignments written in order
  (`x = 3, y = -2`) equal the tuple `(3, -2)` and the list `3, -2` written in that order.

Covered: the false positive of reading `a=2, b=7` as the unordered values {2, 7}.
Not covered: inequalities in several variables, or whose solution sympy cannot express as
intervals (they stay relations and compare as before).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy

from trueloop.verify.math.latex import Bag, Rel, Seq, Union

_INEQ_OPS = {"<": sympy.Lt, "<=": sympy.Le, ">": sympy.Gt, ">=": sympy.Ge, "!=": sympy.Ne}
_REAL_LINE = Seq("(", ((-sympy.oo,), (sympy.oo,)), ")")


@dataclass(frozen=True)
class Binding:
    names: tuple[str, ...]  # distinct names, in the order written
    values: tuple  # canonical value bound to each name
    kinds: tuple  # literal kind of each value, as in Bag

    @staticmethod
    def of(bag: Bag, canonical: Callable) -> Binding | None:
        """The bag as a binding, when it is two or more assignments to distinct names."""
        items = bag.items
        if len(items) < 2 or not all(_assignment(x) for x in items):
            return None
        names = tuple(str(x.terms[0][0]) for x in items)
        if len(set(names)) != len(names):
            return None
        values = tuple(canonical(x.terms[1]) for x in items)
        return Binding(names, values, bag.kinds or (None,) * len(items))

    @staticmethod
    def equal(g, c, item_equal: Callable) -> bool:
        """Same names bound to equal values; or the values in order against a tuple."""
        if isinstance(g, Binding) and isinstance(c, Binding):
            if sorted(g.names) != sorted(c.names):
                return False
            cmap = dict(zip(c.names, zip(c.values, c.kinds, strict=True), strict=True))
            return all(item_equal((v, k), cmap[n])
                       for n, v, k in zip(g.names, g.values, g.kinds, strict=True))
        b, other = (g, c) if isinstance(g, Binding) else (c, g)
        ordered = isinstance(other, Bag) or (isinstance(other, Seq)
                                             and (other.left, other.right) == ("(", ")"))
        if not ordered or len(other.items) != len(b.values):
            return False
        pairs = zip(zip(b.values, b.kinds, strict=True),
                    zip(other.items, other.kinds or (None,) * len(other.items), strict=True),
                    strict=True)
        return all(item_equal(x, y) if b is g else item_equal(y, x) for x, y in pairs)


def _assignment(item) -> bool:
    return (isinstance(item, Rel) and item.ops == ("=",) and isinstance(item.terms[0], tuple)
            and len(item.terms[0]) == 1 and item.terms[0][0].is_Symbol)


def solve_inequality(ops: tuple[str, ...], terms: tuple):
    """The interval / union a one-variable inequality chain describes, or None."""
    if not ops or any(op not in _INEQ_OPS for op in ops):
        return None
    if not all(isinstance(t, tuple) and len(t) == 1 for t in terms):
        return None
    exprs = [t[0] for t in terms]
    calls = set().union(*(e.atoms(sympy.core.function.AppliedUndef) for e in exprs))
    if len(calls) == 1:  # `0 < f(x) < 1`: the function value is the variable
        (call,) = calls
        var = sympy.Symbol(f"_{call.func.__name__}")
        exprs = [e.subs(call, var) for e in exprs]
    symbols = set().union(*(e.free_symbols for e in exprs))
    if len(symbols) != 1 or any(e.has(sympy.oo, -sympy.oo) for e in exprs):
        return None
    (x,) = symbols
    real = sympy.Symbol(x.name, real=True)
    exprs = [e.subs(x, real) for e in exprs]
    solution = sympy.S.Reals
    try:
        for op, a, b in zip(ops, exprs, exprs[1:], strict=False):
            solution = solution.intersect(
                sympy.solveset(_INEQ_OPS[op](a, b), real, sympy.S.Reals))
        return from_set(solution)
    except (NotImplementedError, ValueError, TypeError):
        return None


def from_set(s):
    """A sympy set as the parser's values: intervals -> Seq, unions -> Union, finite -> Bag."""
    if s == sympy.S.Reals:
        return _REAL_LINE
    if isinstance(s, sympy.Interval):
        return Seq("(" if s.left_open else "[", ((s.start,), (s.end,)),
                   ")" if s.right_open else "]")
    if isinstance(s, sympy.FiniteSet):
        return Bag(tuple((x,) for x in s.args))
    if s == sympy.S.EmptySet:
        return Bag(())
    if isinstance(s, sympy.Union):
        parts = tuple(from_set(a) for a in s.args)
        return None if any(p is None for p in parts) else Union(parts)
    return None


def as_set(v):
    """The parser's value as a sympy set (intervals, finite sets, unions), or None."""
    if isinstance(v, Seq) and len(v.items) == 2 and all(
            isinstance(x, tuple) and len(x) == 1 for x in v.items):
        (a,), (b,) = v.items
        return sympy.Interval(a, b, v.left == "(", v.right == ")")
    if isinstance(v, Bag) and all(isinstance(x, tuple) and len(x) == 1 for x in v.items):
        return sympy.FiniteSet(*(x[0] for x in v.items))
    if isinstance(v, Union):
        parts = [as_set(p) for p in v.parts]
        return None if any(p is None for p in parts) else sympy.Union(*parts)
    return None
