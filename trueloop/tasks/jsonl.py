"""Local JSONL files, the public format of the datasets trueloop reads (GSM8K, MATH, MBPP,
HumanEval, APPS-style stdin/stdout rows): one JSON object per line, blank lines skipped, a
corrupt line named by file and line number."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_jsonl(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; ValueError naming file:line otherwise."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: invalid JSON ({e}).") from None
            if not isinstance(obj, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object, got "
                                 f"{type(obj).__name__}.")
            rows.append((lineno, obj))
    return rows
