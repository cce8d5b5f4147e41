"""Benchmark: trueloop's strict math verifier vs huggingface math-verify, same rows, same process.

Two sets: the regression table (`tests/unit/math_table.py`, adversarial rows included) and a
generated set of typical completions (boxed integers, fractions, decimals, LaTeX expressions in
canonical and equivalent forms; some wrong, some with no answer), each labelled by construction.
For both verifiers: accuracy against the labels, false positives (wrong answers rewarded), false
negatives, rows/s, and the throughput ratio. Prints ONE JSON line.

    .venv/bin/python benchmarks/math_verify.py [--n 3000] [--seed 0]

math-verify is called as its README shows: `verify(parse("$" + gold + "$"), parse(completion))`.
Labels written by others (peer graders' test tables, a public generator) are measured by the
sibling `benchmarks/math_external.py`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import os
import random
import sys
import time
from pathlib import Path

from machine import commit, hardware

from trueloop.config import VerifyConfig
from trueloop.verify.math import clear_caches, verify_math

ROOT = Path(__file__).resolve().parents[1]
Row = tuple[str, str, bool]

REASONING = ["Let me work through this step by step.", "First we simplify the expression.",
             "Substituting the values gives the result.", "We check the arithmetic carefully."]


def table_rows() -> tuple[list[Row], list[Row]]:
    spec = importlib.util.spec_from_file_location("math_table", ROOT / "tests/unit/math_table.py")
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    rows = [(g, c, ok) for g, c, ok, _ in table.TABLE]
    adversarial = [(g, c, ok) for g, c, ok, _ in table.ADVERSARIAL + table.UNEVALUATED if not ok]
    return rows, adversarial


def _integer(rng: random.Random) -> tuple[str, list[str], list[str]]:
    n = rng.randint(-50, 5000)
    same = [str(n), f"{n:,}" if abs(n) >= 1000 else f"{n}.0"]
    return str(n), same, [str(n + rng.choice([-1, 1, 10])), f"{n} + 0" if n else "1"]


def _fraction(rng: random.Random) -> tuple[str, list[str], list[str]]:
    p, q = rng.randint(1, 40), rng.choice([3, 6, 7, 9, 11, 12])  # non-terminating decimals
    while math.gcd(p, q) != 1:  # reduced, so the 4-digit decimal below is really inexact
        p += 1
    gold = f"\\frac{{{p}}}{{{q}}}"
    same = [gold, f"\\dfrac{{{2 * p}}}{{{2 * q}}}", f"{p}/{q}"]
    return gold, same, [f"\\frac{{{p + 1}}}{{{q}}}", f"{p / q:.4f}"]


def _decimal(rng: random.Random) -> tuple[str, list[str], list[str]]:
    cents = rng.randint(1, 99_999)
    gold = f"{cents / 100:.2f}"
    return gold, [gold, f"{cents / 100:.2f}0"], [f"{(cents + 1) / 100:.2f}", f"{cents / 10:.1f}"]


def _expression(rng: random.Random) -> tuple[str, list[str], list[str]]:
    a, b = rng.randint(2, 9), rng.choice([2, 3, 5, 6, 7])
    kind = rng.randrange(4)
    if kind == 0:
        gold = f"{a}\\sqrt{{{b}}}"
        wrong = [f"{a + 1}\\sqrt{{{b}}}", f"\\sqrt{{{a * b}}}"]
        return gold, [gold, f"\\sqrt{{{a * a * b}}}"], wrong
    if kind == 1:
        gold = f"\\frac{{{a}\\pi}}{{{b}}}"
        return gold, [gold, f"\\frac{{{a}}}{{{b}}}\\pi"], [f"\\frac{{{a}\\pi}}{{{b + 1}}}",
                                                           f"{a / b * 3.14159:.4f}"]
    if kind == 2:
        gold = f"x^2 + {2 * a}x + {a * a}"
        return gold, [gold, f"(x+{a})^2"], [f"(x+{a})^2 + 1", f"x^2 + {a}x + {a * a}"]
    gold = f"\\frac{{\\sqrt{{{b}}}}}{{{a}}}"
    return gold, [gold, f"\\frac{{1}}{{{a}}}\\sqrt{{{b}}}"], [f"\\frac{{\\sqrt{{{b}}}}}{{{a + 1}}}",
                                                              f"\\frac{{{b}}}{{{a}}}"]


KINDS = [(_integer, 0.4), (_fraction, 0.2), (_decimal, 0.15), (_expression, 0.25)]


def generated_rows(n: int, seed: int) -> list[Row]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        make = rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]
        gold, same, different = make(rng)
        intro = " ".join(rng.sample(REASONING, 2))
        roll = rng.random()
        if roll < 0.55:
            answer = rng.choice(same)
            rows.append((gold, f"{intro} The final answer is $\\boxed{{{answer}}}$.", True))
        elif roll < 0.9:
            rows.append((gold, f"{intro} So the answer is $\\boxed{{{rng.choice(different)}}}$.",
                         False))
        else:
            rows.append((gold, f"{intro} I could not finish the computation.", False))
    return rows


def run_trueloop(rows: list[Row]) -> list[bool]:
    cfg = VerifyConfig()
    clear_caches()  # each set starts cold: no answer is remembered from an earlier set
    return [verify_math(g, c, cfg).correct for g, c, _ in rows]


def run_math_verify(rows: list[Row]) -> list[bool]:
    here = Path(__file__).resolve().parent  # this file's name shadows the math_verify package
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    from math_verify import parse, verify

    logging.disable(logging.CRITICAL)  # it logs every timeout with the whole megabyte input
    try:
        return [bool(verify(parse(f"${g}$"), parse(c))) for g, c, _ in rows]
    finally:
        logging.disable(logging.NOTSET)


def score(name: str, fn, rows: list[Row]) -> dict:
    start = time.perf_counter()
    pred = fn(rows)
    seconds = time.perf_counter() - start
    fp = sum(p and not ok for p, (_, _, ok) in zip(pred, rows, strict=True))
    fn_ = sum(ok and not p for p, (_, _, ok) in zip(pred, rows, strict=True))
    return {"accuracy": round(1 - (fp + fn_) / len(rows), 4), "false_positives": fp,
            "false_negatives": fn_, "rows_per_s": round(len(rows) / seconds, 1),
            "seconds": round(seconds, 3)}


def compare(rows: list[Row]) -> dict:
    out = {"rows": len(rows), "trueloop": score("trueloop", run_trueloop, rows),
           "math_verify": score("math_verify", run_math_verify, rows)}
    out["throughput_ratio"] = round(out["trueloop"]["rows_per_s"]
                                    / out["math_verify"]["rows_per_s"], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=3000, help="generated completions")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    table, adversarial = table_rows()
    verify_math("\\sqrt{2}", "\\boxed{\\sqrt{3}}")  # start the sympy worker outside the timings
    figures = {"table": compare(table), "adversarial": compare(adversarial),
               "generated": compare(generated_rows(args.n, args.seed))}
    print(json.dumps({
        "benchmark": "math_verify",
        "hardware": hardware(),
        "commit": commit(),
        "loadavg": os.getloadavg(),
        "config": {"n": args.n, "seed": args.seed, "timeout_s": VerifyConfig.timeout_s},
        "figures": figures,
    }))


if __name__ == "__main__":
    main()
