"""Benchmark: final-answer extraction on adversarial inputs of n and 2n characters (linear scans).

A completion is model output: the extractor must take time linear in its length, whatever it
contains (unclosed braces, runs of `\\boxed{`, thousands of "The answer is", open think tags). For
each input shape this times `extract_answer` (last-number fallback on, the slowest path) at
`--size` and twice that, best of `--repeats`, and reports seconds, MB/s and the ratio
t(2n) / t(n): about 2 for a linear scan, 4 for a quadratic one. The peer is the extractor itself
at half the size: there is no other implementation of these rules. Prints ONE JSON line.

    .venv/bin/python benchmarks/extract.py [--size 1000000] [--repeats 3]

The unit tests (`tests/unit/test_extract.py`) check the verdicts on these inputs, never the time.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from machine import commit, hardware

from trueloop.verify.extract import extract_answer

SHAPES: dict[str, Callable[[int], str]] = {  # name -> an input of about n characters
    "open-braces": lambda n: "\\boxed{" + "{" * (n // 2) + "}" * 10,
    "close-braces": lambda n: "}" * n + "\\boxed{1",
    "open-boxes": lambda n: "\\boxed{" * (n // 7),
    "statements": lambda n: "The answer is " * (n // 14),
    "think-tags": lambda n: "<think>" * (n // 7),
}


def best_time(text: str, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        extract_answer(text, last_number_fallback=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1_000_000, help="characters of the smaller input")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    shapes = {}
    for name, make in SHAPES.items():
        small, large = make(args.size), make(2 * args.size)
        t1, t2 = best_time(small, args.repeats), best_time(large, args.repeats)
        shapes[name] = {"chars": len(small), "seconds": round(t1, 5),
                        "seconds_2x": round(t2, 5),
                        "mb_per_s": round(len(small) / max(t1, 1e-9) / 1e6, 2),
                        "ratio_2x": round(t2 / max(t1, 1e-9), 3)}
    print(json.dumps({"benchmark": "extract", "hardware": hardware(), "commit": commit(),
                      "config": vars(args), "shapes": shapes,
                      "max_ratio_2x": max(s["ratio_2x"] for s in shapes.values())}))


if __name__ == "__main__":
    main()
