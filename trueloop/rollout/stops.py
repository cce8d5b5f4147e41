"""Stop strings: detect them in the text generated so far, without decoding whole rows per step.

Each row keeps a short tail of its decoded text, extended by the cached text of each new token id;
a row stops when a stop string appears in that tail. The token that completes a stop string is
the last one kept in `completion_mask`; the text handed to verifiers is cut at the stop string
(like vLLM's default `include_stop_str_in_output=False`).

Not covered: a stop string split inside one multi-byte character that a byte-level BPE emits in
pieces (its per-token text is a replacement character); ASCII stop strings are unaffected.
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase


class StopStrings:
    def __init__(self, tokenizer: PreTrainedTokenizerBase, stops: tuple[str, ...], rows: int):
        self.tokenizer = tokenizer
        self.stops = tuple(s for s in stops if s)
        self.keep = max((len(s) for s in self.stops), default=0) + 64
        # tail length: longer than any stop string plus one token's text
        self.tails = [""] * rows
        self.pieces: dict[int, str] = {}

    def __bool__(self) -> bool:
        return bool(self.stops)

    def piece(self, token: int) -> str:
        if token not in self.pieces:
            self.pieces[token] = self.tokenizer.decode([token], skip_special_tokens=True)
        return self.pieces[token]

    def update(self, rows: list[int], tokens: list[int]) -> list[bool]:
        """Append `tokens[i]` to row `rows[i]`; True where that row now contains a stop string."""
        hits = []
        for row, token in zip(rows, tokens, strict=True):
            tail = (self.tails[row] + self.piece(token))[-self.keep:]
            self.tails[row] = tail
            hits.append(any(s in tail for s in self.stops))
        return hits


def cut_at_stop(text: str, stops: tuple[str, ...]) -> str:
    """`text` up to (not including) the earliest stop string in it."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=len(text))
    return text[:cut]
