"""Benchmark: trueloop's math verifier on labels it did not write, beside math-verify.

Rows: `benchmarks/data/math_external.jsonl` (built by `math_external_build.py` from two other
graders' public test tables and DeepMind's `mathematics_dataset` generator; sources and licences
in `benchmarks/data/math_external.md`). Each row has `gold`, one of `answer` (compared whole) or
`completion` (extracted), and the source's `label`.

Every disagreement between trueloop and a label is looked up in
`benchmarks/data/math_external_classes.jsonl` (`id`, `kind`, `why`), where `kind` is
`strictness` (a rule docs/verifiers.md documents), `debatable` (the label itself is arguable or
wrong) or `bug`; a disagreement with no entry counts as `unclassified` (treat it as a bug).
Prints ONE JSON line: per source and overall agreement, false positives, false negatives, the
disagreements by kind, agreement once documented strictness counts as agreement, and rows/s for
trueloop and math-verify on the same rows in this process.

    .venv/bin/python benchmarks/math_external.py [--list]   # --list: disagreements to stderr
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path

from machine import commit, hardware

from trueloop.config import VerifyConfig
from trueloop.verify.math import clear_caches, verify_math

DATA = Path(__file__).resolve().parent / "data"
ROWS = DATA / "math_external.jsonl"
CLASSES = DATA / "math_external_classes.jsonl"


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def run_trueloop(rows: list[dict]) -> list[bool]:
    cfg = VerifyConfig()
    clear_caches()
    return [verify_math(r["gold"], r.get("completion"), cfg, answer=r.get("answer")).correct
            for r in rows]


def run_math_verify(rows: list[dict]) -> list[bool]:
    here = Path(__file__).resolve().parent  # benchmarks/math_verify.py shadows the package
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    from math_verify import parse, verify

    logging.disable(logging.CRITICAL)
    try:
        out = []
        for r in rows:
            cand = r["completion"] if "completion" in r else f"${r['answer']}$"
            out.append(bool(verify(parse(f"${r['gold']}$"), parse(cand))))
        return out
    finally:
        logging.disable(logging.NOTSET)


def timed(fn, rows: list[dict]) -> tuple[list[bool], float]:
    start = time.perf_counter()
    pred = fn(rows)
    return pred, time.perf_counter() - start


def score(rows: list[dict], pred: list[bool], classes: dict[str, dict]) -> dict:
    fp = [r for r, p in zip(rows, pred, strict=True) if p and not r["label"]]
    fn = [r for r, p in zip(rows, pred, strict=True) if r["label"] and not p]
    kinds = Counter(classes.get(r["id"], {}).get("kind", "unclassified") for r in fp + fn)
    fp_kinds = Counter(classes.get(r["id"], {}).get("kind", "unclassified") for r in fp)
    n = len(rows)
    return {"rows": n, "agreement": round(1 - (len(fp) + len(fn)) / n, 4),
            "false_positives": len(fp), "false_negatives": len(fn),
            "disagreements_by_kind": dict(kinds), "false_positives_by_kind": dict(fp_kinds),
            "agreement_counting_strictness": round(
                1 - (len(fp) + len(fn) - kinds["strictness"]) / n, 4),
            "agreement_counting_strictness_and_debatable": round(
                1 - (len(fp) + len(fn) - kinds["strictness"] - kinds["debatable"]) / n, 4)}


def mv_score(rows: list[dict], pred: list[bool]) -> dict:
    fp = sum(p and not r["label"] for r, p in zip(rows, pred, strict=True))
    fn = sum(r["label"] and not p for r, p in zip(rows, pred, strict=True))
    return {"agreement": round(1 - (fp + fn) / len(rows), 4), "false_positives": fp,
            "false_negatives": fn}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--list", action="store_true", help="print each disagreement to stderr")
    args = ap.parse_args()
    rows = load(ROWS)
    classes = {c["id"]: c for c in load(CLASSES)} if CLASSES.exists() else {}
    logging.getLogger("trueloop.verify.math").setLevel(logging.ERROR)  # bad golds are counted
    verify_math("\\sqrt{2}", "\\boxed{\\sqrt{3}}")  # start the sympy worker outside the timings
    pred, t_seconds = timed(run_trueloop, rows)
    mv_pred, mv_seconds = timed(run_math_verify, rows)
    if args.list:
        for r, p in zip(rows, pred, strict=True):
            if p != r["label"]:
                kind = classes.get(r["id"], {}).get("kind", "unclassified")
                print(json.dumps({"id": r["id"], "kind": kind, "label": r["label"],
                                  "gold": r["gold"], "cand": r.get("answer", r.get("completion"))
                                  }, ensure_ascii=False), file=sys.stderr)
    per_source = {}
    for source in sorted({r["source"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["source"] == source]
        sub = [rows[i] for i in idx]
        per_source[source] = {"trueloop": score(sub, [pred[i] for i in idx], classes),
                              "math_verify": mv_score(sub, [mv_pred[i] for i in idx])}
    t_rate, mv_rate = len(rows) / t_seconds, len(rows) / mv_seconds
    print(json.dumps({
        "benchmark": "math_external", "hardware": hardware(), "commit": commit(),
        "loadavg": os.getloadavg(), "config": {"timeout_s": VerifyConfig.timeout_s},
        "overall": {"trueloop": score(rows, pred, classes), "math_verify": mv_score(rows, mv_pred)},
        "per_source": per_source,
        "rows_per_s": {"trueloop": round(t_rate, 1), "math_verify": round(mv_rate, 1),
                       "ratio": round(t_rate / mv_rate, 2)},
        "stale_classes": sorted(set(classes) - {r["id"] for r, p in zip(rows, pred, strict=True)
                                                if p != r["label"]}),
    }))


if __name__ == "__main__":
    main()
