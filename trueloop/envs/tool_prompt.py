"""How a prompt offers functions to call (`Problem.tools`), in one place.

Two renderings of the same offer:

- **trueloop's own**, in `Problem.messages`: a system message listing the functions as JSON Schema
  inside `<tools></tools>` and asking for `<tool_call>[{"name": ..., "arguments": {...}}]
  </tool_call>` (SmolLM2-Instruct's function-calling format; `envs/tools.py`'s hermes parser
  reads a list in one block and one call per block alike). Every consumer that knows nothing of
  tools sees the functions this way: raw-text tokenizers, chat templates without a tools section
  (SmolLM2's), the TRL and verl exports.
- **the chat template's own tools section** (Qwen2.5, Llama 3.1: found by rendering with and
  without a probe tool): `rollout.chat.ChatFormat` then passes `tools=` to
  `apply_chat_template` and drops trueloop's text from the system message. The dropped text is
  found exactly (it is `system_text(tools)`, recomputed), never guessed.

The wording follows BFCL's default prompt for prompted models (a question may need no call, or
lack a required parameter); "no call" is written as an empty list so that a verifier can tell a
deliberate refusal from a model that never learned the format. A template's own tools section
does not ask for that empty list.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from trueloop.types import Message

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

SYSTEM = """You are an expert in composing functions. You are given a question and a set of \
possible functions. Based on the question, make one or more function calls to achieve its \
purpose. If none of the functions can be used, make no call. If the question lacks parameters \
a function requires, make no call either.
You have access to the following tools:
<tools>{tools}</tools>
Answer with the calls in exactly this format and no other text; give every parameter the type \
its description says. If no function call is needed, write <tool_call>[]</tool_call>.
<tool_call>[
{{"name": "func_name1", "arguments": {{"argument1": "value1", "argument2": "value2"}}}},
(more tool calls as required)
]</tool_call>"""
OWN_SYSTEM = "\n\n"
# between trueloop's tools text and a system message the question brings itself


def system_text(tools: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> str:
    """trueloop's system message offering `tools` (JSON Schema tool documents)."""
    return SYSTEM.format(tools=json.dumps([t["function"] for t in tools], ensure_ascii=False))


def with_tools(question: list[dict[str, str]],
               tools: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> tuple[Message, ...]:
    """`Problem.messages` for a question that offers `tools`: trueloop's system message first
    (a system message the question brings is appended to it), then the question."""
    system, rest = system_text(tools), list(question)
    if rest and rest[0]["role"] == "system":
        system = f"{system}{OWN_SYSTEM}{rest.pop(0)['content']}"
    return (Message("system", system),) + tuple(Message(m["role"], m["content"]) for m in rest)


def without_tools(messages: tuple[Message, ...] | list[Message],
                  tools: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> list[dict[str, str]]:
    """The question alone, as `with_tools` received it: what a template's tools section renders
    beside `tools=`. Messages that do not start with trueloop's tools text come back whole."""
    convo = [{"role": m.role, "content": m.content} for m in messages]
    head = system_text(tools)
    if convo and convo[0]["role"] == "system" and convo[0]["content"].startswith(head):
        own = convo.pop(0)["content"][len(head):].removeprefix(OWN_SYSTEM)
        if own:
            convo.insert(0, {"role": "system", "content": own})
    return convo


def has_tools_section(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the tokenizer's chat template renders a `tools=` list (it changes the text)."""
    template = getattr(tokenizer, "chat_template", None)
    return bool(template) and _renders_tools(tokenizer, str(template))


@lru_cache(maxsize=16)
def _renders_tools(tokenizer: PreTrainedTokenizerBase, template: str) -> bool:
    convo = [{"role": "user", "content": "ping"}]
    probe = [{"type": "function", "function": {"name": "probe_tool", "description": "a probe",
                                               "parameters": {"type": "object", "properties": {}}}}]
    plain = tokenizer.apply_chat_template(convo, tokenize=False, add_generation_prompt=True)
    try:
        tooled = tokenizer.apply_chat_template(convo, tools=probe, tokenize=False,
                                               add_generation_prompt=True)
    except Exception:  # a template that chokes on tools has no usable tools section
        return False
    return plain != tooled
