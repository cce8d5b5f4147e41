"""Rollout: the KV-cached sampler against a full forward pass, seeds, stops, batches."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from trueloop.config import RolloutConfig
from trueloop.policy import Policy, build_tiny
from trueloop.policy.chartok import build_char_tokenizer
from trueloop.rollout import RolloutBatch, concat_batches, sample, token_logprobs
from trueloop.rollout.draw import truncate

PROMPTS = ["What is 2+2?", "x", "Put your final answer in \\boxed{}. Compute 3*4."]
DIGITS = tuple("0123456789")


@pytest.fixture(scope="module")
def tiny() -> Policy:
    return build_tiny("0.5m", seed=0)


def run(policy: Policy, seed: int = 0, prompts=PROMPTS, **kw) -> RolloutBatch:
    cfg = RolloutConfig(**{"max_new_tokens": 12, "group_size": 3, **kw})
    return sample(policy, prompts, cfg, generator=torch.Generator().manual_seed(seed))


def amask(b: RolloutBatch) -> torch.Tensor:
    """(N, T) action mask over the episode columns (a completion, for single-turn batches)."""
    return b.action_mask[:, b.prompt_width:]


def assert_logprobs_match(policy: Policy, batch: RolloutBatch, temperature: float = 1.0,
                          top_k: int = 0, top_p: float = 1.0) -> None:
    with torch.no_grad():
        logp, entropy = token_logprobs(policy.model, batch, temperature=temperature,
                                       top_k=top_k, top_p=top_p)
    mask = amask(batch).bool()
    recorded = batch.logprobs[:, batch.prompt_width:]
    assert torch.allclose(logp[mask], recorded[mask], atol=1e-4)
    assert (recorded[~mask] == 0).all() and (entropy[mask] > 0).all()
    assert (batch.logprobs[:, :batch.prompt_width] == 0).all()


def test_shapes_padding_and_grouping(tiny: Policy) -> None:
    b = run(tiny)
    n = len(PROMPTS) * 3
    assert b.prompt_ids.shape[0] == b.episode_ids.shape[0] == len(b.texts) == n
    lengths = b.prompt_mask.sum(1)
    assert lengths.tolist() == [len(p) + 1 for p in PROMPTS for _ in range(3)]  # + <bos>
    pad = tiny.tokenizer.pad_token_id
    assert (b.prompt_ids[b.prompt_mask == 0] == pad).all()
    assert (b.prompt_mask[:, -1] == 1).all()  # left padding
    assert torch.equal(b.prompt_ids[0], b.prompt_ids[2]) and b.group_size == 3
    tensors = (b.input_ids, b.attention_mask, b.action_mask, b.logprobs, b.turn_index)
    assert not any(t.is_inference() for t in tensors)  # usable in autograd by the update
    # single-turn: the action is the whole episode part, turn 0; the prompt is turn -1
    p = b.prompt_width
    assert torch.equal(b.action_mask[:, p:], b.attention_mask[:, p:])
    assert (b.action_mask[:, :p] == 0).all() and (b.turn_index[:, :p] == -1).all()
    assert torch.equal(b.turn_index[:, p:] == 0, amask(b).bool())


def test_same_seed_same_rollout_other_seed_differs(tiny: Policy) -> None:
    a, c = run(tiny, 7), run(tiny, 8)
    tiny.model.train()
    b = run(tiny, 7)  # sampling always runs in eval mode, and restores the caller's mode
    assert tiny.model.training
    tiny.model.eval()
    assert torch.equal(a.episode_ids, b.episode_ids) and a.texts == b.texts
    assert torch.equal(a.logprobs, b.logprobs)
    assert not torch.equal(a.episode_ids, c.episode_ids)


def test_recorded_logprobs_match_full_forward(tiny: Policy) -> None:
    assert_logprobs_match(tiny, run(tiny, max_new_tokens=20))


def test_logprobs_match_with_temperature_truncation_and_compaction(tiny: Policy) -> None:
    # digit stops finish rows at different steps, so finished rows are compacted out of the cache
    b = run(tiny, 3, max_new_tokens=24, temperature=0.7, top_k=40, top_p=0.9, stop=DIGITS)
    assert len(set(amask(b).sum(1).tolist())) > 2
    assert_logprobs_match(tiny, b, temperature=0.7, top_k=40, top_p=0.9)  # truncation replayed
    with torch.no_grad():  # the full-vocabulary log-probs carry the dropped mass: lower
        full = token_logprobs(tiny.model, b, temperature=0.7)[0]
    mask = amask(b).bool()
    gap = b.logprobs[:, b.prompt_width:][mask] - full[mask]
    assert (gap >= -1e-5).all() and gap.mean() > 1e-3


def test_replayed_truncation_keeps_the_drawn_token_and_gradients_finite(tiny: Policy) -> None:
    """A token outside this side's top-k (another engine's rounding put it on the boundary) keeps
    its own logit: a finite log-prob, and finite gradients through the -inf entries."""
    from trueloop.rollout.draw import on_support
    from trueloop.rollout.logprobs import Sampling, _logp_entropy

    logits = torch.tensor([[[3.0, 2.0, 1.0, 0.0]]], requires_grad=True)  # (1, 1, 4)
    targets = torch.tensor([[2]])  # third: outside top-2
    cut = on_support(logits, targets, top_k=2, top_p=1.0)
    assert torch.isinf(cut[0, 0, 3]) and cut[0, 0, 2] == 1.0
    logp, entropy = _logp_entropy(logits, targets, Sampling(top_k=2))
    expected = 1.0 - torch.logsumexp(torch.tensor([3.0, 2.0, 1.0]), 0)
    assert torch.allclose(logp, expected[None, None])
    (logp.sum() + entropy.sum()).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[0, 0, 3] == 0


def test_length_finish_reason(tiny: Policy) -> None:
    b = run(tiny, max_new_tokens=5)
    assert amask(b).shape[1] == 5 and "length" in b.finish_reasons
    eos = tiny.tokenizer.eos_token_id
    for reason, ids, mask in zip(b.finish_reasons, b.episode_ids, amask(b),
                                 strict=True):
        n = int(mask.sum())  # a random model may draw EOS early: then it is a "stop"
        assert (reason == "length") == (n == 5 and ids[-1] != eos)


def test_stop_strings_cut_text_and_stop_early(tiny: Policy) -> None:
    b = run(tiny, 1, max_new_tokens=64, stop=DIGITS)
    for text, reason, ids, mask in zip(b.texts, b.finish_reasons, b.episode_ids,
                                       amask(b), strict=True):
        assert not any(d in text for d in DIGITS)
        n = int(mask.sum())
        if reason == "stop":
            assert tiny.tokenizer.decode(ids[n - 1:n]) in (*DIGITS, tiny.tokenizer.eos_token)
            assert (ids[n:] == tiny.tokenizer.pad_token_id).all()
    assert b.finish_reasons.count("stop") == len(b)  # 64 steps: every row meets a digit
    assert b.episode_ids.shape[1] < 64  # the loop ended once every row had stopped


def test_eos_ids_from_generation_config_stop_rows() -> None:
    policy = build_tiny("0.5m", seed=0)
    digit_ids = [policy.tokenizer.convert_tokens_to_ids(d) for d in DIGITS]
    policy.model.generation_config.eos_token_id = digit_ids
    b = run(policy, 2, max_new_tokens=64)
    n = amask(b).sum(1)
    last = b.episode_ids.gather(1, (n - 1)[:, None]).squeeze(1)
    stopped = torch.tensor([r == "stop" for r in b.finish_reasons])
    assert stopped.any()
    ends = torch.tensor(digit_ids + [policy.tokenizer.eos_token_id])
    assert torch.isin(last[stopped], ends).all() and not torch.isin(last[~stopped], ends).any()
    assert_logprobs_match(policy, b)


def test_top_k_one_is_greedy(tiny: Policy) -> None:
    b = run(tiny, 5, top_k=1)
    for i in range(len(PROMPTS)):
        group = b.episode_ids[3 * i: 3 * i + 3]
        assert (group == group[0]).all()
    ids = torch.cat([b.prompt_ids[:1], b.episode_ids[:1, :1]], 1)
    with torch.no_grad():
        first = tiny.model(input_ids=b.prompt_ids[:1],
                           attention_mask=b.prompt_mask[:1]).logits[0, -1].argmax()
    assert ids[0, -1] == first


def test_truncate_hand_computed() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    inf = float("-inf")
    assert torch.isinf(truncate(logits, 2, 1.0)[0, 2:]).all()
    assert torch.isfinite(truncate(logits, 2, 1.0)[0, :2]).all()
    kept = truncate(logits, 0, 0.8) > inf  # 0.5 + 0.3 reaches 0.8: the rest goes
    assert kept.tolist() == [[True, True, False, False]]
    assert (truncate(logits, 0, 0.81) > inf).tolist() == [[True, True, True, False]]


def test_token_logprobs_has_gradients(tiny: Policy) -> None:
    b = run(tiny, max_new_tokens=4)
    logp, _ = token_logprobs(tiny.model, b)
    logp.sum().backward()
    grad = tiny.model.model.embed_tokens.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    tiny.model.zero_grad(set_to_none=True)


def test_select_and_concat_repad(tiny: Policy) -> None:
    a = run(tiny, 0, prompts=["a"], max_new_tokens=3)
    b = run(tiny, 1, prompts=["a much longer prompt"], max_new_tokens=6)
    both = concat_batches([a, b])
    assert both.episode_ids.shape == (6, 6) and both.prompt_ids.shape[1] == b.prompt_ids.shape[1]
    assert torch.equal(both.select(slice(3, 6)).episode_ids, b.episode_ids)
    assert both.select([0, 1, 2]).texts == a.texts
    assert (amask(both)[:3, 3:] == 0).all() and (both.prompt_mask[:3, :-2] == 0).all()
    assert_logprobs_match(tiny, both)


def test_rejects_empty_input(tiny: Policy) -> None:
    with pytest.raises(ValueError, match="prompt"):
        sample(tiny, [], RolloutConfig())


def test_qwen2_model_from_config() -> None:
    tok = build_char_tokenizer()
    config = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=128, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    torch.manual_seed(0)
    policy = Policy(model=Qwen2ForCausalLM(config).eval(), tokenizer=tok)
    b = run(policy, 4, stop=("e",))
    assert_logprobs_match(policy, b)


def test_lora_policy_samples_through_its_adapters(tiny: Policy) -> None:
    pytest.importorskip("peft")
    from trueloop.policy import apply_lora

    policy = apply_lora(build_tiny("0.5m", seed=0), rank=2)
    fresh = run(policy, 5, max_new_tokens=8)  # zero-initialised adapters: the base model's samples
    base = run(tiny, 5, max_new_tokens=8)
    assert torch.equal(fresh.episode_ids, base.episode_ids)
    assert torch.allclose(fresh.logprobs, base.logprobs, atol=1e-5)
    with torch.no_grad():  # adapters that do something: sampling must go through them
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    b = run(policy, 5, max_new_tokens=8)
    assert_logprobs_match(policy, b)
    with torch.no_grad():
        base_logp, _ = token_logprobs(tiny.model, b)  # the same tokens under the base model
    mask = amask(b).bool()
    assert (base_logp[mask] - b.logprobs[:, b.prompt_width:][mask]).abs().max() > 0.1


def test_preallocated_cache_matches_transformers_cache(tiny: Policy, monkeypatch) -> None:
    from trueloop.rollout import episodes, kvcache

    ours = run(tiny, 9, max_new_tokens=16, stop=DIGITS)  # stops -> compaction too
    monkeypatch.setattr(episodes, "preallocated_cache", lambda model, capacity: None)
    theirs = run(tiny, 9, max_new_tokens=16, stop=DIGITS)
    assert torch.equal(ours.episode_ids, theirs.episode_ids)
    assert torch.allclose(ours.logprobs, theirs.logprobs, atol=1e-5)
    # a cache planned too small grows instead of failing, with the same result
    monkeypatch.setattr(episodes, "preallocated_cache",
                        lambda model, capacity: kvcache.preallocated_cache(model, 4))
    grown = run(tiny, 9, max_new_tokens=16, stop=DIGITS)
    assert torch.equal(grown.episode_ids, ours.episode_ids)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("gen_device", ["cuda", "cpu"])
def test_cuda_sampling_matches_forward(gen_device: str) -> None:
    policy = build_tiny("0.5m", seed=0)
    policy.model.to("cuda")
    cfg = RolloutConfig(max_new_tokens=12, group_size=3, stop=DIGITS)
    gen = torch.Generator(gen_device).manual_seed(0)
    b = sample(policy, PROMPTS, cfg, generator=gen)
    assert b.episode_ids.device.type == "cuda"
    again = sample(policy, PROMPTS, cfg, generator=torch.Generator(gen_device).manual_seed(0))
    assert torch.equal(b.episode_ids, again.episode_ids)
    assert_logprobs_match(policy, b)


def test_sparse_finish_checks_keep_results(tiny: Policy, monkeypatch) -> None:
    from trueloop.rollout import episodes

    eos_policy = build_tiny("0.5m", seed=0)
    eos_policy.model.generation_config.eos_token_id = [
        eos_policy.tokenizer.convert_tokens_to_ids(d) for d in DIGITS]
    every_step = run(tiny, 4, max_new_tokens=10)  # rows rarely finish: no compaction
    monkeypatch.setattr(episodes, "check_every", lambda device, stops: 4)  # the CUDA setting
    sparse = run(tiny, 4, max_new_tokens=10)
    assert torch.equal(every_step.episode_ids, sparse.episode_ids)
    assert every_step.finish_reasons == sparse.finish_reasons
    b = run(eos_policy, 6, max_new_tokens=40)  # many rows finish between checks, then compact
    n = amask(b).sum(1)
    last = b.episode_ids.gather(1, (n - 1)[:, None]).squeeze(1)
    stopped = torch.tensor([r == "stop" for r in b.finish_reasons])
    ends = torch.tensor(eos_policy.eos_token_ids())
    assert stopped.sum() > len(b) // 2 and torch.isin(last[stopped], ends).all()
    assert b.episode_ids.shape[1] < 40 or not stopped.all()
    assert_logprobs_match(eos_policy, b)


def test_bfloat16_policy_samples_and_scores() -> None:
    policy = build_tiny("0.5m", seed=0)
    policy.model.to(torch.bfloat16)
    b = run(policy, max_new_tokens=8, temperature=0.5)
    with torch.no_grad():
        logp, _ = token_logprobs(policy.model, b, temperature=0.5)
    mask = amask(b).bool()
    recorded = b.logprobs[:, b.prompt_width:]
    assert logp.dtype == torch.float32 and torch.isfinite(b.logprobs).all()
    assert torch.allclose(logp[mask], recorded[mask], atol=0.1)  # bf16 forward-path noise


def test_shared_prompt_forward_equals_full_forward_with_gradients(tiny: Policy) -> None:
    """The update runs each prompt once per group: values and grads equal the plain path."""
    batch = run(tiny, max_new_tokens=10)
    assert batch.group_size > 1
    flat = dataclasses.replace(batch, group_size=1)  # disables prompt sharing

    def value_and_grads(b: RolloutBatch):
        tiny.model.zero_grad(set_to_none=True)
        logp, entropy = token_logprobs(tiny.model, b)
        (logp.sum() + entropy.sum()).backward()
        grads = [p.grad.clone() for p in tiny.model.parameters()]
        tiny.model.zero_grad(set_to_none=True)
        return logp.detach(), entropy.detach(), grads

    lp_g, ent_g, grads_g = value_and_grads(batch)
    lp_f, ent_f, grads_f = value_and_grads(flat)
    assert torch.allclose(lp_g, lp_f, atol=1e-5)
    assert torch.allclose(ent_g, ent_f, atol=1e-5)
    for a, b in zip(grads_g, grads_f, strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("grouped", [True, False])
def test_chunked_head_equals_plain_logprobs_with_gradients(tiny: Policy, grouped: bool) -> None:
    """A logit budget below (N, T, V) runs the LM head on hidden-state chunks: same values and
    grads as materialising all logits."""
    batch = run(tiny, max_new_tokens=10)
    if not grouped:
        batch = dataclasses.replace(batch, group_size=1)

    def value_and_grads(budget: int):
        tiny.model.zero_grad(set_to_none=True)
        logp, entropy = token_logprobs(tiny.model, batch, logit_budget=budget)
        (logp.sum() + entropy.sum()).backward()
        grads = [p.grad.clone() for p in tiny.model.parameters()]
        tiny.model.zero_grad(set_to_none=True)
        return logp.detach(), entropy.detach(), grads

    plain = value_and_grads(1 << 26)
    chunked = value_and_grads(1000)  # 1000 // 128 = 7 tokens of logits at a time
    assert torch.allclose(plain[0], chunked[0], atol=1e-5)
    assert torch.allclose(plain[1], chunked[1], atol=1e-5)
    for a, b in zip(plain[2], chunked[2], strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-3)


def test_cdf_draw_samples_the_same_distribution() -> None:
    from trueloop.rollout.draw import draw

    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05, 0.0]])).repeat(40_000, 1)
    for method in ("race", "cdf"):
        tokens = draw(logits, torch.Generator().manual_seed(0), method)
        freq = torch.bincount(tokens, minlength=5).float() / len(tokens)
        assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.15, 0.05, 0.0]), atol=0.01)
    truncated = truncate(logits[:1000], 2, 1.0)  # -inf entries are never drawn
    assert set(draw(truncated, torch.Generator().manual_seed(1), "cdf").tolist()) <= {0, 1}


def test_cdf_draw_logprobs_match(tiny: Policy) -> None:
    assert_logprobs_match(tiny, run(tiny, 2, max_new_tokens=16, draw="cdf", stop=DIGITS))
