"""TopK sparse autoencoder with the AuxK dead-latent loss (Gao et al. 2024, arXiv 2406.04093).

    x_n   = c x                                   c = sqrt(D) / E||x||, so E||x_n|| = sqrt(D)
    pre   = W_enc (x_n - b_dec) + b_enc           (n,) pre-activations
    z     = ReLU(TopK_k(pre))                     k largest kept, the rest 0; L0 <= k
    x_hat = (W_dec^T z + b_dec) / c
    L     = ||x_n - x_hat_n||^2 + alpha * L_aux

Sparsity is the hyper-parameter k (no L1 coefficient to sweep, no shrinkage). Training follows
the paper's recipe: decoder rows unit norm (the gradient component along each row removed before
the step, rows renormalised after), W_enc = W_dec^T and b_dec = data mean at init, Adam with
lr = 2e-4 / sqrt(n / 2^14), gradient norm clipped to 1, the learning rate decayed linearly to 0
over the last 20% of steps, fp32 parameters always.

Departures: the AuxK top-k runs over the *raw* pre-activations of dead latents (as SAELens does),
not ReLU'd ones: a latent whose pre-activations are all negative gets no gradient through a ReLU
and never revives (interp-notes T3: 50% dead stays 50% dead with ReLU, 3.9% with raw). The aux
coefficient is alpha = aux_coef * min(n_dead / k_aux, 1), so a run with few dead latents is not
pulled by a loss over mostly-alive ones. "Dead" counts training tokens since a latent last fired
(the paper's 10M tokens is most of a tiny run; the default here is 5% of the training tokens).
On save the scale c is folded into the weights (W_enc c, W_dec / c, b_dec / c), so the saved
file encodes raw activations; the JSON records c.

Legend: D input width, n latents, k active latents, B tokens in a batch.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

WEIGHTS = ("W_enc", "b_enc", "W_dec", "b_dec")


@dataclass(frozen=True)
class SAEConfig:
    n_latents: int
    # dictionary size n (8 x D on the tiny model)
    k: int = 16
    # active latents per token
    steps: int = 1500
    # optimiser steps
    batch_tokens: int = 4096
    # tokens per step
    lr: float | None = None
    # None: 2e-4 / sqrt(n / 2^14) (Gao et al. scaling)
    k_aux: int | None = None
    # dead latents used by AuxK; None: D / 2
    aux_coef: float = 1 / 32
    # alpha before the min(n_dead / k_aux, 1) factor
    dead_frac: float = 0.05
    # a latent is dead after this fraction of all training tokens without firing
    decay_frac: float = 0.2
    # final fraction of steps with linear learning-rate decay
    seed: int = 0


class TopKSAE(torch.nn.Module):
    def __init__(self, d_in: int, n_latents: int, k: int) -> None:
        super().__init__()
        self.d_in, self.n_latents, self.k = d_in, n_latents, k
        self.W_enc = torch.nn.Parameter(torch.zeros(n_latents, d_in))
        self.b_enc = torch.nn.Parameter(torch.zeros(n_latents))
        self.W_dec = torch.nn.Parameter(torch.zeros(n_latents, d_in))
        self.b_dec = torch.nn.Parameter(torch.zeros(d_in))
        self.register_buffer("scale", torch.ones(()))
        self.meta: dict = {}

    def preacts(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D) raw activations -> (B, n) pre-activations."""
        return (x * self.scale - self.b_dec) @ self.W_enc.T + self.b_enc

    def topk(self, pre: torch.Tensor) -> torch.Tensor:
        """(B, n) pre-activations -> (B, n) codes, k nonzero at most per row."""
        top = pre.topk(self.k, dim=-1)
        return torch.zeros_like(pre).scatter_(-1, top.indices, top.values.relu())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.topk(self.preacts(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.W_dec + self.b_dec) / self.scale

    def decode_sparse(self, idx: torch.Tensor, vals: torch.Tensor) -> torch.Tensor:
        """(B, k) latent ids and values -> (B, D) reconstruction in normalised units, without
        forming the (B, n) codes (the training path: k/n of a dense decode's work)."""
        return F.embedding_bag(idx, self.W_dec, per_sample_weights=vals, mode="sum") + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def folded(self) -> dict[str, torch.Tensor]:
        """Weights with the scale folded in: the same encode/decode on raw x with scale 1."""
        c = self.scale.item()
        return {"W_enc": self.W_enc.detach() * c, "b_enc": self.b_enc.detach().clone(),
                "W_dec": self.W_dec.detach() / c, "b_dec": self.b_dec.detach() / c}

    def save(self, folder: str | Path, name: str = "sae") -> Path:
        """`folder/name.safetensors` (folded weights) + `folder/name.json` (config, provenance)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.folded().items()},
                  str(folder / f"{name}.safetensors"))
        meta = {"d_in": self.d_in, "n_latents": self.n_latents, "k": self.k,
                "architecture": "topk", **self.meta,
                "normalisation": {"scale": self.scale.item(), "folded": True}}
        (folder / f"{name}.json").write_text(json.dumps(meta, indent=1))
        return folder / f"{name}.safetensors"

    @classmethod
    def load(cls, folder: str | Path, name: str = "sae") -> TopKSAE:
        folder = Path(folder)
        meta = json.loads((folder / f"{name}.json").read_text())
        sae = cls(meta["d_in"], meta["n_latents"], meta["k"])
        weights = load_file(str(folder / f"{name}.safetensors"))
        with torch.no_grad():
            for key in WEIGHTS:
                getattr(sae, key).copy_(weights[key])
        sae.meta = {k: v for k, v in meta.items()
                    if k not in ("d_in", "n_latents", "k", "architecture", "normalisation")}
        return sae


def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """L_rec = mean_b ||x_b - x_hat_b||^2 (summed over D; normalised units, so ~D at x_hat = 0)."""
    return (x - x_hat).pow(2).sum(-1).mean()


def auxk_loss(err: torch.Tensor, aux_idx: torch.Tensor, aux_pre: torch.Tensor,
              W_dec: torch.Tensor) -> torch.Tensor:
    """L_aux = sum_b ||e_b - e_hat_b||^2 / sum_b ||e_b||^2, the residual e = x - x_hat (detached)
    rebuilt from the k_aux largest *raw* pre-activations of dead latents (`aux_idx`, `aux_pre`,
    (B, k_aux), may be < 0): e_hat = sum_j aux_pre_bj W_dec[aux_idx_bj]."""
    e_hat = F.embedding_bag(aux_idx, W_dec, per_sample_weights=aux_pre, mode="sum")  # (B, D)
    return (err - e_hat).pow(2).sum() / err.pow(2).sum().clamp_min(1e-12)


def dead_topk(pre: torch.Tensor, dead: torch.Tensor, k_aux: int) -> torch.Tensor:
    """(B, n) pre-activations -> (B, min(k_aux, n_dead)) ids of the largest dead ones."""
    return pre.masked_fill(~dead, float("-inf")).topk(min(k_aux, int(dead.sum())), dim=-1).indices


@dataclass
class TrainLog:
    steps: list[int] = field(default_factory=list)
    mse: list[float] = field(default_factory=list)
    aux: list[float] = field(default_factory=list)
    dead_fraction: list[float] = field(default_factory=list)


def init_sae(x_n: torch.Tensor, cfg: SAEConfig, generator: torch.Generator) -> TopKSAE:
    d = x_n.shape[1]
    sae = TopKSAE(d, cfg.n_latents, cfg.k)
    w = torch.randn(cfg.n_latents, d, generator=generator)
    w = w / w.norm(dim=1, keepdim=True)
    with torch.no_grad():
        sae.W_dec.copy_(w)
        sae.W_enc.copy_(w)
        sae.b_dec.copy_(x_n.mean(0))
    return sae


def lr_at(step: int, cfg: SAEConfig, base: float) -> float:
    start = int(cfg.steps * (1 - cfg.decay_frac))
    return base if step < start else base * (cfg.steps - step) / max(1, cfg.steps - start)


def _project_out_row_grads(W_dec: torch.nn.Parameter) -> None:
    """Remove each decoder row's gradient component along the (unit) row."""
    if W_dec.grad is not None:
        W_dec.grad -= (W_dec.grad * W_dec).sum(1, keepdim=True) * W_dec


def train_sae(x: torch.Tensor, cfg: SAEConfig, log_every: int = 100) -> tuple[TopKSAE, TrainLog]:
    """Fit a TopK SAE to (M, D) raw activations; returns the SAE (scale set) and its log."""
    g = torch.Generator().manual_seed(cfg.seed)
    x = x.float()
    c = math.sqrt(x.shape[1]) / x.norm(dim=1).mean().clamp_min(1e-12).item()
    x_n = x * c
    sae = init_sae(x_n, cfg, g)
    k_aux = cfg.k_aux or max(1, x.shape[1] // 2)
    base_lr = cfg.lr or 2e-4 / math.sqrt(cfg.n_latents / 2**14)
    opt = torch.optim.Adam(sae.parameters(), lr=base_lr, betas=(0.9, 0.999))
    dead_after = max(cfg.batch_tokens, int(cfg.dead_frac * cfg.steps * cfg.batch_tokens))
    since_fired = torch.zeros(cfg.n_latents, dtype=torch.long)
    log = TrainLog()
    for step in range(cfg.steps):
        idx = torch.randint(0, x_n.shape[0], (cfg.batch_tokens,), generator=g)
        xb = x_n[idx]  # (B, D), already normalised: the module's scale is still 1 here
        pre = sae.preacts(xb)  # (B, n)
        top = pre.topk(cfg.k, dim=-1)
        top_idx, vals = top.indices, top.values.relu()  # (B, k)
        x_hat = sae.decode_sparse(top_idx, vals)
        dead = since_fired >= dead_after
        mse = reconstruction_loss(xb, x_hat)
        loss, aux = mse, torch.zeros(())
        if dead.any():
            alpha = cfg.aux_coef * min(int(dead.sum()) / k_aux, 1.0)
            aux_idx = dead_topk(pre.detach(), dead, k_aux)
            aux = auxk_loss((xb - x_hat).detach(), aux_idx, pre.gather(1, aux_idx), sae.W_dec)
            loss = mse + alpha * aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _project_out_row_grads(sae.W_dec)
        torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg, base_lr)
        opt.step()
        with torch.no_grad():
            sae.W_dec /= sae.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)
            fired = torch.zeros(cfg.n_latents, dtype=torch.bool)
            fired[top_idx[vals > 0]] = True
            since_fired = torch.where(fired, 0, since_fired + cfg.batch_tokens)
        if step % log_every == 0 or step == cfg.steps - 1:
            log.steps.append(step)
            log.mse.append(mse.item())
            log.aux.append(float(aux.detach()))
            log.dead_fraction.append(float(dead.float().mean()))
    with torch.no_grad():
        sae.scale.fill_(c)
    sae.meta = {"train": {**asdict(cfg), "lr": base_lr, "k_aux": k_aux, "tokens": len(x)}}
    return sae, log


def model_hash(model: torch.nn.Module) -> str:
    """sha256 over the parameter names, shapes and bytes: which weights the SAE was trained on."""
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(p.shape)).encode())
        h.update(p.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]
