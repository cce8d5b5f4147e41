"""Task registry: name -> Task class. Add a task by writing `tasks/<name>.py` and one line here,
or, from a user's own code, `register("my_env", MyTask)` (then `[task] name = "my_env"` trains it
with `trueloop train`; see docs/envs.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trueloop.tasks.arithmetic import Arithmetic
from trueloop.tasks.base import Task
from trueloop.tasks.bfcl import BFCL_TASKS
from trueloop.tasks.chain import Chain
from trueloop.tasks.code import CodeStdioTask, CodeTask
from trueloop.tasks.countdown import Countdown
from trueloop.tasks.linear_equation import LinearEquation
from trueloop.tasks.lookup import Lookup
from trueloop.tasks.math_datasets import GSM8K, MathDataset
from trueloop.tasks.memory import Memory
from trueloop.tasks.tax import Tax
from trueloop.tasks.tool_chain import ToolChain
from trueloop.tasks.word_problem import WordProblem

if TYPE_CHECKING:
    from trueloop.config import TaskConfig

TASKS: dict[str, type[Task]] = {
    "arithmetic": Arithmetic,
    "chain": Chain,
    "countdown": Countdown,
    "linear_equation": LinearEquation,
    "word_problem": WordProblem,
    "gsm8k": GSM8K,
    "math": MathDataset,
    "tool_chain": ToolChain,
    "lookup": Lookup,
    "memory": Memory,
    "tax": Tax,
}
TASKS["code"] = CodeTask
TASKS["code_stdio"] = CodeStdioTask
TASKS.update(BFCL_TASKS)


def register(name: str, task_class: type[Task], *, replace: bool = False) -> None:
    """Add a user's task or environment to the registry under `name`."""
    if not (isinstance(task_class, type) and issubclass(task_class, Task)):
        raise ValueError(f"register({name!r}, ...) needs a Task subclass; got {task_class!r}.")
    if name in TASKS and TASKS[name] is not task_class and not replace:
        raise ValueError(f"task {name!r} is already registered ({TASKS[name].__name__}); pass "
                         f"replace=True to override it.")
    task_class.name = name
    TASKS[name] = task_class


def make_task(name: str, **options) -> Task:
    """Build a registered task by name (`difficulty=`, `horizon=`, `answer_format=`, ...)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {sorted(TASKS)}.")
    return TASKS[name](**options)


def import_module(spec: str) -> None:
    """Import a user's task module (once): a dotted module name, or a path to a .py file."""
    import hashlib
    import importlib
    import importlib.util
    import sys
    from pathlib import Path

    if not spec.endswith(".py"):
        importlib.import_module(spec)
        return
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"task.module {spec!r} is not a file; give a .py path or a module name.")
    name = f"trueloop_user_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]}"
    if name in sys.modules:
        return
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)


def task_from_config(cfg: TaskConfig, **overrides) -> Task:
    """The task a `[task]` config table describes (dataset tasks get `path`/`test_path`; a user's
    `module` is imported first so that it can register its task)."""
    if cfg.module:
        import_module(cfg.module)
    options = {"difficulty": cfg.difficulty, "horizon": cfg.horizon,
               "answer_format": cfg.answer_format}
    if cfg.path is not None or cfg.test_path is not None:
        options.update(path=cfg.path, test_path=cfg.test_path)
    return make_task(cfg.name, **{**options, **overrides})


def make_cell(cell: str, **options) -> Task:
    """Build a task from a "name:difficulty:horizon" cell ("-" = no horizon), as configs
    write them."""
    parts = cell.split(":")
    if len(parts) != 3:
        raise ValueError(f"a task cell is 'name:difficulty:horizon' ('-' for no horizon); "
                         f"got {cell!r}.")
    name, difficulty, horizon = parts
    return make_task(name, difficulty=int(difficulty),
                     horizon=None if horizon in ("-", "") else int(horizon), **options)
