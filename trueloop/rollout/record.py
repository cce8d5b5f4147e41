"""Episodes kept in the run folder: `RUN/episodes/step_<N>.jsonl.gz`, one JSON line per episode.

Each line: step, problem id and prompt, the turns (action / observation texts), stop reason,
reward, the verdict's correctness, reason and flags, tool calls and errors, and token counts; and,
so that `trueloop rescore` can rebuild the problem and judge the episode again, the problem's
gold answer and its place in the problem stream (`stream`: split, seed, index, difficulty,
horizon). Files from before `stream` existed still read (rescore falls back to the problem id).
Written atomically per step (temp file + rename), so a killed run leaves whole files only, and a
resumed run rewrites the steps it repeats. `trueloop episodes RUN` prints them; the report shows a
few; re-scoring a finished run can read them back (`read_episodes`).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

from trueloop.types import Episode, Problem

FOLDER = "episodes"
STREAM_KEYS = ("split", "seed", "index", "difficulty", "horizon")
# Problem.meta keys that fix a procedural problem (with the task's name)


def episode_json(step: int, problem: Problem, ep: Episode, reward: float) -> dict[str, Any]:
    v = ep.verdict
    return {
        "step": step, "problem_id": ep.problem_id, "prompt": problem.prompt,
        "answer": problem.answer, "stream": {k: problem.meta.get(k) for k in STREAM_KEYS},
        "turns": [{"action": t.action, "observation": t.observation} for t in ep.turns],
        "stop_reason": ep.stop_reason, "reward": reward,
        "correct": bool(v.correct) if v else None, "reason": v.reason if v else None,
        "flags": sorted(v.flags) if v else [], "extracted": v.extracted if v else None,
        "tool_calls": ep.tool_calls, "tool_errors": ep.tool_errors, "error": ep.error,
        "action_tokens": ep.action_tokens, "observation_tokens": ep.observation_tokens,
    }


def save_episodes(out: Path, step: int, rows: list[dict[str, Any]]) -> Path:
    folder = Path(out) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step_{step:06d}.jsonl.gz"
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8", errors="backslashreplace") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=True) + "\n")
    os.replace(tmp, path)
    return path


def episode_steps(run: Path) -> list[int]:
    folder = Path(run) / FOLDER
    if not folder.is_dir():
        return []
    return sorted(int(p.name[5:11]) for p in folder.glob("step_*.jsonl.gz"))


def read_episodes(run: Path, step: int) -> list[dict[str, Any]]:
    path = Path(run) / FOLDER / f"step_{step:06d}.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
