"""`audit_run`: what did RL change inside the model? Read a run folder, write `RUN/audit/`.

    policy, base = RUN/checkpoints/latest/policy, the run's starting policy
    played       = play(task, policy, train problems)          the policy's own rollouts
    acts         = collect(policy | base, played.batch, sites)  same tokens through both
    sae          = train_sae(pooled base + policy acts, train episodes)   one per site
    metrics      = EV, L0, dead, dense, loss recovered         held-out episodes, policy
    diff         = token KL, delta / delta_KL + logit lens, per-latent shifts (bootstrap)
    probes       = one per verdict label (flags, correct) on held-out episodes
    RUN/audit/   = metrics.json, sae/<site>/, index.html (+ acts/ with save_acts)

Held-out episodes are whole groups (the last `heldout` fraction of problems), so no prompt of the
evaluation set was seen by the SAE or the probes. Nothing here changes the run.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch

from trueloop.audit.activations import Activations, canonical_site, collect
from trueloop.audit.diff import activation_diff, feature_shifts, token_kl
from trueloop.audit.page import render_audit
from trueloop.audit.probes import evaluate_probe, fit_probe, pool
from trueloop.audit.sae import SAEConfig, TopKSAE, model_hash, train_sae
from trueloop.audit.sae_metrics import explained_variance, loss_recovered, reconstruction_metrics
from trueloop.audit.views import episode_views, feature_views
from trueloop.config import InspectConfig, load_run_config, to_dict
from trueloop.pipelines.prior import load_or_pretrain
from trueloop.policy import Policy, load_hf, load_policy
from trueloop.rollout import play
from trueloop.tasks import task_from_config

MIN_LABELLED = 4
# a probe label needs this many positive and negative episodes in both train and held-out sets


def validate(acfg: InspectConfig) -> None:
    checks = [
        (acfg.problems >= 2, f"problems must be at least 2 (one group to train on, one held "
                             f"out); got {acfg.problems}."),
        (0 < acfg.heldout < 1, f"heldout must be in (0, 1); got {acfg.heldout}."),
        (acfg.k >= 1 and acfg.expansion >= 1, f"k and expansion must be >= 1; got k={acfg.k}, "
                                              f"expansion={acfg.expansion}."),
        (acfg.steps >= 1 and acfg.batch_tokens >= 1, "steps and batch_tokens must be >= 1."),
        (len(acfg.sites) >= 1, "give at least one site (--site blocks.-1)."),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def starting_policy(cfg, base: str | None) -> Policy:
    """The policy the run started from: `base`, else policy.init, else the prior, else seed init."""
    p = cfg.policy
    if base or p.init:
        folder = Path(base or p.init)
        if not (folder / "config.json").is_file():
            raise ValueError(f"the run's starting policy {folder} is not a HF folder any more "
                             f"(a moved cache?); pass --base FOLDER.")
        return load_hf(folder, dtype=p.dtype, device=p.device)
    if p.prior:
        return load_or_pretrain(p, cfg.prior, answer_format=cfg.task.answer_format,
                                progress=False)[0]
    return load_policy(p, seed=cfg.seed)


def split_rows(n_rows: int, group: int, heldout: float) -> tuple[torch.Tensor, torch.Tensor]:
    groups = n_rows // group
    n_held = max(1, math.ceil(heldout * groups))
    cut = (groups - n_held) * group
    return torch.arange(cut), torch.arange(cut, n_rows)


def verdict_labels(episodes) -> dict[str, torch.Tensor]:
    """(E,) 0/1 labels per flag seen, plus `correct`."""
    flags = sorted({f for e in episodes for f in (e.verdict.flags if e.verdict else ())})
    labels = {f: torch.tensor([float(e.verdict is not None and f in e.verdict.flags)
                               for e in episodes]) for f in flags}
    labels["correct"] = torch.tensor([float(bool(e.verdict and e.verdict.correct))
                                      for e in episodes])
    return labels


def fit_sae(site: str, acts: Activations, base_acts: Activations, train: torch.Tensor,
            held: torch.Tensor, acfg: InspectConfig) -> tuple[TopKSAE, dict]:
    x_tr = torch.cat([acts.x[site][train], base_acts.x[site][train]])
    cfg = SAEConfig(n_latents=acfg.expansion * x_tr.shape[1], k=acfg.k, steps=acfg.steps,
                    batch_tokens=acfg.batch_tokens, seed=acfg.seed)
    sae, log = train_sae(x_tr, cfg)
    m = reconstruction_metrics(sae, acts.x[site][held])
    with torch.no_grad():
        m["explained_variance_base"] = explained_variance(base_acts.x[site][held],
                                                          sae(base_acts.x[site][held]))
        act = held & acts.is_action
        m["explained_variance_actions"] = explained_variance(acts.x[site][act],
                                                             sae(acts.x[site][act]))
    m["train_tokens"], m["final_mse"] = len(x_tr), log.mse[-1]
    m["train_dead_fraction"] = log.dead_fraction[-1]  # by the training window (sae.py)
    return sae, m


def fit_probes(x: torch.Tensor, acts: Activations, labels: dict[str, torch.Tensor],
               train_rows: torch.Tensor) -> tuple[dict, dict]:
    """Mean-pooled probes per label: (metrics by label, probes by label)."""
    pooled, ids = pool(x, acts, "mean")
    is_train = torch.isin(ids, train_rows)
    scores, probes = {}, {}
    for name, y_all in labels.items():
        y = y_all[ids]
        ytr, yte = y[is_train], y[~is_train]
        if min(ytr.sum(), (1 - ytr).sum(), yte.sum(), (1 - yte).sum()) < MIN_LABELLED:
            continue
        probe = fit_probe(pooled[is_train], ytr)
        scores[name] = evaluate_probe(probe, pooled[~is_train], yte)
        probes[name] = probe
    return scores, probes


def diff_summary(model: torch.nn.Module, acts: Activations, base_acts: Activations,
                 kl: torch.Tensor, sites: list[str], tokenizer) -> dict:
    """Where the KL sits, and delta / delta_KL with their logit lens at each site."""
    top1 = kl.sort(descending=True).values[:max(1, len(kl) // 100)]
    out = {"kl_mean": float(kl[acts.predicts_action].mean()),
           "kl_top1pct_share": float(top1.sum() / kl.sum().clamp_min(1e-12)), "sites": {}}
    sampled = acts.token[acts.is_action].unique()  # the lens ranks tokens the policy emits
    for site in sites:
        d = activation_diff(model, acts.x[site], base_acts.x[site], kl, vocab=sampled)
        for key in ("lens_delta", "lens_delta_kl"):
            d[f"{key}_tokens"] = [(tokenizer.decode([i]), c) for i, c in d.pop(key)]
        out["sites"][site] = d
    return out


def audit_run(run: str | Path, acfg: InspectConfig | None = None, base: str | None = None,
              log=print, overrides: list[str] | dict | None = None) -> dict:
    """Audit the run folder `run` under its own config (`RUN/config.json`, with `--section.key
    VALUE` overrides: the task, rollout and verify settings its rollouts are played with)."""
    t0 = last_lap = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(name: str) -> float:
        nonlocal last_lap
        now = time.perf_counter()
        seconds[name], last_lap = now - last_lap, now
        return seconds[name]
    acfg = acfg or InspectConfig()
    validate(acfg)
    run = Path(run)
    out = run / "audit"
    cfg = load_run_config(run, overrides)
    policy = load_hf(run / "checkpoints" / "latest" / "policy", dtype=cfg.policy.dtype,
                     device=cfg.policy.device)
    start = starting_policy(cfg, base)
    task = task_from_config(cfg.task)
    g = cfg.rollout.group_size
    problems = task.problems(acfg.problems, "train", cfg.task.seed)
    played = play(task, policy, problems, cfg.rollout, cfg.verify, group_size=g,
                  generator=torch.Generator().manual_seed(acfg.seed))
    batch = played.batch
    log(f"[audit] {len(batch)} episodes played ({lap('play'):.0f} s)")
    sites = list(dict.fromkeys(canonical_site(policy.model, s) for s in acfg.sites))
    last = canonical_site(policy.model, "blocks.-1")
    all_sites = list(dict.fromkeys([*sites, last]))
    acts = collect(policy.model, batch, all_sites)
    base_acts = collect(start.model, batch, all_sites)
    if acfg.save_acts:
        acts.save(out / "acts" / "policy")
        base_acts.save(out / "acts" / "base")
    lap("activations")
    train_rows, held_rows = split_rows(len(batch), g, acfg.heldout)
    held = torch.isin(acts.row, held_rows)
    kl = token_kl(policy.model, start.model, batch, acts) * acts.predicts_action
    hashes = {"model_hash": model_hash(policy.model), "base_model_hash": model_hash(start.model)}
    sae_metrics, saes = {}, {}
    for site in sites:
        sae, m = fit_sae(site, acts, base_acts, ~held, held, acfg)
        sae.meta.update({"site": site, **hashes, "run": str(run.resolve())})
        sae.save(out / "sae" / site)
        mean = acts.x[site][~held].mean(0)
        m.update(loss_recovered(policy.model, batch.select(held_rows), site, sae, mean))
        sae_metrics[site], saes[site] = m, sae
        log(f"[audit] {site}: EV {m['explained_variance']:.3f} loss recovered "
            f"{m['loss_recovered']:.3f} L0 {m['l0']:.1f} dead {m['dead_fraction']:.3f} "
            f"({lap(f'sae/{site}'):.0f} s)")
    tok = policy.tokenizer
    diff = diff_summary(policy.model, acts, base_acts, kl, all_sites, tok)
    primary = sites[0]
    shifts = feature_shifts(saes[primary], acts.x[primary], base_acts.x[primary], kl, acts.row,
                            seed=acfg.seed)
    labels = verdict_labels(batch.episodes)
    probe_scores, probes = fit_probes(acts.x[primary], acts, labels, train_rows)
    features, top = feature_views(shifts, acts, batch, tok, acfg.top_features, acfg.contexts)
    p0 = next(iter(probes.items()), None)
    episodes = episode_views(batch, acts, tok, kl, shifts, p0, acts.x[primary], held_rows,
                             acfg.episodes_shown)
    lap("diff_probes_views")
    m0 = sae_metrics[primary]
    metrics = {
        "site": primary, **{k: m0[k] for k in ("explained_variance", "loss_recovered",
                                               "dead_fraction", "l0")},
        "sae": sae_metrics, "diff": diff, "top_features": top, "probes": probe_scores,
        "rollouts": {"episodes": len(batch), "tokens": len(acts), "heldout_episodes":
                     len(held_rows), "reward_mean": sum(v.reward for v in played.verdicts)
                     / len(batch)},
        "config": asdict(acfg), "run_config": to_dict(cfg), **hashes,
    }
    seconds["total"] = time.perf_counter() - t0
    metrics["seconds"] = seconds
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    (out / "index.html").write_text(render_audit(run.resolve().name, metrics, features, episodes))
    if (run / "report.html").is_file():  # the run report links to the audit page
        from trueloop.report import write_report  # lazy: matplotlib, only for a run's report

        write_report(run)
    log(f"[audit] wrote {out / 'metrics.json'} and {out / 'index.html'} "
        f"({metrics['seconds']['total']:.0f} s)")
    return metrics
