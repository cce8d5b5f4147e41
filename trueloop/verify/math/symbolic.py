"""Symbolic answer comparison: parsed values (`verify/math/latex.py`) compared with sympy.

Runs inside the killable worker of `verify/math/timeout` (sympy can take unbounded time), and only
for answers the exact fast path of `trueloop.verify.math` could not settle.

Rules:
- expressions are equal when their difference is provably zero: a high-precision numeric check at
  fixed points rejects most wrong answers cheaply, then `expand`, `simplify` and `equals` must
  *prove* equality (agreeing digits alone never pass: `\\pi` is not 3.14159265358979);
- sets and solution lists ignore order and duplicates; tuples are ordered; interval endpoints and
  their brackets matter; `\\pm a` is the set {a, -a}; matrices compare entrywise;
- `x = 3` equals `3`, `x \\in S` equals `S`; two equations are equal when `lhs - rhs` differ by a
  nonzero constant factor (the same solution set for the equations answers are written as);
  a solved inequality in one variable equals the set it describes (`x > 2` is `(2, \\infty)`,
  `-2x > -6` is `(-\\infty, 3)`, see `math_sets.py`); assignments to distinct names bind
  (`a = 2, b = 7` is not `a = 7, b = 2`);
- several distinct values where the gold is one value is `multiple_answers`.

Covered: answer spraying through lists and `\\pm`, unevaluated-looking but equal forms of
irrational answers, order of set elements. Not covered: time (callers impose it), equations whose
solution sets coincide without a constant factor (`x^2 = 1` vs `|x| = 1` is judged wrong).
"""

from __future__ import annotations

from functools import lru_cache

import sympy

from trueloop.verify.math.latex import (
    Bag,
    Diff,
    Mat,
    ParseError,
    Rel,
    Seq,
    TooLarge,
    Union,
    parse_answer,
)
from trueloop.verify.math.sets import Binding, as_set, from_set, solve_inequality

_POINTS = (sympy.Rational(37, 100), sympy.Rational(113, 70))
_SYMPY_FAILURES = (TypeError, ValueError, AttributeError, NotImplementedError, RecursionError,
                   ZeroDivisionError, OverflowError, MemoryError)
_INEQ = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


@lru_cache(maxsize=4096)
def _parse(text: str):
    return canonical(parse_answer(text))


def clear_cache() -> None:
    _parse.cache_clear()


def gold_error(gold: str) -> str | None:
    """None if the gold answer parses, else why not."""
    try:
        _parse(gold)
    except ParseError as e:
        return f"{type(e).__name__}: {e}"
    return None


def compare(gold: str, candidate: str) -> tuple[str, str]:
    """(reason, detail): reason is ok | wrong | multiple_answers | unparseable_gold."""
    try:
        g = _parse(gold)
    except ParseError as e:
        return "unparseable_gold", f"{type(e).__name__}: {e}"
    try:
        c = _parse(candidate)
    except TooLarge as e:
        return "wrong", f"candidate refused: {e}"
    except ParseError as e:
        return "wrong", f"candidate unparseable: {e}"
    if not isinstance(g, (Bag, Binding)) and isinstance(c, Bag) and len(c.items) > 1:
        return "multiple_answers", f"{len(c.items)} distinct values where one is expected"
    return ("ok", "") if equal(g, c) else ("wrong", "")


def canonical(v):
    """Alternatives -> Bag, `x \\in S` -> S, 1-variable inequalities -> intervals, dedup bags."""
    if isinstance(v, tuple):
        return v if len(v) == 1 else Bag(tuple((x,) for x in v))
    if isinstance(v, Bag):
        binding = Binding.of(v, canonical)
        if binding is not None:
            return binding
        kinds: dict = {}  # item -> kind of literal; a dict dedupes and keeps the order
        for item, kind in _with_kinds(v):
            item = canonical(item)
            pairs = _with_kinds(item) if isinstance(item, Bag) else [(_solved(item), kind)]
            for x, k in pairs:
                kinds.setdefault(x, k)
        return Bag(tuple(kinds), tuple(kinds.values()))
    if isinstance(v, Union):
        return Union(tuple(dict.fromkeys(canonical(p) for p in v.parts)))
    if isinstance(v, Seq):
        return Seq(v.left, tuple(canonical(x) for x in v.items), v.right, v.kinds)
    if isinstance(v, Rel):
        return _relation(v)
    if isinstance(v, Diff):
        left, right = as_set(canonical(v.left)), as_set(canonical(v.right))
        if left is None or right is None:
            raise ParseError("set difference of values that are not sets")
        diff = from_set(sympy.Complement(left, right))
        if diff is None:
            raise ParseError("a set difference that is not a union of intervals")
        return diff
    return v


def _solved(item):
    """`x = 3` inside a solution list is the value 3."""
    if isinstance(item, Rel) and item.ops == ("=",) and _lone_symbol(item.terms[0]):
        return item.terms[1]
    return item


def _lone_symbol(term) -> bool:
    return isinstance(term, tuple) and len(term) == 1 and term[0].is_Symbol


def _constant(term) -> bool:
    return isinstance(term, tuple) and len(term) == 1 and not term[0].free_symbols


def _relation(r: Rel):
    terms = tuple(canonical(t) if not isinstance(t, tuple) or len(t) > 1 else t for t in r.terms)
    if r.ops == ("in",) and _lone_symbol(terms[0]):
        return terms[1]
    if r.ops == ("=",) and _lone_symbol(terms[0]) and isinstance(terms[1], Bag):
        return terms[1]  # `x = \\pm 5` is the solution list {5, -5}
    if len(r.ops) == 1 and r.ops[0] in _INEQ:
        (a, b), op = terms, r.ops[0]
        if _lone_symbol(b) and _constant(a):
            (a, b), op = (b, a), _INEQ[op]
        if _lone_symbol(a) and _constant(b):
            inf = (sympy.oo,) if op in (">", ">=") else (-sympy.oo,)
            closed = "[" if op == ">=" else "("
            if op in (">", ">="):
                return Seq(closed, (b, inf), ")")
            return Seq("(", (inf, b), "]" if op == "<=" else ")")
    if len(r.ops) == 2 and r.ops[0] == r.ops[1] and r.ops[0] in ("<", "<=") \
            and _lone_symbol(terms[1]) and _constant(terms[0]) and _constant(terms[2]):
        closed = r.ops[0] == "<="
        return Seq("[" if closed else "(", (terms[0], terms[2]), "]" if closed else ")")
    solved = solve_inequality(r.ops, terms)
    return Rel(r.ops, terms) if solved is None else solved


def equal(g, c) -> bool:
    if isinstance(g, Rel) and not isinstance(c, Rel):
        return _equation_value(g, c)
    if isinstance(c, Rel) and not isinstance(g, Rel):
        return _equation_value(c, g)
    if isinstance(c, Bag) and len(c.items) == 1 and not isinstance(g, Bag):
        c = c.items[0]
    if isinstance(g, Bag) and len(g.items) == 1 and not isinstance(c, Bag):
        g = g.items[0]
    if isinstance(g, Binding) or isinstance(c, Binding):
        return Binding.equal(g, c, _item_equal)
    if isinstance(g, Mat) != isinstance(c, Mat):
        g, c = _column(g), _column(c)
    if type(g) is not type(c):
        return False
    if isinstance(g, tuple):
        if len(g) == 1 and len(c) == 1:
            return expr_equal(g[0], c[0])
        return all(any(expr_equal(a, b) for b in c) for a in g) and all(
            any(expr_equal(a, b) for a in g) for b in c)
    if isinstance(g, Bag):
        return _same_set(_with_kinds(g), _with_kinds(c))
    if isinstance(g, Union):
        return _same_set([(p, None) for p in g.parts], [(p, None) for p in c.parts])
    if isinstance(g, Seq):
        return (g.left, g.right, len(g.items)) == (c.left, c.right, len(c.items)) and all(
            _item_equal(a, b) for a, b in zip(_with_kinds(g), _with_kinds(c), strict=True))
    if isinstance(g, Mat):
        return _same_shape(g, c) and all(
            expr_equal(a, b) for ra, rb in zip(g.rows, c.rows, strict=True)
            for a, b in zip(ra, rb, strict=True))
    return _relations_equal(g, c)


def _column(v):
    """A tuple `(1, 2, 3)` as the column vector it names (compared with a matrix gold)."""
    if isinstance(v, Seq) and (v.left, v.right) == ("(", ")") and all(
            isinstance(x, tuple) and len(x) == 1 for x in v.items):
        return Mat(tuple((x[0],) for x in v.items))
    return v


def _same_shape(a: Mat, b: Mat) -> bool:
    return len(a.rows) == len(b.rows) and len(a.rows[0]) == len(b.rows[0])


def _with_kinds(v: Bag | Seq) -> list[tuple]:
    return list(zip(v.items, v.kinds or (None,) * len(v.items), strict=True))


def _item_equal(g: tuple, c: tuple) -> bool:
    """Element of a set/tuple, with the literal rule: a gold integer written as an integer needs
    an integer numeral (`(1+1, 3)` is not `(2, 3)`), a gold number literal needs a literal."""
    (gv, gk), (cv, ck) = g, c
    if gk == "int" and ck in ("fraction", "mixed", "expr"):
        return False
    if gk not in (None, "expr") and ck == "expr":
        return False
    return equal(gv, cv)


def _same_set(gs: list[tuple], cs: list[tuple]) -> bool:
    """Both lists of (value, kind); equal as sets."""
    if len(cs) > 2 * len(gs) + 2:
        return False  # cheap reject of sprayed lists (values are deduplicated structurally)
    return all(any(_item_equal(g, c) for c in cs) for g in gs) and all(
        any(_item_equal(g, c) for g in gs) for c in cs)


def _equation_value(rel: Rel, value) -> bool:
    """`x = 3` against `3` (either side may be the gold)."""
    if rel.ops == ("=",) and _lone_symbol(rel.terms[0]):
        return equal(rel.terms[1], value)
    return False


def _relations_equal(g: Rel, c: Rel) -> bool:
    if len(g.ops) != 1 or len(c.ops) != 1 or not all(isinstance(t, tuple) and len(t) == 1
                                                     for t in g.terms + c.terms):
        return g.ops == c.ops and all(equal(a, b) for a, b in zip(g.terms, c.terms, strict=True))
    (gop,), (cop,) = g.ops, c.ops
    (gl,), (gr,) = g.terms
    (cl,), (cr,) = c.terms
    if gop in _INEQ and cop == _INEQ[gop]:
        cl, cr, cop = cr, cl, gop
    if gop != cop:
        return False
    if gop == "=" and gl.is_Symbol and gl == cl and gl not in gr.free_symbols:
        return expr_equal(gr, cr)
    return _constant_ratio(gl - gr, cl - cr, positive=gop != "=")


def _constant_ratio(a: sympy.Expr, b: sympy.Expr, positive: bool) -> bool:
    if b == 0 or a == 0 or a.free_symbols != b.free_symbols:
        return False
    try:
        ratio = sympy.cancel(a / b)
        if ratio.free_symbols:
            ratio = sympy.simplify(ratio)
    except _SYMPY_FAILURES:
        return False
    return not ratio.free_symbols and ratio.is_nonzero is True and (
        not positive or ratio.is_positive is True)


def expr_equal(a: sympy.Expr, b: sympy.Expr) -> bool:
    """True only when a - b is proven zero (a numeric check at fixed points rejects first)."""
    if a == b:
        return True
    if a.has(sympy.oo, -sympy.oo) or b.has(sympy.oo, -sympy.oo):
        return False
    if a.free_symbols != b.free_symbols:
        return False
    diff = a - b
    if diff == 0:
        return True
    if _numerically_nonzero(diff, sorted(a.free_symbols, key=str), a):
        return False
    try:
        if sympy.expand(diff) == 0 or sympy.simplify(diff) == 0:
            return True
        return diff.equals(0) is True
    except _SYMPY_FAILURES:
        return False


def _numerically_nonzero(diff: sympy.Expr, symbols: list, ref: sympy.Expr) -> bool:
    for k, point in enumerate(_POINTS):
        subs = {s: point + sympy.Rational(j + k, 7) for j, s in enumerate(symbols)}
        try:
            d = complex(diff.evalf(40, subs=subs))
            r = complex(ref.evalf(40, subs=subs))
        except _SYMPY_FAILURES:
            continue
        if abs(d) > 1e-25 * max(1.0, abs(r)):
            return True
    return False
