"""The records that cross stage boundaries: Problem -> Episode (Turns) -> Verdict.

Every record is a frozen dataclass. Model-facing text lives in `Problem.prompt` and
`Problem.messages`; everything the verifier needs and the policy must never see lives in
`Problem.answer` and `Problem.truth` (hidden ground truth: countdown numbers, unit tests, ...).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

Split = Literal["train", "test"]
FinishReason = Literal["stop", "length"]

# Verdict reasons shared by every verifier (a verifier may add its own, e.g. "error:TypeError").
REASONS = (
    "ok",
    "wrong",
    "no_answer",
    "multiple_answers",
    "timeout",
    "unparseable_gold",
    "bad_input",
)


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Problem:
    """One task instance, fully determined by (task, split, seed, index) for procedural tasks."""

    id: str
    # stable unique id, e.g. "arithmetic/train/0/17"
    task: str
    # registry name of the task that made it
    prompt: str
    # plain-text prompt shown to the policy (includes the answer-format instruction)
    messages: tuple[Message, ...]
    # the same prompt as chat messages
    answer: str | None
    # hidden gold answer as text (math-like tasks); None where `truth` carries the ground truth
    truth: dict[str, Any] = field(default_factory=dict)
    # hidden task-specific ground truth (countdown numbers/target, code tests, ...)
    meta: dict[str, Any] = field(default_factory=dict)
    # difficulty, horizon, split, seed, index and anything else useful for analysis
    tools: tuple[dict[str, Any], ...] = ()
    # function documents (JSON Schema tools) the prompt offers; `messages` lists them in
    # trueloop's own words too, and a chat template's tools section gets them as `tools=`
    # (envs/tool_prompt.py)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task": self.task,
            "prompt": self.prompt,
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "answer": self.answer,
            "truth": self.truth,
            "meta": self.meta,
            "tools": list(self.tools),
        }


@dataclass(frozen=True)
class Turn:
    """One policy action and what the environment showed after it."""

    action: str
    # the action's text (cut before a stop string; special tokens dropped)
    observation: str | None
    # the next observation's text (None after the last action)


STOP_REASONS = ("env_error", "done", "turn_length", "max_turns", "max_tokens", "context",
                "timeout")
# why an episode ended, first match wins (see trueloop.rollout.episodes)


@dataclass(frozen=True)
class Episode:
    """What happened in one episode: its turns, why it ended, tool use, and (once verified) the
    verdict. Token-level data stays in the rollout batch."""

    problem_id: str
    turns: tuple[Turn, ...]
    stop_reason: str
    # one of STOP_REASONS
    action_tokens: int
    # tokens the policy sampled (the episode's action_mask sum)
    observation_tokens: int
    # tokens the environment and the chat template added after the prompt
    tool_calls: dict[str, int] = field(default_factory=dict)
    # calls per tool name
    tool_errors: dict[str, int] = field(default_factory=dict)
    # failed calls per tool name (malformed, unknown, raised, timed out)
    error: str | None = None
    # what the environment raised, for env_error
    verdict: Verdict | None = None

    @property
    def completion(self) -> str:
        """The last action's text: the completion of a single-turn episode."""
        return self.turns[-1].action if self.turns else ""


@dataclass(frozen=True)
class Verdict:
    """What a verifier concluded about one completion. Model output never raises; it gets a reason.

    `flags` name suspicious behaviour even when the answer is right or wrong anyway
    (`hack:exit`, `hack:special_casing`, `stego:hidden_chars`, ...); a flagged hack is never
    rewarded.
    """

    correct: bool
    reward: float
    reason: str
    flags: frozenset[str] = frozenset()
    extracted: str | None = None
    # the answer the verifier read out of the completion, for humans
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def hacked(self) -> bool:
        return any(f.startswith("hack:") for f in self.flags)


def verdict_metrics(verdicts: list[Verdict], prefix: str = "verify") -> dict[str, float]:
    """Rates of every reason and flag over verdicts: `verify/reason/<r>`, `verify/flag/<f>`."""
    n = max(len(verdicts), 1)
    out: dict[str, float] = {f"{prefix}/correct_rate": sum(v.correct for v in verdicts) / n}
    for reason, c in Counter(v.reason for v in verdicts).items():
        out[f"{prefix}/reason/{reason}"] = c / n
    for flag, c in Counter(f for v in verdicts for f in v.flags).items():
        out[f"{prefix}/flag/{flag}"] = c / n
    out[f"{prefix}/hack_rate"] = sum(v.hacked for v in verdicts) / n
    out[f"{prefix}/timeout_rate"] = sum(v.reason == "timeout" for v in verdicts) / n
    return out
