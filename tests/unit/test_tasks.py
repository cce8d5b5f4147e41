"""Procedural tasks: split disjointness, difficulty and horizon knobs, gold answers, CLI."""

from __future__ import annotations

import argparse
import json
import re
from fractions import Fraction
from pathlib import Path

import pytest

from trueloop.cli.tasks import add_commands
from trueloop.tasks import TASKS, make_task
from trueloop.tasks.arithmetic import Node, evaluate, render
from trueloop.tasks.base import split_of
from trueloop.tasks.chain import default_horizon
from trueloop.tasks.math_datasets import DatasetTask

DATA = Path(__file__).resolve().parent.parent / "data"

PROCEDURAL = ["arithmetic", "chain", "countdown", "linear_equation", "word_problem"]


def build(name: str):
    """A task by name; dataset tasks read the matching sample file."""
    is_dataset = issubclass(TASKS[name], DatasetTask)
    return make_task(name, **({"path": DATA / f"{name}_sample.jsonl"} if is_dataset else {}))


def _disjoint(name: str, n_train: int, n_test: int) -> None:
    task = build(name)
    train = {p.prompt for p in task.problems(n_train, "train")}
    test = {p.prompt for p in task.problems(n_test, "test")}
    assert train and test
    assert not train & test
    for p in task.problems(50, "test"):
        assert p.meta["split"] == "test"


@pytest.mark.parametrize("name", sorted(TASKS))
def test_splits_disjoint_small(name):
    _disjoint(name, 1500, 300)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TASKS))
def test_splits_disjoint_100k(name):
    # 100k items per task at the natural 7:1 ratio of the content-hash split
    _disjoint(name, 87_500, 12_500)


CONTENT_KEY = {  # the canonical content each procedural task's split is decided on
    "arithmetic": lambda p: p.prompt.removeprefix("Compute ").removesuffix("."),
    "chain": lambda p: p.prompt,
    "countdown": lambda p: f"{', '.join(map(str, p.truth['numbers']))}->{p.truth['target']}",
    "linear_equation": lambda p: p.prompt.removeprefix("Solve for x: ").removesuffix("."),
    "word_problem": lambda p: p.prompt,
}


@pytest.mark.parametrize("name", PROCEDURAL)
def test_split_follows_content_hash(name):
    # split_of is pinned by golden values (test_golden.py): here the generator must redraw until
    # the content itself hashes into the split asked for (a raw draw lands in test 1 time in 8)
    task = make_task(name, answer_format="none")
    for split in ("train", "test"):
        for p in task.problems(60, split, seed=5):
            assert split_of(f"{name}|{CONTENT_KEY[name](p)}") == split, p.prompt
            assert p.meta["split"] == split and p.id.split("/")[1] == split


def test_split_of_puts_one_key_in_eight_in_test():
    keys = [f"arithmetic|{i} + {i}" for i in range(8000)]
    share = sum(split_of(k) == "test" for k in keys) / len(keys)
    assert 0.11 < share < 0.14  # 1/8 = 0.125; the binomial sd over 8000 keys is 0.0037


def _numbers(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", text)]


def test_arithmetic_difficulty_grows_terms_digits_and_ops():
    def stats(d):
        ps = make_task("arithmetic", difficulty=d, answer_format="none").problems(200)
        nums = [n for p in ps for n in _numbers(p.prompt)]
        return max(nums), max(len(_numbers(p.prompt)) for p in ps), "".join(p.prompt for p in ps)

    (max1, terms1, text1), (max10, terms10, text10) = stats(1), stats(10)
    assert max1 <= 9 and terms1 == 2 and "*" not in text1 and "(" not in text1 and "-" not in text1
    assert max10 > 999 and terms10 == 7 and "*" in text10 and "(" in text10


def test_arithmetic_render_and_evaluate_agree_on_precedence():
    e = Node("-", 10, Node("-", 4, 3))  # 10 - (4 - 3)
    assert render(e) == "10 - (4 - 3)" and evaluate(e) == 9
    e = Node("*", Node("+", 2, 3), 4)
    assert render(e) == "(2 + 3) * 4" and evaluate(e) == 20
    e = Node("+", 2, Node("*", 3, 4))
    assert render(e) == "2 + 3 * 4" and evaluate(e) == 14


def test_arithmetic_gold_matches_python_arithmetic():
    # independent check of the gold: Python's own parser on the rendered expression (tests only)
    for d in (1, 3, 5, 8, 10):
        for p in make_task("arithmetic", difficulty=d).problems(40, seed=d):
            expr = p.prompt.removeprefix("Compute ").split(".")[0]
            assert str(eval(expr)) == p.answer, p.prompt  # noqa: S307


@pytest.mark.parametrize("d,mod", [(1, 10), (2, 10), (3, 100), (4, 100)])
def test_chain_low_difficulty_stays_modular_and_small(d, mod):
    task = make_task("chain", difficulty=d, answer_format="none")
    for p in task.problems(200):
        assert p.prompt.startswith(f"Mod {mod}. ") and 0 <= int(p.answer) < mod
        assert all(n <= 99 for n in _numbers(p.prompt.removeprefix(f"Mod {mod}. ")))
    assert len(task.problem(0).prompt) < 90


def test_chain_gold_replays_operations():
    for d in (1, 3, 5, 9):
        for p in make_task("chain", difficulty=d, answer_format="none").problems(50, seed=d):
            start = int(re.search(r"Start at (\d+)", p.prompt).group(1))
            value, mod = start, p.meta["modulus"]
            ops = p.prompt.split(", then ")[1].split(". Result")[0].split(", ")
            for op, k in ((o[0], int(o[1:])) for o in ops):
                value = {"+": value + k, "-": value - k, "*": value * k}[op]
                value = value % mod if mod else value
            assert str(value) == p.answer, p.prompt


@pytest.mark.parametrize("name", ["chain", "word_problem"])
def test_horizon_sets_the_number_of_steps(name):
    for h in (1, 5, 64):
        task = make_task(name, difficulty=3, horizon=h)
        p = task.problem(0)
        assert p.meta["horizon"] == h
        if name == "chain":
            assert len(re.findall(r"[+*-]\d+", p.prompt)) == h
        else:
            assert p.prompt.count(".") - 1 == h + 1  # intro + h steps (+ the instruction's dot)
    assert make_task("chain", difficulty=6).problem(0).meta["horizon"] == default_horizon(6)


def test_countdown_difficulty_grows_number_count():
    def count(d):
        return {len(p.truth["numbers"]) for p in make_task("countdown", difficulty=d).problems(30)}

    assert count(1) == {2} and count(2) == {3} and count(10) == {6}


def test_linear_equation_answers_are_exact_solutions():
    for d in range(1, 11):
        task = make_task("linear_equation", difficulty=d, answer_format="none")
        for p in task.problems(20, seed=d):
            x = Fraction(p.answer)
            lhs, rhs = p.prompt.removeprefix("Solve for x: ").rstrip(".").split(" = ")
            py = lambda s: re.sub(r"(\d)(x|\()", r"\1*\2", s)  # noqa: E731
            assert eval(py(lhs), {"x": x}) == eval(py(rhs), {"x": x}), p.prompt  # noqa: S307
            if d <= 4:
                assert x.denominator == 1


def test_linear_equation_fractions_appear_with_difficulty():
    fractional = [p for p in make_task("linear_equation", difficulty=6).problems(50)
                  if "/" in p.answer]
    assert len(fractional) > 25


def test_word_problem_distractor_and_operand_growth():
    easy = make_task("word_problem", difficulty=1, horizon=3).problems(50)
    hard = make_task("word_problem", difficulty=9, horizon=3).problems(50)
    assert max(max(_numbers(p.prompt)) for p in easy) <= 10
    assert max(max(_numbers(p.prompt)) for p in hard) > 50
    # d7+: one sentence about someone else's things (5 sentences + question + instruction)
    assert all(p.prompt.count(".") - 1 == 5 for p in hard)
    assert all(int(p.answer) >= 0 for p in easy + hard)


def main(argv: list[str]) -> int:
    # only the tasks commands: the full `trueloop` parser imports torch-heavy stages (~1 s)
    parser = argparse.ArgumentParser(prog="trueloop")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def _run_cli(capsys, *argv) -> tuple[int, list[str]]:
    rc = main(list(argv))
    return rc, capsys.readouterr().out.splitlines()


def test_cli_list_names_every_task(capsys):
    rc, lines = _run_cli(capsys, "tasks", "list")
    assert rc == 0 and sorted(line.split()[0] for line in lines) == sorted(TASKS)
    assert any(line.split()[1] == "horizon" for line in lines if line.startswith("chain"))


def test_cli_sample_prints_problem_jsonl(capsys):
    rc, lines = _run_cli(capsys, "tasks", "sample", "chain", "--n", "4", "--difficulty", "2",
                         "--horizon", "3", "--split", "test", "--seed", "9",
                         "--answer-format", "none")
    rows = [json.loads(line) for line in lines]
    assert rc == 0 and len(rows) == 4
    expected = make_task("chain", difficulty=2, horizon=3, answer_format="none")
    assert rows == [p.to_json() for p in expected.problems(4, "test", seed=9)]


def test_cli_oracle_rows_and_refusal(capsys):
    rc, lines = _run_cli(capsys, "tasks", "oracle", "arithmetic", "--n", "3")
    rows = [json.loads(line) for line in lines]
    assert rc == 0 and [r["gold"] for r in rows] == [p.answer for p in
                                                      make_task("arithmetic").problems(3)]
    assert all(r["gold"] in r["completion"] for r in rows)
    rc, lines = _run_cli(capsys, "tasks", "oracle", "countdown", "--n", "3")
    assert rc == 2 and lines == []


def test_cli_bad_knob_is_a_clean_error():
    with pytest.raises(SystemExit, match="difficulty must be"):
        main(["tasks", "sample", "arithmetic", "--difficulty", "0"])


WORD_RULES = [  # (sentence pattern, new count from the old count and the captured numbers)
    (r"buys (\d+) boxes of \w+ with (\d+) in each", lambda v, m, k: v + m * k),
    (r"(?:buys|finds|wins) (\d+)|gives \w+ (\d+)", lambda v, *ks: v + int(next(filter(None, ks)))),
    (r"(?:gives|sells|loses|uses) (\d+)", lambda v, k: v - k),
    (r"doubles", lambda v: 2 * v),
    (r"triples", lambda v: 3 * v),
    (r"ends up with (\d+) times", lambda v, k: v * k),
    (r"into (\d+) equal piles", lambda v, k: v // k),
]


def _replay_word_problem(question: str, item: str) -> int:
    sentences = [s for s in question.split(". ") if item in s and "How many" not in s]
    value = int(re.search(r"has (\d+)", sentences[0]).group(1))
    for s in sentences[1:]:
        for pattern, apply in WORD_RULES:
            m = re.search(pattern, s)
            if m:
                groups = [g if g is None else int(g) for g in m.groups()]
                value = apply(value, *groups)
                break
        else:
            raise AssertionError(f"no rule for {s!r}")
    return value


@pytest.mark.parametrize("d", [1, 4, 6, 9])
def test_word_problem_gold_replays_sentences(d):
    for p in make_task("word_problem", difficulty=d, answer_format="none").problems(40, seed=d):
        item = re.search(r"How many (\w+)", p.prompt).group(1)
        assert _replay_word_problem(p.prompt, item) == int(p.answer), p.prompt
