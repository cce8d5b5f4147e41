"""Where trueloop keeps what it prepares once and reuses: converted models (`models/`) and
trained priors (`priors/`), under `$TRUELOOP_CACHE` (default `~/.cache/trueloop`)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("TRUELOOP_CACHE", Path.home() / ".cache" / "trueloop"))
