"""`trueloop report RUN_DIR`: regenerate a run's plots and `report.html`; print the page's path.

The page shows what the run wrote, its `config.json` included (a missing or unreadable file is
named on the page, never an error: a live run's folder is reported too). No config field changes
the page, so the command takes no `--section.key` overrides."""

from __future__ import annotations

import argparse
import sys


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="plots and a self-contained HTML report of a run folder")
    p.add_argument("run_dir", help="a run folder (from `trueloop train` or `trueloop demo`)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trueloop.report import write_report  # lazy: matplotlib loads only for this command

    try:
        path = write_report(args.run_dir)
    except ValueError as e:
        print(f"trueloop report: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0
