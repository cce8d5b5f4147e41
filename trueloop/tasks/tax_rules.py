"""The `tax` environment's rule sheet and its gold worksheet, in integer cents.

The figures are illustrative, not any real year's law (they resemble a progressive income tax
with a per-child credit, nothing more). Every amount is an `int` of cents; no float touches the
gold computation. Rounding: a bracket's tax is (amount in the bracket) * rate / 100, rounded to
the cent with half a cent rounding up, i.e. `(cents * rate + 50) // 100` (amounts are never
negative, so floor division is exact half-up). The credit's phase-out counts every started
$1,000 of AGI over the threshold: `ceil(over / 100000)` steps of $50.

    gross     = wages (sum of the W-2s) + interest
    AGI       = gross - min(retirement contribution, cap)
    taxable   = AGI - standard deduction(status)                      (kept > 0 by the generator)
    tax       = sum over brackets of round_half_up(amount in bracket * rate / 100)
    credit    = children * per_child - cut * ceil(max(0, AGI - start(status)) / step)
    after     = tax - credit                                          (kept > 0 by the generator)
    balance   = after - withheld (sum of the W-2s); negative = a refund

`worksheet(household)` writes these as `Step`s, one calculator call each (the oracle's call is
`Step.expr`, an integer expression the built-in `calc` tool evaluates exactly); a line that needs
no arithmetic (one W-2, no interest, one bracket, no credit) is no step.
"""

from __future__ import annotations

from dataclasses import dataclass

STATUSES = ("single", "married_joint", "head_of_household")


@dataclass(frozen=True)
class Rules:
    deduction: dict[str, int]
    # standard deduction by filing status, cents
    brackets: dict[str, tuple[tuple[int | None, int], ...]]
    # (upper edge in cents or None for the top bracket, rate in percent), lowest bracket first
    per_child: int
    # credit per child under 17, cents
    phaseout_start: dict[str, int]
    # AGI above which the credit shrinks, by status, cents
    phaseout_step: int
    phaseout_cut: int
    # the credit loses `cut` cents per started `step` cents of AGI above the start
    retirement_cap: int
    # at most this much of a retirement contribution comes off gross income, cents


RULES = Rules(
    deduction={"single": 1_350_000, "married_joint": 2_700_000, "head_of_household": 2_025_000},
    brackets={
        "single": ((1_200_000, 10), (4_800_000, 15), (10_000_000, 22), (19_000_000, 28),
                   (None, 33)),
        "married_joint": ((2_400_000, 10), (9_600_000, 15), (20_000_000, 22), (38_000_000, 28),
                          (None, 33)),
        "head_of_household": ((1_700_000, 10), (6_400_000, 15), (10_000_000, 22),
                              (19_000_000, 28), (None, 33)),
    },
    per_child=180_000,
    phaseout_start={"single": 10_000_000, "married_joint": 20_000_000,
                    "head_of_household": 10_000_000},
    phaseout_step=100_000,
    phaseout_cut=5_000,
    retirement_cap=600_000,
)


@dataclass(frozen=True)
class W2:
    wages: int
    # box 1, cents
    withheld: int
    # box 2, federal tax withheld, cents


@dataclass(frozen=True)
class Household:
    status: str
    w2s: tuple[W2, ...]
    interest: int = 0
    # interest income, cents (0 = none)
    children: int = 0
    # children under 17 (0 = no credit)
    retirement: int = 0
    # retirement contribution, cents (0 = none)


@dataclass(frozen=True)
class Step:
    name: str
    # wages, gross, agi, taxable, bracket1.., tax, credit, after, withheld, balance
    label: str
    # how the prompt names its value ("taxable income")
    expr: str
    # the oracle's calculator expression, integer cents
    value: int
    # cents
    inputs: tuple[str, ...]
    # the facts (wages1, withheld1, interest, retirement, children) or earlier steps it reads
    rules: str | None = None
    # the rule sheet section it needs: deduction, brackets, credit, retirement


def facts(h: Household) -> dict[str, int]:
    """The household's raw amounts by input name."""
    out = {"interest": h.interest, "retirement": h.retirement, "children": h.children}
    for i, w in enumerate(h.w2s, 1):
        out[f"wages{i}"], out[f"withheld{i}"] = w.wages, w.withheld
    return out


def bands(status: str, rules: Rules = RULES) -> list[tuple[int, int | None, int]]:
    """(lower edge, upper edge or None, rate) of each bracket, cents."""
    lows = [0] + [top for top, _ in rules.brackets[status][:-1]]
    return [(lo, top, rate) for lo, (top, rate) in zip(lows, rules.brackets[status], strict=True)]


def round_half_up(cents: int, rate: int) -> int:
    """cents * rate / 100 rounded to the cent, half up (cents >= 0)."""
    return (cents * rate + 50) // 100


def worksheet(h: Household, rules: Rules = RULES) -> list[Step]:
    """The gold steps of `h`'s return, in dependency order; the last is the balance."""
    vals = facts(h)
    steps: list[Step] = []

    def step(name: str, label: str, expr: str, value: int, inputs: tuple[str, ...],
             section: str | None = None) -> str:
        steps.append(Step(name, label, expr, value, inputs, section))
        vals[name] = value
        return name

    def total(name: str, label: str, parts: list[str]) -> str:
        if len(parts) == 1:
            return parts[0]
        return step(name, label, "+".join(str(vals[p]) for p in parts),
                    sum(vals[p] for p in parts), tuple(parts))

    n = len(h.w2s)
    income = total("wages", "total wages", [f"wages{i}" for i in range(1, n + 1)])
    if h.interest:
        income = step("gross", "gross income", f"{vals[income]}+{h.interest}",
                      vals[income] + h.interest, (income, "interest"))
    if h.retirement:
        cut = min(h.retirement, rules.retirement_cap)
        income = step("agi", "AGI", f"{vals[income]}-{cut}", vals[income] - cut,
                      (income, "retirement"), "retirement")
    agi = vals[income]
    ded = rules.deduction[h.status]
    taxable = step("taxable", "taxable income", f"{agi}-{ded}", agi - ded, (income,), "deduction")
    parts = []
    for i, (lo, top, rate) in enumerate(bands(h.status, rules), 1):
        if vals[taxable] <= lo:
            break
        hi = vals[taxable] if top is None else min(vals[taxable], top)
        amount = f"{hi}-{lo}" if lo else f"{hi}"
        parts.append(step(f"bracket{i}", f"tax in the {rate}% bracket",
                          f"(({amount})*{rate}+50)//100", round_half_up(hi - lo, rate),
                          (taxable,), "brackets"))
    tax = total("tax", "tax before credits", parts)
    after = tax
    if h.children:
        over = agi - rules.phaseout_start[h.status]
        expr, credit = f"{h.children}*{rules.per_child}", h.children * rules.per_child
        if over > 0:
            started = -(-over // rules.phaseout_step)
            expr += (f"-{rules.phaseout_cut}*(({agi}-{rules.phaseout_start[h.status]}"
                     f"+{rules.phaseout_step - 1})//{rules.phaseout_step})")
            credit -= rules.phaseout_cut * started
        credit_name = step("credit", "child credit", expr, credit, (income, "children"), "credit")
        after = step("after", "tax after credits", f"{vals[tax]}-{credit}", vals[tax] - credit,
                     (tax, credit_name))
    withheld = total("withheld", "total withheld", [f"withheld{i}" for i in range(1, n + 1)])
    step("balance", "balance due", f"{vals[after]}-{vals[withheld]}",
         vals[after] - vals[withheld], (after, withheld))
    return steps


def dollars(cents: int) -> str:
    """Cents as the answer format: `-1234.56` (two decimals, no `$` or commas)."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"
