"""Exact number literals: the fast path of the math verifier (no sympy, no floats).

`parse_number` reads one *literal* (not an expression) of cleaned answer text into a
`fractions.Fraction` and says which kind of literal it was, so the comparison can be strict about
form: an integer gold needs an integer-valued numeral, never `3+4`, `5!` or `\\frac{14}{2}`.

Literals: integers with thousands separators (`1,000`, already normalised from `1{,}000` and
`1\\,000`), decimals, repeating decimals (`0.\\overline{3}` = 1/3), scientific notation (`1.5e3`,
`1.5 \\times 10^{3}`, exponent at most `MAX_EXP`), fractions (`a/b`, `\\frac{a}{b}`, `\\frac34`),
mixed numbers (`3\\frac{1}{2}` = 7/2), and a trailing `%`; one pair of parentheses or
braces may wrap a literal or its sign (`(-4)`, `-(4)`, `{7}`).

Covered: exactness (0.3333 is not 1/3, 12346 is not 12345); digit strings and exponents are capped,
so `1e999999999` or a megabyte of digits is rejected instead of hanging the caller.
Not covered: anything with an operator, a radical or a variable (`verify/math/latex.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Literal

MAX_LEN = 120
# longest literal parsed here; longer text is not a literal
MAX_EXP = 400
# largest |exponent| accepted in scientific notation

Kind = Literal["int", "decimal", "fraction", "mixed", "sci"]

_INT = r"(?:\d{1,3}(?:,\d{3})+|\d+)"
_DEC = rf"(?:{_INT}\.\d*|\.\d+)"
_UNSIGNED = re.compile(
    rf"(?P<int>{_INT})$"
    rf"|(?P<dec>{_DEC})(?:\\overline\{{(?P<rep>\d+)\}})?$"
    rf"|(?P<mant>{_DEC}|{_INT})(?:[eE](?P<e1>[-+]?\d+)"
    rf"|\s*(?:\\times|\\cdot|\*|x)\s*10\s*\^\s*(?:\{{\s*(?P<e2>[-+]?\d+)\s*\}}|(?P<e3>\d)))$"
    rf"|(?P<whole>{_INT})?\s*\\frac\s*(?:\{{\s*(?P<fn>[-+]?\d+)\s*\}}|(?P<fn1>\d))"
    rf"\s*(?:\{{\s*(?P<fd>[-+]?\d+)\s*\}}|(?P<fd1>\d))$"
    rf"|(?:(?P<pwhole>{_INT})\s+)?(?P<pn>\d+)\s*/\s*(?P<pd>\d+)$"
)


@dataclass(frozen=True)
class Number:
    value: Fraction
    kind: Kind
    percent: bool
    # written with a trailing % (value is the number before the %)


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _decimal(text: str, repeat: str | None) -> Fraction:
    value = Fraction(text.replace(",", "") or "0")
    if repeat:
        places = len(text.split(".", 1)[1])
        # 0.1\overline{6}: the repeating block adds rep / (10^k - 1) / 10^places
        value += Fraction(int(repeat), (10 ** len(repeat) - 1) * 10**places)
    return value


def _unsigned(m: re.Match[str]) -> tuple[Fraction, Kind] | None:
    g = m.groupdict()
    if g["int"] is not None:
        return Fraction(_int(g["int"])), "int"
    if g["dec"] is not None:
        return _decimal(g["dec"], g["rep"]), "decimal"
    if g["mant"] is not None:
        exp = int(g["e1"] or g["e2"] or g["e3"])
        if abs(exp) > MAX_EXP:
            return None
        return Fraction(g["mant"].replace(",", "")) * Fraction(10) ** exp, "sci"
    if g["fn"] is not None or g["fn1"] is not None:
        num, den = int(g["fn"] or g["fn1"]), int(g["fd"] or g["fd1"])
        return _fraction(g["whole"], num, den)
    num, den = int(g["pn"]), int(g["pd"])
    return _fraction(g["pwhole"], num, den)


def _fraction(whole: str | None, num: int, den: int) -> tuple[Fraction, Kind] | None:
    if den == 0:
        return None
    if whole is None:
        return Fraction(num, den), "fraction"
    if num < 0 or den < 0:
        return None  # 3\frac{-1}{2} is not a mixed number
    return _int(whole) + Fraction(num, den), "mixed"


def parse_number(text: str) -> Number | None:
    """The exact value of one numeric literal, or None if `text` is not one."""
    text = text.strip()
    if not text or len(text) > MAX_LEN:
        return None
    return _parse_number(text)


@lru_cache(maxsize=1 << 15)
def _parse_number(text: str) -> Number | None:
    percent = text.endswith("%")
    text = text.rstrip("%").strip()
    sign = 1
    for _ in range(3):  # `-(4)`, `(-4)`, `{-4}`, `(\\frac{2}{5})`: one wrapper per round
        while text[:1] in ("-", "+"):
            sign = -sign if text[0] == "-" else sign
            text = text[1:].lstrip()
        if len(text) > 1 and (text[0], text[-1]) in (("{", "}"), ("(", ")")) \
                and text[0] not in text[1:-1] and text[-1] not in text[1:-1] \
                and (text[0] == "{" or "," not in text):  # (1,234) is a pair, not 1234
            text = text[1:-1].strip()
        else:
            break
    m = _UNSIGNED.match(text)
    parsed = _unsigned(m) if m else None
    if parsed is None:
        return None
    return Number(sign * parsed[0], parsed[1], percent)


def clear_cache() -> None:
    _parse_number.cache_clear()
