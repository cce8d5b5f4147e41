"""A character-level tokenizer defined locally (no hub access), for the built-in tiny model.

Every character is one token (WordLevel over single characters, wrapped in
`PreTrainedTokenizerFast`), so `AutoTokenizer.from_pretrained(folder)` loads it back and text
round-trips exactly: decode(encode(s)) == s for any s made of vocabulary characters. The vocabulary
is printable ASCII plus newline/tab and a few math symbols the tasks may print (`×`, `÷`, `−`, ...);
any other character maps to `<unk>`. Special tokens: `<pad>` (id 0), `<bos>`, `<eos>`, `<unk>`;
`<bos>` is prepended to every encoded text (as Llama tokenizers do).

Why characters: a 1M-parameter model learns arithmetic from scratch far more easily on digits
than on BPE pieces that glue digits together (cf. "Teaching Arithmetic to Small Transformers",
arXiv 2307.03381), and the vocabulary stays ~128 rows.
"""

from __future__ import annotations

import string

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
EXTRA_CHARS = "\n\t×÷−–—·≤≥≠≈√π°²³…‘’“”"
# characters beyond printable ASCII that task prompts or answers may contain
VOCAB_SIZE = 128
# embedding rows (padded with unused `<unused_i>` tokens to a multiple of 64 for fast matmuls)


def vocabulary() -> list[str]:
    """Token strings in id order: specials, printable ASCII, extras, then unused padding tokens."""
    chars = [c for c in string.printable if c not in "\n\t\r\x0b\x0c"] + list(EXTRA_CHARS)
    vocab = list(SPECIALS) + list(dict.fromkeys(chars))
    if len(vocab) > VOCAB_SIZE:
        raise ValueError(f"character vocabulary has {len(vocab)} entries > {VOCAB_SIZE}.")
    return vocab + [f"<unused_{i}>" for i in range(VOCAB_SIZE - len(vocab))]


def build_char_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {tok: i for i, tok in enumerate(vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    # one token per character; "[\s\S]" also matches newlines, which "." would not
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()  # join characters without the default space separator
    # unused rows are special so decode(skip_special_tokens=True) drops them like <eos>/<pad>
    unused = [t for t in vocab if t.startswith("<unused_")]
    tok.add_special_tokens([AddedToken(t, special=True) for t in unused])
    bos = vocab["<bos>"]
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", bos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        padding_side="left",
        model_max_length=1 << 20,
    )
