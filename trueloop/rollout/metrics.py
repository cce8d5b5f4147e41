"""Per-step episode metrics: how episodes ended, how long they ran, how tools were used."""

from __future__ import annotations

from collections import Counter

from trueloop.types import STOP_REASONS, Episode


def episode_metrics(episodes: list[Episode]) -> dict[str, float]:
    """`episode/*`: turns, tool calls, per-tool call and error rates, stop-reason fractions, and
    action vs observation tokens, averaged over the batch's episodes."""
    n = max(len(episodes), 1)
    out = {
        "episode/turns_mean": sum(len(e.turns) for e in episodes) / n,
        "episode/tool_calls_mean": sum(sum(e.tool_calls.values()) for e in episodes) / n,
        "episode/action_tokens_mean": sum(e.action_tokens for e in episodes) / n,
        "episode/observation_tokens_mean": sum(e.observation_tokens for e in episodes) / n,
    }
    stops = Counter(e.stop_reason for e in episodes)
    out.update({f"episode/stop/{r}": stops.get(r, 0) / n for r in STOP_REASONS})
    calls: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for e in episodes:
        calls.update(e.tool_calls)
        errors.update(e.tool_errors)
    for tool, c in calls.items():
        out[f"episode/tool/{tool}/calls_mean"] = c / n
        out[f"episode/tool/{tool}/error_rate"] = errors.get(tool, 0) / c
    return out
