"""Policy: the tiny model and its tokenizer, HF folder save/load, LoRA."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from trueloop.config import PolicyConfig
from trueloop.policy import SIZES, Policy, apply_lora, build_tiny, load_policy
from trueloop.policy import tiny as tiny_module
from trueloop.policy.chartok import build_char_tokenizer
from trueloop.policy.tiny import tiny_config

TASK_TEXT = "Compute 12 * (3 - 7) / 2.\nPut your final answer in \\boxed{}. The answer is -24!"


@pytest.fixture(scope="module")
def tiny() -> Policy:
    return build_tiny("0.5m", seed=0)


@pytest.mark.parametrize("size", sorted(SIZES))
def test_documented_param_counts(size: str) -> None:
    tok = build_char_tokenizer()
    config = tiny_config(size, len(tok), tok.bos_token_id, tok.eos_token_id, tok.pad_token_id)
    with torch.device("meta"):  # count without allocating
        n = sum(p.numel() for p in LlamaForCausalLM(config).parameters())
    documented = float(SIZES[size].approx_params.rstrip("M")) * 1e6
    assert abs(n - documented) / documented < 0.01


def documented_sizes() -> dict[str, list[str]]:
    """The size table of `trueloop.policy.tiny`'s docstring: name -> its row's other cells."""
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in tiny_module.__doc__.splitlines() if line.startswith("|")]
    return {row[0]: row[1:] for row in rows[2:]}  # past the header and the |---| line


def test_model_configs_have_the_documented_shapes() -> None:
    # the docstring's table is what users read; the parameter column is counted above
    table, tok = documented_sizes(), build_char_tokenizer()
    assert sorted(table) == sorted(SIZES)
    for size, (layers, d_model, heads, ffn, ctx, params) in table.items():
        config = tiny_config(size, len(tok), tok.bos_token_id, tok.eos_token_id, tok.pad_token_id)
        got = (config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
               config.intermediate_size, config.max_position_embeddings)
        assert got == tuple(int(x) for x in (layers, d_model, heads, ffn, ctx)), size
        assert config.tie_word_embeddings and params == SIZES[size].approx_params, size


def test_unknown_size_lists_known() -> None:
    with pytest.raises(ValueError, match="known"):
        build_tiny("huge")


def test_char_tokenizer_roundtrip_and_specials() -> None:
    tok = build_char_tokenizer()
    ids = tok(TASK_TEXT)["input_ids"]
    assert ids[0] == tok.bos_token_id and len(ids) == len(TASK_TEXT) + 1
    assert tok.decode(ids, skip_special_tokens=True) == TASK_TEXT
    assert tok.unk_token_id not in ids
    specials = {tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id}
    assert len(specials) == 4 and None not in specials
    assert tok("é")["input_ids"][1:] == [tok.unk_token_id]


def test_build_tiny_is_seeded_and_leaves_global_rng() -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b, c = build_tiny("0.5m", seed=1), build_tiny("0.5m", seed=1), build_tiny("0.5m", seed=2)
    assert torch.equal(torch.rand(1), before)
    wa, wb, wc = (p.model.model.embed_tokens.weight for p in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_save_loads_with_plain_transformers(tiny: Policy, tmp_path) -> None:
    tiny.save(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    ids = torch.tensor([tok(TASK_TEXT)["input_ids"]])
    assert ids.tolist() == [tiny.tokenizer(TASK_TEXT)["input_ids"]]
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, tiny.model(ids).logits, atol=1e-6)
    again = load_policy(PolicyConfig(model=str(tmp_path)))
    assert again.tokenizer.pad_token_id == tiny.tokenizer.pad_token_id


def test_load_policy_tiny_names_and_dtype() -> None:
    p = load_policy(PolicyConfig(model="tiny-0.5m", dtype="bfloat16"), seed=3)
    assert p.model.config.num_hidden_layers == SIZES["0.5m"].layers
    assert p.model.dtype == torch.bfloat16
    q = load_policy(PolicyConfig(model="tiny", size="0.5m"), seed=3)
    assert torch.equal(p.model.model.embed_tokens.weight.float(),
                       q.model.model.embed_tokens.weight.to(torch.bfloat16).float())


def test_load_policy_rejects_missing_folder(tmp_path) -> None:
    with pytest.raises(ValueError, match="config.json"):
        load_policy(PolicyConfig(model=str(tmp_path / "nope")))


def test_lora_trains_only_adapters_and_saves_merged(tmp_path) -> None:
    pytest.importorskip("peft")
    policy = apply_lora(build_tiny("0.5m", seed=0), rank=4)
    trainable = [n for n, p in policy.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert 0 < policy.num_parameters(trainable_only=True) < 0.2 * policy.num_parameters()
    with torch.no_grad():  # make the adapters non-trivial (lora_B starts at zero)
        for n, p in policy.model.named_parameters():
            if "lora_B" in n:
                p.normal_(std=0.05)
    policy.save(tmp_path)
    merged = AutoModelForCausalLM.from_pretrained(tmp_path)
    ids = torch.tensor([policy.tokenizer(TASK_TEXT)["input_ids"]])
    with torch.no_grad():
        want = policy.model(input_ids=ids).logits
        assert torch.allclose(merged(ids).logits, want, atol=1e-4)
        assert not torch.allclose(build_tiny("0.5m", seed=0).model(ids).logits, want, atol=1e-3)
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
