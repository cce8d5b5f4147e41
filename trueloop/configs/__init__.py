"""The built-in run configs (TOML files beside this module): the demos' and the scenarios'."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

MODEL_DEMOS = {"smollm2-135m": "smollm2"}
# registered model name -> its demo config, configs/demo_<value>.toml


def demo_config_path(env: str | None = None, model: str | None = None) -> Path:
    if model is not None:
        if model not in MODEL_DEMOS or env is not None:
            raise ValueError(f"--model takes one of {', '.join(MODEL_DEMOS)} (without --env); "
                             f"got {model!r}.")
        env = MODEL_DEMOS[model]
    name = "demo.toml" if env is None else f"demo_{env}.toml"
    path = Path(str(resources.files("trueloop.configs") / name))
    if not path.is_file():
        raise ValueError(f"there is no demo for environment {env!r}; known: "
                         f"{', '.join(env_demos())}.")
    return path


def env_demos() -> list[str]:
    folder = resources.files("trueloop.configs")
    return sorted(p.name[5:-5] for p in folder.iterdir()
                  if p.name.startswith("demo_") and p.name[5:-5] not in MODEL_DEMOS.values())
