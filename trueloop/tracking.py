"""Experiment tracking: `metrics.jsonl` always (one row per step, with a `step` field), TensorBoard
when asked. On resume the JSONL is truncated to the steps before the checkpoint, so a run killed
between a checkpoint and its next one logs every step exactly once."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

TIMING_PREFIXES = ("time/", "perf/")
# metrics that legitimately differ between two runs of the same seed (wall-clock figures)


class MetricsLog:
    def __init__(self, out: Path, *, resume_step: int = 0, tensorboard: bool = False) -> None:
        self.path = Path(out) / "metrics.jsonl"
        rows = [r for r in read_metrics(self.path) if r["step"] < resume_step]
        rows = rows if resume_step else []
        with open(self.path, "w", encoding="utf-8") as f:  # rewrite: drop steps past the checkpoint
            for r in rows:
                f.write(json.dumps(r) + "\n")
        self._file = open(self.path, "a", encoding="utf-8")
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # lazy: an optional extra

            self._tb = SummaryWriter(str(Path(out) / "tensorboard"))

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        row = {"step": step, **{k: _plain(v) for k, v in sorted(metrics.items())}}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        if self._tb is not None:
            for k, v in row.items():
                if isinstance(v, int | float) and k != "step":
                    self._tb.add_scalar(k, v, step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a metrics.jsonl; a torn last line (a run killed mid-write) is skipped."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else str(v)
    return v
