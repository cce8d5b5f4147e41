"""Plots and a self-contained HTML report of a run folder: `write_report(run_dir) -> Path`.

Reads `config.json`, `metrics.jsonl`, and for demo runs `evals.json` and `summary.json` (see
`report.run`), draws `RUN_DIR/plots/*.png` (`report.plots`), and writes `RUN_DIR/report.html`
(`report.page`) with the images embedded, so the page can be mailed as one file. Whatever the
folder lacks is named on the page; nothing in the folder can make it raise.
"""

from __future__ import annotations

from pathlib import Path

from trueloop.report.page import render_html
from trueloop.report.plots import PLOTS, write_plots
from trueloop.report.run import RunData, load_run

__all__ = ["PLOTS", "RunData", "load_run", "write_report"]


def write_report(run_dir: str | Path) -> Path:
    """Regenerate `run_dir/plots/*.png` and `run_dir/report.html`; return the page's path."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir} is not a directory: pass a run folder written by "
                         "`trueloop train` or `trueloop demo`.")
    run = load_run(run_dir)
    plots = write_plots(run, run_dir / "plots")
    out = run_dir / "report.html"
    tmp = out.with_suffix(".html.tmp")  # write-then-rename: a reader never sees half a page
    tmp.write_text(render_html(run, plots), encoding="utf-8")
    tmp.replace(out)
    return out
