"""The audit page: untrusted tokens are escaped everywhere, strips are exact, output is stable."""

from __future__ import annotations

from trueloop.audit.page import EpisodeView, FeatureView, Strip, render_audit, token_strip

EVIL = ['<script>alert(1)</script>', '" onmouseover="x', "a\nb", " ", "&amp;"]


def page() -> str:
    strip = Strip('f1 <b>', [0.0, 2.0, 4.0, -1.0, 8.0], 4.0)
    ep = EpisodeView('<img src=x onerror=alert(1)>', EVIL, [False, True, True, False, True],
                     1.0, True, "<ok>", ["hack:<exit>"], [strip])
    feat = FeatureView(7, {"shift": 0.5, "<k>": "<v>"}, [(EVIL, [True] * 5, strip)])
    metrics = {"sae": {"blocks.0": {"explained_variance": 0.9, "loss_recovered": 0.95, "l0": 16.0,
                                    "dead_fraction": 0.0, "dense_fraction": 0.01}},
               "diff": {"kl_mean": 0.1, "kl_top1pct_share": 0.3, "sites": {"blocks.0": {
                   "delta_rel_norm": 0.2, "delta_kl_rel_norm": 0.3,
                   "lens_delta_kl_tokens": [("<script>", 1.0)]}}},
               "probes": {"hack:<x>": {"auroc": 0.99, "recall_at_1pct_fpr": 0.9, "positives": 5,
                                       "negatives": 50}}}
    return render_audit("run<1>", metrics, [feat], [ep])


def test_untrusted_strings_are_escaped() -> None:
    html = page()
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert '" onmouseover' not in html and "&quot;·onmouseover=&quot;x" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "hack:&lt;exit&gt;" in html and "&amp;amp;" in html
    assert "href=" not in html and "<link" not in html  # self-contained


def test_token_strip_alpha_title_and_visible_whitespace() -> None:
    out = token_strip(["a", "\n", " "], [True, False, False], Strip("f2", [2.0, 0.0, 9.0], 4.0))
    assert out == ('<div class="strip"><span class="lab">f2</span> '
                   '<span class="a" style="background:rgba(255,80,0,0.50)" title="f2 = 2">a</span>'
                   '<span title="f2 = 0">⏎</span>'
                   '<span style="background:rgba(255,80,0,1.00)" title="f2 = 9">·</span></div>')


def test_page_is_deterministic() -> None:
    assert page() == page()
