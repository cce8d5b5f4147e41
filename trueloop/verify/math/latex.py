"""A small recursive-descent parser for LaTeX / plain-math answers, producing sympy objects.

Model text is never handed to `eval`, `sympify` or `parse_expr`: this grammar accepts only what
an answer needs and builds sympy objects itself, with caps on size, depth and number magnitude.

    answer  := item ((',' | ';') item)*                    several items -> Bag (unordered)
    item    := union (relop union)*                        '=', '<', '\\le', '\\in', ... -> Rel
    union   := sum ('\\cup' sum)* ('\\setminus' union)?         a set difference -> Diff
    sum     := term (('+' | '-' | '\\pm' | '\\mp') term)*
    term    := unary (('*' | '\\cdot' | '\\times' | '/' | '\\div')? unary)*   (implicit product)
    unary   := ('-' | '+' | '\\pm') unary | power
    power   := postfix ('^' arg)?                          right-associative, magnitude-capped
    postfix := atom ('!' | '%')*
    atom    := number[_base] | letter[_sub] | f(x) | '(' list ')' | '[' list ')'
             | '\\{' list '\\}' | '{' list '}' | '\\{' x ('\\mid' | '|' | ':') item '\\}'
             | \\frac | \\sqrt | \\binom | \\sum_{k=a}^{b} term | \\prod | function | |x|
             | \\pi | \\infty | matrix

An expression value is a tuple of sympy alternatives (`\\pm` makes two); brackets with commas make
a `Seq` (tuple or interval: both brackets are kept, so `(1,2]` differs from `(1,2)`).

Covered: hostile input cannot run code, recurse without bound (`MAX_DEPTH`), build giant numbers
(`10^{10^{10}}`, `1000000!` are refused with `TooLarge`) or explode `\\pm` combinations.
Not covered: wall-clock time of sympy on legal input (callers run this in `verify/math/timeout.py`).

The values it builds, the tokenizer and the size guards live in `verify/math/latex_values.py`; the
sets, big operators, base numerals and matrices in `verify/math/latex_structures.py` (a mixin: the
grammar stays one recursive `_Parser`).
"""

from __future__ import annotations

import sympy

from trueloop.verify.math.latex_structures import Structures
from trueloop.verify.math.latex_values import (
    _ATOM_START,
    _CONSTS,
    _FUNCS,
    _RELOPS,
    MAX_DEPTH,
    Bag,
    Diff,
    Mat,
    ParseError,
    Rel,
    Seq,
    TooLarge,
    Union,
    _binomial,
    _check_finite,
    _combine,
    _div,
    _expr,
    _factorial,
    _name,
    _pow,
    _single,
    tokenize,
)
from trueloop.verify.math.numbers import parse_number

__all__ = ["Bag", "Mat", "ParseError", "Rel", "Seq", "TooLarge", "Union", "parse_answer"]

class _Parser(Structures):
    def __init__(self, text: str) -> None:
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0

    # -- token helpers ------------------------------------------------------------------------
    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def next(self) -> str:
        tok = self.peek()
        if tok is None:
            raise ParseError("unexpected end of answer")
        self.i += 1
        return tok

    def accept(self, *options: str) -> str | None:
        if self.peek() in options:
            return self.next()
        return None

    def expect(self, tok: str) -> None:
        if self.next() != tok:
            raise ParseError(f"expected {tok!r}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError("nested too deeply")

    # -- grammar ------------------------------------------------------------------------------
    def answer(self):
        items, kinds = self.item_list()
        if self.peek() is not None:
            raise ParseError(f"unexpected {self.peek()!r}")
        return items[0] if len(items) == 1 else Bag(items, kinds)

    def item_list(self) -> tuple[tuple, tuple]:
        """Comma-separated items, and for each the kind of literal it was written as."""
        items, kinds = [], []
        while True:
            start = self.i
            items.append(self.item())
            kinds.append(self.literal_kind(start, self.i))
            if not self.accept(",", ";"):
                return tuple(items), tuple(kinds)

    def literal_kind(self, start: int, end: int) -> str:
        toks = self.toks[start:end]
        if len(toks) > 2 and toks[1] == "=" and toks[0].isalpha():
            toks = toks[2:]  # x = 3 in a solution list
        number = parse_number("".join(toks))
        return number.kind if number is not None else "expr"

    def item(self):
        terms, ops = [self.union()], []
        while self.peek() in _RELOPS:
            ops.append(_RELOPS[self.next()])
            terms.append(self.union())
        return Rel(tuple(ops), tuple(terms)) if ops else terms[0]

    def union(self):
        parts = [self.sum()]
        while self.accept(r"\cup"):
            parts.append(self.sum())
        value = Union(tuple(parts)) if len(parts) > 1 else parts[0]
        if self.accept(r"\setminus", "\\backslash"):
            return Diff(value, self.union())
        return value

    def sum(self):
        self.enter()
        value = self.term()
        while (op := self.accept("+", "-", r"\pm", r"\mp")) is not None:
            rhs = _expr(self.term())
            if op == "+":
                value = _combine(_expr(value), rhs, lambda x, y: x + y)
            elif op == "-":
                value = _combine(_expr(value), rhs, lambda x, y: x - y)
            else:
                value = _combine(_expr(value), rhs + tuple(-y for y in rhs), lambda x, y: x + y)
        self.depth -= 1
        return value

    def term(self):
        value = self.unary()
        while True:
            op = self.accept("*", r"\cdot", r"\times", "/", r"\div")
            if op is None and not self._implicit():
                return value
            rhs = _expr(self.unary())
            fn = _div if op in ("/", r"\div") else (lambda x, y: x * y)
            value = _combine(_expr(value), rhs, fn)

    def _implicit(self) -> bool:
        tok = self.peek()
        return tok is not None and _ATOM_START.match(tok) is not None and tok not in _FUNC_ENDS

    def unary(self):
        if self.accept("-"):
            return tuple(-x for x in _expr(self.unary()))
        if self.accept("+"):
            return _expr(self.unary())
        if self.accept(r"\pm", r"\mp"):
            xs = _expr(self.unary())
            return tuple(dict.fromkeys(xs + tuple(-x for x in xs)))
        return self.power()

    def power(self):
        base = self.postfix()
        if self.accept("^", "**"):
            self.enter()
            exp = _expr(self.unary() if self.peek() in ("-", "+") else self.power_arg())
            self.depth -= 1
            return _combine(_expr(base), exp, _pow)
        return base

    def power_arg(self):
        if self.peek() == "{":
            return self.group()
        return self.power()

    def postfix(self):
        value = self.atom()
        while (op := self.accept("!", "%")) is not None:
            value = tuple(_factorial(x) if op == "!" else x / 100 for x in _expr(value))
        return value

    def group(self):
        self.expect("{")
        value = self.item() if self.peek() != "}" else None
        self.expect("}")
        if value is None:
            raise ParseError("empty group")
        return value

    def atom(self):
        tok = self.next()
        if tok[0].isdigit() or tok[0] == ".":
            return (self.number(tok),)
        if tok in ("(", "["):
            return self.brackets(tok)
        if tok == r"\{":
            return self.braced_set(r"\}")
        if tok == "{":
            return self.braced_set("}")
        if tok == "|":
            value = _expr(self.sum())
            self.expect("|")
            return tuple(sympy.Abs(x) for x in value)
        if tok.startswith("\\"):
            return self.command(_name(tok))
        if tok.isalpha():
            return self.word(tok)
        raise ParseError(f"unexpected {tok!r}")

    def number(self, tok: str) -> sympy.Expr:
        if len(tok) > 400:
            raise TooLarge("number too long")
        value = sympy.Rational(tok)
        if self.peek() == "_" and tok.isdigit():
            return self.base_numeral(tok)
        if self.peek() == r"\overline" and "." in tok:
            self.next()
            rep = self.raw_group()
            if not rep.isdigit():
                raise ParseError("bad repeating decimal")
            places = len(tok.split(".", 1)[1])
            value += sympy.Rational(int(rep), (10 ** len(rep) - 1) * 10**places)
        elif self.peek() == r"\frac" and tok.isdigit() and self._digit_frac_ahead():
            self.next()
            value += self.frac_value()  # mixed number 3\frac{1}{2} = 7/2
        return value

    def _digit_frac_ahead(self) -> bool:
        toks = self.toks[self.i + 1 : self.i + 7]
        if toks[:1] == ["{"]:
            return len(toks) >= 6 and toks[1].isdigit() and toks[2:4] == ["}", "{"] \
                and toks[4].isdigit() and toks[5] == "}"
        return len(toks) >= 1 and toks[0].isdigit()

    def brackets(self, left: str):
        items, kinds = self.items_until(")", "]")
        right = self.toks[self.i - 1]
        if len(items) == 1 and (left + right) in ("()", "[]") and isinstance(items[0],
                                                                          (tuple, Mat)):
            return items[0]  # a parenthesised value, or `\\left[\\begin{array}..\\right]`
        if not items:
            raise ParseError("empty brackets")
        return Seq(left, items, right, kinds)

    def items_until(self, *closers: str) -> tuple[tuple, tuple]:
        self.enter()
        items: tuple = ()
        kinds: tuple = ()
        if self.accept(*closers) is None:
            items, kinds = self.item_list()
            if self.accept(*closers) is None:
                raise ParseError(f"expected one of {closers}")
        self.depth -= 1
        return items, kinds

    def raw_group(self) -> str:
        if self.peek() != "{":
            return self.next()
        self.next()
        out = []
        while (tok := self.next()) != "}":
            out.append(tok)
        return "".join(out)

    def arg(self) -> tuple:
        if self.peek() == "{":
            return _expr(self.group())
        tok = self.peek()
        if tok is not None and tok.isdigit() and len(tok) > 1:  # \frac12: one digit per argument
            self.toks[self.i : self.i + 1] = [tok[0], tok[1:]]
            return (sympy.Integer(int(self.next())),)
        return _expr(self.atom())

    def frac_value(self) -> sympy.Expr:
        return _single(self.frac_values())

    def frac_values(self) -> tuple:
        """`\\frac{a \\pm b}{c}`: every alternative of the numerator over the denominator."""
        num, den = self.arg(), self.arg()
        return _combine(num, den, _div)

    def word(self, tok: str):
        if tok in _FUNCS:
            return self.function(tok)
        if tok == "sqrt":
            return tuple(sympy.sqrt(x) for x in self.arg())
        if self.peek() == "_":
            self.next()
            return (sympy.Symbol(f"{tok}_{self.raw_group()}"),)
        if tok in _CONSTS and _CONSTS[tok] is not None:
            return (_CONSTS[tok],)
        if tok in _FUNCTION_NAMES and self.toks[self.i : self.i + 3][::2] == ["(", ")"] \
                and self.toks[self.i + 1].isalpha() and len(self.toks[self.i + 1]) == 1:
            arg = sympy.Symbol(self.toks[self.i + 1])
            self.i += 3
            return (sympy.Function(tok)(arg),)  # `f(x)`: a function value, not f*x
        return (sympy.Symbol(tok),)

    def function(self, name: str):
        power = None
        base = None
        if name == "log" and self.accept("_"):
            base = self.arg()
        if self.accept("^"):
            power = _expr(self.power_arg())
        value = _expr(self.power() if self.peek() not in ("(", "{") else self.atom())
        fn = _FUNCS[name]
        out = tuple(fn(x) if base is None else sympy.log(x, base[0]) for x in value)
        return _combine(out, power, _pow) if power is not None else out

    def command(self, name: str):
        if name in _FUNCS:
            return self.function(name)
        if name in _CONSTS:
            value = _CONSTS[name]
            return Bag(()) if value is None else (value,)
        if name == "frac":
            return self.frac_values()
        if name in ("sum", "prod"):
            return self.big_operator(name)
        if name == "sqrt":
            index = None
            if self.accept("["):
                index = _expr(self.sum())
                self.expect("]")
            radicand = self.arg()
            if index is None:
                return tuple(sympy.sqrt(x) for x in radicand)
            return _combine(radicand, index, lambda x, n: sympy.root(x, n))
        if name == "binom":
            n, k = self.arg(), self.arg()
            return _combine(n, k, _binomial)
        if name in ("lfloor", "lceil"):
            value = _expr(self.sum())
            self.expect(r"\rfloor" if name == "lfloor" else r"\rceil")
            fn = sympy.floor if name == "lfloor" else sympy.ceiling
            return tuple(fn(x) for x in value)
        if name == "mathbb":
            if self.raw_group() != "R":
                raise ParseError("only \\mathbb{R} is supported")
            return Seq("(", ((-sympy.oo,), (sympy.oo,)), ")")
        if name == "begin":
            return self.matrix()
        if name in _GREEK:
            return (sympy.Symbol(name),)
        raise ParseError(f"unsupported command \\{name}")



_FUNCTION_NAMES = {"f", "g", "h"}
# a one-letter name applied to one variable, `f(x)`, is a function value
_FUNC_ENDS = {r"\rfloor", r"\rceil", r"\end", r"\}", r"\\"}
_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
          "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau",
          "upsilon", "phi", "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta",
          "Lambda", "Xi", "Sigma", "Phi", "Psi", "Omega"}


def parse_answer(text: str):
    """Parse answer text into a sympy-backed value (see the module docstring), or raise
    `ParseError` / `TooLarge`. An expression comes back as a tuple of alternatives."""
    value = _Parser(text).answer()
    _check_finite(value)
    return value
