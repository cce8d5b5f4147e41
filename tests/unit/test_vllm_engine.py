"""`rollout.engine = "vllm"`: the native engine's episode contract on vLLM (token identity, masks,
every end rule), the weight sync and its probe, and a training run on it.

Needs the `vllm` extra (`make test-vllm` builds .venv-vllm for it and sets TRUELOOP_REQUIRE_VLLM,
which turns a missing vLLM into a failure instead of a skip). One engine serves the module."""

from __future__ import annotations

import json
import os

import pytest
import torch
from test_episodes import (
    LETTERS,
    STOP_CASES,
    CountEnv,
    assert_recomputed_logprobs_equal,
    play,
    problem,
)

from trueloop.config import RolloutConfig, RunConfig
from trueloop.policy import Policy, build_tiny

pytestmark = pytest.mark.slow

if os.environ.get("TRUELOOP_REQUIRE_VLLM"):
    import vllm  # noqa: F401  a missing engine fails here, never skips
else:
    pytest.importorskip("vllm")

from trueloop.rollout.logprobs import Sampling  # noqa: E402
from trueloop.rollout.vllm_engine import EngineError, engine_for  # noqa: E402


@pytest.fixture(scope="module")
def tiny() -> Policy:
    return build_tiny("0.5m", seed=0)


def test_multi_turn_ids_masks_and_logprobs_hold_on_vllm(tiny: Policy) -> None:
    envs = [CountEnv(problem(i // 2)) for i in range(8)]
    b = play(tiny, envs, seed=1, engine="vllm")
    assert sum(e.stop_reason == "done" for e in b.episodes) >= 6
    assert max(len(e.turns) for e in b.episodes) == 3
    assert_recomputed_logprobs_equal(tiny, b)  # vLLM's log-probs are the trainer's (fp32)
    tok, p = tiny.tokenizer, b.prompt_width
    for row, ep in enumerate(b.episodes):
        ids, act = b.input_ids[row, p:].tolist(), b.action_mask[row, p:].tolist()
        turn = b.turn_index[row, p:].tolist()
        for k, t in enumerate(ep.turns):
            mine = [i for i, a, tk in zip(ids, act, turn, strict=True) if a and tk == k]
            obs = [i for i, a, tk in zip(ids, act, turn, strict=True) if not a and tk == k]
            if k < len(ep.turns) - 1 or ep.stop_reason == "done":  # ended by a stop string
                last = tok.decode(mine[-1:])
                assert last in LETTERS or last == tok.eos_token
                assert tok.decode(mine, skip_special_tokens=True) == t.action + last.replace(
                    tok.eos_token, "")
            if t.observation is None:
                assert obs == []
            else:  # the observation follows the action, untrained
                assert t.observation in tok.decode(obs)
        assert ep.action_tokens == sum(act)
    assert tiny.version == 0 and b.engine["rollout/weight_version"] == 0.0


@pytest.mark.parametrize(("options", "env_turns", "reason"), STOP_CASES)
def test_every_stop_reason_is_reached_on_vllm(tiny: Policy, options, env_turns: int,
                                             reason: str) -> None:
    envs = [CountEnv(problem(i // 2), turns=env_turns) for i in range(4)]
    b = play(tiny, envs, seed=5, engine="vllm", **{"max_turns": 50, **options})
    reasons = [e.stop_reason for e in b.episodes]
    assert reasons.count(reason) >= 3, reasons
    assert b.attention_mask.sum(1).max() <= options.get("max_context", 256)
    assert_recomputed_logprobs_equal(tiny, b)


def test_same_seed_same_episodes_on_vllm(tiny: Policy) -> None:
    one, two = (play(tiny, [CountEnv(problem(i // 2)) for i in range(4)], seed=7, engine="vllm")
                for _ in range(2))
    assert torch.equal(one.input_ids, two.input_ids)


def test_seeded_prompts_beyond_one_step_s_token_budget_sample(tiny: Policy) -> None:
    # 40 distinct 150-token prompts, each with its seed: more than vLLM's CPU default of 4096
    # batched tokens a step. With chunked prefill on, vLLM 0.32 rewinds a partly prefilled
    # request's seeded generator and fails ("CPU Generator does not use offset").
    cfg = RunConfig().rollout
    engine = engine_for(tiny, cfg)
    prompts = [[3 + (i * 7 + j) % 100 for j in range(150)] for i in range(40)]
    outs = engine.generate(prompts, [2] * 40, list(range(40)), cfg, eos=[])
    assert [len(ids) for ids, _, _ in outs] == [2] * 40


def test_the_trainer_keeps_its_torch_threads_after_the_engine_starts(tiny: Policy) -> None:
    # vLLM's CPU worker swaps `torch.set_num_threads` for a no-op; in-process that froze the
    # trainer's thread count (a run asking for 2 threads after the start silently kept 1).
    engine_for(tiny, RunConfig().rollout)
    threads = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            assert torch.get_num_threads() == n
    finally:
        torch.set_num_threads(threads)


def test_a_skipped_sync_is_caught_by_the_probe(monkeypatch) -> None:
    policy = build_tiny("0.5m", seed=1)
    play(policy, [CountEnv(problem(0))], g=1, engine="vllm")  # starts the engine, syncs v0
    engine = engine_for(policy, RunConfig().rollout)
    with torch.no_grad():  # what an optimizer step does, and the sync that never happens
        for p in policy.model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    policy.version += 1
    monkeypatch.setattr(engine.llm, "collective_rpc", lambda *a, **k: None)
    with pytest.raises(EngineError, match="sync_max_gap"):
        play(policy, [CountEnv(problem(0))], g=1, engine="vllm")
    monkeypatch.undo()  # a real sync: the gap closes
    b = play(policy, [CountEnv(problem(0))], g=1, engine="vllm")
    assert b.engine["rollout/sync_logp_gap"] < 1e-4


def test_training_on_vllm_syncs_every_step_and_measures_no_mismatch(tmp_path) -> None:
    from trueloop.config import load_config
    from trueloop.update.trainer import train

    cfg = load_config(None, ["--steps", "3", "--rollout.engine", "vllm",
                             "--rollout.prompts_per_step", "4", "--rollout.group_size", "4",
                             "--update.old_logprobs", "trainer", "--update.is_correction", "tis",
                             "--log.progress", "false"])
    train(cfg, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["rollout/weight_version"] for r in rows] == [0.0, 1.0, 2.0]
    assert all(r["rollout/sync_logp_gap"] < 1e-4 for r in rows)
    assert all(r["mismatch/logp_abs_max"] < 1e-3 for r in rows)  # fp32 sampler == trainer


@pytest.mark.parametrize("route", ["merged", "adapter"])
def test_a_lora_policy_syncs_every_step_by_either_route(route: str) -> None:
    pytest.importorskip("peft")
    from trueloop.policy.hf import apply_lora

    policy = apply_lora(build_tiny("0.5m", seed=2), 4)
    before = {n: p.clone() for n, p in policy.model.named_parameters()}
    b = play(policy, [CountEnv(problem(0))], g=1, engine="vllm", lora_sync=route)
    assert b.engine["rollout/sync_logp_gap"] < 1e-4
    with torch.no_grad():  # a trained adapter (lora_B starts at zero: the base model)
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.add_(0.5 * torch.randn_like(p))
                before[name] = p.clone()
    policy.version += 1
    b = play(policy, [CountEnv(problem(0))], g=1, engine="vllm", lora_sync=route)
    engine = engine_for(policy, RolloutConfig(lora_sync=route))
    assert b.engine["rollout/weight_version"] == 1.0
    assert b.engine["rollout/sync_logp_gap"] < 1e-4  # vLLM samples with the new adapter
    assert_recomputed_logprobs_equal(policy, b)
    assert all(torch.equal(p, before[n]) for n, p in policy.model.named_parameters())
    if route == "adapter":
        assert engine.lora_request.lora_int_id == 2
        request, engine.lora_request = engine.lora_request, None
        try:  # the probe can tell: without the adapter vLLM is the base model, far from it
            assert engine.probe_gap(policy) > 10 * b.engine["rollout/sync_logp_gap"] + 1e-3
        finally:
            engine.lora_request = request
    else:  # vLLM runs the plain model with the adapter folded in: no LoRA request at all
        assert engine.lora_request is None and not engine.adapters


def test_a_missing_or_failing_engine_is_a_sentence(monkeypatch, tmp_path, capsys) -> None:
    import trueloop.rollout.vllm_engine as ve
    from trueloop.cli import main

    def no_vllm():
        raise EngineError(ve.INSTALL)

    monkeypatch.setattr(ve, "_vllm", no_vllm)
    monkeypatch.setattr(ve, "_ENGINES", type(ve._ENGINES)())
    config = tmp_path / "run.toml"
    config.write_text('steps = 2\n[rollout]\nengine = "vllm"\nprompts_per_step = 2\n'
                      'group_size = 2\n[log]\nprogress = false\n')
    assert main(["train", str(config), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "pip install 'trueloop[vllm]'" in err and "--resume" in err


def test_a_bf16_sampler_shows_mismatch_and_tis_bounds_what_none_does_not(tiny: Policy) -> None:
    from trueloop.config import UpdateConfig
    from trueloop.update.mismatch import measure
    from trueloop.update.step import loss_mask, trainer_logprobs

    b = play(tiny, [CountEnv(problem(i // 4)) for i in range(16)], seed=9, engine="vllm",
             engine_dtype="bfloat16", max_new_tokens=16)
    mask = loss_mask(b, UpdateConfig())
    old = trainer_logprobs(tiny, b, Sampling(), UpdateConfig())  # the fp32 trainer
    sampler = b.logprobs[:, b.prompt_width:]
    cap = 1.001  # bf16 noise on this model: max ratio about 1.002
    none = measure(sampler, old, mask, UpdateConfig(old_logprobs="trainer", is_cap=cap))
    tis = measure(sampler, old, mask, UpdateConfig(old_logprobs="trainer", is_correction="tis",
                                                   is_cap=cap))
    print(none.metrics)  # the bf16 figures, for docs/models.md
    assert 1e-4 < none.metrics["mismatch/logp_abs_mean"] < 0.5  # bf16 vs fp32 (fp32: 1e-6)
    assert none.weight is None and none.metrics["mismatch/is_ratio_max"] > cap  # unbounded
    assert tis.metrics["mismatch/is_clip_frac"] > 0
    assert float(tis.weight[mask.bool()].max()) <= cap * (1 + 1e-6)  # cap in float32


def test_an_engine_that_dies_mid_run_ends_it_with_a_sentence_and_resume_finishes(
        monkeypatch, tmp_path, capsys) -> None:
    import trueloop.rollout.vllm_engine as ve
    from trueloop.cli import main

    config = tmp_path / "run.toml"
    config.write_text('steps = 3\n[rollout]\nengine = "vllm"\nprompts_per_step = 2\n'
                      'group_size = 2\n[log]\nprogress = false\ncheckpoint_every = 1\n')
    real, calls = ve.VLLMEngine.generate, []

    def dies_at_the_third_step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise ve.EngineError("vLLM failed while sampling: RuntimeError: worker died")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ve.VLLMEngine, "generate", dies_at_the_third_step)
    out = tmp_path / "run"
    assert main(["train", str(config), "--out", str(out)]) == 1
    assert "worker died" in capsys.readouterr().err
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2  # steps 0 and 1 kept
    monkeypatch.undo()
    assert main(["train", str(config), "--out", str(out), "--resume"]) == 0
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 1, 2]


@pytest.mark.parametrize(("top_k", "top_p"), [(0, 0.8), (5, 1.0)])
def test_truncated_sampling_ratio_is_unbiased_only_with_the_truncation_replayed(
        tiny: Policy, top_k: int, top_p: float) -> None:
    """TRL#6789 / PR#7269 on this engine: vLLM's log-probs are of the truncated distribution; a
    full-vocabulary trainer puts the kept mass S into every ratio (mean ~S), the replayed
    truncation gives ratio 1 up to engine noise."""
    from trueloop.config import UpdateConfig
    from trueloop.update.mismatch import measure
    from trueloop.update.step import loss_mask, trainer_logprobs

    b = play(tiny, [CountEnv(problem(i // 4)) for i in range(16)], seed=3, engine="vllm",
             max_new_tokens=16, top_k=top_k, top_p=top_p)
    cfg = UpdateConfig(old_logprobs="trainer")
    mask, sampler = loss_mask(b, cfg), b.logprobs[:, b.prompt_width:]
    full = measure(sampler, trainer_logprobs(tiny, b, Sampling(), cfg), mask, cfg).metrics
    replayed = measure(sampler, trainer_logprobs(tiny, b, Sampling(top_k=top_k, top_p=top_p),
                                                 cfg), mask, cfg).metrics
    print(top_k, top_p, full, replayed)  # the figures docs/models.md quotes
    assert full["mismatch/is_ratio_mean"] < 0.95 and full["mismatch/logp_abs_mean"] > 0.05
    # a token on the top-p boundary may be kept by one side's rounding only: means, not the max
    assert abs(replayed["mismatch/is_ratio_mean"] - 1) < 5e-3
    assert replayed["mismatch/logp_abs_mean"] < 1e-3
