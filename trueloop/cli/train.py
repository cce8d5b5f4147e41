"""`trueloop train CONFIG.toml --out DIR [--steps N] [--checkpoint-every K] [--resume]
[--section.key VALUE ...]`: train a policy with the loop in `update/trainer.py`."""

from __future__ import annotations

import argparse
import sys

from trueloop.config import RunConfig, load_config
from trueloop.config_parse import fields_help
from trueloop.tasks import task_from_config


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="RL-train a policy on a task",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Trains under CONFIG with overrides: any config field below as --section.key "
                    "VALUE,\ne.g. --update.lr 3e-4 --rollout.group_size 8. The resolved config is "
                    "written to OUT/config.json.",
        epilog="config fields (TOML tables of CONFIG; defaults shown):\n"
               + fields_help(RunConfig))
    p.add_argument("config", help="TOML run config (see examples/configs/)")
    p.add_argument("--out", required=True, help="run folder (metrics, checkpoints, config)")
    p.add_argument("--steps", type=int, help="override the number of optimizer steps")
    p.add_argument("--checkpoint-every", type=int, help="steps between checkpoints")
    p.add_argument("--resume", action="store_true", help="continue from OUT's latest checkpoint")
    p.set_defaults(func=run, overrides=[])


def run(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    if args.steps is not None:
        overrides += ["--steps", str(args.steps)]
    if args.checkpoint_every is not None:
        overrides += ["--log.checkpoint_every", str(args.checkpoint_every)]
    try:
        cfg = load_config(args.config, overrides)
        task_from_config(cfg.task)  # registry names are checked by their stage, before step 0
    except (ValueError, FileNotFoundError) as e:
        print(f"trueloop train: {e}", file=sys.stderr)
        return 2
    from trueloop.pipelines.train import train_run  # lazy: `trueloop --help` loads no torch
    from trueloop.rollout.vllm_engine import EngineError  # lazy: as above

    try:
        train_run(cfg, args.out, resume=args.resume)
    except EngineError as e:
        return engine_stopped("train", args.out, e)
    return 0


def engine_stopped(command: str, out, error: Exception) -> int:
    """The sampler failed, not the run's state: one sentence, exit code 1, checkpoints intact."""
    print(f"trueloop {command}: the sampling engine stopped the run: {error}. The last checkpoint "
          f"in {out} is intact; fix the cause and continue with --resume.", file=sys.stderr)
    return 1
