"""`linear_equation`: solve a linear equation in x; the answer is an integer or a fraction.

Difficulty picks the equation's shape; coefficient and constant ranges grow with it:
- d1 `x + b = d`, d2 `ax = d`, d3 `ax + b = d`, d4 `ax + b = cx + d` (integer answers: x is drawn
  first and the last constant is solved for);
- d5-6 `ax + b = cx + d` with all coefficients random, so the answer is usually a fraction;
- d7-8 `a(x + b) = c(x + d) + e`; d9-10 `(ax + b)/p = (cx + d)/q`.
Each side is kept as a linear form A*x + B over `Fraction`, so x = (D - B) / (A - C) exactly;
fractional answers are written `p/q` in lowest terms (the math verifier also accepts `\\frac`).
The split key is the equation text.
"""

from __future__ import annotations

import random
from fractions import Fraction
from typing import ClassVar

from trueloop.tasks.base import Draw, Task

Form = tuple[Fraction, Fraction]
# a linear form A*x + B


def linear_text(a: int, b: int) -> str:
    """`3x - 5`, `-x`, `7`, `0`: a*x + b written the way a textbook would."""
    parts = []
    if a:
        parts.append("x" if a == 1 else "-x" if a == -1 else f"{a}x")
    if b or not parts:
        parts.append(f"{b}" if not parts else f"+ {b}" if b > 0 else f"- {-b}")
    return " ".join(parts)


def fraction_text(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


class LinearEquation(Task):
    name: ClassVar[str] = "linear_equation"
    description: ClassVar[str] = "solve a linear equation for x (integer or fractional answer)"

    def draw(self, rng: random.Random) -> Draw:
        while True:
            text, left, right = self._equation(rng)
            if left[0] != right[0]:
                break
        x = (right[1] - left[1]) / (left[0] - right[0])
        return Draw(question=f"Solve for x: {text}.", answer=fraction_text(x), key=text,
                    meta={"integer_answer": x.denominator == 1})

    def _equation(self, rng: random.Random) -> tuple[str, Form, Form]:
        d = self.difficulty
        nz = lambda hi: rng.choice([-1, 1]) * rng.randint(1, hi)  # noqa: E731
        if d <= 4:
            x = rng.randint(0, 9) if d <= 2 else nz(5 + 2 * d)
            a = 1 if d == 1 else rng.randint(2, 9) if d == 2 else nz(9)
            b = 0 if d == 2 else rng.randint(1, 9) if d == 1 else nz(20)
            c = nz(9) if d == 4 else 0
            rhs = (a - c) * x + b
            return _plain(a, b, c, rhs)
        if d <= 6:
            hi = 9 if d == 5 else 15
            return _plain(nz(hi), nz(4 * hi), nz(hi), nz(4 * hi))
        if d <= 8:
            a, b, c, e, f = nz(9), nz(12), nz(9), nz(12), nz(30)
            sign = "+" if f > 0 else "-"
            text = f"{a}({linear_text(1, b)}) = {c}({linear_text(1, e)}) {sign} {abs(f)}"
            return text, (Fraction(a), Fraction(a * b)), (Fraction(c), Fraction(c * e + f))
        a, b, c, e = nz(d + 2), nz(2 * d), nz(d + 2), nz(2 * d)
        p, q = rng.randint(2, 9), rng.randint(2, 9)
        text = f"({linear_text(a, b)})/{p} = ({linear_text(c, e)})/{q}"
        return text, (Fraction(a, p), Fraction(b, p)), (Fraction(c, q), Fraction(e, q))


def _plain(a: int, b: int, c: int, d: int) -> tuple[str, Form, Form]:
    text = f"{linear_text(a, b)} = {linear_text(c, d)}"
    return text, (Fraction(a), Fraction(b)), (Fraction(c), Fraction(d))

