"""`trueloop audit RUN` on a tiny trained run: RUN/audit/ has the metrics, the SAE, the page, and
the run report links to the page; the SAE meets the acceptance figures of docs/audit.md."""

from __future__ import annotations

import json
import math

import pytest

from trueloop.audit.sae import TopKSAE
from trueloop.cli import main
from trueloop.config import load_config
from trueloop.pipelines.train import train_run
from trueloop.report import write_report

pytestmark = pytest.mark.slow


def test_audit_writes_metrics_sae_and_page(tiny_config, tmp_path):
    cfg = load_config(tiny_config(steps=2, every=2))
    run = tmp_path / "run"
    train_run(cfg, run)  # trains the prior first (policy.prior = true)
    write_report(run)
    assert "audit/index.html" not in (run / "report.html").read_text()
    rc = main(["audit", str(run), "--problems", "12", "--steps", "80", "--batch-tokens", "1024",
               "--site", "blocks.-1", "--site", "blocks.0"])
    assert rc == 0
    m = json.loads((run / "audit" / "metrics.json").read_text())
    for key in ("explained_variance", "loss_recovered", "dead_fraction", "l0"):
        assert math.isfinite(m[key]), key
    assert set(m["sae"]) == {"blocks.1", "blocks.0"} and m["site"] == "blocks.1"
    assert 0 < m["l0"] <= 16
    # docs/audit.md acceptance: held-out EV and loss recovered (vs mean-ablation) >= 0.90
    assert m["explained_variance"] >= 0.90, m["explained_variance"]
    assert m["loss_recovered"] >= 0.90, m["loss_recovered"]
    assert m["top_features"] and m["top_features"][0]["contexts"]
    sae = TopKSAE.load(run / "audit" / "sae" / "blocks.1")
    assert sae.meta["site"] == "blocks.1" and sae.meta["model_hash"] == m["model_hash"]
    page = (run / "audit" / "index.html").read_text()
    assert "<script" not in page and "Top shifted features" in page and "episode " in page
    assert 'href="audit/index.html"' in (run / "report.html").read_text()


def test_audit_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["audit", str(tmp_path)]) == 2
    assert "not a finished run folder" in capsys.readouterr().err
