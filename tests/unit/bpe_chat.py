"""A real byte-level BPE tokenizer with a ChatML chat template, built locally (no hub access), and
a tiny Llama on its vocabulary: the test stand-in for an instruct model such as SmolLM2 or Qwen.

The template drops `<think>...</think>` from earlier assistant turns, as Qwen3's does, so a
history that is re-rendered through it differs from the ids the policy sampled."""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from trueloop.policy import Policy

CHATML = (
    "{% for m in messages %}"
    "{% set content = m['content'] %}"
    "{% if m['role'] == 'assistant' and not loop.last %}"
    "{% set content = content.split('</think>')[-1] %}{% endif %}"
    "<|im_start|>{{ m['role'] }}\n{{ content }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = ["What is 12 times 34? The answer is 408.", "<think>let me think</think> ok",
          "Observation: calculator says 5. Tool call result.", "Compute 3+4. Put it in a box."]


def build_bpe_chat_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "<|im_start|>",
                                                                  "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 20, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>",
                                   eos_token="<|im_end|>", bos_token=None)
    fast.chat_template = CHATML
    return fast


def build_bpe_policy(seed: int = 0) -> Policy:
    tok = build_bpe_chat_tokenizer()
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    torch.manual_seed(seed)
    return Policy(model=LlamaForCausalLM(config).eval(), tokenizer=tok)
