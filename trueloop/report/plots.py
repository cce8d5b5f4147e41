"""The report's PNG plots: one function per plot, each `(RunData) -> Figure | None`.

A function returns None when the run lacks its data (a train run has no evals; an early run may
have no flags), and `write_plots` then removes any stale PNG of that name. Noisy per-step series are
drawn as faint raw points under a trailing EMA (`run.smooth`). Figures are built with
`matplotlib.figure.Figure` directly (Agg canvas, no pyplot global state), so reports can be written
from any thread and never open a window.

How to add a plot: write `def plot_<name>(run) -> Figure | None` whose docstring's first line is
its caption, and add it to `PLOTS`; the HTML page picks it up in dict order.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from trueloop.report.run import PHASES, RunData, finite, keys_with_prefix, series, smooth

WIDTH, HEIGHT, DPI = 6.4, 3.4, 100
# inches of a one-panel figure, and dots per inch: 640x340 px reads well in a mail client
PANEL_WIDTH = 4.2
# inches per panel in a multi-panel row
PHASE_COLORS = {"before": "#9e9e9e", "after": "#1f77b4"}
STEP = "optimizer step"
REASON_COLORS = {"ok": "#2ca02c", "wrong": "#d62728", "no_answer": "#ff7f0e",
                 "multiple_answers": "#9467bd", "timeout": "#8c564b", "bad_input": "#7f7f7f"}
# fixed colours for the shared verdict reasons, so reports compare at a glance
MIN_SMOOTH_POINTS = 8
# below this many points a curve is drawn as plain markers + line (an EMA would only lag)


def _figure(panels: int = 1, cols: int | None = None) -> tuple[Figure, list[Axes]]:
    cols = cols or panels
    rows = -(-panels // cols)
    width = WIDTH if cols == 1 else PANEL_WIDTH * cols
    fig = Figure(figsize=(width, HEIGHT * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[panels:]:
        ax.set_visible(False)
    return fig, axes[:panels]


def _curve(ax: Axes, steps: list[int], values: list[float], label: str, color: str | None = None
           ) -> None:
    """Raw points faintly, a smoothed line on top (plain line for short series)."""
    if len(values) < MIN_SMOOTH_POINTS:
        ax.plot(steps, values, marker="o", ms=3, label=label, color=color)
        return
    (line,) = ax.plot(steps, smooth(values), label=f"{label} (EMA)", color=color, lw=1.8)
    ax.scatter(steps, values, s=6, alpha=0.25, color=line.get_color(), linewidths=0)


def _finish(ax: Axes, title: str, ylabel: str, xlabel: str = STEP, *, outside: bool = False
            ) -> None:
    ax.set_title(title, fontsize=10)
    if xlabel == STEP:
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if handles:  # one entry per label (grouped bars repeat theirs)
        unique = dict(zip(labels, handles, strict=True))
        where = {"loc": "upper left", "bbox_to_anchor": (1.01, 1)} if outside else {"loc": "best"}
        ax.legend(unique.values(), unique.keys(), fontsize=7, **where)


REWARD_STATS = ("reward/mean", "reward/std", "reward/zero_var_frac", "reward/adv_abs_mean")
# reward/* keys that describe the batch; every other reward/* key is a named reward component


def plot_reward(run: RunData) -> Figure | None:
    """Training reward, rollout accuracy, and groups without signal per step; eval/* as markers."""
    keys = [k for k in ("reward/mean", "rollout/accuracy", "reward/zero_var_frac")
            if series(run.rows, k)[0]]
    evals = [k for k in keys_with_prefix(run.rows, "eval/")
             if all(0 <= v <= 1 for v in series(run.rows, k)[1]) and series(run.rows, k)[0]]
    if not keys and not evals:
        return None
    fig, (ax,) = _figure()
    for k in keys:
        _curve(ax, *series(run.rows, k), label=k)
    for k in evals:
        ax.plot(*series(run.rows, k), marker="D", ms=4, ls="--", label=k)
    _finish(ax, "Reward and accuracy during training", "value")
    return fig


def plot_reward_terms(run: RunData) -> Figure | None:
    """Named reward components (correctness, format, overlong penalty, ...) per step."""
    keys = [k for k in keys_with_prefix(run.rows, "reward/")
            if k not in REWARD_STATS and series(run.rows, k)[0]]
    if not keys:
        return None
    fig, (ax,) = _figure()
    for k in keys:
        _curve(ax, *series(run.rows, k), label=k.removeprefix("reward/"))
    _finish(ax, "Reward components", "mean per completion")
    return fig


def plot_time(run: RunData) -> Figure | None:
    """Seconds per step by stage (sample, verify, update) and rollout throughput."""
    stages = [k for k in ("time/sample", "time/verify", "time/update", "time/step")
              if series(run.rows, k)[0]]
    tps = series(run.rows, "perf/tokens_per_s")
    if not stages and not tps[0]:
        return None
    fig, (ax1, ax2) = _figure(2)
    for k in stages:
        _curve(ax1, *series(run.rows, k), label=k.removeprefix("time/"))
    _finish(ax1, "Time per step", "seconds")
    _curve(ax2, *tps, label="perf/tokens_per_s", color="#2ca02c")
    _finish(ax2, "Rollout throughput", "tokens / s")
    return fig


def plot_length(run: RunData) -> Figure | None:
    """Mean completion length (tokens) and the fraction cut off at max_new_tokens."""
    length = series(run.rows, "rollout/length_mean")
    trunc = series(run.rows, "rollout/truncated_frac")
    if not length[0] and not trunc[0]:
        return None
    fig, (ax1, ax2) = _figure(2)
    _curve(ax1, *length, label="rollout/length_mean")
    _finish(ax1, "Completion length", "tokens")
    _curve(ax2, *trunc, label="rollout/truncated_frac", color="#d62728")
    _finish(ax2, "Truncated completions", "fraction")
    return fig


def plot_episodes(run: RunData) -> Figure | None:
    """Multi-turn episodes: turns and tool calls per episode, and how episodes ended, per step."""
    turns = series(run.rows, "episode/turns_mean")
    if not turns[1] or max(turns[1]) <= 1.0:  # single-turn runs: nothing to show
        return None
    fig, (ax1, ax2) = _figure(2)
    _curve(ax1, *turns, label="turns / episode")
    _curve(ax1, *series(run.rows, "episode/tool_calls_mean"), label="tool calls / episode",
           color="#ff7f0e")
    _finish(ax1, "Turns and tool calls", "per episode")
    for key in keys_with_prefix(run.rows, "episode/stop/"):
        steps, values = series(run.rows, key)
        if any(values):
            _curve(ax2, steps, values, label=key.removeprefix("episode/stop/"))
    _finish(ax2, "How episodes ended", "fraction", outside=True)
    return fig


def plot_reasons(run: RunData) -> Figure | None:
    """Verdict reasons over time, stacked (a reason missing from a step's row counts 0)."""
    keys = keys_with_prefix(run.rows, "verify/reason/")
    if not keys:
        return None
    steps = [r["step"] for r in run.rows]
    stacks = [series(run.rows, k, fill=0.0)[1] for k in keys]
    if any(len(s) != len(steps) for s in stacks):  # a non-finite rate: keep only full steps
        return None
    fig, (ax,) = _figure()
    names = [k.removeprefix("verify/reason/") for k in keys]
    spare = iter(["#1f77b4", "#17becf", "#bcbd22", "#e377c2", "#aec7e8", "#ffbb78"] * 4)
    ax.stackplot(steps, *[smooth(s) if len(s) >= MIN_SMOOTH_POINTS else s for s in stacks],
                 labels=names, colors=[REASON_COLORS.get(n) or next(spare) for n in names],
                 alpha=0.85)
    ax.set_ylim(0, max(1.0, max(sum(col) for col in zip(*stacks, strict=True))))
    _finish(ax, "Verdict reasons (EMA of per-step rates)", "fraction of completions", outside=True)
    return fig


def plot_hacks(run: RunData) -> Figure | None:
    """Hack-flag rates, the overall hack rate, and the audit monitors over time."""
    flags = keys_with_prefix(run.rows, "verify/flag/")
    extra = [k for k in ("verify/hack_rate", *keys_with_prefix(run.rows, "audit/"))
             if series(run.rows, k)[0]]
    if not flags and not extra:
        return None
    fig, (ax,) = _figure()
    for k in flags:
        _curve(ax, *series(run.rows, k, fill=0.0), label=k.removeprefix("verify/"))
    for k in extra:
        _curve(ax, *series(run.rows, k), label=k)
    _finish(ax, "Hack flags and audit monitors", "rate")
    return fig


def plot_shadow(run: RunData) -> Figure | None:
    """Training accuracy against the shadow verifier's on the same rollouts; the alarm's step."""
    if not series(run.rows, "audit/shadow_accuracy")[0]:
        return None
    fig, (ax,) = _figure()
    for k in ("audit/sample_train_accuracy", "audit/shadow_accuracy",
              "audit/shadow_disagreement", "audit/canary_hits"):
        if series(run.rows, k)[0]:
            _curve(ax, *series(run.rows, k), label=k.removeprefix("audit/"))
    fired = [r["step"] for r in run.rows if r.get("audit/alarm") == 1]
    if fired:
        ax.axvline(fired[0], color="#d62728", ls="--", lw=1, label=f"alarm (step {fired[0]})")
    _finish(ax, "Training verifier vs shadow verifier", "accuracy / rate")
    return fig


UPDATE_PANELS = (
    ("update/loss", "loss"), ("update/entropy", "entropy (nats/token)"),
    ("update/kl", "KL to reference"), ("update/grad_norm", "grad norm (pre-clip)"),
    ("update/clip_frac", "clipped ratio fraction"), ("update/lr", "learning rate"),
)
# (metric or prefix, y label); "update/clip_frac" gathers clip_frac_low and clip_frac_high


def plot_update(run: RunData) -> Figure | None:
    """Optimizer diagnostics: loss, entropy, KL, gradient norm, clipping, learning rate."""
    panels = [(keys_with_prefix(run.rows, key), label) for key, label in UPDATE_PANELS]
    panels = [(ks, label) for ks, label in panels if any(series(run.rows, k)[0] for k in ks)]
    if not panels:
        return None
    fig, axes = _figure(len(panels), cols=min(3, len(panels)))
    for ax, (ks, label) in zip(axes, panels, strict=True):
        for k in ks:
            _curve(ax, *series(run.rows, k), label=k.removeprefix("update/"))
        _finish(ax, label, label)
    return fig


SAMPLER_PANELS = (
    (("mismatch/logp_abs_mean", "mismatch/logp_abs_max", "rollout/sync_logp_gap"),
     "|log p sampler - log p trainer|"),
    (("mismatch/is_ratio_mean", "mismatch/is_ratio_max", "mismatch/is_ess"), "IS ratio, ESS"),
    (("mismatch/is_clip_frac",), "share capped / dropped"),
)
# (keys, y label) per panel of the sampler plot


def plot_sampler(run: RunData) -> Figure | None:
    """Sampler vs trainer: log-prob gap, sync probe, IS ratios (vLLM / old_logprobs = trainer)."""
    panels = [(ks, label) for ks, label in SAMPLER_PANELS
              if any(series(run.rows, k)[0] for k in ks)]
    if not panels:
        return None
    fig, axes = _figure(len(panels), cols=len(panels))
    for ax, (ks, label) in zip(axes, panels, strict=True):
        for k in ks:
            steps, values = series(run.rows, k)
            if steps:
                _curve(ax, steps, values, label=k.split("/", 1)[1])
        if "|log p" in label:
            ax.set_yscale("symlog", linthresh=1e-6)
        _finish(ax, label, label)
    return fig


def _pass_keys(result: dict[str, Any]) -> list[tuple[str, str]]:
    k = result.get("k", 1)
    return [("pass@1", "pass@1_ci"), (f"pass@{k}", f"pass@{k}_ci")] if k != 1 else [
        ("pass@1", "pass@1_ci")]


def _bar(ax: Axes, x: float, result: dict[str, Any] | None, key: str, phase: str, width: float
         ) -> None:
    if not result or not finite(result.get(key)):
        return
    p = result[key]
    lo, hi = (result.get(f"{key}_ci") or [p, p])[:2]
    ax.bar(x, p, width, color=PHASE_COLORS[phase], label=phase,
           yerr=[[max(0.0, p - lo)], [max(0.0, hi - p)]], capsize=3, error_kw={"lw": 1})


def plot_passk(run: RunData) -> Figure | None:
    """Held-out pass@1 and pass@k per eval set, before vs after RL, with 95% CI error bars."""
    sets = run.eval_sets()
    if not sets:
        return None
    first = next(run.evals[p][s] for p in PHASES for s in sets if s in run.evals.get(p, {}))
    metrics = [m for m, _ in _pass_keys(first)]
    fig, axes = _figure(len(metrics))
    for ax, metric in zip(axes, metrics, strict=True):
        for i, name in enumerate(sets):
            for j, phase in enumerate(PHASES):
                _bar(ax, i + (j - 0.5) * 0.38, run.evals.get(phase, {}).get(name), metric, phase,
                     0.36)
        ax.set_xticks(range(len(sets)), sets, rotation=20 if len(sets) > 4 else 0)
        ax.set_ylim(0, 1.05)
        _finish(ax, f"Held-out {metric}", metric, xlabel="eval set")
    return fig


def level_points(run: RunData, axis: str, phase: str) -> list[tuple[int, dict[str, Any]]]:
    """(level, result) for eval sets that differ from the reference set only along `axis`.

    The reference is the "target" set (else the first); holding the task and the other axis fixed
    makes the curve a controlled comparison rather than a mix of cells.
    """
    results = run.evals.get(phase, {})
    sets = run.eval_sets()
    ref_name = "target" if "target" in sets else (sets[0] if sets else None)
    ref = next((run.evals[p][ref_name] for p in PHASES if ref_name in run.evals.get(p, {})), None)
    if ref is None:
        return []
    other = "horizon" if axis == "difficulty" else "difficulty"
    points: dict[int, dict[str, Any]] = {}
    for r in results.values():
        if (r.get("task") == ref.get("task") and r.get(other) == ref.get(other)
                and isinstance(r.get(axis), int)):
            points.setdefault(r[axis], r)
    return sorted(points.items())


def plot_levels(run: RunData) -> Figure | None:
    """Held-out pass@1 by horizon and by difficulty (the other knob held at the target's value)."""
    axes_with_data = [a for a in ("horizon", "difficulty")
                      if len({x for p in PHASES for x, _ in level_points(run, a, p)}) >= 2]
    if not axes_with_data:
        return None
    fig, axes = _figure(len(axes_with_data))
    for ax, axis in zip(axes, axes_with_data, strict=True):
        for phase in PHASES:
            pts = [(x, r) for x, r in level_points(run, axis, phase) if finite(r.get("pass@1"))]
            if not pts:
                continue
            xs, ps = [x for x, _ in pts], [r["pass@1"] for _, r in pts]
            cis = [(r.get("pass@1_ci") or [p, p])[:2] for (_, r), p in zip(pts, ps, strict=True)]
            err = [[max(0.0, p - lo) for p, (lo, _) in zip(ps, cis, strict=True)],
                   [max(0.0, hi - p) for p, (_, hi) in zip(ps, cis, strict=True)]]
            ax.errorbar(xs, ps, yerr=err, marker="o", capsize=3, label=phase,
                        color=PHASE_COLORS[phase])
        ax.set_ylim(0, 1.05)
        ax.xaxis.get_major_locator().set_params(integer=True)
        _finish(ax, f"Held-out pass@1 by {axis}", "pass@1", xlabel=axis)
    return fig


def plot_curriculum(run: RunData) -> Figure | None:
    """Curriculum: the level trained at each step, and each level's group pass rate (window mean)
    against the learnable band."""
    steps, levels = series(run.rows, "curriculum/level")
    if not steps:
        return None
    fig, (ax1, ax2) = _figure(2)
    ax1.step(steps, levels, where="post", color="#1f77b4")
    ax1.set_yticks(sorted(set(levels)))
    _finish(ax1, "Curriculum level", str(run.config.get("curriculum", {}).get("knob", "level")))
    for key in sorted(keys_with_prefix(run.rows, "curriculum/pass_rate/"),
                      key=lambda k: int(k.rsplit("/", 1)[1])):
        ax2.plot(*series(run.rows, key), marker="o", ms=3, label=key.rsplit("/", 1)[1])
    band = run.config.get("curriculum", {}).get("band")
    if isinstance(band, list) and len(band) == 2:
        ax2.axhspan(band[0], band[1], color="#2ca02c", alpha=0.1, label="band")
    ax2.set_ylim(-0.02, 1.02)
    _finish(ax2, "Group pass rate by level", "pass rate")
    return fig


def plot_compute(run: RunData) -> Figure | None:
    """Cumulative estimated PFLOPs per step, and held-out pass@1 against them (when evaluated
    during training)."""
    steps, flops = series(run.rows, "compute/cum_flops")
    if not steps:
        return None
    fig, (ax1, ax2) = _figure(2)
    ax1.plot(steps, [f / 1e15 for f in flops], color="#9467bd")
    _finish(ax1, "Cumulative compute", "PFLOP")
    at = dict(zip(steps, flops, strict=True))
    evals = [(at[s] / 1e15, v) for s, v in zip(*series(run.rows, "eval/pass@1"), strict=True)
             if s in at]
    if evals:
        ax2.plot(*zip(*evals, strict=True), marker="D", ms=4, label="eval/pass@1")
    _finish(ax2, "Held-out pass@1 vs compute", "pass@1", xlabel="PFLOP")
    return fig


PLOTS: dict[str, Callable[[RunData], Figure | None]] = {
    "reward": plot_reward,
    "passk": plot_passk,
    "levels": plot_levels,
    "length": plot_length,
    "episodes": plot_episodes,
    "reasons": plot_reasons,
    "hacks": plot_hacks,
    "shadow": plot_shadow,
    "update": plot_update,
    "sampler": plot_sampler,
    "reward_terms": plot_reward_terms,
    "time": plot_time,
    "curriculum": plot_curriculum,
    "compute": plot_compute,
}
# file stem -> plot; the HTML shows them in this order


def caption(name: str) -> str:
    """A plot's caption: the first line of its function's docstring."""
    return (PLOTS[name].__doc__ or name).strip().splitlines()[0]


def write_plots(run: RunData, out_dir: Path) -> dict[str, Path]:
    """Draw every plot the run has data for into `out_dir/<name>.png`; remove stale ones."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, plot in PLOTS.items():
        path = out_dir / f"{name}.png"
        fig = plot(run)
        if fig is None:
            path.unlink(missing_ok=True)
            continue
        fig.savefig(path, dpi=DPI)
        written[name] = path
    return written
