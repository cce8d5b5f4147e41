"""`trueloop demo [--env NAME | --model NAME | --scenario hack] [--out DIR] [--seed S]`: the
embedded end-to-end run (`trueloop.pipelines.demo`, the hack scenario in
`trueloop.pipelines.demo_hack`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trueloop.config import load_config
from trueloop.configs import MODEL_DEMOS, demo_config_path, env_demos


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="prior -> eval -> RL -> eval -> report, on a CPU in minutes")
    p.add_argument("--out", default="runs/demo", help="run folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config", help="a TOML file to use instead of the built-in demo config")
    p.add_argument("--env", help="a multi-turn demo instead: " + ", ".join(env_demos()))
    p.add_argument("--model", help="a real-model demo instead: " + ", ".join(MODEL_DEMOS))
    p.add_argument("--resume", action="store_true", help="continue an interrupted demo in OUT")
    p.add_argument("--scenario", choices=["hack"],
                   help="hack: RL learns a reward hack against a weak verifier, the monitors "
                        "catch it (trueloop/pipelines/demo_hack.py)")
    p.set_defaults(func=run, overrides=[])




def run(args: argparse.Namespace) -> int:
    # lazy: `trueloop --help` loads no torch
    from trueloop.pipelines.demo import run_demo

    if getattr(args, "scenario", None) == "hack":
        from trueloop.pipelines.demo_hack import run_scenario  # lazy: as above

        return run_scenario(Path(args.out), args.seed, list(args.overrides), args.config)
    overrides = list(args.overrides) + ["--seed", str(args.seed)]
    try:
        cfg = load_config(args.config or demo_config_path(args.env, args.model), overrides)
    except (ValueError, FileNotFoundError) as e:
        print(f"trueloop demo: {e}", file=sys.stderr)
        return 2
    from trueloop.rollout.vllm_engine import EngineError  # lazy: as above

    out = Path(args.out)
    try:
        summary = run_demo(cfg, out, resume=args.resume)
    except EngineError as e:
        from trueloop.cli.train import engine_stopped  # lazy: one command module, not all

        return engine_stopped("demo", out, e)
    b, a = summary["before"], summary["after"]
    print(f"held-out pass@1 on {summary['task']}: {b['pass@1']:.3f} {b['pass@1_ci']} -> "
          f"{a['pass@1']:.3f} {a['pass@1_ci']}  ({summary['wall_seconds']:.0f} s)")
    for h, r in summary.get("by_horizon", {}).items():
        print(f"  horizon {h}: {r['before']['pass@1']:.3f} -> {r['after']['pass@1']:.3f}")
    print(f"report: {out / 'report.html'}")
    return 0
