"""The demo pipeline (`trueloop demo`, wired in `trueloop.cli.demo`): the embedded end-to-end run
on a laptop CPU.

1. prior: pretrain the built-in tiny model on worked solutions of *short* problems (cached on disk);
2. evaluate it on held-out test problems: the RL target cell, an easy cell, and more cells;
3. RL with verifiable rewards on the target cell (where the prior is weak), hack flags monitored;
4. evaluate again with the same problems and the same sampling seeds (a paired comparison);
5. write `evals.json`, `summary.json` and the report (`report.html` + PNG plots); the summary's
   `compute` holds the RL run's FLOPs, tokens and seconds by stage, and held-out points gained
   per PFLOP and per million tokens (trueloop.update.compute).
The configuration is `trueloop/configs/demo.toml`; any field can be overridden (`--update.lr 1e-4`).
`--env tool_chain` runs the multi-turn horizon demo instead (`configs/demo_tool_chain.toml`): the
same five stages on a tool-using environment, evaluated at every horizon (`by_horizon` in the
summary).
`--model smollm2-135m` runs the real-model demo instead (`configs/demo_smollm2.toml`): no prior,
the pretrained model itself is the start policy, LoRA RL on a task it solves sometimes; each
headline also carries `answer_found` (share of samples with an answer at all), told apart from
pass@1 (the answer correct).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from trueloop.config import RunConfig
from trueloop.eval.evaluate import evaluate_run
from trueloop.pipelines.prior import load_or_pretrain
from trueloop.policy import load_policy
from trueloop.policy.models import MODELS, resolve
from trueloop.report import write_report
from trueloop.report.run import compute_summary
from trueloop.tasks import make_cell
from trueloop.tracking import read_metrics
from trueloop.update.trainer import train


def eval_sets(cfg: RunConfig) -> dict[str, str]:
    """Evaluation set name -> task cell; "target" is the RL cell, "easy" the forgetting watch."""
    t = cfg.task
    sets = {"target": f"{t.name}:{t.difficulty}:{'-' if t.horizon is None else t.horizon}"}
    if cfg.eval.easy:
        sets["easy"] = cfg.eval.easy
    for cell in cfg.eval.extra:
        sets.setdefault(cell.replace(":", "_").replace("_-", ""), cell)
    return sets


def evaluate_all(policy, cfg: RunConfig, label: str = "eval") -> dict[str, dict[str, Any]]:
    out = {}
    for name, cell in eval_sets(cfg).items():
        task = make_cell(cell, answer_format=cfg.task.answer_format)
        out[name] = evaluate_run(policy, task, cfg).to_json()
        r = out[name]
        print(f"[{label}] {name:<12} {cell:<14} pass@1 {r['pass@1']:.3f} "
              f"[{r['pass@1_ci'][0]:.3f}, {r['pass@1_ci'][1]:.3f}]  "
              f"pass@{cfg.eval.k} {r[f'pass@{cfg.eval.k}']:.3f}", file=sys.stderr, flush=True)
    return out


def headline(result: dict[str, Any], k: int) -> dict[str, Any]:
    keys = ("pass@1", "pass@1_ci", f"pass@{k}", f"pass@{k}_ci")
    found = 1 - result["reasons"].get("no_answer", 0) / max(1, sum(result["reasons"].values()))
    return {**{key: result[key] for key in keys}, "answer_found": found}


def run_demo(cfg: RunConfig, out: Path, *, resume: bool = False) -> dict[str, Any]:
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    policy, folder, cached = start_policy(cfg)
    t_prior = time.perf_counter()
    cfg = dataclasses.replace(cfg, policy=dataclasses.replace(cfg.policy, init=str(folder)))
    before = evaluate_all(policy, cfg, "eval before")
    t_eval = time.perf_counter()
    policy = train(cfg, out, resume=resume, policy=policy)
    t_train = time.perf_counter()
    after = evaluate_all(policy, cfg, "eval after")
    t_end = time.perf_counter()
    (out / "evals.json").write_text(json.dumps({"before": before, "after": after}, indent=1))
    k = cfg.eval.k
    summary = {
        "task": eval_sets(cfg)["target"],
        "seed": cfg.seed,
        "before": {**headline(before["target"], k),
                   **({"easy": headline(before["easy"], k)} if "easy" in before else {})},
        "after": {**headline(after["target"], k),
                  **({"easy": headline(after["easy"], k)} if "easy" in after else {})},
        "delta_pass@1": after["target"]["pass@1"] - before["target"]["pass@1"],
        "prior_cached": cached,
        "seconds": {"prior": t_prior - t0, "eval_before": t_eval - t_prior,
                    "rl": t_train - t_eval, "eval_after": t_end - t_train},
        "wall_seconds": time.perf_counter() - t0,
    }
    if "easy" in before:
        summary["delta_easy_pass@1"] = after["easy"]["pass@1"] - before["easy"]["pass@1"]
    summary.update(horizon_summary(cfg, before, after))
    summary["compute"] = compute_summary(read_metrics(out / "metrics.jsonl"),
                                         summary["delta_pass@1"])
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    write_report(out)
    return summary


def start_policy(cfg: RunConfig):
    """(policy, folder, cached): a registered pretrained model starts from itself (LoRA applied
    by its config); the tiny model from its cached prior."""
    if cfg.policy.model in MODELS:
        return load_policy(cfg.policy, seed=cfg.seed), resolve(cfg.policy.model), True
    return load_or_pretrain(cfg.policy, cfg.prior, answer_format=cfg.task.answer_format,
                            progress=cfg.log.progress)


def horizon_summary(cfg: RunConfig, before: dict, after: dict) -> dict[str, Any]:
    """pass@1 per horizon of the target task (other eval sets of the same task and difficulty),
    the horizons trained on, and episode shape before/after; {} with fewer than two horizons."""
    t = cfg.task
    by: dict[str, dict[str, Any]] = {}
    for name, r in before.items():
        if r["task"] == t.name and r["difficulty"] == t.difficulty and r["horizon"] is not None:
            by[str(r["horizon"])] = {phase: {"pass@1": res[name]["pass@1"],
                                             "pass@1_ci": res[name]["pass@1_ci"]}
                                     for phase, res in (("before", before), ("after", after))}
    if len(by) < 2:
        return {}
    prior = sorted({int(c.split(":")[2]) for c in cfg.prior.mixture
                    if c.split(":")[0] == t.name and c.split(":")[2] not in ("", "-")})
    episodes = {phase: {k: res["target"].get("episodes", {}).get(f"episode/{k}")
                        for k in ("turns_mean", "tool_calls_mean")}
                for phase, res in (("before", before), ("after", after))}
    return {"by_horizon": dict(sorted(by.items(), key=lambda kv: int(kv[0]))),
            "trained_horizons": {"rl": t.horizon, "prior": prior}, "episodes": episodes}
