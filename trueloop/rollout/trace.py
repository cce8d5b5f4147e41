"""A scripted episode as training ids: the exact layout `run_episodes` would produce for these
actions (prompt through the chat format, actions as tokenized, observations as chat-format
deltas), with a mask of the policy's own tokens. The prior pretrains on such traces, so the model
meets at RL time exactly the token stream it was taught on."""

from __future__ import annotations

from trueloop.envs.base import Env
from trueloop.policy import Policy
from trueloop.rollout.chat import ChatFormat
from trueloop.rollout.stops import cut_at_stop


def trace_ids(policy: Policy, env: Env, actions: list[str],
              stops: tuple[str, ...] = ()) -> tuple[list[int], list[int]]:
    """(ids, trained) of `actions` played against a fresh `env`: trained is 1 on action tokens
    (each action's ending token included: its stop string's tokens, or EOS after the last one),
    0 on the prompt and observations. Stops at the first action the env calls done."""
    tok = policy.tokenizer
    fmt = ChatFormat(tok, policy.eos_token_ids())
    ids = fmt.prompt_ids(env.reset(env.problem, seed=0), env.problem.tools)
    trained = [0] * len(ids)
    for action in actions:
        result = env.step(cut_at_stop(action, stops))
        a = tok(action, add_special_tokens=False)["input_ids"]
        if result.done:
            a = a + [tok.eos_token_id]
        ids, trained = ids + a, trained + [1] * len(a)
        if result.done:
            break
        obs = fmt.observation_ids(result.observation or "", a[-1] if a else None)
        ids, trained = ids + obs, trained + [0] * len(obs)
    env.close()
    return ids, trained
