"""`trueloop verify math|code INPUT.jsonl [-o OUT.jsonl]`: verify a JSONL file of completions.

Each kind names a batch function `verify_rows(rows: list[dict], config) -> list[dict]` that
returns, per input row, the fields to add (`correct`, `reward`, `reason`, ...). A row that is not a
JSON object, or lacks a field, gets reason `bad_input` from that function and the run goes on.
Rows stream in chunks, so 100k-row files run in constant memory with a live progress bar.
Output never fails on text that UTF-8 cannot encode (a lone surrogate from a `\\ud800` escape
in the input): such characters are written as backslash escapes, which JSON reads back. Input
bytes that are not UTF-8 become U+FFFD. Rows whose gold cannot be read are summarised at the end
(a count and a few examples), not logged one line each.

Settings: any `[verify]` field as `--verify.KEY VALUE`, as `trueloop train` and `rescore` take it;
the flags are shorthands (`SHORTHANDS`) and win over the override they stand for.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

from trueloop.config import RunConfig, VerifyConfig, load_config, parse_overrides
from trueloop.config_parse import fields_help, only_tables

ROW_VERIFIERS: dict[str, str] = {
    "math": "trueloop.verify.math:verify_rows",
    "code": "trueloop.verify.code:verify_rows",
}
CHUNK = 256
GOLD_EXAMPLES = 5
# unparseable golds quoted in the end-of-run summary
SHORTHANDS = {"last_number_fallback": "last_number_fallback", "timeout_s": "timeout_s",
              "workers": "workers", "partial_credit": "code_partial_credit"}
# flag -> the [verify] field it sets


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify", help="verify a JSONL file of completions",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Verifies each row; set any [verify] field below as --verify.KEY VALUE (the "
                    "flags are shorthands).",
        epilog="config fields it takes (defaults shown):\n" + fields_help(RunConfig, ("verify",)))
    p.add_argument("kind", choices=sorted(ROW_VERIFIERS))
    p.add_argument("input", help="JSONL file ('-' for stdin)")
    p.add_argument("-o", "--output", default="-", help="output JSONL (default stdout)")
    p.add_argument("--last-number-fallback", action="store_true", default=None,
                   help="= --verify.last_number_fallback true")
    p.add_argument("--timeout-s", type=float, help="= --verify.timeout_s")
    p.add_argument("--workers", type=int, help="= --verify.workers (0 = CPU cores)")
    p.add_argument("--partial-credit", action="store_true", default=None,
                   help="= --verify.code_partial_credit true")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run, overrides=[])


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


def verify_config(args: argparse.Namespace) -> VerifyConfig:
    """The defaults with `--verify.KEY VALUE` overrides and the flags on top, validated."""
    extra = only_tables(parse_overrides(args.overrides), ("verify",))
    given = {key: getattr(args, flag) for flag, key in SHORTHANDS.items()
             if getattr(args, flag) is not None}
    return load_config(None, {"verify": {**extra.get("verify", {}), **given}}).verify


def run(args: argparse.Namespace) -> int:
    module, fn = ROW_VERIFIERS[args.kind].split(":")
    verify_rows = getattr(importlib.import_module(module), fn)
    try:
        cfg = verify_config(args)
    except ValueError as e:
        print(f"trueloop verify: {e}", file=sys.stderr)
        return 2
    if args.input == "-":
        _reconfigure(sys.stdin, "replace")
        src, total = sys.stdin, None
    else:
        src = open(args.input, encoding="utf-8", errors="replace")
        total = sum(1 for line in open(args.input, "rb") if line.strip())
    if args.output == "-":
        _reconfigure(sys.stdout, "backslashreplace")
        dst = sys.stdout
    else:
        dst = open(args.output, "w", encoding="utf-8", errors="backslashreplace")
    summary = Summary()
    from rich.progress import Progress

    quiet = _QuietGoldWarnings()
    logging.getLogger("trueloop.verify.math").addFilter(quiet)
    try:
        with src, Progress(disable=args.no_progress, transient=True, console=_stderr()) as bar:
            task = bar.add_task(f"verify {args.kind}", total=total)
            for chunk in _chunks(read_rows(src)):
                for inp, out in zip(chunk, verify_rows(chunk, cfg), strict=True):
                    merged = {**inp, **out} if isinstance(inp, dict) else {"input": inp, **out}
                    dst.write(json.dumps(merged, ensure_ascii=False) + "\n")
                    summary.add(inp, out)
                bar.advance(task, len(chunk))
    finally:
        logging.getLogger("trueloop.verify.math").removeFilter(quiet)
        if dst is not sys.stdout:
            dst.close()
    summary.print()
    return 0


class _QuietGoldWarnings(logging.Filter):
    """Drops the per-gold warning of `trueloop.verify.math`; the summary reports those rows
    instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("unparseable gold")


class Summary:
    """Counts over the output rows; unparseable golds get a count and a few examples."""

    def __init__(self) -> None:
        self.n = self.correct = 0
        self.reasons: Counter[str] = Counter()
        self.flags: Counter[str] = Counter()
        self.bad_golds: dict[str, str] = {}
        self.bad_gold_rows = 0

    def add(self, inp: Any, out: dict) -> None:
        self.n += 1
        self.correct += bool(out.get("correct"))
        self.reasons[out.get("reason", "?")] += 1
        self.flags.update(out.get("flags", []))
        if out.get("reason") == "unparseable_gold":
            self.bad_gold_rows += 1
            gold = str(inp.get("gold")) if isinstance(inp, dict) else "?"
            details = out.get("details")
            detail = details.get("detail", "") if isinstance(details, dict) else ""
            if len(self.bad_golds) < 10_000:  # distinct golds counted up to this many
                self.bad_golds.setdefault(gold, str(detail))

    def print(self) -> None:
        if self.bad_gold_rows:
            examples = list(self.bad_golds.items())[:GOLD_EXAMPLES]
            print(f"warning: {self.bad_gold_rows} rows have a gold answer that cannot be read "
                  f"({len(self.bad_golds)} distinct); no completion of theirs can be rewarded. "
                  "Examples:", file=sys.stderr)
            for gold, detail in examples:
                print(f"  gold {ascii(gold[:120])}: {ascii(detail[:160])}", file=sys.stderr)
        summary = {"rows": self.n, "correct": self.correct,
                   "accuracy": self.correct / max(self.n, 1), "reasons": dict(self.reasons),
                   "flags": dict(self.flags), "unparseable_gold_rows": self.bad_gold_rows}
        print(json.dumps(summary), file=sys.stderr)


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


def _reconfigure(stream, errors: str) -> None:
    if hasattr(stream, "reconfigure"):  # a plain TextIOWrapper; test captures may not be one
        stream.reconfigure(errors=errors)
