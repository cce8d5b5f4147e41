"""From tensors to what the audit page shows: top shifted latents with their top contexts, and
episodes with per-token highlights (KL to the base model, the episode's top latents, a probe).

An episode's latents are ranked by s_i = (sum_{t in actions} z_ti / M_i) * log10(1 / rho_i)
(M_i the latent's max activation, rho_i its density), so dense latents don't crowd out rare ones
(interp-notes 2.5; the Auditing Game's team 1 summed raw activations instead).

Legend: N rows, L columns, M kept tokens, n latents.
"""

from __future__ import annotations

import math

import torch

from trueloop.audit.activations import Activations
from trueloop.audit.diff import FeatureShifts
from trueloop.audit.page import EpisodeView, FeatureView, Strip
from trueloop.rollout.batch import RolloutBatch

WINDOW = 8
# tokens either side of a context's top token


def token_index(batch: RolloutBatch, acts: Activations) -> torch.Tensor:
    """(N, L) index of each position in the kept tokens, -1 where not kept."""
    idx = torch.full(batch.input_ids.shape, -1, dtype=torch.long)
    idx[acts.row, acts.col] = torch.arange(len(acts))
    return idx


class Decoder:
    """Token id -> display text, cached (char and BPE tokenizers alike)."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer, self.cache = tokenizer, {}

    def __call__(self, ids: list[int]) -> list[str]:
        for i in ids:
            if i not in self.cache:
                self.cache[i] = self.tokenizer.decode([i])
        return [self.cache[i] for i in ids]


def _values(idx_row: torch.Tensor, per_token: torch.Tensor) -> list[float]:
    return [float(per_token[i]) if i >= 0 else 0.0 for i in idx_row.tolist()]


def window(batch: RolloutBatch, row: int, col: int, half: int = WINDOW) -> range:
    real = batch.attention_mask[row].nonzero().squeeze(1)
    lo, hi = int(real.min()), int(real.max())
    return range(max(lo, col - half), min(hi, col + half) + 1)


def feature_views(shifts: FeatureShifts, acts: Activations, batch: RolloutBatch, tokenizer,
                  top_n: int, n_contexts: int) -> tuple[list[FeatureView], list[dict]]:
    """The `top_n` latents by Delta_i, each with its top contexts (one per episode)."""
    idx, dec = token_index(batch, acts), Decoder(tokenizer)
    views, rows = [], []
    log_odds = shifts.log_odds
    for latent in shifts.ranking()[:top_n].tolist():
        z = shifts.z_pol[:, latent]  # (M,)
        vmax = float(z.max())
        stats = {"shift": float(shifts.shift[latent]),
                 "ci": [float(shifts.lo[latent]), float(shifts.hi[latent])],
                 "p_bonferroni": float(shifts.p[latent]),
                 "rho_base": float(shifts.rho_base[latent]),
                 "rho_policy": float(shifts.rho_pol[latent]),
                 "log_odds": float(log_odds[latent]), "max_act": vmax}
        contexts, texts, seen = [], [], set()
        for t in z.argsort(descending=True).tolist():
            if len(contexts) >= n_contexts or z[t] <= 0:
                break
            r, c = int(acts.row[t]), int(acts.col[t])
            if r in seen:
                continue
            seen.add(r)
            cols = list(window(batch, r, c))
            toks = dec(batch.input_ids[r, cols].tolist())
            k = cols.index(c)
            text = "".join(toks[:k]) + "[[" + toks[k] + "]]" + "".join(toks[k + 1:])
            if text in texts:  # a group's G samples share a prompt: show each context once
                continue
            texts.append(text)
            contexts.append((toks, batch.action_mask[r, cols].bool().tolist(),
                             Strip(f"f{latent}", _values(idx[r, cols], z), vmax)))
        views.append(FeatureView(latent, stats, contexts))
        rows.append({"latent": latent, **stats, "contexts": texts})
    return views, rows


def episode_order(batch: RolloutBatch, acts: Activations, kl: torch.Tensor, n: int) -> list[int]:
    """Flagged episodes first, then by total KL to the base model."""
    total = torch.zeros(len(batch)).index_add_(0, acts.row, kl)
    order = total.argsort(descending=True).tolist()
    flagged = [r for r in order if (v := batch.episodes[r].verdict) is not None and v.flags]
    shown = set(flagged[: n // 2])
    rest = [r for r in order if r not in shown]
    return (flagged[: n // 2] + rest)[:n]


def episode_views(batch: RolloutBatch, acts: Activations, tokenizer, kl: torch.Tensor,
                  shifts: FeatureShifts, probe, x: torch.Tensor, held_rows: torch.Tensor,
                  n: int, per_episode: int = 2) -> list[EpisodeView]:
    """Episodes with strips: KL, their top `per_episode` latents, and the first probe."""
    idx, dec = token_index(batch, acts), Decoder(tokenizer)
    vmax_f = shifts.z_pol.max(0).values.clamp_min(1e-12)  # (n,)
    weight = torch.log10(1 / shifts.rho_pol.clamp_min(1e-6))  # (n,)
    kl_max = float(kl.max()) if len(kl) else 0.0
    probe_tok = None if probe is None else torch.sigmoid(probe[1].score(x))  # (M,)
    held = set(held_rows.tolist())
    views = []
    for r in episode_order(batch, acts, kl, n):
        cols = batch.attention_mask[r].nonzero().squeeze(1).tolist()
        ti = idx[r, cols]
        toks = dec(batch.input_ids[r, cols].tolist())
        act = batch.action_mask[r, cols].bool().tolist()
        strips = [Strip("KL(policy‖base)", _values(ti, kl), kl_max, "kl")]
        mine = (acts.row == r) & acts.is_action
        if mine.any():
            score = shifts.z_pol[mine].sum(0) / vmax_f * weight  # (n,)
            for latent in score.topk(per_episode).indices.tolist():
                if score[latent] > 0:
                    strips.append(Strip(f"f{latent}", _values(ti, shifts.z_pol[:, latent]),
                                        float(vmax_f[latent])))
        if probe_tok is not None:
            strips.append(Strip(f"probe {probe[0]}", _values(ti, probe_tok), 1.0, "probe"))
        e, v = batch.episodes[r], batch.episodes[r].verdict
        split = "held-out" if r in held else "train"
        views.append(EpisodeView(f"episode {r} ({split}) · {e.problem_id}", toks, act,
                                 float(v.reward) if v else math.nan,
                                 v.correct if v else None, v.reason if v else None,
                                 sorted(v.flags) if v else [], strips))
    return views
