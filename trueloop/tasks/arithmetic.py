"""`arithmetic`: evaluate a multi-term integer expression with +, -, * and parentheses.

Difficulty grows three things at once (exact schedule in `_shape`):
- terms: 2 at difficulty 1 up to 7 at difficulty 10;
- digits per operand: 1 (d1-3), 2 (d4-6), 3 (d7-9), 4 (d10);
- operators: only + at d1, + and - at d2, * from d3, parentheses (random expression trees)
  from d4; below d4 the expression is a flat sum of products, so no parentheses are needed.

The expression is built as a tree and evaluated on the tree with Python integers (no `eval`), so
the gold answer is exact whatever the size. The split key is the rendered expression.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from trueloop.tasks.base import Draw, Task

# precedence of each operator; a child with lower precedence than its parent needs parentheses
PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


@dataclass(frozen=True)
class Node:
    """A binary operation; leaves are plain ints."""

    op: str
    left: Node | int
    right: Node | int


Expr = Node | int


def evaluate(e: Expr) -> int:
    if isinstance(e, int):
        return e
    a, b = evaluate(e.left), evaluate(e.right)
    return a + b if e.op == "+" else a - b if e.op == "-" else a * b


def render(e: Expr) -> str:
    """Infix text with only the parentheses that precedence requires (`/` is exact division)."""
    if isinstance(e, int):
        return str(e)
    left, right = render(e.left), render(e.right)
    if isinstance(e.left, Node) and PRECEDENCE[e.left.op] < PRECEDENCE[e.op]:
        left = f"({left})"
    if isinstance(e.right, Node) and (
        PRECEDENCE[e.right.op] < PRECEDENCE[e.op]
        or (e.op in "-/" and PRECEDENCE[e.right.op] == PRECEDENCE[e.op])
    ):
        right = f"({right})"
    return f"{left} {e.op} {right}"


def _shape(difficulty: int) -> tuple[int, int, str, bool]:
    """(terms, digits, operators, parentheses) for a difficulty level."""
    terms = 2 + difficulty // 2
    digits = 1 + (difficulty - 1) // 3
    ops = "+" if difficulty == 1 else "+-" if difficulty == 2 else "+-*"
    return terms, digits, ops, difficulty >= 4


class Arithmetic(Task):
    name: ClassVar[str] = "arithmetic"
    description: ClassVar[str] = "evaluate a multi-term integer expression with + - * and ( )"

    def draw(self, rng: random.Random) -> Draw:
        terms, digits, ops, parens = _shape(self.difficulty)
        hi = 10**digits - 1
        leaf = lambda: rng.randint(0, hi)  # noqa: E731
        expr = random_tree(rng, terms, ops, leaf) if parens else _flat(rng, terms, ops, leaf)
        text = render(expr)
        return Draw(
            question=f"Compute {text}.",
            answer=str(evaluate(expr)),
            key=text,
            meta={"terms": terms, "digits": digits},
        )


def _op(rng: random.Random, ops: str) -> str:
    # multiplication is rarer so values stay within reach of a small model
    weights = {"+": 4, "-": 3, "*": 2, "/": 2}
    return rng.choices(ops, weights=[weights[o] for o in ops])[0]


def _flat(rng: random.Random, terms: int, ops: str, leaf) -> Expr:
    """A left-to-right chain whose products bind tighter: renders without parentheses."""
    expr: Expr = leaf()
    for _ in range(terms - 1):
        op = _op(rng, ops)
        expr = _extend_product(expr, leaf()) if op == "*" else Node(op, expr, leaf())
    return expr


def _extend_product(expr: Expr, value: int) -> Expr:
    """Multiply the rightmost term of a +/- chain by `value` (what `a + b * c` means)."""
    if isinstance(expr, Node) and expr.op in "+-":
        return Node(expr.op, expr.left, _extend_product(expr.right, value))
    return Node("*", expr, value)


def random_tree(rng: random.Random, terms: int, ops: str, leaf) -> Expr:
    """A uniformly split random binary tree with `terms` leaves."""
    if terms == 1:
        return leaf()
    k = rng.randint(1, terms - 1)
    left = random_tree(rng, k, ops, leaf)
    return Node(_op(rng, ops), left, random_tree(rng, terms - k, ops, leaf))
