"""Prompts and observations as token ids: through the tokenizer's chat template when it has one,
raw text otherwise (the built-in character tokenizer).

Token in, token out: the history of an episode is never re-rendered. The first observation is
rendered once (`prompt_ids`, with the generation prompt); after that the policy's sampled ids are
kept exactly as sampled, and each observation is tokenized as a *delta* (`observation_ids`): the
text the chat template puts after the assistant's turn, i.e. its end-of-turn marker (unless the
policy already sampled it), the observation's role markers and text, and the next generation
prompt. The delta is found by rendering a two-message stand-in conversation with a placeholder
assistant message and keeping what follows the placeholder, so templates that rewrite earlier
turns (dropping `<think>` from past assistant messages, as Qwen3's does) never touch the trained
history. Delta tokens are scaffolding and observation (action_mask 0), never policy tokens.

Raw text (no chat template): messages are joined with newlines (the system prompt first) and an
observation is appended as "\\n{text}\\n". A first observation given as a plain string (rather
than messages) is always raw text: that is how `rollout.sample` takes prompts.
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from trueloop.envs.tool_prompt import has_tools_section, without_tools
from trueloop.types import Message

PLACEHOLDER = "\u2063TRUELOOP_ACTION\u2063"
# stand-in assistant content whose end marks where the template's post-action text begins
RAW_OBSERVATION = "\n{}\n"
# how an observation is appended to a raw-text history


def _dicts(messages: tuple[Message, ...] | list[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def _ids(encoded) -> list[int]:
    """apply_chat_template returns a list, or a BatchEncoding in newer transformers."""
    if hasattr(encoded, "keys") and "input_ids" in encoded:
        encoded = encoded["input_ids"]
    return [int(i) for i in encoded]


class ChatFormat:
    """How one tokenizer turns observations into ids (see the module docstring)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, eos_ids: list[int] | None = None,
                 observation_role: str = "tool"):
        self.tokenizer = tokenizer
        self.templated = bool(getattr(tokenizer, "chat_template", None))
        self.role = observation_role
        eos_ids = eos_ids if eos_ids is not None else [tokenizer.eos_token_id]
        self.eos_texts = {i: tokenizer.decode([i]) for i in eos_ids if i is not None}

    def prompt_ids(self, observation: str | tuple[Message, ...],
                   tools: tuple[dict, ...] = ()) -> list[int]:
        """The first observation as ids, ready to sample from: chat messages go through the chat
        template (with the generation prompt); a plain string is raw text, encoded as it is.
        With `tools` (a problem's function documents, already listed in its messages by
        `envs/tool_prompt.py`), a template with a tools section of its own gets them as `tools=`
        and the messages without trueloop's tools text."""
        if isinstance(observation, str):
            return list(self.tokenizer(observation, add_special_tokens=True)["input_ids"])
        if self.templated and tools and has_tools_section(self.tokenizer):
            return _ids(self.tokenizer.apply_chat_template(
                without_tools(observation, tools), tools=list(tools),
                add_generation_prompt=True, tokenize=True))
        if self.templated:
            return _ids(self.tokenizer.apply_chat_template(
                _dicts(observation), add_generation_prompt=True, tokenize=True))
        text = "\n".join(m.content for m in observation)
        return list(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def observation_ids(self, text: str, last_token: int | None) -> list[int]:
        """Ids appended after an action that ended with `last_token`, showing `text`."""
        if not self.templated:
            return list(self.tokenizer(RAW_OBSERVATION.format(text),
                                       add_special_tokens=False)["input_ids"])
        delta = self._delta(text)
        eos = self.eos_texts.get(last_token) if last_token is not None else None
        if eos and delta.startswith(eos):  # the policy sampled the end-of-turn marker itself
            delta = delta[len(eos):]
        return list(self.tokenizer(delta, add_special_tokens=False)["input_ids"])

    def _delta(self, text: str) -> str:
        convo = [{"role": "user", "content": "."}, {"role": "assistant", "content": PLACEHOLDER}]
        try:
            rendered = self._render(convo + [{"role": self.role, "content": text}])
        except Exception:  # the template knows no such role (jinja raises): show it as the user
            rendered = self._render(convo + [{"role": "user", "content": text}])
        return rendered[rendered.index(PLACEHOLDER) + len(PLACEHOLDER):]

    def _render(self, convo: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(convo, add_generation_prompt=True,
                                                  tokenize=False)
