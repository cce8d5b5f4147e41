"""The `trueloop` command. Each stage package contributes its subcommands through `add_commands`;
this file only wires them together, so adding a command never touches another stage's code.

A command that takes config overrides sets `overrides=[]` among its defaults: the arguments its
parser does not know become `args.overrides`, the `--section.key VALUE` list that
`trueloop.config.load_config` / `load_run_config` apply (train, demo, eval, rescore, audit,
verify). Any other command refuses unknown arguments."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# modules that define `add_commands(subparsers)`; each subcommand sets `func(args) -> int`
COMMAND_MODULES = (
    "trueloop.cli.tasks",
    "trueloop.cli.models",
    "trueloop.cli.verify",
    "trueloop.pipelines.rescore",
    "trueloop.cli.episodes",
    "trueloop.cli.train",
    "trueloop.cli.eval",
    "trueloop.cli.report",
    "trueloop.cli.audit",
    "trueloop.cli.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trueloop", description="RL from verifiable rewards: tasks, verifiers, training."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:  # a real missing dependency inside the module: surface it
                raise
            continue
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # transformers' per-shard save/load bars drown trueloop's own progress lines; the CLI turns
    # them off before transformers is imported (library users keep their own setting)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not hasattr(args, "overrides"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if hasattr(args, "overrides"):
        args.overrides = extra
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
