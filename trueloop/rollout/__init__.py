"""trueloop.rollout: batched KV-cached sampling (`sample`) into a `RolloutBatch`, and the full
forward pass that recomputes its per-token log-probs (`token_logprobs`) for the update."""

from trueloop.rollout.batch import RolloutBatch, concat_batches
from trueloop.rollout.logprobs import token_logprobs
from trueloop.rollout.sampler import sample

__all__ = ["RolloutBatch", "concat_batches", "sample", "token_logprobs"]
