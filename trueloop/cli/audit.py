"""`trueloop audit RUN [--site blocks.-1 ...]`: SAEs, base-vs-RL diffs and probes on a finished
run's own rollouts, written to `RUN/audit/` (metrics.json, sae/, index.html)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

INT_FLAGS = {
    "problems": "train-split problems played by the trained policy, each group_size times",
    "expansion": "SAE latents per input dimension",
    "k": "active SAE latents per token",
    "steps": "SAE optimiser steps",
    "batch_tokens": "tokens per SAE step",
    "seed": "seed of the rollouts and the SAE",
}


def add_commands(sub: argparse._SubParsersAction) -> None:
    from trueloop.pipelines.audit import AuditConfig

    d = AuditConfig()
    p = sub.add_parser("audit", help="what did RL change inside the model? (SAEs, diffs, probes)")
    p.add_argument("run", help="run folder (trueloop train / demo --out)")
    p.add_argument("--site", action="append", dest="sites",
                   help=f"SAE site, repeatable: blocks.L (negative from the end) or a module "
                        f"name (default {d.sites[0]}); the first one is ranked and shown")
    p.add_argument("--base", help="starting-policy folder (default: the run's policy.init / prior)")
    for f, what in INT_FLAGS.items():
        p.add_argument(f"--{f.replace('_', '-')}", type=int, default=getattr(d, f),
                       help=f"{what} (default {getattr(d, f)})")
    p.add_argument("--save-acts", action="store_true", help="also write activation shards")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trueloop.pipelines.audit import AuditConfig, audit_run

    folder = Path(args.run)
    if not (folder / "config.json").is_file() or not (
            folder / "checkpoints" / "latest" / "policy").is_dir():
        print(f"trueloop audit: {folder} is not a finished run folder (needs config.json and "
              f"checkpoints/latest/policy/).", file=sys.stderr)
        return 2
    acfg = dataclasses.replace(
        AuditConfig(), sites=tuple(args.sites or AuditConfig().sites), save_acts=args.save_acts,
        **{f: getattr(args, f) for f in INT_FLAGS})
    try:
        audit_run(folder, acfg, base=args.base,
                  log=lambda m: print(m, file=sys.stderr, flush=True))
    except ValueError as e:
        print(f"trueloop audit: {e}", file=sys.stderr)
        return 2
    print(f"audit: {folder / 'audit' / 'index.html'}")
    return 0
