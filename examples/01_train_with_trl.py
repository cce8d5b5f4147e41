"""Train with TRL's GRPOTrainer, rewarded by a trueloop task's strict verifier (CPU, ~1 minute).

    python examples/01_train_with_trl.py --task arithmetic --difficulty 1 --steps 8

Extension point shown: `trueloop.integrations.trl` -- a trueloop task becomes a TRL dataset
(`prompt` plus hidden ground-truth columns the policy never sees) and its verifier a reward
function. Everything else is plain TRL: the model is the built-in tiny Llama, saved to a temp
folder and passed by path, as TRL loads models. Verdict reasons (`trueloop_<task>/reason/...`)
show up in TRL's logs next to its own metrics. A randomly initialised tiny model rarely scores,
so pass `--init <folder>` (a trueloop policy folder, e.g. one trained with the prior) to see the
reward rise; the run itself is the same either way.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

from transformers import AutoTokenizer
from trl import GRPOConfig, GRPOTrainer

from trueloop.config import PriorConfig
from trueloop.integrations.trl import dataset, reward_function
from trueloop.pipelines.prior import pretrain
from trueloop.policy import build_tiny


def tiny_prior(task: str, difficulty: int, steps: int, folder: Path, seed: int = 0) -> str:
    """A fresh tiny model, given `steps` of supervised warm-up on the task's oracle answers so
    some completions verify (a random one never does, and GRPO learns nothing from all-0
    groups), saved as a HF folder for TRL to load by path."""
    policy = build_tiny("0.5m", seed=seed)
    if steps > 0:
        cfg = PriorConfig(mixture=(f"{task}:{difficulty}:-",), steps=steps, batch_size=16,
                          warmup_steps=min(20, steps), seed=seed)
        pretrain(policy, cfg, progress=False)
    policy.save(folder)
    return str(folder)


def train(task: str, difficulty: int, steps: int, out: Path, init: str | None = None,
          reward: Callable | None = None, prior_steps: int = 80, seed: int = 0) -> GRPOTrainer:
    """Run `steps` GRPO steps of TRL on `task`; returns the trainer (its state has the logs)."""
    model_dir = init or tiny_prior(task, difficulty, prior_steps, out / "tiny", seed)
    group, prompts_per_step = 4, 2
    train_set = dataset(task, n=steps * prompts_per_step, seed=seed, difficulty=difficulty)
    args = GRPOConfig(
        output_dir=str(out / "trl"),
        per_device_train_batch_size=group * prompts_per_step,  # counts completions, not prompts
        num_generations=group,
        max_completion_length=16,
        max_steps=steps,
        learning_rate=1e-3,
        beta=0.0,  # no reference model: half the forward passes on a CPU
        temperature=1.0,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=seed,
        dataloader_num_workers=0,
    )
    trainer = GRPOTrainer(
        model=model_dir,
        reward_funcs=reward or reward_function(task, difficulty=difficulty),
        train_dataset=train_set,
        args=args,
        processing_class=AutoTokenizer.from_pretrained(model_dir),
    )
    trainer.train()
    return trainer


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="arithmetic")
    p.add_argument("--difficulty", type=int, default=1)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--prior-steps", type=int, default=80,
                   help="supervised warm-up steps of the fresh tiny model (0 = random init)")
    p.add_argument("--init", default=None, help="a local HF model folder (default: fresh tiny)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = train(args.task, args.difficulty, args.steps, Path(tmp), args.init,
                        prior_steps=args.prior_steps)
    name = f"trueloop_{args.task}"
    for row in trainer.state.log_history:
        if f"rewards/{name}/mean" in row:
            reasons = {k.rsplit("/", 1)[-1]: round(v, 2) for k, v in row.items()
                       if k.startswith(f"{name}/reason/") and v}
            print(f"step {row['step']}: reward {row[f'rewards/{name}/mean']:.3f} {reasons}")


if __name__ == "__main__":
    main()
