"""Batched multi-turn episodes, token in / token out: the one rollout path (a single-turn task is
an episode of one action).

    reset every env -> prefill the prompts once (G episodes of a problem share one prefill)
    repeat per turn:
        decode all live episodes together (KV cache, `draw.py`); a row whose action ends (EOS, a
        stop string, or a limit) leaves the turn: its env is stepped at once, and the row either
        ends its episode (and is compacted away with the others) or waits for the next turn;
        at the end of the turn the observations are tokenized as deltas (`chat.py`), left-padded
        into one chunk and fed through the same KV cache.

The trained ids are exactly the sampled ids: actions are never decoded and re-encoded, the history
is never re-rendered, and nothing is cut silently. A waiting row keeps its cache slots; the columns
decoded while it waits are masked out (holes), and position ids count only its real tokens, so its
next turn sees exactly `[prompt, action 0, observation 0, ...]`, which `token_logprobs` recomputes
with one full forward pass over the compacted sequence.

End rules, first match wins (`Episode.stop_reason`, counted in metrics as `episode/stop/<r>`):
  env_error   `env.step` raised (the episode leaves the loss, see update/step.py)
  done        the environment said so
  turn_length the action hit `max_new_tokens` (never stepped: no half-written tool call runs)
  max_turns   `max_turns` actions taken and the env wants more
  max_tokens  the episode's sampled tokens reached `max_episode_tokens` (cut mid-action: not
              stepped, like turn_length)
  context     prompt + history + observation + a full turn would not fit `max_context`
              (checked before every sampling call)
  timeout     the episode's wall clock passed `episode_timeout_s`
Observations longer than `max_observation_chars` are cut with a visible marker.

A single-turn run is bit-for-bit today's sampler: one prefill, one decode loop with the same draws,
the same compaction points and the same masks (tested on the demo's numbers).

Legend: N episodes (B problems x G), n live rows, C cache columns, T per-turn token cap, V vocab.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import torch

from trueloop.config import RolloutConfig
from trueloop.envs.base import Env
from trueloop.policy import Policy
from trueloop.rollout.batch import RolloutBatch
from trueloop.rollout.chat import ChatFormat
from trueloop.rollout.draw import draw, truncate
from trueloop.rollout.kvcache import cache_kwarg, preallocated_cache
from trueloop.rollout.logprobs import position_ids
from trueloop.rollout.stops import StopStrings, cut_at_stop
from trueloop.types import Episode, Turn

CUT_MARKER = "\n[... {} more characters cut]"
# appended to an observation cut at max_observation_chars
COMPACT_FRACTION = 0.25
# drop ended rows from the KV cache once this fraction of live rows has ended
CUDA_CHECK_EVERY = 8
# on CUDA without stop strings, look for finished rows every this many steps


def prefill(model, ids: torch.Tensor, mask: torch.Tensor, g: int, capacity: int):
    """Run the prompts once; return (N, V) next-token logits and the KV cache for N = B*G rows."""
    cache = preallocated_cache(model, ids.shape[1] + capacity)
    extra = {} if cache is None else {cache_kwarg(model): cache}
    out = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask),
                use_cache=True, logits_to_keep=1, **extra)
    cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
    if g > 1:
        cache.batch_repeat_interleave(g)
    return out.logits[:, -1].float().repeat_interleave(g, dim=0), cache  # (N, V)


def check_every(device: torch.device, stops: bool) -> int:
    """Steps between finish checks (host syncs). On CUDA a sync per step would stop the CPU from
    queueing the next step's kernels while the GPU runs; stop strings need the tokens on the host
    every step anyway."""
    return 1 if device.type == "cpu" or stops else CUDA_CHECK_EVERY


@dataclass
class _Row:
    """One episode's growing record (host side)."""

    env: Env
    prompt: list[int]
    started: float
    ids: list[int] = field(default_factory=list)  # every token after the prompt
    action: list[int] = field(default_factory=list)  # 1 where the policy sampled it
    turn: list[int] = field(default_factory=list)
    logp: list[float] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    pending: list[int] | None = None  # observation ids to feed before the next turn
    stop: str | None = None
    error: str | None = None
    calls: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)

    @property
    def n_action(self) -> int:
        return sum(self.action)

    def extend(self, ids: list[int], turn: int, logp: list[float] | None = None) -> None:
        """Append tokens of turn `turn`: sampled ones with their log-probs, or (logp None)
        observation/scaffolding tokens the policy did not sample."""
        self.ids += ids
        self.action += [0 if logp is None else 1] * len(ids)
        self.turn += [turn] * len(ids)
        self.logp += [0.0] * len(ids) if logp is None else logp

    def no_room(self, max_new_tokens: int, context: int) -> bool:
        """The end rule `context`: history plus a full turn would not fit."""
        return len(self.prompt) + len(self.ids) + max_new_tokens > context

    def episode(self) -> Episode:
        n_act = self.n_action
        return Episode(self.env.problem.id, tuple(self.turns), self.stop or "done", n_act,
                       len(self.ids) - n_act, dict(self.calls), dict(self.errors), self.error)


def limits(policy: Policy, cfg: RolloutConfig) -> tuple[int, int]:
    """(tokens an episode may sample, context length) under `cfg` (0 in cfg = the default)."""
    budget = cfg.max_episode_tokens or cfg.max_new_tokens * cfg.max_turns
    context = cfg.max_context or getattr(policy.model.config, "max_position_embeddings", 0) or 0
    return budget, context or 1 << 30


class _Runner:
    def __init__(self, policy: Policy, envs: list[Env], cfg: RolloutConfig,
                 generator: torch.Generator | None, seeds: list[int]):
        self.policy, self.cfg, self.generator = policy, cfg, generator
        self.model = policy.model
        self.fmt = ChatFormat(policy.tokenizer, policy.eos_token_ids())
        self.pad = policy.tokenizer.pad_token_id
        self.budget, self.context = limits(policy, cfg)
        now = time.monotonic()
        self.rows = [_Row(env, self.fmt.prompt_ids(env.reset(env.problem, seed=s),
                                                   env.problem.tools), now)
                     for env, s in zip(envs, seeds, strict=True)]
        if any(not r.prompt for r in self.rows):
            raise ValueError("an environment's first observation encodes to no tokens; every "
                             "prompt needs at least one.")
        self.stops = StopStrings(policy.tokenizer, cfg.stop, len(envs))
        self.cache_arg = cache_kwarg(policy.model)
        self.device = policy.device
        self.eos = torch.tensor(policy.eos_token_ids(), dtype=torch.long, device=self.device)

    # ---- turn 0: prompts -------------------------------------------------------------------
    def start(self, group_size: int) -> torch.Tensor:
        """Prefill; set live-row state; return (N, V) logits for the first token."""
        prompts = [r.prompt for r in self.rows]
        n, g = len(prompts), group_size
        shared = g > 1 and n % g == 0 and all(prompts[i] == prompts[i - i % g] for i in range(n))
        unique = prompts[::g] if shared else prompts
        width = max(len(p) for p in prompts)
        ids = torch.tensor([[self.pad] * (width - len(p)) + p for p in unique], dtype=torch.long)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in unique],
                            dtype=torch.long)
        ids, mask = ids.to(self.device), mask.to(self.device)
        logits, self.cache = prefill(self.model, ids, mask, g if shared else 1,
                                     self.budget + self.cfg.max_new_tokens)
        self.attn = mask.repeat_interleave(g, dim=0) if shared else mask  # (n, C)
        self.pos = self.attn.sum(1)  # (n,) position id of each row's next token
        self.live = torch.arange(n, device=self.device)  # (n,) global row of each live row
        self.width = width
        return logits

    # ---- one turn of decoding -------------------------------------------------------------------
    def turn(self, k: int, logits: torch.Tensor) -> torch.Tensor | None:
        """Decode turn k for every live row; return the next turn's logits, or None when every
        episode has ended."""
        cfg, n = self.cfg, len(self.live)
        t_max = cfg.max_new_tokens
        self.tokens = torch.full((len(self.rows), t_max), self.pad, dtype=torch.long,
                                 device=self.device)  # (N, T) this turn's tokens by global row
        self.logp = torch.zeros(len(self.rows), t_max, dtype=torch.float32, device=self.device)
        self.lengths = torch.full((len(self.rows),), t_max, dtype=torch.long, device=self.device)
        self.stopped = torch.zeros(len(self.rows), dtype=torch.bool, device=self.device)
        left = [self.budget - self.rows[i].n_action for i in self.live.tolist()]
        self.left = torch.tensor(left, dtype=torch.long, device=self.device)  # (n,)
        self.finished = torch.zeros(n, dtype=torch.bool, device=self.device)  # (n,) left the turn
        self.hole = torch.zeros(n, dtype=torch.bool, device=self.device)  # (n,) next col masked
        self.ended = torch.zeros(n, dtype=torch.bool, device=self.device)  # (n,) episode over
        self.handled: set[int] = set()
        self.k = k
        for i in self.live.tolist():
            self.stops.tails[i] = ""
        self._check_context()
        every = check_every(logits.device, bool(self.stops))
        for t in range(t_max):
            self._step(t, logits)
            if t + 1 == t_max:
                break
            if (t + 1) % every == 0:
                self._handle()
                if bool(self.finished.all()):
                    break
                if int(self.ended.sum()) >= COMPACT_FRACTION * len(self.ended):
                    logits = self._compact(logits)
            logits = self._forward(t)
        self.finished[:] = True
        self._handle()
        return self._next_turn()

    def _check_context(self) -> None:
        """Before sampling: a row whose history plus a full turn would not fit ends (context)."""
        for j, i in enumerate(self.live.tolist()):
            row = self.rows[i]
            if row.no_room(self.cfg.max_new_tokens, self.context):
                row.stop = "context"
                self.finished[j] = self.ended[j] = self.hole[j] = True
                self.lengths[i] = 0
                self.handled.add(i)

    def _step(self, t: int, logits: torch.Tensor) -> None:
        """Draw token t for every live row; mark the rows whose action ends with it."""
        scaled = logits / self.cfg.temperature  # (n, V)
        cut = truncate(scaled, self.cfg.top_k, self.cfg.top_p)  # (n, V)
        token = draw(cut, self.generator, self.cfg.draw)  # (n,)
        logp = torch.log_softmax(cut, dim=-1).gather(-1, token[:, None]).squeeze(-1)
        self.tokens[self.live, t] = token
        self.logp[self.live, t] = logp
        done = torch.isin(token, self.eos)  # (n,)
        if self.stops:
            hits = self.stops.update(self.live.tolist(), token.tolist())
            done |= torch.tensor(hits, device=done.device)
        new = done & ~self.finished  # (n,) actions that ended with this very token
        self.lengths[self.live] = torch.where(new, t + 1, self.lengths[self.live])
        self.stopped[self.live] = self.stopped[self.live] | new
        spent = (t + 1 >= self.left) & ~self.finished & ~done  # (n,) episode budget used up
        self.lengths[self.live] = torch.where(spent, t + 1, self.lengths[self.live])
        self.finished |= done | spent
        self._last = token

    def _forward(self, t: int) -> torch.Tensor:
        """Feed the tokens drawn at step t; return (n, V) logits for step t+1. A row that left
        the turn before this token gets a masked hole, not a token of its history."""
        col = (~self.hole).long()[:, None]  # (n, 1)
        self.attn = torch.cat([self.attn, col], dim=1)  # (n, C+1)
        out = self.model(input_ids=self._last[:, None], attention_mask=self.attn,
                         position_ids=self.pos[:, None], use_cache=True,
                         **{self.cache_arg: self.cache})
        self.pos = self.pos + col[:, 0]
        self.hole = self.hole | self.finished
        return out.logits[:, -1].float()

    def _handle(self) -> None:
        """Step the env of every row that left the turn since the last check (host side)."""
        fin = self.finished.tolist()
        lengths, stopped = self.lengths.tolist(), self.stopped.tolist()
        for j, i in enumerate(self.live.tolist()):
            if not fin[j] or i in self.handled:
                continue
            self.handled.add(i)
            row, n_tok = self.rows[i], lengths[i]
            ids = self.tokens[i, :n_tok].tolist()
            row.extend(ids, self.k, self.logp[i, :n_tok].tolist())
            text = cut_at_stop(self.policy.tokenizer.decode(ids, skip_special_tokens=True),
                               self.cfg.stop)
            if self._outcome(row, text, ids, stopped[i]):
                self.ended[j] = True

    def _outcome(self, row: _Row, text: str, ids: list[int], stopped: bool) -> bool:
        """Apply the end rules to a finished action; True when the episode is over."""
        if not stopped:  # cut at a limit: never stepped
            row.env.truncated(text)
            row.turns.append(Turn(text, None))
            row.stop = "turn_length" if len(ids) >= self.cfg.max_new_tokens else "max_tokens"
            return True
        try:
            result = row.env.step(text)
        except Exception as e:  # the env's bug or crash: recorded, the episode leaves the loss
            row.turns.append(Turn(text, None))
            row.stop, row.error = "env_error", f"{type(e).__name__}: {e}"[:500]
            return True
        for call in result.info.get("tool_calls", ()):
            name = str(call.get("name") or "?")
            row.calls[name] += 1
            row.errors[name] += bool(call.get("error"))
        obs = result.observation or ""
        if len(obs) > self.cfg.max_observation_chars:
            cut = len(obs) - self.cfg.max_observation_chars
            obs = obs[: self.cfg.max_observation_chars] + CUT_MARKER.format(cut)
        stop = ("done" if result.done else
                "max_turns" if len(row.turns) + 1 >= self.cfg.max_turns else
                "max_tokens" if row.n_action >= self.budget else None)
        if stop is None:
            row.pending = self.fmt.observation_ids(obs, ids[-1] if ids else None)
            if row.no_room(len(row.pending) + self.cfg.max_new_tokens, self.context):
                stop = "context"
            elif self.cfg.episode_timeout_s and \
                    time.monotonic() - row.started > self.cfg.episode_timeout_s:
                stop = "timeout"
        row.turns.append(Turn(text, obs if stop is None else None))
        row.stop = stop
        return stop is not None

    def _compact(self, logits: torch.Tensor | None) -> torch.Tensor | None:
        """Drop ended rows from the cache and all live-row state."""
        idx = (~self.ended).nonzero().squeeze(-1)  # (n_keep,)
        self.cache.batch_select_indices(idx)
        self.live, self.attn, self.pos = self.live[idx], self.attn[idx], self.pos[idx]
        self.finished, self.hole, self.ended = self.finished[idx], self.hole[idx], self.ended[idx]
        self.left, self._last = self.left[idx], self._last[idx]
        return None if logits is None else logits[idx]

    # ---- between turns: observations ------------------------------------------------------------
    def _next_turn(self) -> torch.Tensor | None:
        """Compact ended rows away, feed the waiting rows' observations; their logits."""
        if bool(self.ended.all()):
            return None
        self._compact(None)
        deltas = [self.rows[i].pending or [] for i in self.live.tolist()]
        width = max(len(d) for d in deltas)
        ids = torch.tensor([[self.pad] * (width - len(d)) + d for d in deltas], dtype=torch.long,
                           device=self.device)  # (n, D) left-padded: the last column is real
        mask = torch.tensor([[0] * (width - len(d)) + [1] * len(d) for d in deltas],
                            dtype=torch.long, device=self.device)  # (n, D)
        # the turn's last drawn tokens were never fed: a row whose action ended with them needs
        # that token in its history (a hole for rows that had left the turn earlier)
        ids = torch.cat([self._last[:, None], ids], dim=1)  # (n, 1+D)
        mask = torch.cat([(~self.hole).long()[:, None], mask], dim=1)
        pos = self.pos[:, None] + (mask.cumsum(1) - 1).clamp_min(0)  # (n, D)
        self.attn = torch.cat([self.attn, mask], dim=1)
        out = self.model(input_ids=ids, attention_mask=self.attn, position_ids=pos,
                         use_cache=True, **{self.cache_arg: self.cache})
        self.pos = self.pos + mask.sum(1)
        for i, d in zip(self.live.tolist(), deltas, strict=True):
            row = self.rows[i]
            row.extend(d, self.k)
            row.pending = None
        return out.logits[:, -1].float()

    # ---- the batch -------------------------------------------------------------------------------
    def batch(self, group_size: int) -> RolloutBatch:
        p = max(len(r.prompt) for r in self.rows)
        t = max(1, max(len(r.ids) for r in self.rows))

        def rows(get, fill_prompt, fill_pad) -> list[list]:
            return [[fill_pad] * (p - len(r.prompt)) + fill_prompt(r) + get(r)
                    + [fill_pad] * (t - len(r.ids)) for r in self.rows]

        ids = rows(lambda r: r.ids, lambda r: r.prompt, self.pad)
        attn = rows(lambda r: [1] * len(r.ids), lambda r: [1] * len(r.prompt), 0)
        act = rows(lambda r: r.action, lambda r: [0] * len(r.prompt), 0)
        turn = rows(lambda r: r.turn, lambda r: [-1] * len(r.prompt), -1)
        logp = rows(lambda r: r.logp, lambda r: [0.0] * len(r.prompt), 0.0)
        dev = self.device
        return RolloutBatch(
            input_ids=torch.tensor(ids, dtype=torch.long, device=dev),
            attention_mask=torch.tensor(attn, dtype=torch.long, device=dev),
            action_mask=torch.tensor(act, dtype=torch.long, device=dev),
            logprobs=torch.tensor(logp, dtype=torch.float32, device=dev),
            turn_index=torch.tensor(turn, dtype=torch.long, device=dev),
            prompt_width=p, episodes=[r.episode() for r in self.rows],
            group_size=group_size, pad_id=self.pad)


def _native(policy: Policy, envs: list[Env], cfg: RolloutConfig, *,
            generator: torch.Generator | None, group_size: int, seeds: list[int]) -> RolloutBatch:
    with torch.inference_mode():
        runner = _Runner(policy, envs, cfg, generator, seeds)
        logits = runner.start(group_size)
        k = 0
        while logits is not None:
            logits = runner.turn(k, logits)
            k += 1
    return runner.batch(group_size)  # outside inference mode: the update backpropagates


def _vllm(policy: Policy, envs: list[Env], cfg: RolloutConfig, **kw) -> RolloutBatch:
    from trueloop.rollout.vllm_engine import run_episodes_vllm  # lazy: the optional vllm extra

    return run_episodes_vllm(policy, envs, cfg, **kw)


ENGINES = {"native": _native, "vllm": _vllm}
# rollout.engine -> the function that samples the episodes (same arguments, same batch)


def run_episodes(policy: Policy, envs: list[Env], cfg: RolloutConfig, *,
                 generator: torch.Generator | None = None, group_size: int = 1,
                 seeds: list[int] | None = None) -> RolloutBatch:
    """Run one episode per env (envs made by `task.make_env`, G per problem contiguously when
    `group_size` > 1) on `cfg.engine` and return the batch. Verification is separate
    (`envs.verify_episodes`)."""
    if not envs or cfg.max_new_tokens < 1 or group_size < 1:
        raise ValueError(f"run_episodes needs >= 1 env, max_new_tokens >= 1 and group_size >= 1; "
                         f"got {len(envs)} envs, max_new_tokens={cfg.max_new_tokens}, "
                         f"group_size={group_size}.")
    seeds = seeds if seeds is not None else [i % group_size for i in range(len(envs))]
    was_training = policy.model.training
    policy.model.eval()  # no dropout while sampling, whatever mode the caller left it in
    try:
        return ENGINES[cfg.engine](policy, envs, cfg, generator=generator,
                                   group_size=group_size, seeds=seeds)
    finally:
        policy.model.train(was_training)
