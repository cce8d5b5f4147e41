"""`trueloop verify math|code INPUT.jsonl [-o OUT.jsonl]`: verify a JSONL file of completions.

Each kind names a batch function `verify_rows(rows: list[dict], config) -> list[dict]` that
returns, per input row, the fields to add (`correct`, `reward`, `reason`, ...). A row that is not a
JSON object, or lacks a field, gets reason `bad_input` from that function and the run goes on.
Rows stream in chunks, so 100k-row files run in constant memory with a live progress bar.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

from trueloop.config import VerifyConfig

ROW_VERIFIERS: dict[str, str] = {
    "math": "trueloop.verify.math:verify_rows",
    "code": "trueloop.verify.code:verify_rows",
}
CHUNK = 256


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="verify a JSONL file of completions")
    p.add_argument("kind", choices=sorted(ROW_VERIFIERS))
    p.add_argument("input", help="JSONL file ('-' for stdin)")
    p.add_argument("-o", "--output", default="-", help="output JSONL (default stdout)")
    p.add_argument("--last-number-fallback", action="store_true",
                   help="math: read the last number when no explicit final answer exists")
    p.add_argument("--timeout-s", type=float, default=VerifyConfig.timeout_s)
    p.add_argument("--workers", type=int, default=0, help="parallel workers (0 = CPU cores)")
    p.add_argument("--partial-credit", action="store_true",
                   help="code: reward = fraction of tests passed (never for a flagged hack)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def read_rows(lines: Iterator[str]) -> Iterator[Any]:
    """Yield each line parsed as JSON, or a `{"_bad_line": ...}` marker the verifier turns into
    `bad_input` (so a corrupt line costs one row, never the run)."""
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as e:
            yield {"_bad_line": lineno, "_error": f"invalid JSON: {e}"}


def run(args: argparse.Namespace) -> int:
    module, fn = ROW_VERIFIERS[args.kind].split(":")
    verify_rows = getattr(importlib.import_module(module), fn)
    cfg = VerifyConfig(last_number_fallback=args.last_number_fallback, timeout_s=args.timeout_s,
                       workers=args.workers, code_partial_credit=args.partial_credit)
    src = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    dst = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    total = None if args.input == "-" else sum(1 for line in open(args.input, "rb") if line.strip())
    reasons: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    n = correct = 0
    from rich.progress import Progress

    with src, Progress(disable=args.no_progress, transient=True, console=_stderr()) as bar:
        task = bar.add_task(f"verify {args.kind}", total=total)
        for chunk in _chunks(read_rows(src)):
            for inp, out in zip(chunk, verify_rows(chunk, cfg), strict=True):
                merged = {**inp, **out} if isinstance(inp, dict) else {"input": inp, **out}
                dst.write(json.dumps(merged, ensure_ascii=False) + "\n")
                n += 1
                correct += bool(out.get("correct"))
                reasons[out.get("reason", "?")] += 1
                flags.update(out.get("flags", []))
            bar.advance(task, len(chunk))
    if dst is not sys.stdout:
        dst.close()
    summary = {"rows": n, "correct": correct, "accuracy": correct / max(n, 1),
               "reasons": dict(reasons), "flags": dict(flags)}
    print(json.dumps(summary), file=sys.stderr)
    return 0


def _chunks(rows: Iterator[Any]) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _stderr():
    from rich.console import Console

    return Console(stderr=True)
