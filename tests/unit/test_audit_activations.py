"""Hook activations equal `hidden_states[L+1]`, masks keep the right tokens, shards round-trip."""

from __future__ import annotations

import contextlib

import pytest
import torch
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from trueloop.audit.activations import (
    Activations,
    StopForward,
    canonical_site,
    collect,
    hooked,
    kept_mask,
    spliced,
)
from trueloop.rollout.batch import RolloutBatch
from trueloop.types import Episode

V = 40


def llama() -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(cfg).eval()


def gpt2() -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=V, n_embd=32, n_layer=3, n_head=4, n_positions=64)
    return GPT2LMHeadModel(cfg).eval()


def qwen2() -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return Qwen2ForCausalLM(cfg).eval()


def neox() -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = GPTNeoXConfig(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                        num_attention_heads=4, max_position_embeddings=64)
    return GPTNeoXForCausalLM(cfg).eval()


def toy_batch() -> RolloutBatch:
    """Two rows: prompt widths 3 and 2 (left-padded to 3), episodes of 4 and 2 tokens."""
    ids = torch.tensor([[5, 6, 7, 8, 9, 10, 11], [0, 5, 6, 12, 13, 0, 0]])
    attn = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [0, 1, 1, 1, 1, 0, 0]])
    act = torch.tensor([[0, 0, 0, 1, 1, 0, 1], [0, 0, 0, 1, 1, 0, 0]])
    turn = torch.where(attn[:, 3:].bool(), 0, -1)
    turn = torch.cat([torch.full((2, 3), -1), turn], 1)
    eps = [Episode("p", (), "done", 0, 0)] * 2
    return RolloutBatch(ids, attn, act, torch.zeros(2, 7), turn, 3, eps, 1)


@pytest.mark.parametrize("make", [llama, gpt2, qwen2, neox])
def test_hook_equals_hidden_states(make) -> None:
    model, b = make(), toy_batch()
    acts = collect(model, b, ["blocks.0", "blocks.1"])
    kw = {"input_ids": b.input_ids, "attention_mask": b.attention_mask,
          "position_ids": (b.attention_mask.cumsum(1) - 1).clamp_min(0)}
    with torch.no_grad():
        hs = model(**kw, output_hidden_states=True).hidden_states
    keep = kept_mask(b)
    for layer in (0, 1):
        torch.testing.assert_close(acts.x[f"blocks.{layer}"], hs[layer + 1][keep], atol=1e-6,
                                   rtol=0)


def test_kept_tokens_exclude_padding_and_position_zero() -> None:
    b = toy_batch()
    acts = collect(llama(), b, ["blocks.-1"])
    assert list(acts.x) == ["blocks.2"]
    assert acts.row.tolist() == [0] * 6 + [1] * 3  # row 0: 7 real - pos 0; row 1: 4 real - pos 0
    assert acts.col.tolist() == [1, 2, 3, 4, 5, 6, 2, 3, 4]
    assert acts.is_action.tolist() == [0, 0, 1, 1, 0, 1, 0, 1, 1]
    assert acts.predicts_action.tolist() == [0, 1, 1, 0, 1, 0, 1, 1, 0]
    assert acts.token.tolist() == [6, 7, 8, 9, 10, 11, 6, 12, 13]


def test_stop_forward_leaves_model_usable() -> None:
    model, b = llama(), toy_batch()
    store: dict[str, torch.Tensor] = {}
    with hooked(model, ["blocks.0"], store, stop_after=True), contextlib.suppress(StopForward):
        model(input_ids=b.input_ids)
        raise AssertionError("the forward should have stopped at blocks.0")
    assert store["blocks.0"].shape == (2, 7, 32)
    assert not model.model.layers[0]._forward_hooks
    assert model(input_ids=b.input_ids).logits.shape == (2, 7, V)


def test_identity_splice_changes_nothing() -> None:
    model, b = gpt2(), toy_batch()
    with torch.no_grad():
        clean = model(input_ids=b.input_ids).logits
        with spliced(model, "h.1", lambda h: h.clone()):
            same = model(input_ids=b.input_ids).logits
        with spliced(model, "h.1", torch.zeros_like):
            other = model(input_ids=b.input_ids).logits
    torch.testing.assert_close(same, clean, atol=0, rtol=0)
    assert not torch.allclose(other, clean)


def test_site_names() -> None:
    model = gpt2()
    assert canonical_site(model, "layers.-1") == "blocks.2"
    assert canonical_site(model, "h.0") == "blocks.0"
    with pytest.raises(ValueError, match="out of range"):
        canonical_site(model, "blocks.3")


def test_shards_round_trip(tmp_path) -> None:
    acts = collect(llama(), toy_batch(), ["blocks.1"])
    paths = acts.save(tmp_path, shard_tokens=4)
    assert len(paths) == 3
    back = Activations.load(tmp_path)
    torch.testing.assert_close(back.x["blocks.1"], acts.x["blocks.1"], atol=0, rtol=0)
    assert back.predicts_action.tolist() == acts.predicts_action.tolist()


def test_last_block_is_hidden_states_before_the_final_norm() -> None:
    model, b = llama(), toy_batch()
    acts = collect(model, b, ["blocks.-1"])
    with torch.no_grad():
        hs = model(input_ids=b.input_ids, attention_mask=b.attention_mask,
                   position_ids=(b.attention_mask.cumsum(1) - 1).clamp_min(0),
                   output_hidden_states=True).hidden_states
        normed = model.model.norm(acts.x["blocks.2"])
    keep = kept_mask(b)
    torch.testing.assert_close(normed, hs[3][keep], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(acts.x["blocks.2"], hs[3][keep], atol=1e-3)
