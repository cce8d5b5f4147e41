"""README's benchmark figures are copies of docs/benchmarks.md rows, never numbers of their own.

The convention (issue 20), for humans first:
- README's benchmark figures live in one place, the table of its `## Benchmarks` section, with
  the columns what (peer) | trueloop vs peer | source.
- The source cell names the benchmark as docs/benchmarks.md's first column does, with its folder,
  and the commit: `benchmarks/rollout.py --model smollm2-135m` @ d385245. Where the docs row says
  "to re-measure", so does the source cell.
- In the figure cell every number is **bold**, and each bold figure is, character for character,
  a bold figure of that benchmark's row in docs/benchmarks.md, whose machine/commit cell names
  the same commit. Changing a figure means changing the docs row first, then copying it.
- Nowhere else does README write a speed ratio (`2.4x`), so no benchmark figure hides in prose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs" / "benchmarks.md"

BOLD = re.compile(r"\*\*(.+?)\*\*")
SOURCE = re.compile(r"`benchmarks/(?P<key>[^`]+)`\s*@\s*`?(?P<commit>[0-9a-f]{7,40})\b")
RATIO = re.compile(r"(?<![\w.])\d+(?:\.\d+)?x\b")
REMEASURE = "to re-measure"


@dataclass(frozen=True)
class Figures:
    """One row of README's benchmark table."""

    line: str
    key: str  # the benchmark as docs/benchmarks.md names it: script and options
    commit: str
    bold: tuple[str, ...]  # the figures
    loose: str  # the figure cell with its bold figures taken out
    remeasure: bool


def section(text: str, title: str) -> str:
    """The body of the `## title` section (up to the next `## ` heading)."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no '## {title}' section"
    return match.group(1)


def table_rows(text: str) -> list[tuple[str, list[str]]]:
    """(line, cells) of each body row of the markdown tables in `text` (header, rule skipped)."""
    rows, previous = [], ""
    for line in text.splitlines():
        if line.startswith("|") and not re.fullmatch(r"\|[\s|:-]+\|", line.strip()):
            if previous.startswith("|"):
                rows.append((line, [c.strip() for c in line.strip().strip("|").split("|")]))
        previous = line if line.startswith("|") else ""
    return rows


def bold(cell: str) -> tuple[str, ...]:
    return tuple(" ".join(b.split()) for b in BOLD.findall(cell))


def readme_figures(readme: str) -> list[Figures]:
    out = []
    for line, cells in table_rows(section(readme, "Benchmarks")):
        assert len(cells) == 3, f"a README benchmark row is what | figure | source: {cells}"
        _, figure, source = cells
        match = SOURCE.search(source)
        assert match, f"source cell names no `benchmarks/<script>` @ <commit>: {source!r}"
        out.append(Figures(line, match["key"].strip(), match["commit"], bold(figure),
                           BOLD.sub("", figure), REMEASURE in source))
    return out


def docs_rows(docs: str) -> dict[str, list[str]]:
    """docs/benchmarks.md's summary table (the first one), by benchmark key."""
    table = docs[docs.index("| benchmark |"):].split("\n\n")[0]
    return {cells[0].strip("`"): cells for _, cells in table_rows(table)}


def problems(readme: str, docs: str) -> list[str]:
    """Every way README's benchmark figures fail to be copies of docs/benchmarks.md."""
    rows = docs_rows(docs)
    out = []
    for f in readme_figures(readme):
        row = rows.get(f.key)
        if row is None:
            out.append(f"{f.key}: no row in docs/benchmarks.md (known: {sorted(rows)})")
            continue
        if not f.bold:
            out.append(f"{f.key}: no bold figure in README's row")
        if re.search(r"\d", f.loose):
            out.append(f"{f.key}: a number outside bold in README's figure cell: {f.loose!r}")
        known = set(bold(" | ".join(row[:-1])))  # the figures, not the machine cell
        out += [f"{f.key}: README's **{b}** is not a bold figure of its docs row {sorted(known)}"
                for b in f.bold if b not in known]
        if f.commit not in row[-1]:
            out.append(f"{f.key}: README cites {f.commit}; docs row says {row[-1]!r}")
        if (REMEASURE in row[-1]) != f.remeasure:
            out.append(f"{f.key}: docs row and README disagree on '{REMEASURE}'")
    return out


def test_readme_figures_are_docs_figures():
    assert problems(README.read_text(), DOCS.read_text()) == []


def test_readme_names_benchmarks_that_exist():
    figures = readme_figures(README.read_text())
    assert len(figures) >= 5
    for f in figures:
        assert (ROOT / "benchmarks" / f.key.split()[0]).is_file(), f.key


def test_no_speed_ratio_outside_the_benchmark_table():
    readme = README.read_text()
    table = {f.line for f in readme_figures(readme)}
    assert [ln for ln in readme.splitlines() if ln not in table and RATIO.search(ln)] == []


@pytest.mark.parametrize("edit", ["number", "commit", "remeasure"])
def test_an_edited_readme_is_caught(edit):
    """The check above can fail: change one README figure, commit or marker, and it does."""
    readme, docs = README.read_text(), DOCS.read_text()
    first = readme_figures(readme)[0]
    if edit == "number":
        figure = first.bold[0]
        changed = re.sub(r"\d", lambda m: str((int(m[0]) + 1) % 10), figure, count=1)
        line = first.line.replace(f"**{figure}**", f"**{changed}**")
    elif edit == "commit":
        line = first.line.replace(first.commit, "0000000")
    else:
        line = first.line.replace(REMEASURE, "quiet") if first.remeasure else \
            first.line[:-2] + f"; {REMEASURE} |"
    assert line != first.line
    assert problems(readme.replace(first.line, line), docs) != []
