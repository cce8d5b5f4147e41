"""README's `## Layout` section is the tree as it is: what it names exists, and it names every
subpackage and every top-level module of trueloop/.

The layout block's grammar: an entry is a line indented by at most 6 spaces, its first word a
path (`tasks/`, `types.py`) inside the entry above it with less indentation (the first line is
`trueloop/`); wider-indented lines continue the description above. A line at indentation 0 after
the first lists folders of the repository root. Any `name.py` a description mentions is a file
of that entry's folder.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_ENTRY_INDENT = 6


def layout_block(readme: str) -> list[str]:
    body = re.search(r"^## Layout\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert body, "README has no '## Layout' section"
    block = re.search(r"^```\n(.*?)^```", body.group(1), re.M | re.S)
    assert block, "README's Layout section has no code block"
    return block.group(1).splitlines()


def entries(lines: list[str]) -> dict[str, str]:
    """Path (relative to the repository root) -> its description, continuation lines joined."""
    assert lines[0].strip() == "trueloop/", f"the layout starts at trueloop/, not {lines[0]!r}"
    out: dict[str, str] = {"trueloop/": ""}
    parents = [(0, "trueloop/")]  # (indent, path) of the open folders
    last = "trueloop/"
    for line in lines[1:]:
        indent = len(line) - len(line.lstrip())
        if not line.strip():
            continue
        if indent == 0:  # root folders: benchmarks/  examples/  ...
            for name in line.split():
                out[name] = ""
            continue
        if indent > MAX_ENTRY_INDENT:
            out[last] += " " + line.strip()
            continue
        while len(parents) > 1 and parents[-1][0] >= indent:
            parents.pop()
        name, _, description = line.strip().partition(" ")
        last = parents[-1][1] + name
        out[last] = description.strip()
        if name.endswith("/"):
            parents.append((indent, last))
    return out


def named() -> dict[str, str]:
    return entries(layout_block(README.read_text()))


def test_every_named_path_exists():
    missing = [p for p in named() if not (ROOT / p).exists()]
    assert missing == []


def test_every_file_a_description_names_is_in_its_folder():
    missing = []
    for path, description in named().items():
        if path.endswith("/"):
            missing += [f"{path}{f}" for f in re.findall(r"\b\w+\.py\b", description)
                        if not (ROOT / path / f).is_file()]
    assert missing == []


def test_every_subpackage_and_top_level_module_is_named():
    pkg = ROOT / "trueloop"
    subpackages = {f"{p.parent.relative_to(ROOT)}/" for p in pkg.rglob("*/__init__.py")}
    modules = {f"trueloop/{p.name}" for p in pkg.glob("*.py") if not p.name.startswith("__")}
    assert sorted((subpackages | modules) - set(named())) == []


def test_the_grammar_reads_nesting():
    lines = ["trueloop/", "  verify/   v", "    math/   m", "                continued",
             "  sandbox/  s", "benchmarks/  docs/"]
    assert entries(lines) == {"trueloop/": "", "trueloop/verify/": "v",
                              "trueloop/verify/math/": "m continued", "trueloop/sandbox/": "s",
                              "benchmarks/": "", "docs/": ""}
