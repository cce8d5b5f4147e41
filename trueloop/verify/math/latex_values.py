"""Values, tokens and arithmetic guards of the answer grammar (`verify/math/latex.py`).

The parser builds these values; `verify/math/symbolic.py` compares them. Every operation that could
build a giant number (`^`, `!`, `\\binom`) goes through a guard here that raises `TooLarge`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import sympy

MAX_TOKENS = 600
MAX_DEPTH = 60
MAX_ALTERNATIVES = 8
MAX_EXP = 1000
# largest exponent of a number base (digits are capped separately)
MAX_SYMBOLIC_EXP = 10_000
# largest numeric exponent of a symbolic base (x^{2001} is fine, x^{10^{10}} is not)
MAX_DIGITS = 5000
MAX_FACTORIAL = 500


class ParseError(ValueError):
    """The text is not an answer this grammar accepts."""


class TooLarge(ParseError):
    """The text denotes a number too large to build safely."""


@dataclass(frozen=True)
class Bag:
    items: tuple  # unordered collection of values: a solution list or set
    kinds: tuple = ()  # per item: numbers.Kind of a literal, "expr", or None (unknown)


@dataclass(frozen=True)
class Seq:
    left: str
    items: tuple
    right: str  # tuple `(a, b)` or interval `[a, b)`: brackets matter
    kinds: tuple = ()  # per item, as in Bag


@dataclass(frozen=True)
class Rel:
    ops: tuple[str, ...]
    terms: tuple  # a chain t0 op0 t1 op1 t2 ...


@dataclass(frozen=True)
class Union:
    parts: tuple


@dataclass(frozen=True)
class Diff:
    left: object  # set difference `A \\setminus B`
    right: object


@dataclass(frozen=True)
class Mat:
    rows: tuple  # tuple of tuples of sympy expressions


_TOKEN = re.compile(
    r"\s*(\d+\.\d*|\.\d+|\d+|\\[A-Za-z]+|\\[{}|,;!\\]|\*\*|<=|>=|!=|"
    r"(?:arcsin|arccos|arctan|sinh|cosh|tanh|sin|cos|tan|sec|csc|cot|log|ln|exp|sqrt|pi|inf|oo)"
    r"(?![A-Za-z])|[A-Za-z]|[-+*/^_()\[\]{},;:=<>!|&%'])"
)
_RELOPS = {"=": "=", "<": "<", ">": ">", "<=": "<=", ">=": ">=", "!=": "!=", r"\le": "<=",
           r"\ge": ">=", r"\lt": "<", r"\gt": ">", r"\ne": "!=", r"\in": "in", r"\to": "->",
           r"\approx": "~", r"\equiv": "=="}
_FUNCS = {"sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "sec": sympy.sec,
          "csc": sympy.csc, "cot": sympy.cot, "arcsin": sympy.asin, "arccos": sympy.acos,
          "arctan": sympy.atan, "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh,
          "ln": sympy.log, "exp": sympy.exp, "log": sympy.log}
_CONSTS = {"pi": sympy.pi, "infty": sympy.oo, "inf": sympy.oo, "oo": sympy.oo, "e": sympy.E,
           "i": sympy.I, "emptyset": None, "varnothing": None}
_MATRIX_ENVS = {"pmatrix", "bmatrix", "matrix", "Bmatrix", "array", "smallmatrix"}
_ATOM_START = re.compile(r"\d|\.\d|[A-Za-z]|\\(?!cdot|times|div|pm|mp|cup|le|ge|lt|gt|ne|in|to"
                         r"|approx|equiv|right|end|\}|\\|rfloor|rceil|mid|setminus|backslash)|[({]")


def tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            if text[pos:].strip() == "":
                break
            raise ParseError(f"unexpected character {text[pos]!r}")
        tokens.append(m.group(1))
        pos = m.end()
        if len(tokens) > MAX_TOKENS:
            raise ParseError("too many tokens")
    return tokens


def _name(tok: str) -> str:
    return tok[1:] if tok.startswith("\\") else tok


def _check_power(base: sympy.Expr, exp: sympy.Expr) -> None:
    """Refuse numbers over MAX_DIGITS digits; a symbolic base may carry a larger exponent."""
    if exp.is_Number and abs(exp) > (MAX_EXP if base.is_Number and not base.is_Rational
                                     else MAX_SYMBOLIC_EXP):
        raise TooLarge("exponent too large")
    if base.is_Rational and exp.is_Number and base != 0 and abs(base) != 1:
        bits = max(abs(base.p).bit_length(), abs(base.q).bit_length())
        if bits * math.log10(2) * float(abs(exp)) > MAX_DIGITS:
            raise TooLarge("power too large")


def _combine(a: tuple, b: tuple, op) -> tuple:
    out = tuple(dict.fromkeys(op(x, y) for x in a for y in b))
    if len(out) > MAX_ALTERNATIVES:
        raise ParseError("too many alternatives")
    return out


def _pow(x, y):
    _check_power(x, y)
    return sympy.Pow(x, y)


def _div(x, y):
    if y == 0:
        raise ParseError("division by zero")
    return x / y


def _expr(value) -> tuple:
    if not isinstance(value, tuple):
        raise ParseError("a set, tuple or relation cannot be used inside an expression")
    return value


def _single(value) -> sympy.Expr:
    xs = _expr(value)
    if len(xs) != 1:
        raise ParseError("\\pm inside a matrix entry")
    return xs[0]


def _factorial(x: sympy.Expr) -> sympy.Expr:
    if x.is_Integer and (x < 0 or x > MAX_FACTORIAL):
        raise TooLarge("factorial too large")
    return sympy.factorial(x)


def _binomial(n: sympy.Expr, k: sympy.Expr) -> sympy.Expr:
    if n.is_Number and abs(n) > 20 * MAX_FACTORIAL:
        raise TooLarge("binomial too large")
    return sympy.binomial(n, k)


def _check_finite(value) -> None:
    if isinstance(value, tuple):
        for x in value:
            if isinstance(x, sympy.Basic) and x.has(sympy.nan, sympy.zoo):
                raise ParseError("undefined value")
            if not isinstance(x, sympy.Basic):
                _check_finite(x)
    if isinstance(value, Diff):
        _check_finite(value.left)
        _check_finite(value.right)
    for field in ("items", "terms", "parts", "rows"):
        for part in getattr(value, field, ()):
            _check_finite(part)
