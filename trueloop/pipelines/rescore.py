"""`trueloop rescore RUN [--verify.KEY VALUE ...] [--json]`: judge a finished run's episodes again.

The answer to "my verifier had a bug; how much of my run did it touch?". Every step's episodes
are kept in `RUN/episodes/step_<N>.jsonl.gz` (trueloop.rollout.record) and the run's config in
`RUN/config.json`. For each kept episode, rescoring
1. rebuilds its problem from the task config and the problem's place in its stream (split, seed,
   index, and the difficulty / horizon it was drawn at, which a curriculum moves; a canary with its
   decoy answer), and checks that the rebuilt problem has the recorded id and prompt;
2. replays the recorded actions through a fresh environment made with the *new* `[verify]`
   settings (a single-turn task is an episode of one action): `reset` with the episode's seed
   (its position in its group), `step` on each action, `truncated` on a last action the runner
   cut at a token limit; each replayed observation must match the recorded one;
3. verifies it with the code installed now, turns the verdict into a reward under the run's
   `[reward]` settings, and compares it with the reward the run trained on.
The report counts reward flips (and correctness flips) by step and by (old reason -> new reason).

Not rescored, counted as skipped with a reason (never a crash): episodes of tasks with run-level
state (`memory`: an episode's outcome depends on what earlier steps stored, which the episode
files do not hold), `env_error` episodes (never verified), problems that no longer rebuild the
same (`problem_mismatch`: the task's generator changed, or a dataset file moved), replays whose
observations differ from the recorded ones (`replay_diverged`), environments that raise during a
replay (`replay_error`), and unreadable lines or files (`corrupt_line`, `unreadable_file`).
Known ambiguity: an episode that ended `max_tokens` is replayed as cut at the limit; one whose last
action stopped by itself on exactly the episode's last allowed token would have been stepped.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from trueloop.config import RunConfig, load_run_config, parse_overrides
from trueloop.config_parse import fields_help, only_tables
from trueloop.envs.base import verify_episodes
from trueloop.reward import compute_reward
from trueloop.tasks import task_from_config

CUT_STOPS = ("turn_length", "max_tokens")
# stop reasons whose last action the runner cut at a token limit (never stepped)
FLIP_TOLERANCE = 1e-9
CANARY_SUFFIX = "/canary"
# problem ids of canaries (trueloop.audit.canaries): rebuilt with their decoy answer


@dataclass
class RescoreReport:
    run: str
    verify: dict[str, Any]
    # the [verify] settings episodes were judged again with
    episodes: int = 0
    rescored: int = 0
    reward_flips: int = 0
    # rescored episodes whose training reward would change
    to_correct: int = 0
    to_wrong: int = 0
    skipped: Counter = field(default_factory=Counter)
    # why -> episodes not rescored
    by_step: dict[int, Counter] = field(default_factory=lambda: defaultdict(Counter))
    # step -> episodes, rescored, skipped, reward_flips
    by_reason: Counter = field(default_factory=Counter)
    # "old -> new" reason -> rescored episodes whose reward or reason changed

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run, "verify": self.verify, "episodes": self.episodes,
                "rescored": self.rescored, "reward_flips": self.reward_flips,
                "to_correct": self.to_correct, "to_wrong": self.to_wrong,
                "skipped": dict(self.skipped),
                "by_step": {str(s): dict(c) for s, c in sorted(self.by_step.items())},
                "by_reason": dict(self.by_reason.most_common())}


def rescore_config(run: Path, overrides: list[str] | dict[str, Any]) -> RunConfig:
    """The run's config with `--verify.KEY VALUE` overrides; any other table is refused."""
    extra = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
    only_tables(extra, ("verify",), "The rest of the run's config is what it trained with.")
    return load_run_config(run, extra)


def rescore_run(run: str | Path, overrides: list[str] | dict[str, Any] = ()) -> RescoreReport:
    from trueloop.rollout.record import FOLDER, episode_steps  # lazy: --help loads no torch

    run = Path(run)
    cfg = rescore_config(run, overrides)  # the run's, with the new [verify] settings
    report = RescoreReport(str(run), asdict(cfg.verify))
    tasks = _Tasks(cfg)
    for step in episode_steps(run):
        rows, bad = _read_lines(run / FOLDER / f"step_{step:06d}.jsonl.gz")
        counts = report.by_step[step]
        for why, n in bad.items():
            report.skipped[why] += n
            counts["skipped"] += n
            report.episodes += n
            counts["episodes"] += n
        replayed = []  # (row, env): verified together, so a code task uses its sandbox pool
        try:
            for position, row in rows:
                report.episodes += 1
                counts["episodes"] += 1
                env = _replay_row(row, position % cfg.rollout.group_size, cfg, tasks)
                if isinstance(env, str):
                    report.skipped[env] += 1
                    counts["skipped"] += 1
                else:
                    replayed.append((row, env))
            verdicts = verify_episodes([env for _, env in replayed])
        finally:
            for _, env in replayed:
                env.close()
        for (row, _), verdict in zip(replayed, verdicts, strict=True):
            _count(report, counts, row, verdict, reward_of(verdict, row, cfg))
    return report


def _count(report: RescoreReport, counts: Counter, row: dict, verdict, reward: float) -> None:
    report.rescored += 1
    counts["rescored"] += 1
    flipped = abs(reward - float(row.get("reward") or 0.0)) > FLIP_TOLERANCE
    if flipped:
        report.reward_flips += 1
        counts["reward_flips"] += 1
    if bool(verdict.correct) != bool(row.get("correct")):
        report.to_correct += bool(verdict.correct)
        report.to_wrong += not verdict.correct
    if flipped or verdict.reason != row.get("reason"):
        report.by_reason[f"{row.get('reason')} -> {verdict.reason}"] += 1


def _read_lines(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], Counter]:
    """(position in the file, row) of one step file's episodes; a line that does not parse (or a
    torn gzip tail) is counted, never fatal, and keeps its position (the episode's seed is its
    position in its group)."""
    rows, bad = [], Counter()
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for position, line in enumerate(line for line in f if line.strip()):
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    bad["corrupt_line"] += 1
                    continue
                if isinstance(row, dict) and isinstance(row.get("turns"), list):
                    rows.append((position, row))
                else:
                    bad["corrupt_line"] += 1
    except (OSError, EOFError, UnicodeDecodeError):
        bad["unreadable_file"] += 1
    return rows, bad


class _Tasks:
    """The run's task rebuilt at each (difficulty, horizon) its episodes were drawn at."""

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg, self.cache = cfg, {}

    def get(self, difficulty: int, horizon: int | None):
        key = (difficulty, horizon)
        if key not in self.cache:
            self.cache[key] = task_from_config(replace(self.cfg.task, difficulty=difficulty,
                                                       horizon=horizon))
        return self.cache[key]


def _problem(row: dict[str, Any], cfg: RunConfig, tasks: _Tasks):
    """(task, problem) the row was drawn from, or a skip reason."""
    stream = row.get("stream") or {}
    pid = str(row.get("problem_id", ""))
    is_canary = pid.endswith(CANARY_SUFFIX)  # audit.canary_fraction's decoy problems
    parts = pid.removesuffix(CANARY_SUFFIX).rsplit("/", 3)  # name/split/seed/index
    try:
        split = stream.get("split") or parts[-3]
        seed = int(stream["seed"] if stream.get("seed") is not None else parts[-2])
        index = int(stream["index"] if stream.get("index") is not None else parts[-1])
    except (IndexError, ValueError):
        return "problem_mismatch"
    difficulty = stream.get("difficulty") or cfg.task.difficulty
    horizon = stream["horizon"] if "horizon" in stream else cfg.task.horizon
    task = tasks.get(int(difficulty), horizon)
    if task.has_run_state:
        return "run_state"
    problem = task.problem(index, split, seed)
    if is_canary:
        from trueloop.audit.canaries import canary  # lazy: `trueloop --help` loads no torch

        problem = canary(task, problem)
    if problem.id != row.get("problem_id") or problem.prompt != row.get("prompt"):
        return "problem_mismatch"
    return task, problem


def _replay_row(row: dict[str, Any], seed: int, cfg: RunConfig, tasks: _Tasks):
    """A fresh env that replayed one recorded episode (ready to verify), or why it could not."""
    if row.get("stop_reason") == "env_error":
        return "env_error"
    if not row["turns"]:
        return "corrupt_line"
    found = _problem(row, cfg, tasks)
    if isinstance(found, str):
        return found
    task, problem = found
    env = task.make_env(problem, verify=cfg.verify)
    why = _replay(env, problem, row, seed, cfg.rollout.max_observation_chars)
    if why:
        env.close()
        return why
    return env


def reward_of(verdict, row: dict[str, Any], cfg: RunConfig) -> float:
    """The training reward `verdict` gives the recorded episode under the run's [reward]."""
    r = cfg.rollout
    single = len(row["turns"]) <= 1
    return compute_reward(
        verdict, finish_reason="stop" if row["stop_reason"] == "done" else "length",
        num_tokens=int(row.get("action_tokens") or 0),
        max_new_tokens=r.max_new_tokens if single else
        r.max_episode_tokens or r.max_new_tokens * r.max_turns, cfg=cfg.reward)[0]


def _replay(env, problem, row: dict[str, Any], seed: int, max_chars: int) -> str | None:
    """Run the recorded actions through `env`; None when it went as recorded, else why not."""
    turns = row["turns"]
    try:
        env.reset(problem, seed=seed)
        for k, turn in enumerate(turns):
            action = str(turn.get("action") or "")
            if k == len(turns) - 1 and row.get("stop_reason") in CUT_STOPS:
                env.truncated(action)
                break
            result = env.step(action)
            recorded = turn.get("observation")
            if recorded is not None and (result.observation or "")[:max_chars] != \
                    recorded[:max_chars]:
                return "replay_diverged"
            if result.done and k < len(turns) - 1:
                return "replay_diverged"
    except Exception:  # the env's own crash: recorded as a skip, as the rollout records env_error
        return "replay_error"
    return None


def format_report(rep: RescoreReport) -> str:
    lines = [f"rescored {rep.rescored} of {rep.episodes} episodes in {rep.run}: "
             f"{rep.reward_flips} training rewards would flip "
             f"({rep.to_correct} to correct, {rep.to_wrong} to wrong)"]
    if rep.skipped:
        lines.append("skipped: " + ", ".join(f"{k} {v}" for k, v in rep.skipped.most_common()))
    lines.append(f"{'step':>6} {'episodes':>9} {'rescored':>9} {'flips':>6}")
    for step, c in sorted(rep.by_step.items()):
        lines.append(f"{step:>6} {c['episodes']:>9} {c['rescored']:>9} {c['reward_flips']:>6}")
    if rep.by_reason:
        lines.append("changed verdicts (old reason -> new reason):")
        lines += [f"  {k:<36} {v}" for k, v in rep.by_reason.most_common()]
    return "\n".join(lines)


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rescore", help="judge a finished run's episodes again with other [verify] settings "
                        "(--verify.KEY VALUE) or verifier code; count reward flips",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Starts from RUN/config.json; --verify.KEY VALUE overrides the [verify] "
                    "settings the episodes\nare judged with again (the rest of the config is "
                    "what the run trained with).",
        epilog="config fields it takes (defaults shown are trueloop's; the run's config.json "
               "replaces them):\n" + fields_help(RunConfig, ("verify",)))
    p.add_argument("run", help="run folder (holds config.json and episodes/)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=run, overrides=[])


def run(args: argparse.Namespace) -> int:
    try:
        rep = rescore_run(args.run, args.overrides)
    except ValueError as e:
        print(f"trueloop rescore: {e}", file=sys.stderr)
        return 2
    print(json.dumps(rep.to_json()) if args.json else format_report(rep))
    return 0
