"""Compute accounting: the model's shape, hand-computed FLOPs, a measured FLOP count, the totals."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import LlamaConfig, LlamaForCausalLM

from trueloop.config import load_config
from trueloop.policy import build_tiny
from trueloop.update.compute import ComputeMeter, ModelShape, forward_flops, model_shape


def llama(tied: bool) -> LlamaForCausalLM:
    cfg = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, max_position_embeddings=64,
                      tie_word_embeddings=tied)
    cfg._attn_implementation = "eager"  # attention as plain matmuls, which the counter sees
    return LlamaForCausalLM(cfg)


@pytest.mark.parametrize("tied", [True, False])
def test_matmul_params_leave_out_the_embedding_lookup_unless_the_head_shares_it(tied) -> None:
    model = llama(tied)
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    norms = sum(p.numel() for n, p in model.named_parameters() if "norm" in n)
    shape = model_shape(model)
    assert (shape.layers, shape.width) == (2, 32)
    assert shape.matmul_params == linear + norms  # tied: the head's weight is the embedding's


def test_forward_flops_by_hand() -> None:
    shape = ModelShape(matmul_params=10, layers=2, width=4)
    # rows of 3 and 5 tokens: 2*10*(3+5) + 2*2*4*(9+25)
    assert forward_flops(shape, torch.tensor([3, 5])) == 160 + 544


def test_the_estimate_is_close_to_a_measured_forward() -> None:
    model = llama(tied=False).eval()
    n = 48
    ids = torch.randint(0, 50, (2, n))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(input_ids=ids)
    measured = counter.get_total_flops()
    shape = model_shape(model)
    estimate = forward_flops(shape, torch.tensor([n, n]))
    # eager attention computes the full n x n scores (twice our causal term): add the other half
    full_attention = estimate + 2 * (2 * shape.layers * shape.width * n**2)
    assert abs(full_attention - measured) / measured < 0.02


def fake_batch() -> SimpleNamespace:
    """Two rows of width 6 after a 2-token prompt; row 1 left-padded by one, row 2 crashed."""
    attention = torch.tensor([[1, 1, 1, 1, 1, 1, 1, 0], [0, 1, 1, 1, 1, 1, 1, 1]])
    action = torch.tensor([[0, 0, 1, 1, 0, 1, 0, 0], [0, 0, 1, 1, 1, 0, 0, 0]])
    episodes = [SimpleNamespace(stop_reason="done"), SimpleNamespace(stop_reason="env_error")]
    return SimpleNamespace(attention_mask=attention, action_mask=action, prompt_width=2,
                           episodes=episodes, finish_reasons=["stop", "length"])


def test_a_step_counts_tokens_flops_and_running_totals() -> None:
    meter = ComputeMeter(build_tiny("0.5m").model)
    meter.shape = ModelShape(matmul_params=100, layers=1, width=2)
    cfg = load_config(overrides=["--update.epochs", "2", "--update.kl_coef", "0.1"])
    m = meter.step(fake_batch(), cfg, {"time/sample": 1.0, "time/update": 2.0})
    fwd = 2 * 100 * (7 + 7) + 2 * 1 * 2 * (49 + 49)
    assert m["compute/tokens_sampled"] == 6 and m["compute/tokens_forwarded"] == 14
    assert m["compute/tokens_trained"] == 3 * 2  # the env_error row leaves the loss; 2 epochs
    assert m["compute/flops_sample"] == fwd
    assert m["compute/flops_update"] == (2 * 3 + 1) * fwd  # fwd+bwd per epoch, one ref forward
    m2 = meter.step(fake_batch(), cfg, {"time/sample": 0.5})
    assert m2["compute/cum_flops"] == 2 * m["compute/flops"]
    assert m2["time/cum_sample"] == 1.5 and m2["time/cum_update"] == 2.0
    again = ComputeMeter(build_tiny("0.5m").model)
    again.load_state_dict(meter.state_dict())
    again.shape = meter.shape
    assert again.step(fake_batch(), cfg, {}) == meter.step(fake_batch(), cfg, {})


def test_gradient_checkpointing_adds_one_forward_per_epoch() -> None:
    meter = ComputeMeter(build_tiny("0.5m").model)
    plain = meter.step(fake_batch(), load_config(), {})
    ckpt = meter.step(fake_batch(), load_config(overrides=["--update.gradient_checkpointing",
                                                           "true"]), {})
    assert ckpt["compute/flops_update"] == plain["compute/flops_update"] * 4 / 3


def test_summary_gives_points_per_pflop_and_per_million_tokens() -> None:
    from trueloop.report.run import compute_summary

    rows = [{"step": 0, "compute/cum_flops": 1e14},
            {"step": 1, "compute/cum_flops": 5e14, "compute/cum_tokens_sampled": 2e5,
             "compute/cum_tokens_trained": 4e5, "compute/cum_flops_sample": 1e14,
             "compute/cum_flops_update": 4e14, "time/cum_sample": 3.0}, {"step": 2}]
    c = compute_summary(rows, gained=0.25)
    assert c["pflops"] == 0.5 and c["points_per_pflop"] == 50.0
    assert c["points_per_million_tokens_sampled"] == 125.0
    assert c["points_per_million_tokens_trained"] == 62.5
    assert c["seconds_by_stage"] == {"sample": 3.0, "verify": 0.0, "update": 0.0}
    assert "points_per_pflop" not in compute_summary(rows)
    assert compute_summary([{"step": 0, "reward/mean": 1.0}], 0.1) == {}


def test_the_report_says_where_the_compute_went(tmp_path) -> None:
    from trueloop.report import write_report

    rows = [{"step": s, "compute/cum_flops": 2e12 * (s + 1), "compute/cum_flops_sample": 5e11,
             "compute/cum_flops_update": 1.5e12 * (s + 1), "compute/cum_tokens_sampled": 100.0,
             "time/cum_sample": 1.0, "time/cum_verify": 1.0, "time/cum_update": 2.0,
             "eval/pass@1": 0.1 * s} for s in range(3)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "summary.json").write_text(json.dumps({"delta_pass@1": 0.2}))
    page = write_report(tmp_path).read_text()
    section = page.split("Where the compute went")[1]
    assert "update</td><td>2 (50%)" in section and "(75%)" in section  # 4.5e12 of 6e12 FLOPs
    assert "points_per_pflop</td><td>3333" in section  # 20 points / 0.006 PFLOP
    assert (tmp_path / "plots" / "compute.png").exists()
