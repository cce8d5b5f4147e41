"""The `tax` environment: hand-computed returns, the oracle at every difficulty and horizon (rules
in the prompt and behind `lookup_table`), exact-to-the-cent judging, wrong intermediates, garbage,
per-step values, the difficulty schedule, splits, and the oracle through the real runner."""

from __future__ import annotations

import json
import re

import pytest
import torch
from test_horizon_envs import oracle, play  # actions played straight against a fresh env

from trueloop.config import RolloutConfig
from trueloop.envs import verify_episodes
from trueloop.envs.tools import calculator
from trueloop.tasks import TASKS, make_task
from trueloop.tasks.tax import TaxLookup
from trueloop.tasks.tax_rules import RULES, W2, Household, dollars, worksheet

HORIZONS = (None, 1, 2, 3, 5, 8, 64)


def task_of(difficulty: int = 3, horizon: int | None = None, rules: str = "prompt"):
    return make_task("tax", difficulty=difficulty, horizon=horizon, answer_format="none",
                     rules=rules)


def with_answer(actions: list[str], answer: str) -> list[str]:
    return [*actions[:-1], f"\\boxed{{{answer}}}"]


# ---- the gold worksheet, against returns computed by hand ------------------------------------

def test_hand_computed_return_with_two_brackets_and_a_full_credit():
    # single, wages 40000.00 (4500.00 withheld), interest 500.00, one child:
    # AGI 40500.00; taxable 40500 - 13500 = 27000.00; 10% of 12000 = 1200.00, 15% of 15000 =
    # 2250.00, tax 3450.00; AGI under 100000: credit 1800.00; 1650.00 - 4500.00 = -2850.00
    h = Household("single", (W2(4_000_000, 450_000),), interest=50_000, children=1)
    got = {s.name: s.value for s in worksheet(h)}
    assert got == {"gross": 4_050_000, "taxable": 2_700_000, "bracket1": 120_000,
                   "bracket2": 225_000, "tax": 345_000, "credit": 180_000, "after": 165_000,
                   "balance": -285_000}
    assert dollars(got["balance"]) == "-2850.00"


def test_hand_computed_return_with_rounding_and_a_phase_out():
    # single, wages 105234.57 (15000.00 withheld), two children: taxable 91734.57;
    # 1200.00 + 5400.00 + 22% of 43734.57 = 9621.6054 -> 9621.61, tax 16221.61; AGI is 5234.57
    # over 100000: 6 started thousands, 3600.00 - 300.00 = 3300.00; 12921.61 - 15000.00
    h = Household("single", (W2(10_523_457, 1_500_000),), children=2)
    got = {s.name: s.value for s in worksheet(h)}
    assert (got["bracket3"], got["tax"], got["credit"]) == (962_161, 1_622_161, 330_000)
    assert dollars(got["balance"]) == "-2078.39"


def test_half_a_cent_rounds_up_and_the_retirement_cap_binds():
    # joint, wages 51000.10 (1800.00 withheld), retirement 7000.00 (6000.00 counts): AGI
    # 45000.10, taxable 18000.10 in the 10% bracket: 1800.010 -> 1800.01, balance 0.01. Single
    # filers 0.05 / 0.03 / 0.10 into the 15% bracket: 0.75 -> 1 cent, 0.45 -> 0, 1.5 -> 2
    joint = Household("married_joint", (W2(5_100_010, 180_000),), retirement=700_000)
    got = {s.name: s.value for s in worksheet(joint)}
    assert (got["agi"], got["taxable"], got["bracket1"]) == (4_500_010, 1_800_010, 180_001)
    assert dollars(got["balance"]) == "0.01"
    for extra, cent in ((5, 1), (3, 0), (10, 2)):  # 0.75, 0.45, 1.5 cents
        single = Household("single", (W2(2_550_000 + extra, 0),))
        assert {s.name: s.value for s in worksheet(single)}["bracket2"] == cent


def test_every_step_is_one_exact_calculator_call():
    for d in range(1, 11):
        for p in task_of(d).problems(10):
            for expr, value in zip(p.truth["exprs"], p.truth["values"], strict=True):
                assert calculator(expr) == str(value) and isinstance(value, int), (expr, value)


# ---- the oracle and the knobs -----------------------------------------------------------------

@pytest.mark.parametrize("rules", ["prompt", "tool"])
@pytest.mark.parametrize("difficulty", range(1, 11))
def test_oracle_scores_one_at_every_horizon(difficulty: int, rules: str):
    for horizon in HORIZONS:
        task = task_of(difficulty, horizon, rules)
        for p in task.problems(4, "train", seed=difficulty) + task.problems(2, "test"):
            v, _ = play(task, p, oracle(task, p))
            assert v.correct and v.reward == 1.0 and v.reason == "ok", (p.prompt, v)
            assert all(v.details["step_ok"]) and v.details["steps_reached"] == p.meta["horizon"]
            assert task.verify(p, task.oracle(p)).correct  # the joined transcript replays to 1


def test_horizon_is_the_steps_asked_and_the_rest_is_known():
    full = task_of(7).problem(5)
    assert full.meta["horizon"] == full.meta["worksheet_steps"] and "Known:" not in full.prompt
    for h in (*range(1, 16), 64):
        p = task_of(7, h).problem(5)
        n = p.meta["worksheet_steps"]
        assert p.meta["horizon"] == len(p.truth["values"]) == min(h, n)
        assert ("Known:" in p.prompt) == (h < n) and p.truth["names"][-1] == "balance"
    one = task_of(7, 1).problem(5)  # only the balance: the rule sheet is not needed
    assert "Rules:" not in one.prompt and "Brackets" not in one.prompt


def test_difficulty_schedule():
    for d in range(1, 11):
        for p in task_of(d).problems(30, seed=1):
            names, text = p.truth["names"], p.prompt
            w2s = len(re.findall(r"W-2 \d", text))
            assert w2s == 1 + (d - 1) // 3, (d, text)
            assert ("Interest" in text) == (d >= 2) and ("Children" in text) == (d >= 3)
            assert ("Retirement" in text) == (d >= 6)
            brackets = sum(n.startswith("bracket") for n in names)
            assert brackets in ((1, 2) if d <= 2 else (2, 3) if d <= 4 else (3, 4, 5)), (d, names)
            phased = "-5000*" in " ".join(p.truth["exprs"])
            assert phased == (d >= 5), (d, p.truth["exprs"])


def test_the_prompt_states_the_illustrative_rules_and_the_answer_format():
    p = task_of(5).problem(0)
    status = re.search(r"Status: (\w+)", p.prompt).group(1)
    assert "illustrative rules (not any year's law)" in p.prompt
    assert dollars(RULES.deduction[status]) in p.prompt and "half a cent up" in p.prompt
    assert "like -1234.56" in p.prompt and "negative is a refund" in p.prompt
    assert re.fullmatch(r"-?\d+\.\d\d", p.answer)


def test_lookup_table_holds_the_rule_sheet_instead_of_the_prompt():
    task = task_of(5, rules="tool")
    assert TaxLookup().problem(0).truth["rules"] == "tool"
    for p in task.problems(5):
        assert "Rules: <lookup_table>" in p.prompt and "13500.00" not in p.prompt
        actions = oracle(task, p)
        looks = [a for a in actions if a.startswith("<lookup_table>")]
        assert len(looks) == 4 and any("brackets " in a for a in looks)
        _, observations = play(task, p, actions)
        assert "half a cent up" in " ".join(observations)
    env = task.make_env(p)
    assert env.lookup_table("nope").startswith("no such table")
    assert "lookup_table" not in task_of(5).make_env(task_of(5).problem(0)).tools


def test_tax_lookup_registers_for_configs():
    import trueloop.tasks.tax_lookup  # noqa: F401  (registers on import)

    try:
        task = make_task("tax_lookup", difficulty=2)
        p = task.problem(0)
        assert p.task == "tax_lookup" and p.truth["rules"] == "tool"
        assert task.verify(p, task.oracle(p)).correct
    finally:
        TASKS.pop("tax_lookup")


# ---- judging: exact to the cent, wrong steps, garbage -----------------------------------------

def cents_off(answer: str, delta: int) -> str:
    whole, frac = answer.lstrip("-").split(".")
    sign = -1 if answer.startswith("-") else 1
    return dollars(sign * (int(whole) * 100 + int(frac)) + delta)


def test_off_by_one_cent_and_other_spellings_score_zero():
    task = task_of(6)
    for p in task.problems(8, seed=3):
        right = oracle(task, p)
        a = p.answer
        for wrong in (cents_off(a, 1), cents_off(a, -1), a.rstrip("0") if a.endswith("0")
                      else a + "0", f"${a}", a.replace(".", ","), str(round(float(a)))):
            v, _ = play(task, p, with_answer(right, wrong))
            assert not v.correct and v.reward == 0.0 and v.reason == "wrong", (a, wrong, v)
            assert all(v.details["step_ok"])  # every step was right but the answer


def test_truncating_instead_of_rounding_carries_to_a_wrong_answer():
    """A policy that floors each bracket's tax (the usual slip) is wrong by a cent or more."""
    task, caught = task_of(4), 0
    for p in task.problems(40, seed=4):
        exprs, values = p.truth["exprs"], p.truth["values"]
        slipped = [e.replace("+50)//100", ")//100") for e in exprs]
        if all(calculator(a) == calculator(b) for a, b in zip(slipped, exprs, strict=True)):
            continue
        env = task.make_env(p)
        env.reset(p, seed=0)
        carried = dict(zip(map(str, values), map(str, values), strict=True))
        for expr in slipped:  # replay, carrying each wrong value into the later steps
            for old, new in carried.items():
                expr = re.sub(rf"\b{old}\b", new, expr)
            out = env.step(f"<calc>{expr}</calc>").observation
            carried[str(values[len(env.calls) - 1])] = out
        env.step(f"\\boxed{{{dollars(int(out))}}}")
        v = env.verify()
        assert not v.correct and v.reason == "wrong" and not all(v.details["step_ok"]), v
        assert v.details["steps_reached"] < len(values)
        caught += 1
    assert caught >= 10


GARBAGE = [
    "", "   ", "\\boxed{}", "\\boxed{", "<calc>", "<calc></calc>", "<calc>1.5*2</calc>",
    "<calc>__import__('os')</calc>", "<calc>" + "(" * 500 + "</calc>", "<calc>9**9**9</calc>",
    "<calc>10**400</calc>", "<calc>1/0</calc>", "<lookup_table>brackets</lookup_table>",
    "\x00\xff\ud800", "The answer is", "<tool_call>{\"name\": \"calc\"}</tool_call>",
    "\\boxed{" + "9" * 5000 + "}", "<calc>" + "1+" * 2000 + "1</calc>",
]


@pytest.mark.parametrize("rules", ["prompt", "tool"])
def test_garbage_gets_a_verdict_never_an_exception(rules: str):
    task = task_of(5, rules=rules)
    p = task.problem(2)
    for g in GARBAGE:
        v, _ = play(task, p, [g, g, "\\boxed{nonsense}"])
        assert not v.correct and v.reward == 0.0, (g, v)
        assert task.verify(p, g).reason in ("no_answer", "wrong", "multiple_answers"), g


def test_copying_a_shown_or_computed_value_is_wrong():
    task = task_of(4, 3)
    for p in task.problems(5):
        right = oracle(task, p)
        _, observations = play(task, p, right)
        shown = set(re.findall(r"-?\d+\.\d\d", p.prompt)) | {
            dollars(int(o)) for o in observations if re.fullmatch(r"-?\d+", o)}
        for decoy in sorted(shown - {p.answer}):
            v, _ = play(task, p, with_answer(right, decoy))
            assert not v.correct, (decoy, p.prompt)


# ---- splits and determinism -------------------------------------------------------------------

def test_train_and_test_are_disjoint_and_seeded():
    task = task_of(1, 1)  # the smallest content space: collisions would show
    content = lambda p: json.dumps([p.prompt, p.truth], sort_keys=True)  # noqa: E731
    train = {content(p) for p in task.problems(1500, "train")}
    test = {content(p) for p in task.problems(400, "test")}
    assert len(train) > 1400 and len(test) > 350 and not train & test
    a = [p.to_json() for p in task_of(3, 4).problems(6, seed=3)]
    assert a == [p.to_json() for p in task_of(3, 4).problems(6, seed=3)]
    assert a != [p.to_json() for p in task_of(3, 4).problems(6, seed=4)]


def test_bad_rules_mode_raises():
    with pytest.raises(ValueError, match="rules"):
        make_task("tax", rules="pdf")


# ---- through the real runner ------------------------------------------------------------------

def test_oracle_plays_through_the_runner(monkeypatch):
    from trueloop.policy import build_tiny
    from trueloop.rollout import episodes, run_episodes

    policy = build_tiny("0.5m", seed=0)
    task = task_of(3, 4)
    p = task.problem(1)
    actions = oracle(task, p)
    tok = policy.tokenizer
    script = iter(tok("".join(actions), add_special_tokens=False)["input_ids"]
                  + [tok.eos_token_id])
    monkeypatch.setattr(episodes, "draw", lambda logits, generator, method="race": torch.full(
        (logits.shape[0],), next(script), dtype=torch.long))
    cfg = RolloutConfig(stop=task.stop_strings(), max_turns=8, max_new_tokens=64,
                        max_context=2048)
    envs = [task.make_env(p) for _ in range(2)]
    b = run_episodes(policy, envs, cfg, generator=torch.Generator().manual_seed(0), group_size=2)
    for ep in b.episodes:
        assert ep.stop_reason == "done" and len(ep.turns) == len(actions), ep
        assert ep.tool_calls == {"calc": len(actions) - 1}
    verdicts = verify_episodes(envs)
    assert [v.reward for v in verdicts] == [1.0, 1.0]
    assert all(all(v.details["step_ok"]) for v in verdicts)
