"""`trueloop eval MODEL [--task NAME] [--n N] [--k K] [-o OUT] [--section.key VALUE ...]`:
held-out pass@1 / pass@k of a run, one of its checkpoints, or a plain HF model folder.

A run folder, or a checkpoint inside its `checkpoints/`, is evaluated under the config the run
trained with (`RUN/config.json`): its task, its rollout and [verify] settings, and its [eval]
problem count, k and temperature, through `trueloop.eval.evaluate.evaluate_run`. Any field can be
overridden as in `trueloop train`; the flags below are shorthands for the overrides in
`SHORTHANDS` (a flag wins over the override it stands for). A plain model folder has no run
config: trueloop's defaults apply under the flags and overrides, `--task` is required, and the
command says so on stderr. `-o` writes the full result with the resolved config it ran under.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from trueloop.config import (
    PolicyConfig,
    RunConfig,
    load_config,
    load_run_config,
    parse_overrides,
    to_dict,
)
from trueloop.config_parse import fields_help, set_dotted
from trueloop.tasks import task_from_config

SHORTHANDS: tuple[tuple[str, type, str], ...] = (
    ("task", str, "task.name"),
    ("difficulty", int, "task.difficulty"),
    ("horizon", int, "task.horizon"),
    ("answer_format", str, "task.answer_format"),
    ("n", int, "eval.n_problems"),
    ("k", int, "eval.k"),
    ("temperature", float, "eval.temperature"),
    ("max_new_tokens", int, "rollout.max_new_tokens"),
    ("seed", int, "seed"),
)
# flag -> its type and the config field it overrides (the flag's default is the run's value)


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="held-out pass@k of a run or checkpoint, under the run's own config",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A run (or a checkpoint in RUN/checkpoints/) is evaluated under its "
                    "RUN/config.json:\nits task, rollout, [verify] and [eval] settings. Override "
                    "any field below as --section.key VALUE\n(the flags are shorthands). A plain "
                    "HF model folder gets trueloop's defaults and needs --task.",
        epilog="config fields (defaults shown are trueloop's; a run's config.json replaces "
               "them):\n" + fields_help(RunConfig))
    p.add_argument("checkpoint", help="run folder, checkpoint folder, or HF model folder")
    for flag, tp, key in SHORTHANDS:
        p.add_argument(f"--{flag.replace('_', '-')}", type=tp, dest=flag,
                       help=f"shorthand for --{key}")
    p.add_argument("-o", "--output", help="write the full result JSON (and its config) here")
    p.set_defaults(func=run, overrides=[])


def resolve_model_dir(path: str | Path, run: Path | None = None) -> Path:
    """A run folder -> its latest checkpoint's policy; a checkpoint -> its policy; else as is.
    `run`: the run `path` belongs to (a run folder's own config.json is not a model's)."""
    path = Path(path)
    latest = path / "checkpoints" / "latest" / "policy"
    if run is not None and path.absolute() == run and not (latest / "config.json").exists():
        raise ValueError(f"{path} is a run folder without a checkpoint yet ({latest} is "
                         f"missing); evaluate it after its first checkpoint "
                         f"(log.checkpoint_every), or give a checkpoint folder.")
    for candidate in (latest, path / "policy", path):
        if (candidate / "config.json").exists():
            return candidate
    raise ValueError(f"{path} holds no model: expected a run folder, a checkpoint folder or an "
                     "HF model folder with config.json.")


def run_folder(path: str | Path) -> Path | None:
    """The run `path` is or belongs to (RUN, or anything under RUN/checkpoints/); None for a
    plain model folder. A run is a folder with config.json beside checkpoints/ (a HF folder's
    config.json is the model's own)."""
    path = Path(path).absolute()
    candidates = [path, *(p.parent for p in path.parents if p.name == "checkpoints")]
    return next((f for f in candidates
                 if (f / "config.json").is_file() and (f / "checkpoints").is_dir()), None)


def eval_config(args: argparse.Namespace, run: Path | None) -> tuple[RunConfig, str]:
    """The config to evaluate under (`run`'s, else the defaults), and a sentence saying where
    it came from."""
    extra: dict[str, Any] = parse_overrides(args.overrides)
    for flag, _, key in SHORTHANDS:
        if getattr(args, flag) is not None:
            set_dotted(extra, key, getattr(args, flag))
    given = sorted(_leaves(extra))
    changed = f"; overridden: {', '.join(given)}" if given else ""
    if run is not None:
        return load_run_config(run, extra), (f"settings from the run's config "
                                             f"{run / 'config.json'}{changed}")
    if "name" not in extra.get("task", {}):
        raise ValueError(f"{args.checkpoint} is not part of a run folder (config.json beside "
                         f"checkpoints/), so no run config says which task to evaluate; give "
                         f"--task NAME (see `trueloop tasks list`).")
    return load_config(None, extra), (f"{args.checkpoint} has no run config, so trueloop's "
                                      f"defaults apply (trueloop eval --help lists them)"
                                      f"{changed}")


def run(args: argparse.Namespace) -> int:
    # lazy: `trueloop --help` loads no torch
    from trueloop.eval.evaluate import evaluate_run
    from trueloop.policy import load_policy  # lazy: as above

    try:
        run_dir = run_folder(args.checkpoint)
        model_dir = resolve_model_dir(args.checkpoint, run_dir)
        cfg, source = eval_config(args, run_dir)
        task = task_from_config(cfg.task)
    except ValueError as e:
        print(f"trueloop eval: {e}", file=sys.stderr)
        return 2
    print(f"trueloop eval: {source}.", file=sys.stderr)
    policy = load_policy(PolicyConfig(model=str(model_dir), dtype=cfg.policy.dtype,
                                      device=cfg.policy.device))
    result = evaluate_run(policy, task, cfg)
    full = result.to_json()
    if args.output:
        Path(args.output).write_text(json.dumps({**full, "config": to_dict(cfg)}, indent=2))
    brief = {k: v for k, v in full.items() if k not in ("correct_counts", "samples")}
    print(json.dumps(brief))
    return 0


def _leaves(tree: dict[str, Any], where: str = "") -> list[str]:
    """`key=value` for each leaf of a nested override dict, keys dotted."""
    out = []
    for k, v in tree.items():
        key = f"{where}.{k}" if where else k
        out += _leaves(v, key) if isinstance(v, dict) else [f"{key}={v!r}"]
    return out
