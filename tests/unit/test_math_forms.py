"""Issue 9's own examples, one per bug class (the regression table holds fresh ones)."""

from __future__ import annotations

import pytest
from math_table import box

from trueloop.verify.math import verify_math
from trueloop.verify.math.forms import group_assignments, join_words, strip_label

ISSUE_EXAMPLES = [
    # false positives: names bind to values; one-letter variables are not units
    ("a=2, b=7", box("a=7, b=2"), False),
    ("y=\\pm 4", box("y=4"), False),
    ("5 t^{2} + 3 t", box("5"), False),
    ("6 h", box("6"), False),
    # golds that must parse
    ("\\frac{-3 \\pm \\sqrt{7}}{2}", box("\\frac{-3 + \\sqrt{7}}{2}, \\frac{-3 - \\sqrt{7}}{2}"),
     True),
    ("\\sum_{k=1}^{4} k", box("10"), True),
    ("1011_2", box("1011_2"), True),
    ("5:45", box("5:45"), True),
    ("\\begin{pmatrix} 1 \\\\ 2 \\\\ \\end{pmatrix}", box("\\begin{pmatrix}1\\\\2\\end{pmatrix}"),
     True),
    ("3 \\text{ or } 5", box("5, 3"), True),
    ("x^{2001}", box("x^{2001}"), True),
    ("\\frac{1}{100!}", box("\\frac{1}{100!}"), True),
    ("\\frac{2^{3001}+1}{3}", box("\\frac{2^{3001}+1}{3}"), True),
    # labelled golds
    ("(m,n)=(4,1)", box("(4,1)"), True),
    ("PQ=6", box("6"), True),
    ("f(x)=3x", box("3x"), True),
    ("|v|=5", box("5"), True),
    # number notations
    ("\\frac{1}{3}", box("\\cfrac{1}{3}"), True),
    ("\\frac{2}{5}", box("\\left(\\frac{2}{5}\\right)"), True),
    ("\\frac{7}{9}", box("{7 \\over 9}"), True),
    ("12345", box("12 345"), True),
    ("12345", box("12\\,345"), True),
    ("12345", box("12,\\!345"), True),
    ("12345", box("12 {, }345"), True),
    ("40", box("40cm"), True),
    ("-4", box("(-4)"), True),
    ("-4", box("-(4)"), True),
    # lists
    ("4 \\text{ and } 9", box("4, 9"), True),
    ("x = 1 \\text{ or } x = 6", box("6, 1"), True),
    ("\\{2, 5\\}", box("{2, 5}"), True),
    ("(3,-2)", box("x=3, y=-2"), True),
    ("\\pm 2", box("x=\\pm 2"), True),
    # inequalities and sets against intervals
    ("x < 3", box("-2x > -6"), True),
    ("(1, 3]", box("1 < x \\le 3"), True),
    ("(1, 3]", box("\\{x \\mid 1 < x \\le 3\\}"), True),
    ("(-\\infty, 2) \\cup (2, \\infty)", box("\\mathbb{R} \\setminus \\{2\\}"), True),
    ("(-\\infty, 2) \\cup (2, \\infty)", box("x \\neq 2"), True),
    ("[-2, 2]", box("|x| \\le 2"), True),
    # extraction
    ("56", "Final Answer: The area of the garden is 56.", True),
    ("B", "Final Answer: The correct option is B)", True),
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}",
     box("\\left[\\begin{array}{cc}1&2\\\\3&4\\end{array}\\right]"), True),
    ("\\begin{pmatrix}1\\\\2\\\\3\\end{pmatrix}", box("(1, 2, 3)"), True),
]


@pytest.mark.parametrize("gold, completion, correct", ISSUE_EXAMPLES,
                         ids=[g[:24] for g, *_ in ISSUE_EXAMPLES])
def test_issue_examples(gold, completion, correct):
    v = verify_math(gold, completion)
    assert v.correct is correct, (v.reason, v.extracted, v.details)
    assert v.reason != "unparseable_gold"


@pytest.mark.parametrize("text, out", [
    ("(m,n)=(4,1)", "(4,1)"), ("PQ=6", "6"), ("f(x)=3x", "3x"), ("|v|=5", "5"),
    ("AB=4, CD=5", "4, 5"), ("y = 2x + 3", "y = 2x + 3"), ("x = 3", "x = 3"),
    ("f(x)=g(x)=2", "f(x)=g(x)=2"),
])
def test_strip_label_drops_only_labels(text, out):
    assert strip_label(text) == out


def test_join_words_and_group_assignments():
    assert join_words("19, 46, and 82") == "19, 46, 82"
    assert join_words("x = 1 or x = 6") == "x = 1, x = 6"
    assert group_assignments("p=5, q=2; p=7, q=2") == "(5, 2), (7, 2)"
    assert group_assignments("p=5, q=2; r=7, q=2") == "p=5, q=2; r=7, q=2"  # names differ
