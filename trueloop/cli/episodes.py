"""`trueloop episodes RUN [--step N] [--n K] [--only-wrong]`: print a run's episodes, the policy's
actions and the environment's observations told apart (colour on a terminal, labels always).

The episode files hold everything shown; the run's config (`RUN/config.json`) says why a run
has none. No config field changes what is printed, so the command takes no `--section.key`
overrides (`trueloop rescore RUN --verify.KEY VALUE` judges the episodes again)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from trueloop.config import load_run_config


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("episodes", help="print a run's episodes (actions vs observations)")
    p.add_argument("run", help="run folder written by trueloop train / demo")
    p.add_argument("--step", type=int, help="training step (default: the last one kept)")
    p.add_argument("--n", type=int, default=4, help="episodes to print (default 4)")
    p.add_argument("--only-wrong", action="store_true", help="only episodes judged incorrect")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trueloop.rollout.record import episode_steps, read_episodes  # lazy: --help loads no torch

    steps = episode_steps(Path(args.run))
    if not steps:
        print(f"trueloop episodes: {why_none(Path(args.run))}", file=sys.stderr)
        return 2
    step = steps[-1] if args.step is None else args.step
    if step not in steps:
        print(f"trueloop episodes: no episodes kept for step {step}; kept: "
              f"{steps[0]}..{steps[-1]}.", file=sys.stderr)
        return 2
    rows = read_episodes(Path(args.run), step)
    if args.only_wrong:
        rows = [r for r in rows if not r["correct"]]
    console = Console(highlight=False, soft_wrap=True)
    for r in rows[: args.n]:
        show(console, r)
    return 0


def why_none(run: Path) -> str:
    """Why `run` has no episodes, as its config tells."""
    try:
        cfg = load_run_config(run)
    except ValueError as e:  # not a run folder at all, or its config.json is broken
        return str(e)
    if not cfg.log.save_episodes:
        return (f"{run} has no episodes/ folder: the run trained with log.save_episodes = false "
                f"(train with --log.save_episodes true to keep them).")
    return (f"{run} has no episodes/ folder yet: the run keeps each step's episodes there as it "
            f"trains (log.save_episodes = true).")


def show(console: Console, r: dict) -> None:
    flags = f"  flags {','.join(r['flags'])}" if r["flags"] else ""
    console.rule(f"step {r['step']}  {escape(r['problem_id'])}  reward {r['reward']:.2f}  "
                 f"{r['reason']}  stop {r['stop_reason']}{escape(flags)}")
    console.print(f"[bold]prompt[/bold] {escape(r['prompt'])}")
    for k, t in enumerate(r["turns"]):
        console.print(f"[bold green]action {k}[/bold green] [green]{escape(t['action'])}[/green]")
        if t["observation"] is not None:
            console.print(f"[bold blue]observation {k}[/bold blue] "
                          f"[blue]{escape(t['observation'])}[/blue]")
    if r.get("error"):
        console.print(f"[bold red]env error[/bold red] {escape(r['error'])}")
