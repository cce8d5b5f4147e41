"""Sampled tokens/s of H-turn episodes vs single-turn completions of the same total length.

Both sides run on the one rollout path (`run_episodes`) with the same model, prompts and number of
episodes. Multi-turn: an environment that answers every action with a short observation and ends
after H actions; an action ends at one of `--stop-chars` characters (a random char-level model
meets one every len(vocab)/len(stop) tokens on average), so actions vary in length as real ones
do. Single-turn: one completion per episode, capped at the multi-turn side's mean sampled tokens
per episode (no stop strings). The ratio is multi-turn tokens/s over single-turn tokens/s: the
price of turns (observation prefill, env steps, masked holes while rows wait for the turn to end).
`--engine vllm` (from .venv-vllm) runs both sides on vLLM and adds the native engine's multi-turn
rate on the same episodes and `speedup_vs_native`; vLLM's context is the model's (256 tokens for
the small tiny model), so keep H x turn tokens under it (`--turns 1 2 4`). Prints one JSON line.

    python benchmarks/episodes.py [--size small] [--turns 1 2 4 8] [--repeats 3]
    .venv-vllm/bin/python benchmarks/episodes.py --engine vllm --turns 1 2 4
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from machine import commit, hardware  # noqa: E402

from trueloop.config import RolloutConfig  # noqa: E402
from trueloop.envs import Env, StepResult  # noqa: E402
from trueloop.policy import build_tiny  # noqa: E402
from trueloop.rollout import run_episodes  # noqa: E402
from trueloop.types import Message, Problem, Verdict  # noqa: E402


class Turns(Env):
    def __init__(self, problem: Problem, turns: int) -> None:
        self.problem, self.turns, self.n = problem, turns, 0

    def reset(self, problem, *, seed):
        self.n = 0
        return problem.prompt

    def step(self, action: str) -> StepResult:
        self.n += 1
        done = self.n >= self.turns
        return StepResult(None if done else f"tool result {self.n}: 42", done)

    def verify(self) -> Verdict:
        return Verdict(True, 1.0, "ok")


def problems(b: int) -> list[Problem]:
    return [Problem(f"b/{i}", "bench", f"Episode {i}: act.", (Message("user", "x"),), None)
            for i in range(b)]


def timed(policy, envs, cfg, g) -> tuple[float, int, list]:
    t0 = time.perf_counter()
    batch = run_episodes(policy, envs, cfg, generator=torch.Generator().manual_seed(0),
                         group_size=g)
    return time.perf_counter() - t0, int(batch.action_mask.sum()), batch.episodes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="small")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--turn-tokens", type=int, default=48, help="max_new_tokens per action")
    ap.add_argument("--stop-chars", default="abcdefgh", help="characters that end an action")
    ap.add_argument("--turns", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--engine", default="native", choices=["native", "vllm"])
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    policy = build_tiny(args.size, seed=0)
    g, probs = args.group, problems(args.prompts)
    stops = tuple(args.stop_chars)
    results = {}
    for h in args.turns:
        multi = RolloutConfig(max_new_tokens=args.turn_tokens, max_turns=h, stop=stops,
                              max_context=1 << 16, engine=args.engine)
        timed(policy, [Turns(p, h) for p in probs[:2] for _ in range(g)], multi, g)  # warm-up
        runs = [timed(policy, [Turns(p, h) for p in probs for _ in range(g)], multi, g)
                for _ in range(args.repeats)]
        tokens = runs[0][1]
        per_episode = max(1, round(tokens / (len(probs) * g)))
        single = RolloutConfig(max_new_tokens=per_episode, max_context=1 << 16,
                               engine=args.engine)
        sruns = [timed(policy, [Turns(p, 1) for p in probs for _ in range(g)], single, g)
                 for _ in range(args.repeats)]
        m_tps = tokens / statistics.median(r[0] for r in runs)
        s_tps = sruns[0][1] / statistics.median(r[0] for r in sruns)
        turns = statistics.mean(len(e.turns) for e in runs[0][2])
        results[str(h)] = {"multi_tokens_per_s": round(m_tps, 1),
                           "single_tokens_per_s": round(s_tps, 1),
                           "ratio": round(m_tps / s_tps, 3), "turns_mean": round(turns, 2),
                           "tokens_per_episode": per_episode}
        if args.engine != "native":
            native = dataclasses.replace(multi, engine="native")
            nruns = [timed(policy, [Turns(p, h) for p in probs for _ in range(g)], native, g)
                     for _ in range(args.repeats)]
            n_tps = nruns[0][1] / statistics.median(r[0] for r in nruns)
            results[str(h)] |= {"native_multi_tokens_per_s": round(n_tps, 1),
                                "speedup_vs_native": round(m_tps / n_tps, 3)}
    print(json.dumps({"benchmark": "episodes", "hardware": hardware(), "commit": commit(),
                      "config": vars(args), "by_turns": results}))


if __name__ == "__main__":
    main()
