"""Structured parts of the answer grammar: sets and set-builder notation, sums and products,
numerals in a base, matrices. A mixin of `latex._Parser` (the grammar is one recursive parser;
these methods call back into its `item` / `sum` / `term`), kept here so each file stays short.
"""

from __future__ import annotations

import sympy

from trueloop.verify.math.latex_values import (
    _MATRIX_ENVS,
    Bag,
    Mat,
    ParseError,
    TooLarge,
    _expr,
    _single,
)


class Structures:
    """Methods of `latex._Parser` for sets, big operators, base numerals and matrices."""

    def braced_set(self, closer: str):
        """`\\{1, 2\\}` and a bare `{2, 5}` are sets; `{x}` is a group; `\\{x \\mid x > 1\\}` is
        its condition (set-builder notation, also with `|` or `:`)."""
        self.enter()
        start = self.i
        first = self.item()
        if self.accept(r"\mid", "|", ":") is not None:
            if not (isinstance(first, tuple) and len(first) == 1 and first[0].is_Symbol):
                raise ParseError("set-builder notation needs one variable before the bar")
            cond = self.item()
            self.expect(closer)
            self.depth -= 1
            return cond
        self.i = start
        items, kinds = self.items_until(closer)
        self.depth -= 1
        if closer == "}" and len(items) == 1:
            return items[0]
        if not items and closer == "}":
            raise ParseError("empty group")
        return Bag(items, kinds)

    def big_operator(self, name: str):
        """`\\sum_{k=a}^{b} body` / `\\prod`: with integer bounds (at most 2000 apart, a body
        polynomial in k) it is evaluated, with symbolic bounds it stays a sympy Sum."""
        self.expect("_")
        self.expect("{")
        var = self.next()
        if not var.isalpha() or len(var) != 1:
            raise ParseError(f"\\{name} needs a one-letter index")
        self.expect("=")
        low = _single(self.sum())
        self.expect("}")
        self.expect("^")
        high = _single(_expr(self.power_arg()))
        body = _expr(self.term())
        fn = sympy.Sum if name == "sum" else sympy.Product
        k = sympy.Symbol(var)
        out = []
        for x in body:
            value = fn(x, (k, low, high))
            if low.is_Integer and high.is_Integer:
                if abs(high - low) > 2000 or not x.is_polynomial(k):
                    raise TooLarge(f"\\{name} over numbers too many or too large to check")
                value = value.doit()  # `\\sum_k 10^{10^k}` never gets here
            out.append(value)
        return tuple(out)

    def base_numeral(self, digits: str) -> sympy.Expr:
        """`1011_2`, `204_{5}`: the numeral's value in that base (2 to 10)."""
        self.expect("_")
        base = self.raw_group()
        if not base.isdigit() or not 2 <= int(base) <= 10 or any(int(d) >= int(base)
                                                                  for d in digits):
            raise ParseError(f"bad base-{base} numeral")
        return sympy.Integer(int(digits, int(base)))

    def matrix(self) -> Mat:
        env = self.raw_group()
        if env not in _MATRIX_ENVS:
            raise ParseError(f"unsupported environment {env}")
        if env == "array" and self.peek() == "{":
            self.raw_group()
        rows, row = [], []
        while True:
            row.append(_single(self.sum()))
            sep = self.next()
            if sep == "&":
                continue
            rows.append(tuple(row))
            row = []
            if sep == r"\end":
                if self.raw_group() != env:
                    raise ParseError("mismatched \\end")
                break
            if sep != r"\\":
                raise ParseError(f"unexpected {sep!r} in matrix")
            if self.accept(r"\end"):  # a trailing `\\` before `\end{pmatrix}`
                if self.raw_group() != env:
                    raise ParseError("mismatched \\end")
                break
        if len({len(r) for r in rows}) != 1:
            raise ParseError("ragged matrix")
        return Mat(tuple(rows))
