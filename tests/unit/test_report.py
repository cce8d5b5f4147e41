"""Report: plots and HTML from synthetic run folders (full demo run, metrics only, torn, empty)."""

from __future__ import annotations

import json
import math
import random
import struct
from pathlib import Path

import pytest

from trueloop.cli import main
from trueloop.report import PLOTS, load_run, write_report
from trueloop.report.page import esc
from trueloop.report.plots import level_points
from trueloop.report.run import series, smooth

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVIL = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"
METRIC_PLOTS = {"reward", "length", "episodes", "reasons", "hacks", "update", "reward_terms",
                "time", "curriculum", "compute", "shadow", "sampler"}
EVAL_PLOTS = {"passk", "levels"}


def metrics_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for step in range(n):
        acc = min(1.0, 0.1 + step / n + rng.gauss(0, 0.08))
        row = {"step": step, "reward/mean": acc, "reward/std": 0.3, "rollout/accuracy": acc,
               "rollout/length_mean": 40 - step * 0.3 + rng.gauss(0, 2),
               "rollout/truncated_frac": max(0.0, 0.2 - step / 200),
               "update/loss": rng.gauss(0, 0.1), "update/entropy": 2 - step / n,
               "update/grad_norm": None if step == 3 else abs(rng.gauss(1, 0.2)),
               "update/clip_frac_low": 0.01, "update/clip_frac_high": 0.02,
               "update/lr": 1e-3, "verify/reason/ok": acc, "verify/reason/wrong": 1 - acc,
               "verify/hack_rate": 0.0, "audit/prompt_echo_rate": 0.01, "time/step": 0.5,
               "time/sample": 0.3, "perf/tokens_per_s": 900 + step, "reward/format": 0.9,
               "reward/zero_var_frac": 0.5 - acc / 4, "episode/turns_mean": 1 + 3 * acc,
               "episode/tool_calls_mean": 2 * acc, "episode/stop/done": acc,
               "episode/stop/max_turns": 1 - acc, "compute/cum_flops": 1e12 * (step + 1),
               "curriculum/level": float(1 + step // 10),
               f"curriculum/pass_rate/{1 + step // 10}": acc,
               "audit/sample_train_accuracy": acc, "audit/shadow_accuracy": acc / 2,
               "audit/shadow_disagreement": acc / 2, "audit/alarm": float(step >= n // 2),
               "rollout/sync_logp_gap": 1e-6 * (1 + rng.random()),
               "mismatch/logp_abs_mean": 1e-3, "mismatch/logp_abs_max": 4e-3,
               "mismatch/is_ratio_mean": 1.0, "mismatch/is_ratio_max": 1.002,
               "mismatch/is_ess": 0.99, "mismatch/is_clip_frac": 0.01}
        if step % 5 == 0:  # rates only for reasons/flags seen that step
            row.update({"verify/reason/wrong": 0.8 - acc, "verify/reason/no_answer": 0.2,
                        "verify/flag/hack:echo": 0.1, "verify/hack_rate": 0.1})
        if step == 7:
            row["update/kl"] = "inf"  # tracking._plain writes non-finite values as strings
        rows.append(row)
    return rows


def eval_result(difficulty: int, horizon: int | None, p1: float, tag: str) -> dict:
    sample = {"prompt": f"What is {difficulty}+{horizon}?", "answer": "7",
              "completion": f"{tag} {EVIL} \\boxed{{7}}", "correct": tag == "after",
              "reason": "ok" if tag == "after" else "wrong"}
    return {"task": "chain", "difficulty": difficulty, "horizon": horizon, "n_problems": 20,
            "k": 4, "pass@1": p1, "pass@1_ci": [p1 - 0.1, p1 + 0.1], "pass@4": p1 + 0.2,
            "pass@4_ci": [p1 + 0.1, p1 + 0.3], "correct_counts": [1, 2], "reasons": {"ok": 3},
            "flags": {EVIL: 1}, "samples": [sample]}


def write_run(path: Path, *, rows: int = 30, evals: bool = True, torn: bool = False) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"task": {"name": "chain", "note": EVIL},
                                                  "steps": rows, "seed": 0}))
    lines = [json.dumps(r) for r in metrics_rows(rows)]
    text = "\n".join(lines) + "\n" + ('{"step": 999, "reward/me' if torn else "")
    (path / "metrics.jsonl").write_text(text)
    if evals:
        cells = {"target": (3, 4), "easy": (1, 4), "horizon_2": (3, 2), "horizon_6": (3, 6)}
        ev = {phase: {name: eval_result(d, h, base + 0.1 * d / h, phase) for name, (d, h)
                      in cells.items()} for phase, base in (("before", 0.1), ("after", 0.4))}
        (path / "evals.json").write_text(json.dumps(ev))
        summary = {"task": "chain:3:4", "before": {"pass@1": 0.175, "pass@1_ci": [0.1, 0.25]},
                   "after": {"pass@1": 0.475, "pass@1_ci": [0.4, 0.55]}, "wall_seconds": 123.4,
                   "seconds": {"rl": 100.0}}
        (path / "summary.json").write_text(json.dumps(summary))
    return path


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = write_run(tmp_path_factory.mktemp("full"), torn=True)
    write_report(run)
    return run


@pytest.fixture(scope="module")
def metrics_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = write_run(tmp_path_factory.mktemp("train"), rows=3, evals=False)
    (run / "plots").mkdir()
    (run / "plots" / "passk.png").write_bytes(PNG_MAGIC)  # stale, from an earlier report
    write_report(run)
    return run


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_full_run_writes_every_plot_as_a_valid_png(full_run: Path) -> None:
    for name in PLOTS:
        w, h = png_size(full_run / "plots" / f"{name}.png")
        assert 300 <= w <= 1600 and 200 <= h <= 1200, (name, w, h)


def test_html_embeds_every_plot_and_loads_nothing_external(full_run: Path) -> None:
    page = (full_run / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(PLOTS)
    for external in ("<script", "<link", 'src="http', "url("):
        assert external not in page.lower()


def test_model_output_and_config_are_escaped(full_run: Path) -> None:
    page = (full_run / "report.html").read_text()
    assert "<img src=x" not in page and "<script>" not in page
    assert "&lt;script&gt;alert(" in page
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") >= 3  # sample, flag name, config


def test_headline_and_tables(full_run: Path) -> None:
    page = (full_run / "report.html").read_text()
    assert "0.175 [0.1, 0.25]" in page and "0.475 [0.4, 0.55]" in page
    assert "wall time 123 s" in page
    assert "seconds.rl" in page  # nested summary flattened
    assert "before RL" in page and "after &lt;script" in page and "\\boxed{7}" in page


def test_torn_last_line_is_skipped(full_run: Path) -> None:
    run = load_run(full_run)
    assert [r["step"] for r in run.rows] == list(range(30))


def test_metrics_only_run_renders_training_plots_and_says_what_is_missing(metrics_only: Path
                                                                         ) -> None:
    present = {p.stem for p in (metrics_only / "plots").glob("*.png")}
    assert present == METRIC_PLOTS  # the stale passk.png was removed
    page = (metrics_only / "report.html").read_text()
    assert "evals.json is missing" in page and "summary.json is missing" in page
    assert "wall time 2 s" in page  # 3 steps x time/step 0.5 s, rounded


def test_empty_folder_renders(tmp_path: Path) -> None:
    out = write_report(tmp_path)
    page = out.read_text()
    assert "metrics.jsonl is missing" in page and "config.json is missing" in page
    assert not list((tmp_path / "plots").glob("*.png"))


def test_demo_killed_before_the_after_eval_renders(tmp_path: Path) -> None:
    ev = {"before": {"target": eval_result(3, 4, 0.2, "before"), "junk": [1]}}
    (tmp_path / "evals.json").write_text(json.dumps(ev))
    page = write_report(tmp_path).read_text()
    assert {p.stem for p in (tmp_path / "plots").glob("*.png")} == {"passk"}
    assert "0.2 [0.1, 0.3] &rarr; <b>&mdash;</b>" in page  # headline from the target set


def test_unreadable_json_becomes_a_note(tmp_path: Path) -> None:
    (tmp_path / "evals.json").write_text('{"before": {"target": ')
    (tmp_path / "summary.json").write_text("[1, 2]")
    run = load_run(tmp_path)
    assert run.evals == {} and run.summary == {}
    assert any("evals.json is unreadable" in n for n in run.notes)
    assert any("summary.json holds a list" in n for n in run.notes)


def test_cli_prints_the_report_path(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "report.html")
    assert main(["report", str(tmp_path / "nope")]) == 2


def test_series_drops_non_finite_and_fills_missing() -> None:
    rows = [{"step": 0, "x": 1.0}, {"step": 1, "x": None}, {"step": 2, "x": "inf"},
            {"step": 3, "x": True}, {"step": 4}]
    assert series(rows, "x") == ([0], [1.0])
    assert series(rows, "x", fill=0.0) == ([0, 4], [1.0, 0.0])


def test_smooth_is_debiased_and_trailing() -> None:
    assert smooth([2.0] * 10) == pytest.approx([2.0] * 10)  # no pull towards 0 at the start
    a, b = smooth([0.0, 1.0, 0.0, 5.0], span=3), smooth([0.0, 1.0, 0.0, -5.0], span=3)
    assert a[:3] == b[:3] and a[3] != b[3]
    assert smooth([1.0, 3.0], span=1) == [1.0, 3.0]  # span 1 = raw values
    assert all(math.isfinite(v) for v in smooth([0.0, 1.0] * 50))


def test_level_points_hold_the_other_knob_fixed(full_run: Path) -> None:
    run = load_run(full_run)
    by_horizon = level_points(run, "horizon", "after")
    assert [x for x, _ in by_horizon] == [2, 4, 6]  # "easy" (difficulty 1) excluded
    assert [x for x, _ in level_points(run, "difficulty", "before")] == [1, 3]  # horizon 4 only


def test_esc_formats_numbers_and_escapes_text() -> None:
    assert esc([0.12345, 0.5]) == "[0.123, 0.5]"
    assert esc(0.123456) == "0.1235" and esc(None) == "&mdash;"
    assert esc('<b a="1">') == "&lt;b a=&quot;1&quot;&gt;"


def test_episodes_are_shown_with_actions_and_observations_apart_and_escaped(
        tmp_path: Path) -> None:
    from trueloop.rollout.record import save_episodes

    row = {"step": 3, "problem_id": "p/1", "prompt": "<b>go</b>", "stop_reason": "done",
           "turns": [{"action": "<script>x</script>", "observation": "tool said 5"},
                     {"action": "5", "observation": None}],
           "reward": 1.0, "correct": True, "reason": "ok", "flags": [], "extracted": "5",
           "tool_calls": {}, "tool_errors": {}, "error": None, "action_tokens": 4,
           "observation_tokens": 3}
    save_episodes(tmp_path, 3, [row])
    page = write_report(tmp_path).read_text()
    assert '<span class="act">action 0</span>' in page and "observation 0</span>" in page
    assert '<span class="act">action 1</span>' in page and "observation 1" not in page
    assert "&lt;script&gt;" in page and "<script>" not in page
