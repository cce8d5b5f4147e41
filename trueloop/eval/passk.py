"""pass@k: the unbiased estimator (Chen et al. 2021, arXiv 2107.03374) and confidence intervals.

Legend: P problems, n samples per problem, c_i of them correct on problem i, k <= n.

    pass@k_i = 1 - C(n - c_i, k) / C(n, k)      computed as 1 - prod_{j=n-c+1}^{n} (1 - k / j)
    pass@k   = mean_i pass@k_i

The product form (from the paper's reference code) never forms a huge binomial, so it stays exact
to float precision for n in the thousands. Sampling k of n without replacement is what makes it
unbiased; 1 - (1 - c/n)^k is biased low and is not used.

Confidence intervals over problems (the problems are the random draw that matters for a
benchmark; the per-problem estimates already carry the within-problem sampling noise):
- "bootstrap" (default): percentile bootstrap, resampling problems with replacement, `n_boot`
  resamples from a seeded numpy generator, so the interval is reproducible. Tight and
  distribution-free, but it collapses to a zero-width interval when every problem has the same
  estimate (e.g. all 0 at the start of training) and it is rough for a handful of problems.
- "wilson": the Wilson score interval with the problem count P as the number of trials, applied to
  the mean of per-problem estimates. For any [0, 1]-valued variable with mean p the variance is at
  most p (1 - p), with equality for 0/1 outcomes, so this is exact in form for pass@1 with n = 1
  and conservative otherwise, for every k; unlike the bootstrap it never has zero width at 0 or 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

BOOT_CHUNK = 256
# bootstrap resamples drawn per numpy call (bounds memory at BOOT_CHUNK * P indices)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased probability that at least one of k samples (drawn from the n) is correct."""
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n; got n={n}, c={c}, k={k}.")
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_at_k_per_problem(correct_counts: Sequence[int], n: int, k: int) -> np.ndarray:
    """pass@k estimate of every problem. (P,) counts -> (P,) float64."""
    return np.array([pass_at_k(n, int(c), k) for c in correct_counts], dtype=np.float64)


def _bootstrap(values: np.ndarray, confidence: float, seed: int,
               n_boot: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = []
    for start in range(0, n_boot, BOOT_CHUNK):
        idx = rng.integers(0, len(values), size=(min(BOOT_CHUNK, n_boot - start), len(values)))
        means.append(values[idx].mean(axis=1))  # (chunk,)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(np.concatenate(means), [alpha, 1.0 - alpha])
    return float(low), float(high)


def _wilson(values: np.ndarray, confidence: float) -> tuple[float, float]:
    p, trials = float(values.mean()), len(values)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    denom = 1.0 + z * z / trials
    center = (p + z * z / (2 * trials)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return max(0.0, center - half), min(1.0, center + half)


def pass_at_k_ci(
    correct_counts: Sequence[int],
    n: int,
    k: int,
    *,
    confidence: float = 0.95,
    method: str = "bootstrap",
    seed: int = 0,
    n_boot: int = 2000,
) -> tuple[float, float, float]:
    """(mean pass@k over problems, CI low, CI high); `method` is "bootstrap" or "wilson"."""
    if len(correct_counts) == 0:
        raise ValueError("pass_at_k_ci needs at least one problem; got an empty list of counts.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}.")
    values = pass_at_k_per_problem(correct_counts, n, k)  # (P,)
    mean = float(values.mean())
    if method == "bootstrap":
        if n_boot < 1:
            raise ValueError(f"n_boot must be >= 1; got {n_boot}.")
        return (mean, *_bootstrap(values, confidence, seed, n_boot))
    if method == "wilson":
        return (mean, *_wilson(values, confidence))
    raise ValueError(f"unknown CI method {method!r}; known: ['bootstrap', 'wilson'].")


def passk_metrics(correct_counts: Sequence[int], n: int, ks: Sequence[int] = (1,), *,
                  prefix: str = "eval", **ci_kwargs) -> dict[str, float]:
    """`<prefix>/pass@k`, `/pass@k_low`, `/pass@k_high` for every k <= n in `ks`."""
    out: dict[str, float] = {}
    for k in sorted({k for k in ks if k <= n}):
        mean, low, high = pass_at_k_ci(correct_counts, n, k, **ci_kwargs)
        out |= {f"{prefix}/pass@{k}": mean, f"{prefix}/pass@{k}_low": low,
                f"{prefix}/pass@{k}_high": high}
    return out
