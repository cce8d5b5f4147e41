"""trueloop tasks as TRL datasets, trueloop verifiers as TRL `GRPOTrainer` reward functions.

    from trueloop.integrations.trl import dataset, reward_function
    train = dataset("arithmetic", n=256, difficulty=1)
    trainer = GRPOTrainer(model=path, reward_funcs=reward_function("arithmetic", difficulty=1),
                          train_dataset=train, args=GRPOConfig(...))

The calling convention is TRL 1.16's (`GRPOTrainer._calculate_rewards`): the reward is called as
`f(prompts=, completions=, completion_ids=, **columns, trainer_state=, log_extra=, log_metric=)`
where `columns` are every dataset column but `prompt`, repeated once per completion, and must
return one float (or None) per completion. Completions are strings for plain prompts and
`[{"role": "assistant", "content": ...}]` lists for conversational ones; both are handled.

Logging: `log_metric(name, value)` (averaged by TRL over a logging step) receives
`<name>/correct_rate`, `<name>/reason/<r>` for every standard reason (0 when absent, so averages
are not biased towards batches where a reason occurs), `<name>/flag/<f>`, `<name>/hack_rate`,
`<name>/timeout_rate`; `log_extra(column, values)` adds per-completion `<name>/reason`,
`<name>/flags` and `<name>/extracted` columns to TRL's completions table. Both hooks are optional:
older TRL versions, which do not pass them, still get rewards.

Threat model. Covered: the ground truth never enters the prompt (it travels in hidden columns,
see `trueloop.integrations`); a flagged hack is never rewarded (`trueloop.reward.compute_reward`);
a garbage completion (not text, empty, megabytes) gets 0 and its reason, never an exception.
Not covered: TRL's own length handling (use `GRPOConfig.mask_truncated_completions`; the
overlong shaping term needs a finish reason TRL does not pass, so it is refused here); a user
who also prints the `answer` column into the prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from trueloop.config import RewardConfig
from trueloop.integrations import (
    Verifier,
    batch_verifier,
    hidden_columns,
    problem_from_hidden,
    resolve_task,
    verify_parallel,
)
from trueloop.reward import compute_reward
from trueloop.tasks.base import Task
from trueloop.types import REASONS, Problem, Split, Verdict, verdict_metrics

HIDDEN = ("problem_id", "task", "answer", "truth", "meta")
# dataset columns the reward reads; at least `answer` or `truth` must be present


def dataset(task: str | Task, n: int = 256, split: Split = "train", seed: int = 0, *,
            start: int = 0, conversational: bool = False, **task_options: Any):
    """A `datasets.Dataset` of `n` problems: `prompt` plus the hidden columns in `HIDDEN`.

    `conversational=True` makes `prompt` a list of chat messages (the task's system prompt
    included), which TRL renders with the tokenizer's chat template; otherwise it is plain text.
    """
    from datasets import Dataset

    t = resolve_task(task, task_options)
    rows = [_row(p, conversational) for p in t.problems(n, split=split, seed=seed, start=start)]
    return Dataset.from_list(rows)


def _row(problem: Problem, conversational: bool) -> dict[str, Any]:
    prompt: Any = problem.prompt
    if conversational:
        prompt = [{"role": m.role, "content": m.content} for m in problem.messages]
    return {"prompt": prompt, **hidden_columns(problem)}


def completion_text(completion: Any) -> str:
    """The text to verify: a plain completion, or the last assistant message's content."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        for message in reversed(completion):
            if isinstance(message, dict) and message.get("role", "assistant") == "assistant":
                return _content_text(message.get("content"))
    return ""


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multimodal parts: [{"type": "text", "text": ...}, ...]
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def prompt_text(prompt: Any) -> str:
    """The user-visible text of a plain or conversational prompt (for the rebuilt Problem)."""
    if isinstance(prompt, list):
        return "\n".join(_content_text(m.get("content")) for m in prompt if isinstance(m, dict))
    return prompt if isinstance(prompt, str) else ""


class TrueloopReward:
    """A TRL reward function backed by a trueloop task or verifier (see `reward_function`)."""

    def __init__(self, target: Task | Verifier, name: str, reward: RewardConfig,
                 workers: int) -> None:
        if reward.length_penalty != 0.0:
            raise ValueError("the overlong penalty needs finish reasons TRL does not pass to "
                             f"rewards; got reward.length_penalty={reward.length_penalty}. Set it "
                             "to 0 and use GRPOConfig(mask_truncated_completions=True) instead.")
        self.target = target
        self.verify_batch = batch_verifier(target)
        self.__name__ = name
        self.reward = reward
        self.workers = workers
        self.last_verdicts: list[Verdict] = []
        # verdicts of the latest call, for inspection

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any],
                 completion_ids: Sequence[Sequence[int]] | None = None, *,
                 log_metric: Callable[[str, float], None] | None = None,
                 log_extra: Callable[[str, list], None] | None = None,
                 **columns: Any) -> list[float]:
        problems = self.problems(prompts, columns)
        texts = [completion_text(c) for c in completions]
        verdicts = verify_parallel(self.verify_batch, problems, texts, self.workers)
        self.last_verdicts = verdicts
        lengths = [len(ids) for ids in completion_ids] if completion_ids else [0] * len(texts)
        rewards = [self._score(v, k) for v, k in zip(verdicts, lengths, strict=True)]
        if log_metric is not None:
            for key, value in self.metrics(verdicts).items():
                log_metric(key, value)
        if log_extra is not None:
            log_extra(f"{self.__name__}/reason", [v.reason for v in verdicts])
            log_extra(f"{self.__name__}/flags", [",".join(sorted(v.flags)) for v in verdicts])
            log_extra(f"{self.__name__}/extracted", [v.extracted or "" for v in verdicts])
        return rewards

    def problems(self, prompts: Sequence[Any], columns: dict[str, Any]) -> list[Problem]:
        """Rebuild one Problem per completion from the hidden dataset columns."""
        if columns.get("answer") is None and columns.get("truth") is None:
            raise ValueError(
                "a trueloop reward needs the hidden ground-truth columns `answer` and/or `truth` "
                "(written by trueloop.integrations.trl.dataset); the batch has columns "
                f"{sorted(k for k in columns if k != 'trainer_state')}. Build the dataset with "
                "dataset(...) or add an `answer` column.")
        n = len(prompts)
        cols = {k: columns.get(k) or [None] * n for k in HIDDEN}
        if isinstance(self.target, Task):
            wrong = {t for t in cols["task"] if t is not None and t != self.target.name}
            if wrong:
                raise ValueError(f"rows of task(s) {sorted(wrong)} reached the reward of task "
                                 f"{self.target.name!r}; give each task its own reward function.")
        return [problem_from_hidden(prompt_text(p), **{k: cols[k][i] for k in HIDDEN})
                for i, p in enumerate(prompts)]

    def _score(self, verdict: Verdict, num_tokens: int) -> float:
        total, _ = compute_reward(verdict, finish_reason="stop", num_tokens=num_tokens,
                                  max_new_tokens=max(num_tokens, 1), cfg=self.reward)
        return float(total)

    def metrics(self, verdicts: list[Verdict]) -> dict[str, float]:
        """Verdict rates under this reward's name, every standard reason present (0 if unseen)."""
        out = {f"{self.__name__}/reason/{r}": 0.0 for r in REASONS}
        out.update(verdict_metrics(verdicts, prefix=self.__name__))
        return out


def reward_function(task_or_verifier: str | Task | Verifier, *, name: str | None = None,
                    reward: RewardConfig | None = None, workers: int = 0,
                    **task_options: Any) -> TrueloopReward:
    """A TRL `GRPOTrainer` reward function that verifies with a trueloop task or verifier.

    `task_or_verifier`: a registry name (built with `task_options`), a Task, or a function
    `(Problem, completion_text) -> Verdict`. `name` (default `trueloop_<task>`) is the name TRL
    logs the reward under (`rewards/<name>/mean`) and the prefix of the verdict metrics.
    `reward` weighs the correct and format terms (hacks never pay); `workers` verification
    threads (0 = one per CPU core; 1 = in the caller's thread).
    """
    if isinstance(task_or_verifier, str | Task):
        target: Task | Verifier = resolve_task(task_or_verifier, task_options)
        default_name = f"trueloop_{target.name}"
    elif callable(task_or_verifier) and not task_options:
        target, default_name = task_or_verifier, "trueloop"
    else:
        raise ValueError("reward_function takes a task name, a Task, or a verifier function "
                         f"(Problem, str) -> Verdict (task options only with a name); got "
                         f"{type(task_or_verifier).__name__} with options {sorted(task_options)}.")
    return TrueloopReward(target, name or default_name, reward or RewardConfig(), workers)


__all__ = ["HIDDEN", "TrueloopReward", "completion_text", "dataset", "prompt_text",
           "reward_function"]
