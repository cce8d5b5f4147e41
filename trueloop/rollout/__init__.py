"""trueloop.rollout: batched multi-turn episodes on a KV cache (`run_episodes`; a single-turn
completion is an episode of one action, `sample` takes bare text prompts), played and verified
together by `play`, and the full forward pass that recomputes per-token log-probs
(`token_logprobs`) for the update."""

from trueloop.rollout.batch import RolloutBatch, concat_batches
from trueloop.rollout.episodes import run_episodes
from trueloop.rollout.logprobs import token_logprobs
from trueloop.rollout.play import Played, play
from trueloop.rollout.sampler import sample

__all__ = ["Played", "RolloutBatch", "concat_batches", "play", "run_episodes", "sample",
           "token_logprobs"]
