"""`tax`: a household's income tax, computed over H dependent calculator calls, exact to the cent.

    Tax return, illustrative rules (not any year's law). Status: single.      the prompt
    W-2 1: wages 21500.00, withheld 2100.00.
    Rules: AGI = wages. Taxable income = AGI - standard deduction 13500.00. Brackets: 10% to
    12000.00, 15% to 48000.00, ... Balance due = tax - withheld; negative is a refund. ...
    <calc>2150000-1350000</calc>          -> 800000        taxable income, in cents
    <calc>((800000)*10+50)//100</calc>    -> 80000         the 10% bracket's tax
    <calc>80000-210000</calc>             -> -130000       balance due
    \\boxed{-1300.00}

A household (`tax_rules.Household`: filing status, W-2 wages with withholding, interest,
children, a retirement contribution) and the rule sheet (`tax_rules.RULES`: illustrative
figures, standard deduction, five brackets, a per-child credit with a phase-out) give the gold
worksheet (`tax_rules.worksheet`, integer cents). The calculator is the built-in one (`calc`, exact
rational arithmetic on integer literals; decimals are refused), so the policy works in cents and
cent answers are exact; the answer is the balance in dollars with two decimals, `-1234.56` for
a refund, matched exactly (off by one cent is `wrong`, so is `1234.5` or `$1,234.56`).

Knobs. Difficulty: W-2 items `1 + (d - 1) // 3`; interest from d2; the child credit (1-3
children) from d3, with AGI below the phase-out start at d3-4 and inside the phase-out window from
d5; a retirement contribution (capped) from d6; the taxable income lies in bracket 1-2 (d1-2) or
2-3 (d3-4), and in 3-5 from d5 where the phase-out window sets it. Horizon H: the policy computes
the last H steps of the worksheet; the values the earlier steps would give are in the prompt
("Known: AGI 52000.00"); None (the default) or an H beyond the worksheet means the whole return.
`meta["horizon"]` is the number of steps asked. `rules`: "prompt" puts the sections of the rule
sheet the steps need in the prompt; "tool" puts the whole sheet behind `<lookup_table>NAME</...>`
(`TaxLookup`; `tax_lookup.py` registers it as `tax_lookup` for configs).

Per-step values: `truth["names"]`, `truth["exprs"]`, `truth["values"]` (cents, as `tool_chain`
exposes its intermediate results); every verdict's `details["step_ok"]` says, per step, whether a
successful `calc` result of the episode equals that step's value, and `details["steps_reached"]`
how many leading steps were all reached (from the env's own call records, never from observation
text). Judged as every horizon env is (`HorizonEnv.judge`). The split key is the question text.
"""

from __future__ import annotations

import random
from typing import ClassVar

from trueloop.config import VerifyConfig
from trueloop.envs.horizon import HorizonEnv
from trueloop.envs.tools import Tool, calculator
from trueloop.tasks.base import Draw
from trueloop.tasks.horizon import HorizonTask
from trueloop.tasks.tax_rules import (
    RULES,
    STATUSES,
    W2,
    Household,
    Step,
    bands,
    dollars,
    worksheet,
)
from trueloop.types import Problem, Verdict

RULES_MODES = ("prompt", "tool")
# where the rule sheet is: in the prompt, or behind the lookup_table tool


def income_rule(h: Household | None) -> str:
    """How AGI is formed (for `h`'s items; the general rule when None)."""
    text = "AGI = wages"
    if h is None or h.interest:
        text += " + interest"
    if h is None or h.retirement:
        text += f" - retirement contribution (at most {dollars(RULES.retirement_cap)})"
    return text + "."


def bracket_rule(status: str) -> str:
    edges = [f"{rate}% to {dollars(top)}" if top else f"{rate}% above"
             for _, top, rate in bands(status)]
    return (f"{', '.join(edges)}; each bracket's tax rounded to the cent, half a cent up; "
            f"tax = their sum.")


def credit_rule(starts: str) -> str:
    return (f"Child credit {dollars(RULES.per_child)} per child, less "
            f"{dollars(RULES.phaseout_cut)} per started {dollars(RULES.phaseout_step)} of AGI "
            f"over {starts}; tax after credits = tax - credit.")


def section(name: str, h: Household) -> str:
    """One section of the rule sheet as the prompt states it for `h`'s filing status."""
    if name == "income":
        return income_rule(h)
    if name == "deduction":
        return f"Taxable income = AGI - standard deduction {dollars(RULES.deduction[h.status])}."
    if name == "brackets":
        return f"Brackets: {bracket_rule(h.status)}"
    return credit_rule(dollars(RULES.phaseout_start[h.status]))


DEDUCTIONS = ", ".join(f"{s} {dollars(v)}" for s, v in RULES.deduction.items())
TABLES = {
    "income": income_rule(None),
    "deduction": f"Standard deduction: {DEDUCTIONS}; taxable income = AGI - it.",
    **{f"brackets {s}": bracket_rule(s) for s in STATUSES},
    "credit": credit_rule(", ".join(f"{s} {dollars(v)}"
                                    for s, v in RULES.phaseout_start.items())),
}
# the whole rule sheet behind the lookup_table tool


class TaxEnv(HorizonEnv):
    def __init__(self, problem: Problem, verify: VerifyConfig | None = None) -> None:
        super().__init__(problem, verify)
        self.tools = {"calc": Tool.from_function(calculator, name="calc")}
        if problem.truth.get("rules") == "tool":
            self.tools["lookup_table"] = Tool.from_function(self.lookup_table,
                                                            name="lookup_table")

    def lookup_table(self, name: str) -> str:
        """A table of the rule sheet by name: income, deduction, brackets STATUS, credit."""
        return TABLES.get(" ".join(str(name).split()), f"no such table; tables: {list(TABLES)}")

    def oracle_actions(self, problem: Problem) -> list[str]:
        looks = [f"<lookup_table>{t}</lookup_table>" for t in problem.truth["lookups"]]
        return looks + [f"<calc>{e}</calc>" for e in problem.truth["exprs"]] + [
            f"\\boxed{{{problem.answer}}}"]

    def verify(self) -> Verdict:
        results = {r.output for _, r in self.calls if r.name == "calc" and not r.error}
        ok = [str(v) in results for v in self.problem.truth["values"]]
        reached = next((i for i, hit in enumerate(ok) if not hit), len(ok))
        return self.judge(str(self.problem.answer), step_ok=ok, steps_reached=reached)


class Tax(HorizonTask):
    name: ClassVar[str] = "tax"
    description: ClassVar[str] = "a household's income tax to the cent over dependent calc calls"
    env_class: ClassVar[type[HorizonEnv]] = TaxEnv
    tool_names: ClassVar[tuple[str, ...]] = ("calc", "lookup_table")
    rules_mode: ClassVar[str] = "prompt"

    def __init__(self, difficulty: int = 3, horizon: int | None = None,
                 answer_format: str = "boxed", rules: str | None = None) -> None:
        super().__init__(difficulty, horizon, answer_format)
        self.rules = rules or self.rules_mode
        if self.rules not in RULES_MODES:
            raise ValueError(f"tax rules must be one of {list(RULES_MODES)}; got {rules!r}.")

    def draw(self, rng: random.Random) -> Draw:
        h = draw_household(rng, self.difficulty)
        steps = worksheet(h)
        asked = steps[-min(self.horizon or len(steps), len(steps)):]
        question, sections = render_question(h, steps, asked, self.rules)
        lookups = [f"brackets {h.status}" if s == "brackets" else s for s in sections]
        truth = {"rules": self.rules, "names": [s.name for s in asked],
                 "exprs": [s.expr for s in asked], "values": [s.value for s in asked],
                 "lookups": lookups if self.rules == "tool" else []}
        return Draw(question=question, answer=dollars(steps[-1].value), key=question,
                    truth=truth, meta={"horizon": len(asked), "worksheet_steps": len(steps)})


class TaxLookup(Tax):
    """`tax` with the rule sheet behind the `lookup_table` tool instead of in the prompt."""

    rules_mode: ClassVar[str] = "tool"


def draw_household(rng: random.Random, d: int) -> Household:
    """A household at difficulty d (see the module docstring) whose tax exceeds its credit."""
    status = rng.choice(STATUSES)
    n = 1 + (d - 1) // 3
    children = rng.randint(1, 3) if d >= 3 else 0
    ded, start = RULES.deduction[status], RULES.phaseout_start[status]
    window = RULES.per_child // RULES.phaseout_cut * children  # started steps to phase it out
    while True:
        if d >= 5:  # inside the phase-out window: the credit shrinks but stays positive
            agi = start + rng.randint(1, (window - 1) * RULES.phaseout_step)
        else:  # taxable income in bracket 1-2 (d1-2) or 2-3 (d3-4), AGI at most the start
            lo, hi, _ = bands(status)[rng.randint(0, 1) + (d >= 3)]
            agi = ded + rng.randint(lo + 1, min(hi, start - ded) - 1)
        retirement = rng.randint(50_000, 900_000) if d >= 6 else 0
        interest = rng.randint(500, 250_000) if d >= 2 else 0
        wages = agi + min(retirement, RULES.retirement_cap) - interest
        cuts = sorted(rng.sample(range(100_000, wages - 100_000), n - 1))
        parts = [b - a for a, b in zip([0, *cuts], [*cuts, wages], strict=True)]
        if min(parts) < 100_000:
            continue
        h = Household(status, tuple(W2(w, 0) for w in parts), interest, children, retirement)
        owed = worksheet(h)[-1].value  # tax after credits (nothing withheld yet)
        if owed <= 0:
            continue
        # each W-2 withholds its share of the tax, give or take 30%: refunds and amounts owed
        w2s = tuple(W2(w, owed * w * rng.randint(70, 130) // (100 * wages) + rng.randint(0, 99))
                    for w in parts)
        return Household(status, w2s, interest, children, retirement)


def render_question(h: Household, steps: list[Step], asked: list[Step],
                    rules: str) -> tuple[str, list[str]]:
    """The prompt of a return whose `asked` steps the policy computes, and the rule sheet
    sections they need (in sheet order)."""
    values = {s.name: s for s in steps}
    computed = {s.name for s in asked}
    needed = [i for s in asked for i in s.inputs if i not in computed]
    sections = {s.rules for s in asked if s.rules}
    if {"gross", "agi", "wages"} & computed or "wages1" in needed:
        sections.add("income")
    roles = {values["taxable"].inputs[0]: "AGI"}  # what a known value is called where it is used
    if "after" in values:
        roles[values["after"].inputs[0]] = "tax before credits"
    tax = "tax after credits" if h.children else "tax"
    roles[values["balance"].inputs[0]] = tax
    parts = [f"Tax return, illustrative rules (not any year's law). Status: {h.status}."]
    if "children" in needed:
        parts.append(f"Children under 17: {h.children}.")
    for i, w in enumerate(h.w2s, 1):
        items = [f"{k} {dollars(v)}" for k, v in (("wages", w.wages), ("withheld", w.withheld))
                 if f"{k}{i}" in needed]
        if items:
            parts.append(f"W-2 {i}: {', '.join(items)}.")
    for fact, label in (("interest", "Interest"), ("retirement", "Retirement contribution")):
        if fact in needed:
            parts.append(f"{label} {dollars(getattr(h, fact))}.")
    known = [f"{roles.get(n, values[n].label)} {dollars(values[n].value)}"
             for n in dict.fromkeys(needed) if n in values]
    if known:
        parts.append(f"Known: {', '.join(known)}.")
    order = [s for s in ("income", "deduction", "brackets", "credit") if s in sections]
    if rules == "tool":
        parts.append("Rules: <lookup_table>NAME</lookup_table>, NAME one of income, deduction, "
                     "brackets STATUS, credit.")
    elif order:
        parts.append("Rules: " + " ".join(section(s, h) for s in order))
    parts.append(f"Balance due = {tax} - withheld; negative is a refund. <calc> takes whole "
                 f"numbers: work in cents. Give the balance in dollars, like -1234.56.")
    return " ".join(parts), order
