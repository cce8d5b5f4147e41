"""Read a run folder into one record, tolerating whatever is missing, and pull series out of it.

A run folder holds `config.json`, `metrics.jsonl` (one row per optimizer step), and for demo runs
`evals.json` ({"before"|"after": {SET: EvalResult.to_json()}}) and `summary.json`. Any of them may
be missing (a train run has no evals; a live run has few rows) or torn (a run killed mid-write):
such a file is recorded in `RunData.notes` and treated as absent, so the report says what it lacks
instead of crashing. Non-finite metrics arrive as `null` / `"inf"` (see `tracking._plain`) and are
dropped from series.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trueloop.tracking import read_metrics

PHASES = ("before", "after")
# the two sides of a demo's paired evaluation, in display order


@dataclass(frozen=True)
class RunData:
    """Everything a report draws from, as read from one run folder."""

    path: Path
    config: dict[str, Any]
    # resolved run config ({} when config.json is missing)
    rows: list[dict[str, Any]]
    # metrics.jsonl rows, in step order
    evals: dict[str, dict[str, dict[str, Any]]]
    # phase -> eval set -> EvalResult JSON ({} for a train run)
    summary: dict[str, Any]
    # summary.json ({} for a train run)
    notes: list[str] = field(default_factory=list)
    # one sentence per missing or unreadable file

    def eval_sets(self) -> list[str]:
        """Eval set names present in any phase, in first-seen order."""
        names: dict[str, None] = {}
        for phase in PHASES:
            names.update(dict.fromkeys(self.evals.get(phase, {})))
        return list(names)


def load_run(run_dir: str | Path) -> RunData:
    """Read every file a report uses; a missing or unreadable file becomes a note, not an error."""
    path = Path(run_dir)
    notes: list[str] = []
    config = _read_json(path / "config.json", notes, "the resolved config is not shown")
    summary = _read_json(path / "summary.json", notes, "no before/after summary (not a demo run?)")
    evals = _read_json(path / "evals.json", notes, "no held-out evaluation (not a demo run?)")
    evals = {p: {name: r for name, r in evals[p].items() if isinstance(r, dict)}
             for p in PHASES if isinstance(evals.get(p), dict)}
    rows = sorted((r for r in read_metrics(path / "metrics.jsonl") if isinstance(r, dict)
                   and isinstance(r.get("step"), int)), key=lambda r: r["step"])
    if not rows:
        notes.append("metrics.jsonl is missing or empty: no training curves.")
    return RunData(path, config, rows, evals, summary, notes)


def _read_json(path: Path, notes: list[str], consequence: str) -> dict[str, Any]:
    if not path.exists():
        notes.append(f"{path.name} is missing: {consequence}.")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        notes.append(f"{path.name} is unreadable ({type(e).__name__}): {consequence}.")
        return {}
    if not isinstance(data, dict):
        notes.append(f"{path.name} holds a {type(data).__name__}, not an object: {consequence}.")
        return {}
    return data


def finite(v: Any) -> bool:
    """A plottable number: int or float (not bool), finite."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def series(rows: list[dict[str, Any]], key: str, *, fill: float | None = None
           ) -> tuple[list[int], list[float]]:
    """(steps, values) of one metric; rows without it are skipped, or get `fill` when given."""
    steps, values = [], []
    for r in rows:
        v = r.get(key, fill)
        if finite(v):
            steps.append(r["step"])
            values.append(float(v))
    return steps, values


def keys_with_prefix(rows: list[dict[str, Any]], prefix: str) -> list[str]:
    """Every metric name starting with `prefix` in any row, sorted."""
    return sorted({k for r in rows for k in r if k.startswith(prefix)})


def smooth(values: list[float], span: float | None = None) -> list[float]:
    """Bias-corrected exponential moving average (TensorBoard-style); span defaults to n/15.

    y_t = m_t / (1 - w^t), m_t = w m_{t-1} + (1 - w) x_t, w = 1 - 2 / (span + 1). Trailing only:
    a point never looks at later steps, so a late jump is not smeared backwards; the price is a lag
    of about (span - 1) / 2 steps on a trend, hence the modest default span.
    """
    span = max(2.0, len(values) / 15) if span is None else span
    w = 1.0 - 2.0 / (span + 1.0)
    m, out = 0.0, []
    for t, x in enumerate(values, start=1):
        m = w * m + (1.0 - w) * x
        out.append(m / (1.0 - w**t) if w > 0 else x)
    return out


def wall_seconds(run: RunData) -> float | None:
    """The summary's wall time, else the sum of per-step `time/step`, else None."""
    if finite(run.summary.get("wall_seconds")):
        return float(run.summary["wall_seconds"])
    _, times = series(run.rows, "time/step")
    return sum(times) if times else None


STAGES = ("sample", "verify", "update")
# the timed stages of a training step (trueloop.update.compute)


def compute_summary(rows: list[dict[str, Any]], gained: float | None = None) -> dict[str, Any]:
    """Where the RL compute went, from the running totals of the last step that has them
    (`compute/cum_*`, `time/cum_*`; the prior and held-out evaluations not included), and, given
    the held-out pass@1 `gained` (after - before), points gained per PFLOP and per million
    tokens. {} for a run logged before compute accounting."""
    last = next((r for r in reversed(rows) if finite(r.get("compute/cum_flops"))), None)
    if last is None:
        return {}
    total = {k: float(last.get(f"compute/cum_{k}") or 0.0)
             for k in ("flops", "tokens_sampled", "tokens_trained", "tokens_forwarded")}
    out: dict[str, Any] = {
        **total, "pflops": total["flops"] / 1e15,
        "flops_by_stage": {s: float(last.get(f"compute/cum_flops_{s}") or 0.0)
                           for s in ("sample", "update")},
        "seconds_by_stage": {s: float(last.get(f"time/cum_{s}") or 0.0) for s in STAGES},
    }
    if finite(gained):
        points = 100.0 * gained
        out["points_per_pflop"] = points / out["pflops"] if total["flops"] else None
        for k in ("tokens_sampled", "tokens_trained"):
            out[f"points_per_million_{k}"] = points / (total[k] / 1e6) if total[k] else None
    return out
