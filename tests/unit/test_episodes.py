"""Multi-turn episodes: token identity across turns, mask isolation, and every end rule."""

from __future__ import annotations

import string

import pytest
import torch
from bpe_chat import build_bpe_policy

from trueloop.config import RolloutConfig, UpdateConfig
from trueloop.envs import Env, StepResult, Tool, ToolEnv
from trueloop.policy import Policy, build_tiny
from trueloop.rollout import RolloutBatch, run_episodes, token_logprobs
from trueloop.types import Message, Problem, Verdict
from trueloop.update.losses import policy_loss
from trueloop.update.step import loss_mask

LETTERS = tuple(string.ascii_letters)
# stop strings a random char model meets within a few tokens: short actions, many turns


class CountEnv(Env):
    """Shows "obs <k>" after action k; done after `turns` actions; `fail_at` makes step raise."""

    def __init__(self, problem: Problem, turns: int = 3, fail_at: int | None = None,
                 chat: bool = False):
        self.problem, self.turns, self.fail_at, self.chat = problem, turns, fail_at, chat
        self.actions: list[str] = []

    def reset(self, problem: Problem, *, seed: int):
        self.actions = []
        return problem.messages if self.chat else problem.prompt

    def step(self, action: str) -> StepResult:
        self.actions.append(action)
        if self.fail_at == len(self.actions):
            raise RuntimeError("the environment broke")
        done = len(self.actions) >= self.turns
        return StepResult(None if done else f"obs {len(self.actions)}", done)

    def verify(self) -> Verdict:
        return Verdict(len(self.actions) == self.turns, float(len(self.actions) == self.turns),
                       "ok")


def problem(i: int, prompt: str = "Count with me.") -> Problem:
    return Problem(f"count/{i}", "count", prompt, (Message("user", prompt),), None)


def play(policy: Policy, envs: list[Env], seed: int = 0, g: int = 2, **kw) -> RolloutBatch:
    cfg = RolloutConfig(**{"max_new_tokens": 8, "max_turns": 6, "stop": LETTERS, **kw})
    return run_episodes(policy, envs, cfg, generator=torch.Generator().manual_seed(seed),
                        group_size=g)


@pytest.fixture(scope="module")
def tiny() -> Policy:
    return build_tiny("0.5m", seed=0)


@pytest.fixture(scope="module")
def bpe() -> Policy:
    return build_bpe_policy()


def assert_recomputed_logprobs_equal(policy: Policy, b: RolloutBatch) -> None:
    """The token-identity check: one full forward pass over the assembled ids gives, on every
    action token, the log-prob recorded while sampling turn by turn on the KV cache."""
    with torch.no_grad():
        logp, _ = token_logprobs(policy.model, b)
    act = b.action_mask[:, b.prompt_width:].bool()
    recorded = b.logprobs[:, b.prompt_width:]
    assert act.any()
    assert torch.allclose(logp[act], recorded[act], atol=1e-4)
    assert (recorded[~act] == 0).all()


@pytest.mark.parametrize("policy_name", ["tiny", "bpe"])
def test_multi_turn_ids_are_the_sampled_ids(policy_name: str, request) -> None:
    policy = request.getfixturevalue(policy_name)
    chat = policy_name == "bpe"
    envs = [CountEnv(problem(i // 2), chat=chat) for i in range(6)]
    b = play(policy, envs, seed=1)
    assert sum(e.stop_reason == "done" for e in b.episodes) >= 4
    assert max(len(e.turns) for e in b.episodes) == 3
    assert_recomputed_logprobs_equal(policy, b)
    tok = policy.tokenizer
    for row, ep in enumerate(b.episodes):
        real = b.attention_mask[row].bool()
        ids = b.input_ids[row][real].tolist()
        act = b.action_mask[row][real].tolist()
        turn = b.turn_index[row][real].tolist()
        assert act[: len(ids) - sum(1 for t in turn if t >= 0)] == [0] * turn.count(-1)
        for k, t in enumerate(ep.turns):
            action_ids = [i for i, a, tk in zip(ids, act, turn, strict=True) if a and tk == k]
            assert tok.decode(action_ids, skip_special_tokens=True).startswith(t.action)
            obs_ids = [i for i, a, tk in zip(ids, act, turn, strict=True) if not a and tk == k]
            if t.observation is None:
                assert obs_ids == []
            else:  # the observation (and the template's markers) follow the action, untrained
                assert t.observation in tok.decode(obs_ids)
        assert ep.action_tokens == sum(act)


def test_each_turns_ending_token_is_trained_and_counts_match(tiny: Policy) -> None:
    envs = [CountEnv(problem(i // 2)) for i in range(8)]
    b = play(tiny, envs, seed=2)
    tok = tiny.tokenizer
    for row, ep in enumerate(b.episodes):
        p = b.prompt_width
        ids, act = b.input_ids[row, p:].tolist(), b.action_mask[row, p:].tolist()
        turn = b.turn_index[row, p:].tolist()
        for k, t in enumerate(ep.turns):
            mine = [i for i, a, tk in zip(ids, act, turn, strict=True) if a and tk == k]
            stopped = k < len(ep.turns) - 1 or ep.stop_reason == "done"
            if stopped:  # the action's text plus the stop character that ended it: all trained
                last = tok.decode(mine[-1:])
                assert last in LETTERS or last == tok.eos_token
                assert tok.decode(mine, skip_special_tokens=True) == t.action + last.replace(
                    tok.eos_token, "")
    assert int(b.action_mask.sum()) == sum(e.action_tokens for e in b.episodes)


def test_loss_has_no_gradient_on_observation_tokens(tiny: Policy) -> None:
    b = play(tiny, [CountEnv(problem(i // 2)) for i in range(4)], seed=3)
    p = b.prompt_width
    mask = loss_mask(b, UpdateConfig())  # (N, T)
    logp = b.logprobs[:, p:].clone().requires_grad_(True)
    adv = torch.tensor([1.0, -1.0, 0.5, -0.5])
    policy_loss(logp, b.logprobs[:, p:], adv, mask, eps_low=0.2, eps_high=0.2, agg="token",
                norm_len=None).loss.backward()
    obs = (b.attention_mask[:, p:] == 1) & (b.action_mask[:, p:] == 0)
    assert obs.any()
    assert (logp.grad[obs] == 0).all() and (logp.grad[b.action_mask[:, p:].bool()] != 0).all()
    assert torch.equal(mask.bool(), b.action_mask[:, p:].bool())


def test_env_error_ends_the_episode_and_leaves_the_loss(tiny: Policy) -> None:
    envs = [CountEnv(problem(0), fail_at=2), CountEnv(problem(0))]
    b = play(tiny, envs, seed=4)
    bad, good = b.episodes
    assert bad.stop_reason == "env_error" and "the environment broke" in bad.error
    assert len(bad.turns) == 2 and good.stop_reason == "done"
    mask = loss_mask(b, UpdateConfig())
    assert mask[0].sum() == 0 and mask[1].sum() > 0


STOP_CASES = [
    ({}, 1, "done"),
    ({"stop": (), "max_new_tokens": 3}, 5, "turn_length"),
    ({"max_turns": 2}, 50, "max_turns"),
    ({"max_episode_tokens": 3, "max_new_tokens": 8}, 50, "max_tokens"),
    ({"max_context": 40, "max_new_tokens": 8}, 50, "context"),
    ({"episode_timeout_s": 1e-9}, 50, "timeout"),
]
# (rollout options, turns the env wants, the stop reason most episodes must end with)


@pytest.mark.parametrize(("options", "env_turns", "reason"), STOP_CASES)
def test_every_stop_reason_is_reached(tiny: Policy, options, env_turns: int, reason: str) -> None:
    seen_positions: list[int] = []

    def watch(module, args, kwargs):
        seen_positions.append(int(kwargs["position_ids"].max()))

    handle = tiny.model.register_forward_pre_hook(watch, with_kwargs=True)
    try:
        envs = [CountEnv(problem(i // 2), turns=env_turns) for i in range(4)]
        b = play(tiny, envs, seed=5, **{"max_turns": 50, **options})
    finally:
        handle.remove()
    reasons = [e.stop_reason for e in b.episodes]
    assert reasons.count(reason) >= 3, reasons
    context = options.get("max_context", 256)
    assert max(seen_positions) < context  # no sampling call ran past the context
    assert_recomputed_logprobs_equal(tiny, b)


class BoomTools(ToolEnv):
    """Calls a tool that raises, whatever the policy writes; done after three actions."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem)
        self.tools = {"boom": Tool.from_function(boom)}

    def step(self, action: str) -> StepResult:
        if len(self.calls) == 2:
            return super().step("final answer")
        return super().step('<tool_call>{"name": "boom", "arguments": {}}</tool_call>')

    def verify(self) -> Verdict:
        return Verdict(False, 0.0, "wrong")


def boom() -> str:
    """Always fails."""
    raise OSError("disk on fire")


def test_a_crashing_tool_is_an_observation_and_the_episode_goes_on(tiny: Policy) -> None:
    b = play(tiny, [BoomTools(problem(0)), BoomTools(problem(0))], seed=6, max_context=1024)
    for ep in b.episodes:
        assert ep.stop_reason == "done" and len(ep.turns) == 3
        assert ep.tool_calls == {"boom": 2} and ep.tool_errors == {"boom": 2}
        assert "OSError: disk on fire" in ep.turns[0].observation


def test_a_rerendered_history_fails_the_identity_check(bpe: Policy) -> None:
    """Negative control: rebuilding the conversation from text through the chat template (what
    trainers that re-render history do) does not give the ids that were sampled."""
    envs = [CountEnv(problem(i // 2), chat=True) for i in range(6)]
    b = play(bpe, envs, seed=7)
    tok = bpe.tokenizer
    differs = 0
    for row, ep in enumerate(b.episodes):
        messages = [{"role": "user", "content": "Count with me."}]
        for t in ep.turns:
            messages.append({"role": "assistant", "content": t.action})
            if t.observation is not None:
                messages.append({"role": "tool", "content": t.observation})
        rendered = tok.apply_chat_template(messages, tokenize=False)
        rerendered = tok(rendered, add_special_tokens=False)["input_ids"]
        sampled = b.input_ids[row][b.attention_mask[row].bool()].tolist()
        differs += rerendered[: len(sampled)] != sampled
    assert differs >= 3  # stop strings cut from text, BPE merges across turns: ids drift


def scripted(monkeypatch, policy: Policy, actions: list[str], eos: str = "each") -> None:
    """A scripted policy: every row writes `actions[k]` at turn k, then EOS (after each action,
    or with eos="last" only after the last, the others ending in a stop string). Draws are
    replaced; the model still runs, so the recorded log-probs stay checkable."""
    from trueloop.rollout import episodes

    tok = policy.tokenizer
    ends = [eos == "each" or k == len(actions) - 1 for k in range(len(actions))]
    script = iter([i for a, end in zip(actions, ends, strict=True)
                   for i in tok(a, add_special_tokens=False)["input_ids"]
                   + ([tok.eos_token_id] if end else [])])

    def draw(logits, generator, method="race"):
        return torch.full((logits.shape[0],), next(script), dtype=torch.long)

    monkeypatch.setattr(episodes, "draw", draw)


class Calc(ToolEnv):
    def verify(self) -> Verdict:
        ok = self.final is not None and self.final.strip() == "408" and len(self.calls) == 1
        return Verdict(ok, float(ok), "ok" if ok else "wrong")


CALL = '<tool_call>{"name": "calculator", "arguments": {"expression": "12*34"}}</tool_call>'


def test_scripted_tool_call_runs_and_its_result_is_observed(bpe: Policy, monkeypatch) -> None:
    from trueloop.envs import verify_episodes

    scripted(monkeypatch, bpe, ["<think>multiply</think>" + CALL, "408"])
    envs = [Calc(problem(0, "What is 12*34?")) for _ in range(2)]
    b = play(bpe, envs, stop=(), max_new_tokens=200, max_context=4096)
    for ep in b.episodes:
        assert ep.stop_reason == "done" and ep.tool_calls == {"calculator": 1}
        assert ep.turns[0].observation == "<tool_response>408</tool_response>"
    assert [v.correct for v in verify_episodes(envs)] == [True, True]
    # the first action, <think> included, is in the history the second turn was sampled on
    text = bpe.tokenizer.decode(b.input_ids[0][b.attention_mask[0].bool()])
    assert "<think>multiply</think><tool_call>" in text
    assert "<|im_start|>tool\n<tool_response>408</tool_response><|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n408<|im_end|>")


def test_task_prompts_go_through_the_chat_template(bpe: Policy, monkeypatch) -> None:
    from trueloop.tasks import make_task

    scripted(monkeypatch, bpe, ["\\boxed{7}"] * 2)
    task = make_task("arithmetic", difficulty=1)
    p = task.problem(0)
    b = run_episodes(bpe, [task.make_env(p), task.make_env(p)], RolloutConfig(max_new_tokens=20),
                     group_size=2)
    prompt = bpe.tokenizer.decode(b.prompt_ids[0][b.prompt_mask[0].bool()])
    assert prompt == f"<|im_start|>user\n{p.prompt}<|im_end|>\n<|im_start|>assistant\n"
    assert b.texts == ["\\boxed{7}"] * 2 and b.finish_reasons == ["stop", "stop"]


@pytest.mark.parametrize("policy_name", ["tiny", "bpe"])
def test_prior_traces_are_laid_out_as_the_runner_samples(policy_name: str, request,
                                                         monkeypatch) -> None:
    """What the prior trains on (`rollout.trace`) is token for token what `run_episodes` produces
    for the same actions, and the trained mask is the action mask."""
    from trueloop.rollout.trace import trace_ids

    policy = request.getfixturevalue(policy_name)
    actions = ["ab!", "cd!", "done"]
    scripted(monkeypatch, policy, actions, eos="last")
    chat = policy_name == "bpe"
    b = play(policy, [CountEnv(problem(0), chat=chat)], g=1, stop=("!",), max_new_tokens=12,
             max_context=4096)
    assert b.episodes[0].stop_reason == "done" and len(b.episodes[0].turns) == 3
    ids, trained = trace_ids(policy, CountEnv(problem(0), chat=chat), actions, ("!",))
    real = b.attention_mask[0].bool()
    assert b.input_ids[0][real].tolist() == ids
    assert b.action_mask[0][real].tolist() == trained
