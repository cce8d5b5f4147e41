"""`trueloop audit RUN [--site blocks.-1 ...] [--section.key VALUE ...]`: SAEs, base-vs-RL diffs
and probes on a finished run's own rollouts, written to `RUN/audit/` (metrics.json, sae/,
index.html).

The rollouts are played under the run's config (`RUN/config.json`: its task, rollout and verify
settings, its policy's dtype and device), which `--section.key VALUE` overrides as in `trueloop
train` (`--policy.device cuda`). The flags are the audit's own settings
(`trueloop.config.InspectConfig`), so `--seed`, `--steps` and `--k` are the audit's, not
the run's `seed` / `steps`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from trueloop.config import InspectConfig, RunConfig
from trueloop.config_parse import field_docs, fields_help

INT_FLAGS = ("problems", "expansion", "k", "steps", "batch_tokens", "seed")
# InspectConfig fields given as --flag N (their help is the field's doc line)


def add_commands(sub: argparse._SubParsersAction) -> None:
    d, docs = InspectConfig(), field_docs(InspectConfig)
    p = sub.add_parser(
        "audit", help="what did RL change inside the model? (SAEs, diffs, probes)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Plays the run's task under RUN/config.json (override any field below as "
                    "--section.key VALUE)\nwith the trained and the starting policy, then fits "
                    "SAEs and probes; writes RUN/audit/.\nThe flags are the audit's own: --seed, "
                    "--steps and --k are the SAE's, not the run's.",
        epilog="config fields (defaults shown are trueloop's; the run's config.json replaces "
               "them):\n" + fields_help(RunConfig))
    p.add_argument("run", help="run folder (trueloop train / demo --out)")
    p.add_argument("--site", action="append", dest="sites",
                   help=f"SAE site, repeatable: blocks.L (negative from the end) or a module "
                        f"name (default {d.sites[0]}); the first one is ranked and shown")
    p.add_argument("--base", help="starting-policy folder (default: the run's policy.init / prior)")
    for f in INT_FLAGS:
        p.add_argument(f"--{f.replace('_', '-')}", type=int, default=getattr(d, f),
                       help=f"{docs[f]} (default {getattr(d, f)})")
    p.add_argument("--save-acts", action="store_true", help=docs["save_acts"])
    p.set_defaults(func=run, overrides=[])


def run(args: argparse.Namespace) -> int:
    from trueloop.pipelines.audit import audit_run  # lazy: `trueloop --help` loads no torch

    folder = Path(args.run)
    if not (folder / "config.json").is_file() or not (
            folder / "checkpoints" / "latest" / "policy").is_dir():
        print(f"trueloop audit: {folder} is not a finished run folder (needs config.json and "
              f"checkpoints/latest/policy/).", file=sys.stderr)
        return 2
    acfg = dataclasses.replace(
        InspectConfig(), sites=tuple(args.sites or InspectConfig().sites),
        save_acts=args.save_acts, **{f: getattr(args, f) for f in INT_FLAGS})
    try:
        audit_run(folder, acfg, base=args.base, overrides=args.overrides,
                  log=lambda m: print(m, file=sys.stderr, flush=True))
    except ValueError as e:
        print(f"trueloop audit: {e}", file=sys.stderr)
        return 2
    print(f"audit: {folder / 'audit' / 'index.html'}")
    return 0
