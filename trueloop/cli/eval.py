"""`trueloop eval CHECKPOINT --task NAME [--n N] [--k K]`: held-out pass@1 / pass@k of any
checkpoint (a run folder, a checkpoint folder, or a plain HF model folder)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from trueloop.config import PolicyConfig, RolloutConfig


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="held-out pass@k of a checkpoint")
    p.add_argument("checkpoint", help="run folder, checkpoint folder, or HF model folder")
    p.add_argument("--task", required=True)
    p.add_argument("--difficulty", type=int, default=3)
    p.add_argument("--horizon", type=int)
    p.add_argument("--answer-format", default="boxed")
    p.add_argument("--n", type=int, default=200, help="test problems")
    p.add_argument("--k", type=int, default=8, help="samples per problem")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--max-new-tokens", type=int, default=RolloutConfig.max_new_tokens)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", help="write the full result JSON here")
    p.set_defaults(func=run)


def resolve_model_dir(path: str | Path) -> Path:
    """A run folder -> its latest checkpoint's policy; a checkpoint -> its policy; else as is."""
    path = Path(path)
    for candidate in (path / "checkpoints" / "latest" / "policy", path / "policy", path):
        if (candidate / "config.json").exists():
            return candidate
    raise ValueError(f"{path} holds no model: expected a run folder, a checkpoint folder or an "
                     "HF model folder with config.json.")


def run(args: argparse.Namespace) -> int:
    from trueloop.eval.evaluate import evaluate
    from trueloop.policy import load_policy
    from trueloop.tasks import make_task

    try:
        model_dir = resolve_model_dir(args.checkpoint)
        task = make_task(args.task, difficulty=args.difficulty, horizon=args.horizon,
                         answer_format=args.answer_format)
    except ValueError as e:
        print(f"trueloop eval: {e}", file=sys.stderr)
        return 2
    policy = load_policy(PolicyConfig(model=str(model_dir)))
    rollout = RolloutConfig(temperature=args.temperature, max_new_tokens=args.max_new_tokens)
    result = evaluate(policy, task, n_problems=args.n, k=args.k, rollout=rollout, seed=args.seed)
    full = result.to_json()
    if args.output:
        Path(args.output).write_text(json.dumps(full, indent=2))
    brief = {k: v for k, v in full.items() if k not in ("correct_counts", "samples")}
    print(json.dumps(brief))
    return 0
