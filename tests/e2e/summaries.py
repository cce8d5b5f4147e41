"""Helpers for comparing demo summaries across reruns."""

from __future__ import annotations

TIMINGS = ("seconds", "wall_seconds", "prior_cached")
# summary.json keys that depend on the clock or the cache, not on the seed


def without_timings(summary: dict) -> dict:
    """The summary with its clock-dependent parts dropped (compute's seconds by stage too)."""
    out = {k: v for k, v in summary.items() if k not in TIMINGS}
    if "compute" in out:
        out["compute"] = {k: v for k, v in out["compute"].items() if k != "seconds_by_stage"}
    return out
