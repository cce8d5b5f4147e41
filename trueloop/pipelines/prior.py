"""The prior: supervised pretraining of a policy on worked solutions from the task generators.

RL with verifiable rewards needs a policy that succeeds *sometimes*: a randomly initialised model
never emits a parsable answer, so every reward is 0 and every group advantage vanishes. The prior is
next-token cross-entropy on `task.solution(problem)` completions (prompt tokens masked out) of train
split problems drawn from a mixture of (task, difficulty, horizon) cells; for a multi-turn
environment, on the oracle's whole episode with the observations masked out (`rollout.trace`).
It is cached on disk under `$TRUELOOP_CACHE` (default `~/.cache/trueloop`) keyed by a hash of
the model and prior configs, so a second demo skips it.

Legend: B sequences per batch, L tokens per sequence.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from trueloop.cache import cache_dir
from trueloop.config import PolicyConfig, PriorConfig
from trueloop.policy import Policy, load_policy
from trueloop.progress import progress_bar
from trueloop.rollout.trace import trace_ids
from trueloop.tasks import make_cell
from trueloop.tasks.base import Task
from trueloop.types import Problem


def prior_key(policy_cfg: PolicyConfig, prior_cfg: PriorConfig, answer_format: str) -> str:
    model = {"model": policy_cfg.model, "size": policy_cfg.size, "dtype": policy_cfg.dtype}
    blob = json.dumps([model, dataclasses.asdict(prior_cfg), answer_format], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def parse_mixture(cfg: PriorConfig, answer_format: str = "boxed") -> list[tuple[Task, float]]:
    """(task, error rate of its teacher) per mixture entry; `noisy` cells get `cfg.noise`."""
    return [(make_cell(cell, answer_format=answer_format), cfg.noise if cell in cfg.noisy else 0.0)
            for cell in cfg.mixture]


def teach(task: Task, problem: Problem, noise: float) -> str:
    """The worked solution, or with probability `noise` the same text whose final boxed answer is
    replaced by the answer of another problem of the task: an imperfect teacher (pretraining data
    is sometimes wrong, as web data is). The verifier, not the teacher, is what RL trusts. The
    teacher's coin is seeded by the problem id, so noise never shifts the stream of problems."""
    return teach_text(task, problem, task.solution(problem), noise)


def teach_text(task: Task, problem: Problem, text: str, noise: float) -> str:
    """`text` with probability `noise` given another problem's final boxed answer."""
    rng = random.Random(f"teacher:{problem.id}")
    if noise <= 0 or rng.random() >= noise or problem.answer is None:
        return text
    for _ in range(100):
        other = task.problem(rng.randrange(1 << 30), "train", seed=rng.randrange(1 << 30))
        if other.answer != problem.answer:
            head, sep, tail = text.rpartition(f"\\boxed{{{problem.answer}}}")
            return f"{head}\\boxed{{{other.answer}}}{tail}" if sep else text
    return text


def encode(policy: Policy, prompt: str, completion: str) -> tuple[list[int], list[int]]:
    """Token ids of prompt + completion + EOS, exactly as the sampler sees the prompt, and the
    trained mask (0 on the prompt, masked out of the loss)."""
    tok = policy.tokenizer
    p = tok(prompt)["input_ids"]
    c = tok(completion, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    return p + c, [0] * len(p) + [1] * len(c)


def encode_problem(policy: Policy, task: Task, problem: Problem,
                   noise: float) -> tuple[list[int], list[int]]:
    """A worked example: a single-turn solution, or for a multi-turn environment (an env with
    `oracle_actions`) the oracle's episode as the runner lays it out (`rollout.trace`), with
    observations masked out of the loss. Noise replaces the final answer as `teach` does."""
    env = task.make_env(problem)
    if not hasattr(env, "oracle_actions"):
        return encode(policy, problem.prompt, teach(task, problem, noise))
    actions = list(env.oracle_actions(problem))
    actions[-1] = teach_text(task, problem, actions[-1], noise)
    return trace_ids(policy, env, actions, tuple(task.stop_strings()))


def make_batch(policy: Policy, cells: list[tuple[Task, float]], rng: random.Random, size: int,
               step: int):
    rows = []
    for j in range(size):
        task, noise = cells[rng.randrange(len(cells))]
        problem = task.problem(step * size + j, "train", seed=rng.randrange(1 << 30))
        rows.append(encode_problem(policy, task, problem, noise))
    length = max(len(ids) for ids, _ in rows)
    pad = policy.tokenizer.pad_token_id
    ids = torch.full((size, length), pad, dtype=torch.long)  # (B, L)
    labels = torch.full((size, length), -100, dtype=torch.long)  # (B, L), -100 = ignored
    attn = torch.zeros((size, length), dtype=torch.long)
    for i, (row, trained) in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
        keep = torch.tensor(trained, dtype=torch.bool)
        labels[i, :len(row)] = torch.tensor(row).masked_fill(~keep, -100)
        attn[i, :len(row)] = 1
    return ids, labels, attn


def pretrain(policy: Policy, cfg: PriorConfig, *, answer_format: str = "boxed",
             progress: bool = True) -> list[float]:
    """Train `policy` in place on the mixture (on `cfg.threads` torch threads); returns the loss
    curve."""
    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _pretrain(policy, cfg, answer_format, progress)
    finally:
        torch.set_num_threads(threads)


def _pretrain(policy: Policy, cfg: PriorConfig, answer_format: str, progress: bool) -> list[float]:
    cells = parse_mixture(cfg, answer_format)
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    model = policy.model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.01,
                            fused=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (i + 1) / cfg.warmup_steps)
                                              * max(0.1, 1 - i / cfg.steps))
    losses = []
    with progress_bar(cfg.steps, 0, enabled=progress, label="prior",
                      describe=lambda m: f"loss {m['loss']:.3f}") as bar:
        for step in range(cfg.steps):
            ids, labels, attn = make_batch(policy, cells, rng, cfg.batch_size, step)
            logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1]  # (B, L-1, V)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
            bar.update({"loss": losses[-1]})
    model.eval()
    return losses


def load_or_pretrain(policy_cfg: PolicyConfig, prior_cfg: PriorConfig, *,
                     answer_format: str = "boxed", progress: bool = True
                     ) -> tuple[Policy, Path, bool]:
    """The cached prior for these configs, trained and cached first if missing.
    Returns (policy, folder, was_cached)."""
    folder = cache_dir() / "priors" / prior_key(policy_cfg, prior_cfg, answer_format)
    cached = (folder / "config.json").exists()
    if not cached:
        fresh = dataclasses.replace(policy_cfg, init=None, lora_rank=0)
        policy = load_policy(fresh, seed=prior_cfg.seed)
        losses = pretrain(policy, prior_cfg, answer_format=answer_format, progress=progress)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp_prior_", dir=folder.parent))
        policy.save(tmp)
        (tmp / "prior_losses.json").write_text(json.dumps(losses))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)  # atomic: a killed run never leaves a half-written prior
    # always load from disk, so a cached and a fresh prior give bit-identical runs
    policy = load_policy(dataclasses.replace(policy_cfg, model=str(folder), init=None))
    return policy, folder, cached
