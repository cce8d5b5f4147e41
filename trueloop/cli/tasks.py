"""`trueloop tasks list|sample|oracle`: inspect the task registry from the shell.

- `trueloop tasks list`: one line per task: name, whether it has a horizon knob, description.
- `trueloop tasks sample NAME --n N --difficulty D [--horizon H] [--split train|test] [--seed S]
  [--answer-format F] [--start I] [--path FILE] [--test-path FILE] [--model M]`: Problems as
  JSONL (`Problem.to_json()`), one per line, on stdout; with `--model` each row also carries
  `rendered`, the prompt text that model's chat template makes of it in training.
- `trueloop tasks oracle NAME ...` (same options): rows `{"id", "gold", "completion"}` in the
  format `trueloop verify math` reads, the completion being the task's oracle answer. Tasks whose
  ground truth is not one math answer (countdown, code) have no such gold and are refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator

from trueloop.tasks import TASKS, make_task
from trueloop.tasks.base import ANSWER_FORMATS, Task
from trueloop.types import Problem


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="list tasks, print sample problems or oracle answers")
    actions = p.add_subparsers(dest="tasks_command", required=True)
    actions.add_parser("list", help="registered tasks").set_defaults(func=run_list)
    for action, func, text in (("sample", run_sample, "print problems as JSONL"),
                               ("oracle", run_oracle, "print oracle rows for `verify math`")):
        q = actions.add_parser(action, help=text)
        q.add_argument("name", help="task name (see `trueloop tasks list`)")
        q.add_argument("--n", type=int, default=10, help="number of problems")
        q.add_argument("--difficulty", type=int, default=3, help="1 (trivial) .. 10 (hard)")
        q.add_argument("--horizon", type=int, default=None, help="dependent steps (1..64)")
        q.add_argument("--split", choices=["train", "test"], default="train")
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--start", type=int, default=0, help="index of the first problem")
        q.add_argument("--answer-format", choices=sorted(ANSWER_FORMATS), default="boxed")
        q.add_argument("--path", default=None, help="dataset tasks: JSONL file to read")
        q.add_argument("--test-path", default=None, help="dataset tasks: JSONL test split")
        if action == "sample":
            q.add_argument("--model", default=None,
                           help="also show each prompt as this model's chat template renders it "
                                "for training (`rendered`): a registered name such as "
                                "smollm2-135m, or a local HF folder")
        q.set_defaults(func=func)


def run_list(args: argparse.Namespace) -> int:
    width = max(len(name) for name in TASKS)
    for name, cls in sorted(TASKS.items()):
        horizon = "horizon" if cls.has_horizon else "-"
        print(f"{name:<{width}}  {horizon:<7}  {describe(cls)}")
    return 0


def describe(cls: type[Task]) -> str:
    text = getattr(cls, "description", None) or (cls.__doc__ or "").strip()
    return text.splitlines()[0] if text else ""


def run_sample(args: argparse.Namespace) -> int:
    render = _renderer(args.model) if args.model else None
    for problem in _problems(args):
        row = problem.to_json()
        if render is not None:
            row["rendered"] = render(problem)
        print(json.dumps(row, ensure_ascii=False))
    return 0


def _renderer(model: str) -> Callable[[Problem], str]:
    """The prompt text rollout feeds `model` (its chat template over the problem's messages,
    through `rollout.chat.ChatFormat`, exactly as training renders it)."""
    from transformers import AutoTokenizer

    # lazy: transformers and the tokenizer stack load only when --model asks for them
    from trueloop.policy.models import MODELS, resolve
    from trueloop.rollout.chat import ChatFormat

    try:
        folder = resolve(model) if model in MODELS else model
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (ValueError, OSError) as e:  # not prepared, not a folder: a usage error
        raise SystemExit(f"trueloop tasks sample --model {model}: {e}") from None
    chat = ChatFormat(tokenizer)
    return lambda p: tokenizer.decode(chat.prompt_ids(p.messages or p.prompt, p.tools))


def run_oracle(args: argparse.Namespace) -> int:
    task = _task(args)
    for problem in _problems(args, task):
        if problem.answer is None:
            print(f"task {args.name!r} has no single gold answer (its ground truth is in "
                  f"`truth`), so `verify math` cannot check it; use `tasks sample` instead.",
                  file=sys.stderr)
            return 2
        row = {"id": problem.id, "gold": problem.answer, "completion": task.oracle(problem)}
        print(json.dumps(row, ensure_ascii=False))
    return 0


def _task(args: argparse.Namespace) -> Task:
    options = {"difficulty": args.difficulty, "horizon": args.horizon,
               "answer_format": args.answer_format}
    if args.path is not None or args.test_path is not None:
        options.update(path=args.path, test_path=args.test_path)
    try:
        return make_task(args.name, **options)
    except ValueError as e:  # a bad knob is a usage error: say it without a traceback
        raise SystemExit(f"trueloop tasks {args.tasks_command}: {e}") from None


def _problems(args: argparse.Namespace, task: Task | None = None) -> Iterator[Problem]:
    if args.n < 0:
        raise ValueError(f"--n must be >= 0; got {args.n}.")
    task = task or _task(args)
    for i in range(args.start, args.start + args.n):
        yield task.problem(i, args.split, args.seed)
