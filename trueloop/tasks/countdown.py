"""`countdown`: reach a target with the given numbers, each used at most once, with + - * / ( ).

Generation (TinyZero-style Countdown, github.com/Jiayi-Pan/TinyZero): draw the numbers, combine
a random subset of them (all at d1-2, all but at most two later) with a random expression tree
(division only when exact), and use its value as the target; only solvable instances exist, and
the expression is the reference solution in `truth["solution"]`. Difficulty sets how many numbers
(2 at d1, 3 at d2, 4 at d3-4, 5 at d5-6, 6 from d7) and how large (1..10 up to d4, then also
25/50/75/100 and targets up to 1000).

Verifier threat model.
Covered: the answer is read only from the final answer (`extract_answer`: boxed, "the answer is",
several different answers -> `multiple_answers`); the expression is parsed by a tiny
recursive-descent parser over `Fraction` (no `eval`, no float rounding, length and depth capped);
numbers not in the list, numbers reused beyond their multiplicity, unary minus, decimals and any
other token are `wrong` with a reason in `details["error"]`; division by zero is `wrong`; only an
`= target` suffix is accepted (`= 25` for target 24 is wrong); answering the bare target fails
because the target is never one of the numbers.
Not covered: whether the reasoning before the final answer is sound; LaTeX beyond
`\\times \\cdot \\div \\left( \\right)` and `x`/unicode operators.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from fractions import Fraction
from typing import TYPE_CHECKING, ClassVar

from trueloop.tasks.arithmetic import Node, random_tree, render
from trueloop.tasks.base import Draw, Task
from trueloop.types import Problem, Verdict
from trueloop.verify.extract import extract_answer

if TYPE_CHECKING:
    from trueloop.config import VerifyConfig

MAX_EXPR_CHARS = 300
MAX_DEPTH = 40
LATEX = {r"\times": "*", r"\cdot": "*", r"\div": "/", r"\left": "", r"\right": "",
         "×": "*", "·": "*", "÷": "/", "−": "-", "{": "(", "}": ")"}
TOKEN = re.compile(r"\s*(?:(\d+)|([-+*/()x]))")


class ParseError(ValueError):
    """The final answer is not a well-formed countdown expression (model output, not a bug)."""


def tokenize(text: str) -> list[str]:
    for src, dst in LATEX.items():
        text = text.replace(src, dst)
    text = text.strip()
    tokens, pos = [], 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise ParseError(f"unexpected character {text[pos:].strip()[:10]!r}")
        tokens.append("*" if m.group(2) == "x" else m.group(1) or m.group(2))
        pos = m.end()
    return tokens


class Parser:
    """Recursive descent over the grammar
    expr := term (('+'|'-') term)*;  term := atom (('*'|'/') atom)*;  atom := INT | '(' expr ')'.
    """

    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.pos, self.numbers = tokens, 0, []

    def parse(self) -> Fraction:
        value = self.expr(0)
        if self.pos != len(self.tokens):
            raise ParseError(f"unexpected {self.tokens[self.pos]!r} after a complete expression")
        return value

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def expr(self, depth: int) -> Fraction:
        value = self.term(depth)
        while self.peek() in ("+", "-"):
            op = self.tokens[self.pos]
            self.pos += 1
            rhs = self.term(depth)
            value = value + rhs if op == "+" else value - rhs
        return value

    def term(self, depth: int) -> Fraction:
        value = self.atom(depth)
        while self.peek() in ("*", "/"):
            op = self.tokens[self.pos]
            self.pos += 1
            rhs = self.atom(depth)
            if op == "/" and rhs == 0:
                raise ParseError("division by zero")
            value = value * rhs if op == "*" else value / rhs
        return value

    def atom(self, depth: int) -> Fraction:
        if depth > MAX_DEPTH:
            raise ParseError(f"parentheses nested deeper than {MAX_DEPTH}")
        tok = self.peek()
        self.pos += 1
        if tok == "(":
            value = self.expr(depth + 1)
            if self.peek() != ")":
                raise ParseError("unbalanced parentheses")
            self.pos += 1
            return value
        if tok is not None and tok.isdigit():
            self.numbers.append(int(tok))
            return Fraction(int(tok))
        raise ParseError(f"expected a number or '(' but got {tok!r}")


def evaluate(text: str) -> tuple[Fraction, list[int]]:
    """Value of a countdown expression and the numbers it uses; `ParseError` if malformed."""
    if len(text) > MAX_EXPR_CHARS:
        raise ParseError(f"expression longer than {MAX_EXPR_CHARS} characters")
    parser = Parser(tokenize(text))
    return parser.parse(), parser.numbers


def _shape(difficulty: int) -> tuple[int, bool, int]:
    """(how many numbers, whether large numbers appear, largest target)."""
    count = 2 if difficulty == 1 else 3 if difficulty == 2 else min(6, 3 + (difficulty - 1) // 2)
    return count, difficulty >= 5, 100 if difficulty <= 4 else 1000


class Countdown(Task):
    name: ClassVar[str] = "countdown"
    description: ClassVar[str] = "reach a target with given numbers (each at most once) and + - * /"

    def draw(self, rng: random.Random) -> Draw:
        count, large, max_target = _shape(self.difficulty)
        pool = list(range(1, 11)) + ([25, 50, 75, 100] if large else [])
        while True:
            numbers = sorted(rng.choice(pool) for _ in range(count))
            k = count if self.difficulty <= 2 else rng.randint(max(2, count - 2), count)
            leaves = iter(rng.sample(numbers, k))
            expr = random_tree(rng, k, "+-*/", leaves.__next__)
            target = _exact_value(expr)
            if target is not None and 1 <= target <= max_target and target not in numbers:
                break
        nums = ", ".join(map(str, numbers))
        question = (f"Using the numbers {nums}, each at most once, and + - * / with parentheses, "
                    f"write an expression equal to {target}.")
        return Draw(question=question, answer=None, key=f"{nums}->{target}",
                    truth={"numbers": numbers, "target": target, "solution": render(expr)})

    def oracle(self, problem: Problem) -> str:
        return f"The answer is \\boxed{{{problem.truth['solution']} = {problem.truth['target']}}}."

    def verify(self, problem: Problem, completion: str,
               cfg: VerifyConfig | None = None) -> Verdict:
        ext = extract_answer(completion)  # an expression answer: no last-number fallback
        flags = frozenset(ext.flags)
        if ext.answer is None:
            return Verdict(False, 0.0, ext.reason or "no_answer", flags)
        return check(ext.answer, problem.truth["numbers"], problem.truth["target"], flags)


def check(answer: str, numbers: list[int], target: int,
          flags: frozenset[str] = frozenset()) -> Verdict:
    """Verdict for one extracted final answer against a countdown instance."""
    expr = _strip_target(answer, target)
    try:
        value, used = evaluate(expr)
    except ParseError as e:
        return Verdict(False, 0.0, "wrong", flags, answer, {"error": f"unparseable: {e}"})
    extra = Counter(used) - Counter(numbers)
    if extra:
        return Verdict(False, 0.0, "wrong", flags, answer,
                       {"error": f"numbers not available (or reused): {sorted(extra.elements())}"})
    if value != target:
        return Verdict(False, 0.0, "wrong", flags, answer, {"error": f"evaluates to {value}"})
    hacked = any(f.startswith("hack:") for f in flags)
    return Verdict(not hacked, 0.0 if hacked else 1.0, "ok", flags, answer, {"value": str(value)})


def _strip_target(answer: str, target: int) -> str:
    """Drop one `= target` suffix; any other `=` is left in and fails to parse."""
    head, sep, tail = answer.rpartition("=")
    return head if sep and tail.strip() == str(target) else answer


def _exact_value(expr: Node | int) -> int | None:
    """Integer value of a tree with exact divisions only, else None."""
    if isinstance(expr, int):
        return expr
    a, b = _exact_value(expr.left), _exact_value(expr.right)
    if a is None or b is None:
        return None
    if expr.op == "/":
        return a // b if b != 0 and a % b == 0 else None
    return a + b if expr.op == "+" else a - b if expr.op == "-" else a * b
