"""The single-file HTML report: headline, plots (base64-embedded), tables, samples, config.

The page has no external CSS, JS, fonts or images, so it can be mailed or archived as one file.

Threat model (completions are untrusted model output, and a run folder may come from anyone):
- Covered: every string that reaches the page (completions, prompts, answers, reasons, flag names,
  metric keys, config values, file notes) goes through `html.escape`, so `<script>`, attribute
  breakouts and entity tricks render as text; the page has no scripts and no inline event handlers.
- Covered: a huge completion cannot bloat the page: sample text is cut at `MAX_SAMPLE_CHARS`.
- Not covered: the PNGs are our own matplotlib output, embedded as data URIs, not sanitised.
- Not covered: Unicode tricks (bidi overrides, homoglyphs) in model output display as-is.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from trueloop.report.plots import caption
from trueloop.report.run import PHASES, RunData, compute_summary, finite, wall_seconds
from trueloop.rollout.record import episode_steps, read_episodes

MAX_SAMPLE_CHARS = 1500
# characters of a prompt / completion shown; the rest is elided with a count

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.25em .5em;vertical-align:top;text-align:left}
th{background:#f4f4f4}pre{white-space:pre-wrap;word-break:break-word;margin:0;max-height:18em;
overflow:auto;font-size:.9em}.headline{font-size:1.2em;background:#f4f8fc;padding:.7em 1em}
.ok{color:#1a7f37}.bad{color:#b42318}.note{color:#8a6d00}figure{margin:1em 0}
figcaption{font-size:.85em;color:#555}img{max-width:100%}
.act{background:#eefaf0}.obs{background:#eef3fb}
"""
EPISODES_SHOWN = 4
# episodes of the last kept step shown in the report


def esc(v: Any) -> str:
    """Any value as escaped display text: numbers to 4 significant digits, CIs as [lo, hi]."""
    if v is None:
        return "&mdash;"
    if isinstance(v, bool):
        return html.escape(str(v))
    if finite(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    if isinstance(v, list | tuple) and len(v) == 2 and all(finite(x) for x in v):
        return f"[{v[0]:.3g}, {v[1]:.3g}]"
    if isinstance(v, dict | list | tuple):
        return html.escape(json.dumps(v, sort_keys=True, default=str))
    return html.escape(str(v))


def table(header: Iterable[Any], rows: Iterable[Iterable[str]]) -> str:
    """An HTML table; header cells are escaped here, row cells must already be safe HTML."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dict -> [("a.b", leaf)]; lists stay leaves (CIs)."""
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        out += flatten(v, f"{key}.") if isinstance(v, dict) else [(key, v)]
    return out


def _with_ci(result: dict[str, Any] | None, key: str) -> str:
    if not result or key not in result:
        return esc(None)
    return f"{esc(result[key])} {esc(result.get(f'{key}_ci'))}"


def headline(run: RunData) -> str:
    """Before -> after pass@1 with CIs (summary.json, else the target eval set) and wall time."""
    s = run.summary
    target = run.evals.get("before", {}).get("target"), run.evals.get("after", {}).get("target")
    before, after = (s.get("before"), s.get("after")) if "before" in s else target
    parts = []
    if before or after:
        task = s.get("task") or (before or after or {}).get("task")
        parts.append(f"held-out pass@1 on <b>{esc(task)}</b>: {_with_ci(before, 'pass@1')} "
                     f"&rarr; <b>{_with_ci(after, 'pass@1')}</b>")
    elif run.rows:
        last = run.rows[-1]
        parts.append(f"step {esc(last['step'])}: reward/mean {esc(last.get('reward/mean'))}, "
                     f"rollout/accuracy {esc(last.get('rollout/accuracy'))} (no held-out eval)")
    wall = wall_seconds(run)
    if wall is not None:
        parts.append(f"wall time {wall:.0f} s")
    if not parts:
        return '<p class="headline">Nothing to report yet: the folder holds no results.</p>'
    return f'<p class="headline">{"; ".join(parts)}</p>'


def plots_html(plots: dict[str, Path]) -> str:
    figs = []
    for name, path in plots.items():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        figs.append(f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{esc(caption(name))}</figcaption></figure>")
    return "".join(figs)


def evals_table(run: RunData) -> str:
    rows = []
    for name in run.eval_sets():
        b, a = (run.evals.get(p, {}).get(name) for p in PHASES)
        any_r = a or b or {}
        k = any_r.get("k")
        rows.append([esc(name), esc(any_r.get("task")), esc(any_r.get("difficulty")),
                     esc(any_r.get("horizon")), esc(any_r.get("n_problems")), esc(k),
                     _with_ci(b, "pass@1"), _with_ci(a, "pass@1"),
                     _with_ci(b, f"pass@{k}"), _with_ci(a, f"pass@{k}"),
                     esc((a or {}).get("reasons")), esc((a or {}).get("flags"))])
    header = ["set", "task", "difficulty", "horizon", "problems", "k", "pass@1 before",
              "pass@1 after", "pass@k before", "pass@k after", "reasons after", "flags after"]
    return table(header, rows)


def _text(v: Any) -> str:
    s = v if isinstance(v, str) else json.dumps(v, default=str)
    if len(s) > MAX_SAMPLE_CHARS:
        s = f"{s[:MAX_SAMPLE_CHARS]}\n... [{len(s) - MAX_SAMPLE_CHARS} more characters]"
    return f"<pre>{html.escape(s)}</pre>"


def _verdict(sample: dict[str, Any] | None) -> str:
    if sample is None:
        return esc(None)
    cls = "ok" if sample.get("correct") else "bad"
    reason = f'<span class="{cls}">{esc(sample.get("reason"))}</span>'
    return reason + _text(sample.get("completion"))


def _by_prompt(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for s in samples:
        out.setdefault(json.dumps(s.get("prompt"), default=str), s)
    return out


def samples_html(run: RunData) -> str:
    """Per eval set, the same test problems' completions before and after RL, side by side."""
    sections = []
    for name in run.eval_sets():
        b, a = (_by_prompt((run.evals.get(p, {}).get(name) or {}).get("samples") or [])
                for p in PHASES)
        rows = []
        for key in dict.fromkeys([*b, *a]):
            ref = b.get(key) or a[key]
            rows.append([_text(ref.get("prompt")), esc(ref.get("answer")), _verdict(b.get(key)),
                         _verdict(a.get(key))])
        if rows:
            sections.append(f"<h3>{esc(name)}</h3>" + table(
                ["prompt", "gold answer", "before RL", "after RL"], rows))
    return "".join(sections)


def episodes_html(run: RunData) -> str:
    """A few episodes of the last kept training step: actions and observations told apart."""
    steps = episode_steps(run.path)
    if not steps:
        return ""
    try:
        rows = read_episodes(run.path, steps[-1])[:EPISODES_SHOWN]
    except (OSError, EOFError, ValueError) as e:  # a torn file: say so, draw the rest
        return f'<p class="note">episodes of step {steps[-1]} unreadable: {esc(e)}</p>'
    parts = []
    for r in rows:
        head = (f"step {r['step']} &middot; {esc(r['problem_id'])} &middot; reward "
                f"{esc(r['reward'])} &middot; {esc(r['reason'])} &middot; stop "
                f"{esc(r['stop_reason'])} {esc(', '.join(r['flags']))}")
        cells = [["prompt", _text(r["prompt"])]]
        for k, t in enumerate(r["turns"]):
            cells.append([f'<span class="act">action {k}</span>',
                          f'<div class="act">{_text(t["action"])}</div>'])
            if t["observation"] is not None:
                cells.append([f'<span class="obs">observation {k}</span>',
                              f'<div class="obs">{_text(t["observation"])}</div>'])
        parts.append(f"<h3>{head}</h3>" + table(["", "text"], cells))
    return "".join(parts)


def compute_html(run: RunData) -> str:
    """'Where the compute went': seconds and estimated FLOPs by stage, tokens, and held-out points
    gained per PFLOP / per million tokens (demo runs); "" for a run without compute metrics."""
    c = compute_summary(run.rows, run.summary.get("delta_pass@1"))
    if not c:
        return ""
    seconds, flops = c["seconds_by_stage"], c["flops_by_stage"]
    total_s = sum(seconds.values()) or 1.0
    rows = [[esc(stage), f"{esc(seconds[stage])} ({seconds[stage] / total_s:.0%})",
             esc(flops.get(stage)) + (f" ({flops[stage] / c['flops']:.0%})"
                                      if stage in flops and c["flops"] else "")]
            for stage in seconds]
    rows.append(["<b>total</b>", esc(sum(seconds.values())), esc(c["flops"])])
    tokens = table(["tokens", "count"], [[esc(k.removeprefix("tokens_")), esc(c[k])] for k in
                                         ("tokens_sampled", "tokens_trained", "tokens_forwarded")])
    gains = [[esc(k), esc(c[k])] for k in ("points_per_pflop", "points_per_million_tokens_sampled",
                                           "points_per_million_tokens_trained") if k in c]
    return (table(["stage", "seconds (share)", "estimated FLOPs (share)"], rows) + tokens
            + (table(["held-out pass@1 points gained", "value"], gains) if gains else "")
            + "<p>FLOPs: 2N per token forward, 4N backward, plus causal attention (Kaplan et al. "
              "2020); verification is CPU time, not FLOPs; the prior and evaluations are not "
              "counted.</p>")


def _section(title: str, body: str, empty: str) -> str:
    return f"<h2>{esc(title)}</h2>" + (body or f"<p>{esc(empty)}</p>")


def render_html(run: RunData, plots: dict[str, Path]) -> str:
    """The whole page as one string."""
    notes = "".join(f'<li class="note">{esc(n)}</li>' for n in run.notes)
    last = sorted(run.rows[-1].items()) if run.rows else []
    config = json.dumps(run.config, indent=2, default=str)
    parts = [
        f"<h1>trueloop run: {esc(run.path.resolve().name)}</h1>", headline(run),
        f"<ul>{notes}</ul>" if notes else "",
        '<p><a href="audit/index.html">Audit</a></p>' if (run.path / "audit").is_dir() else "",
        _section("Plots", plots_html(plots), "No plots: the run has no data to draw yet."),
        _section("Summary", table(["key", "value"], [[esc(k), esc(v)] for k, v in
                                                    flatten(run.summary)]) if run.summary else "",
                 "No summary.json."),
        _section("Held-out evaluation", evals_table(run) if run.eval_sets() else "",
                 "No evals.json."),
        _section("Where the compute went", compute_html(run),
                 "No compute metrics (a run from before compute accounting)."),
        _section("Last logged step", table(["metric", "value"], [[esc(k), esc(v)] for k, v in last])
                 if last else "", "No metrics."),
        _section("Sample completions", samples_html(run), "No sample completions."),
        _section("Training episodes (last kept step)", episodes_html(run),
                 "No episodes kept (log.save_episodes)."),
        _section("Resolved config", f"<pre>{html.escape(config)}</pre>" if run.config else "",
                 "No config.json."),
    ]
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
            f"<title>trueloop report: {esc(run.path.resolve().name)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")
