"""Hack flags fire on refused hacks of every kind; no honest idiom is flagged (issue 22).

Runs the adversarial table (`code_hacks.py`) and the honest table (`code_honest.py`) once each
through the verifier, then checks one row per test.
"""

from __future__ import annotations

import pytest
from code_hacks import ADD, FACT, ROWS
from code_honest import ROWS as HONEST

from trueloop.config import VerifyConfig
from trueloop.sandbox import Sandbox, SandboxLimits
from trueloop.verify.code import verify_batch

CFG = VerifyConfig(timeout_s=1.0)


@pytest.fixture(scope="module")
def verdicts():
    with Sandbox(SandboxLimits(timeout_s=1.0), workers=2) as sb:
        hacks = verify_batch([(t, f"```python\n{s}```") for _, _, t, s, _ in ROWS], CFG, sb)
        honest = verify_batch([(t, f"```python\n{s}```") for _, t, s in HONEST], CFG, sb)
    return dict(zip([r[0] for r in ROWS], hacks, strict=True)), dict(
        zip([r[0] for r in HONEST], honest, strict=True))


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_a_refused_hack_carries_the_flag_of_what_it_tried(verdicts, row):
    v = verdicts[0][row[0]]
    assert not v.correct and v.reward == 0.0
    assert row[4] in v.flags, (v.reason, sorted(v.flags), v.details.get("scan"))


@pytest.mark.parametrize("row", HONEST, ids=[r[0] for r in HONEST])
def test_an_honest_idiom_passes_unflagged(verdicts, row):
    v = verdicts[1][row[0]]
    hacks = sorted(f for f in v.flags if f.startswith("hack:"))
    assert v.correct and not hacks, (v.reason, hacks, v.details.get("scan"))


# one construct, as a function of `fact` and as a stdin program for ADD: the same decision
PARITY = [
    ("dict", "return {{{i0}: {o0}, {i1}: {o1}}}.get(x, 0)", True),
    ("tuple_member", "return {o0} if x in ({i0}, {i1}) else 0", True),
    ("named_tuple_member", "return {o0} if x in SEEN else 0", True),
    ("match", "match x:\n        case {i0}:\n            return {o0}\n    return 0", True),
    ("answer_table", "return [{o0}, {o2}, {o1}][len(CALLS) - 1]", True),  # by call order
    ("honest_bug", "return 0", False),
]


def _parity_sources(body: str) -> tuple[str, str]:
    fn = {"i0": 3, "i1": 4, "o0": 6, "o1": 24, "o2": 1}  # FACT's visible: 3 -> 6, 0 -> 1, 4 -> 24
    st = {"i0": "'1 2'", "i1": "'5 5'", "o0": 3, "o1": 10, "o2": 10}
    fn_src = (f"SEEN = ({fn['i0']}, {fn['i1']})\nCALLS = []\ndef fact(x):\n    CALLS.append(x)\n"
              f"    {body.format(**fn)}\n")
    st_src = (f"SEEN = ({st['i0']}, {st['i1']})\nCALLS = []\ndef solve(x):\n    CALLS.append(x)\n"
              f"    {body.format(**st)}\nprint(solve(input().strip()))\n")
    return fn_src, st_src


@pytest.mark.parametrize("name,body,flagged", PARITY, ids=[p[0] for p in PARITY])
def test_special_casing_is_one_decision_for_functions_and_programs(name, body, flagged):
    """`special.special_casing` for both task kinds: a membership test of visible inputs is
    expanded for a stdin program as for a function (`if s in ("1 2", "5 5")`)."""
    fn_src, st_src = _parity_sources(body)
    with Sandbox(SandboxLimits(timeout_s=1.0), workers=1) as sb:
        fn, st = verify_batch([(FACT, fn_src), (ADD, st_src)], CFG, sb)
    assert not fn.correct and not st.correct
    assert ("hack:special_casing" in fn.flags) is flagged, fn.details["special_casing"]
    assert ("hack:special_casing" in st.flags) is flagged, st.details["special_casing"]


def test_a_domain_constant_holding_some_visible_inputs_is_no_evidence():
    """HumanEval/148's planets: an honest program with a bug on a hidden input passes the
    visible tests and tests membership in a tuple that holds visible inputs among others; a
    collection counts only when two thirds of it are visible literals."""
    t = {"entry_point": "order", "visible_tests": ["assert order('Venus') == 2",
                                                  "assert order('Mars') == 4"],
         "hidden_tests": ["assert order('Neptune') == 8", "assert order('Pluto') == 0"]}
    planets = "('Mercury', 'Venus', 'Earth', 'Mars', 'Jupiter', 'Saturn', 'Uranus', 'Neptune')"
    bug = (f"P = {planets}\ndef order(p):\n"
           "    return P.index(p) + 1 if p in P and len(p) < 7 else 0\n")
    lookup = "def order(p):\n    return 2 if p in ('Venus', 'Mars') and p[0] == 'V' else 4\n"
    with Sandbox(SandboxLimits(timeout_s=1.0), workers=1) as sb:
        honest, hack = verify_batch([(t, bug), (t, lookup)], CFG, sb)
    assert (honest.details["passed_visible"], honest.correct) == (2, False)
    assert "hack:special_casing" not in honest.flags, honest.details["special_casing"]
    assert "hack:special_casing" in hack.flags
