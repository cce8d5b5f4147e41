"""Per-step episode metrics: how episodes ended, how long they ran, how tools were used."""

from __future__ import annotations

from collections import Counter

from trueloop.types import STOP_REASONS, Episode


def episode_metrics(episodes: list[Episode]) -> dict[str, float]:
    """`episode/*`: turns, tool calls, per-tool call and error rates, stop-reason fractions, and
    action vs observation tokens, averaged over the batch's episodes; with environments whose
    verdicts carry `details["age"]` (memory: the fact was shown k episodes ago), success by age."""
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
    out.update(success_by_age(episodes))
    return out


def success_by_age(episodes: list[Episode]) -> dict[str, float]:
    """`episode/success_by_age/<k>`: the correct rate of the episodes whose verdict says the fact
    they needed was shown k episodes earlier (`memory`), and `episode/stored_by_age/<k>`: how
    often the store held it at all (so "never written" and "not read back" come apart)."""
    by: dict[int, list[tuple[bool, bool]]] = {}
    for e in episodes:
        d = e.verdict.details if e.verdict is not None else {}
        if isinstance(d.get("age"), int):
            by.setdefault(d["age"], []).append((bool(e.verdict.correct), bool(d.get("stored"))))
    out = {}
    for age, rows in sorted(by.items()):
        out[f"episode/success_by_age/{age}"] = sum(c for c, _ in rows) / len(rows)
        out[f"episode/stored_by_age/{age}"] = sum(s for _, s in rows) / len(rows)
    return out
