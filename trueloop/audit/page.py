"""The audit page `RUN/audit/index.html`: SAE quality, what changed, probes, and episodes with
per-token feature highlights. One self-contained file: no scripts, no external CSS or fonts.

A token strip is one `<span>` per token, its background alpha a = clip(v / v_max, 0, 1) and its
title the value, after the openai sae-viewer / circuitsvis look; newlines and spaces show as
`⏎` / `·`; policy-sampled tokens are underlined. A value at token t was read while the model
predicted token t + 1 (the KL strip marks the token *before* the one whose distribution moved).

Threat model (tokens are untrusted model output; a run folder may come from anyone):
- Covered: every string that reaches the page (tokens, prompts, flags, reasons, metric keys,
  site names) goes through `html.escape`, attributes included (quote=True); the page has no
  scripts, no event handlers and no URLs.
- Not covered: Unicode tricks (bidi overrides, homoglyphs) display as-is.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3{font-size:1em;margin:.8em 0 .2em}table{border-collapse:collapse;font-size:.85em}
td,th{border:1px solid #ddd;padding:.25em .5em;text-align:left}th{background:#f4f4f4}
.strip{font-family:ui-monospace,monospace;font-size:.85em;line-height:1.7;word-break:break-all;
margin:.2em 0}.strip span{padding:0 1px}.a{text-decoration:underline #888}
.lab{color:#555;font-size:.8em}.ep{border:1px solid #ddd;padding:.5em;margin:.6em 0}
.bad{color:#b42318}.ok{color:#1a7f37}
"""
COLORS = {"feature": "255,80,0", "kl": "40,90,255", "probe": "160,0,200"}


@dataclass(frozen=True)
class Strip:
    label: str
    values: list[float]
    # one per token; highlighted with alpha values[t] / vmax
    vmax: float
    kind: str = "feature"
    # a COLORS key


@dataclass(frozen=True)
class EpisodeView:
    title: str
    tokens: list[str]
    is_action: list[bool]
    reward: float
    correct: bool | None
    reason: str | None
    flags: list[str]
    strips: list[Strip]


@dataclass(frozen=True)
class FeatureView:
    latent: int
    stats: dict[str, Any]
    contexts: list[tuple[list[str], list[bool], Strip]] = field(default_factory=list)


def esc(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list | tuple) and all(isinstance(x, float) for x in v):
        return "[" + ", ".join(f"{x:.3g}" for x in v) + "]"
    if isinstance(v, dict | list | tuple):
        return html.escape(json.dumps(v, default=str))
    return html.escape(str(v))


def visible(token: str) -> str:
    return token.replace("\n", "⏎").replace("\t", "⇥").replace(" ", "·")


def token_strip(tokens: list[str], is_action: list[bool], strip: Strip) -> str:
    """One line of highlighted tokens, with the strip's label in front."""
    rgb = COLORS[strip.kind]
    spans = []
    for tok, act, v in zip(tokens, is_action, strip.values, strict=True):
        a = 0.0 if strip.vmax <= 0 else min(max(v / strip.vmax, 0.0), 1.0)
        style = f' style="background:rgba({rgb},{a:.2f})"' if a >= 0.01 else ""
        cls = ' class="a"' if act else ""
        title = html.escape(f"{strip.label} = {v:.3g}", quote=True)
        spans.append(f'<span{cls}{style} title="{title}">{html.escape(visible(tok))}</span>')
    return (f'<div class="strip"><span class="lab">{esc(strip.label)}</span> '
            f'{"".join(spans)}</div>')


def table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def metrics_html(metrics: dict[str, Any]) -> str:
    rows = []
    for site, m in metrics.get("sae", {}).items():
        rows.append([site, m["explained_variance"], m.get("explained_variance_base", ""),
                     m["loss_recovered"], m["l0"], m["dead_fraction"], m["dense_fraction"],
                     m.get("ce_clean", ""), m.get("ce_sae", ""), m.get("ce_mean_ablation", "")])
    return table(["site", "EV (policy)", "EV (base)", "loss recovered", "L0", "dead", "dense",
                  "CE clean", "CE spliced", "CE mean-ablated"], rows)


def diff_html(diff: dict[str, Any]) -> str:
    if not diff:
        return "<p>No base model: nothing to diff.</p>"
    rows = [[site, d["delta_rel_norm"], d["delta_kl_rel_norm"],
             " ".join(f"{t!r} ({c:+.2f})" for t, c in d.get("lens_delta_kl_tokens", [])),
             " ".join(f"{t!r} ({c:+.2f})" for t, c in d.get("lens_delta_tokens", []))]
            for site, d in diff.get("sites", {}).items()]
    return (f"<p>Mean per-token KL(policy ‖ base) on action tokens: {esc(diff['kl_mean'])}; "
            f"share of all KL on the top 1% of tokens: {esc(diff['kl_top1pct_share'])}.</p>"
            + table(["site", "‖δ‖ / mean ‖h‖", "‖δ_KL‖ / mean ‖h‖",
                     "logit lens of δ_KL (top tokens)", "logit lens of δ"], rows))


def probes_html(probes: dict[str, Any]) -> str:
    if not probes:
        return "<p>No label with enough positives and negatives to fit a probe.</p>"
    rows = [[name, p["auroc"], p["recall_at_1pct_fpr"], p["positives"], p["negatives"]]
            for name, p in probes.items()]
    return table(["label (held-out episodes)", "AUROC", "recall @ 1% FPR", "positives",
                  "negatives"], rows)


def feature_html(f: FeatureView) -> str:
    stats = ", ".join(f"{esc(k)} {esc(v)}" for k, v in f.stats.items())
    ctx = "".join(token_strip(toks, acts, s) for toks, acts, s in f.contexts)
    return f'<div class="ep"><h3>latent {f.latent}</h3><p class="lab">{stats}</p>{ctx}</div>'


def episode_html(e: EpisodeView) -> str:
    verdict = ("&mdash;" if e.correct is None else
               '<span class="ok">correct</span>' if e.correct else '<span class="bad">wrong</span>')
    flags = ", ".join(esc(f) for f in e.flags) or "none"
    head = (f"<h3>{esc(e.title)}</h3><p>reward {esc(e.reward)} · {verdict} · reason "
            f"{esc(e.reason)} · flags {flags}</p>")
    strips = "".join(token_strip(e.tokens, e.is_action, s) for s in e.strips)
    return f'<div class="ep">{head}{strips}</div>'


def render_audit(name: str, metrics: dict[str, Any], features: list[FeatureView],
                 episodes: list[EpisodeView]) -> str:
    """The whole page as one string (deterministic for the same inputs)."""
    parts = [
        f"<h1>trueloop audit: {esc(name)}</h1>",
        "<p>Underlined tokens were sampled by the policy. Hover a token for its value.</p>",
        "<h2>Sparse autoencoders (held-out rollouts)</h2>", metrics_html(metrics),
        "<h2>Base vs RL</h2>", diff_html(metrics.get("diff", {})),
        "<h2>Top shifted features (by KL-weighted activation shift)</h2>",
        "".join(feature_html(f) for f in features) or "<p>None.</p>",
        "<h2>Probes</h2>", probes_html(metrics.get("probes", {})),
        "<h2>Episodes</h2>", "".join(episode_html(e) for e in episodes) or "<p>None.</p>",
    ]
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
            f"<title>trueloop audit: {esc(name)}</title><style>{STYLE}</style></head>"
            f"<body>{''.join(parts)}</body></html>\n")
