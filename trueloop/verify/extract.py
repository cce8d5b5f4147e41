"""Final-answer extraction: the one place in trueloop that reads an answer out of model text.

Order of operations (each step sees the output of the previous one):
1. Hidden channels: zero-width and other format characters (Unicode category Cf), the tag block
   U+E0000-E007F, variation selectors, bidi controls and private-use characters are counted,
   removed and reported (`stego:hidden_chars`); they could carry a message past a human reader or
   split a number so that a regex grader and a human read different answers.
2. NFKC normalisation (fullwidth digits, ligatures, superscripts to plain characters).
3. Reasoning is ignored: every `<think>...</think>` block, an unclosed `<think>` to the end, and a
   leading `...</think>` (chat templates that open the think block in the prompt).
4. The final answer, by priority tier; within a tier all candidates must agree:
   `\\boxed{}` / `\\fbox{}` (brace-balanced, `\\boxed 5` too) > "Final Answer:" > GSM8K `####` >
   "the answer is" / "Answer:" / a line "Answer $...$" > (only when enabled) the last number
   in the text. A statement written as a sentence keeps what follows its last "is" ("The area
   of the garden is 56").

Threat model. Covered: answers hidden in reasoning, several differing boxes or statements
(answer spraying -> `multiple_answers`), empty boxes from an echoed instruction, hidden/format
characters, unbalanced braces, megabyte completions (every scan is linear).
Not covered: whether the answer is right (see `trueloop.verify.math`), natural-language hedges
inside a single box ("3 or 5" is caught by the comparison, not here).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

HIDDEN_FLAG = "stego:hidden_chars"

_NON_ASCII = re.compile(r"[^\x00-\x7f]")
MAX_STATEMENT = 400
# characters read after "the answer is" (answers are short; this keeps the scan linear)
MAX_STATEMENTS = 64
# statements read per tier (enough to see that differing ones differ)
_BOX_CMD = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_BRACE = re.compile(r"[{}]")
_BOX_BARE = re.compile(r"\s*([^\s${}]+)")
# explicit statements, highest priority first; the answer runs to the end of the line
_STATEMENTS = (
    re.compile(r"final\s+answer\s*(?:is|:)\s*:?", re.IGNORECASE),
    re.compile(r"^\s*####", re.MULTILINE),
    re.compile(r"(?:the\s+answer\s+is|\banswer\s*:|^\s*answer(?=\s*(?:\$|\\\[|\\\()))\s*:?",
               re.IGNORECASE | re.MULTILINE),
)
# a statement's answer ends at a sentence end, or where prose resumes ("5, since ...")
_SENTENCE_END = re.compile(r"(?<!\d)\.(?!\d)|\.(?=\s|$)|,\s+(?=[A-Za-z]{2})"
                           r"|\s+(?:because|since|as|which|where|so|for|when)\b", re.IGNORECASE)
# "Final Answer: The area of the garden is 56." states 56; "The correct option is B)" states B)
_SENTENCE_ANSWER = re.compile(r"^(?:[A-Za-z$]\S*\s+)+?(?:is|are|equals)\s+(?=\S)"
                              r"(?!.*\bis\s)", re.IGNORECASE)
_DISPLAY = {"\\[": "\\]", "$$": "$$"}
# a statement whose line only opens display math reads to the closing delimiter
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")


@dataclass(frozen=True)
class Extraction:
    answer: str | None
    # the single final answer text (None if none / several)
    candidates: tuple[str, ...]
    # every final-answer candidate found in the winning tier (e.g. all boxed contents)
    reason: str | None
    # None if ok, else "no_answer" | "multiple_answers"
    flags: frozenset[str]
    # e.g. {"stego:hidden_chars"}
    hidden_chars: int
    # count of hidden/format characters found (and removed) before extraction


def is_hidden_char(ch: str) -> bool:
    """Format (Cf) and private-use (Co) characters, tags, variation selectors, bidi controls."""
    cp = ord(ch)
    if 0xFE00 <= cp <= 0xFE0F or 0xE0000 <= cp <= 0xE01EF or 0x180B <= cp <= 0x180F:
        return True
    return unicodedata.category(ch) in ("Cf", "Co")


def strip_hidden(text: str) -> tuple[str, int]:
    """Remove hidden characters; returns (clean text, how many were removed)."""
    if text.isascii():
        return text, 0
    hidden = {m.group() for m in _NON_ASCII.finditer(text) if is_hidden_char(m.group())}
    if not hidden:
        return text, 0
    count = sum(text.count(ch) for ch in hidden)
    return re.sub("[" + "".join(re.escape(ch) for ch in hidden) + "]", "", text), count


def strip_think(text: str) -> str:
    """Drop reasoning: a dangling `...</think>` prefix, closed blocks, an unclosed `<think>` tail.
    Linear in the text (a regex with `.*?` would go quadratic on many unclosed tags)."""
    lower = text.lower()
    first_open, first_close = lower.find("<think>"), lower.find("</think>")
    pos = first_close + len("</think>") if 0 <= first_close and (
        first_open < 0 or first_close < first_open) else 0
    kept = []
    while (start := lower.find("<think>", pos)) >= 0:
        kept.append(text[pos:start])
        end = lower.find("</think>", start)
        if end < 0:
            return " ".join(kept)
        pos = end + len("</think>")
    kept.append(text[pos:])
    return " ".join(kept)


def _balanced(text: str, start: int) -> int:
    """Index just past the `}` closing the `{` at `start`, or -1 if it never closes (linear)."""
    depth = 0
    for m in _BRACE.finditer(text, start):
        depth += 1 if m.group() == "{" else -1
        if depth == 0:
            return m.end()
    return -1


def boxed_contents(text: str) -> list[str]:
    """Contents of every outermost `\\boxed{...}` / `\\fbox{...}` / `\\boxed 5`, in order."""
    out: list[str] = []
    pos = 0
    while (m := _BOX_CMD.search(text, pos)) is not None:
        i = m.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "{":
            end = _balanced(text, i)
            if end < 0:
                break  # unbalanced: nothing after it can be trusted to be a box
            out.append(_unbox(text[i + 1 : end - 1]))
            pos = end
        else:
            bare = _BOX_BARE.match(text, m.end())
            if bare:
                out.append(bare.group(1))
            pos = bare.end() if bare else m.end()
    return out


def _unbox(content: str) -> str:
    """`\\boxed{\\boxed{5}}` -> `5` (a box that only wraps another box)."""
    m = _BOX_CMD.match(content.strip())
    if m:
        inner = boxed_contents(content)
        stripped = content.strip()
        if len(inner) == 1 and stripped.endswith("}") and _balanced(stripped, stripped.find("{")) \
                == len(stripped):
            return inner[0]
    return content


def statement_answers(text: str, pattern: re.Pattern[str]) -> list[str]:
    """The text after each match of `pattern`, cut at the end of its line or sentence."""
    out = []
    for k, m in enumerate(pattern.finditer(text)):
        if k == MAX_STATEMENTS:
            break
        window = text[m.end() : m.end() + MAX_STATEMENT]
        line = window.split("\n", 1)[0]
        closer = _DISPLAY.get(line.strip())
        if closer is not None and closer in window[len(line):]:  # `\[` on its own line
            answer = window[len(line) : window.index(closer, len(line))].strip()
            if answer and not pattern.search(answer):
                out.append(answer)
            continue
        end = _SENTENCE_END.search(line)
        answer = (line[: end.start()] if end else line).lstrip(" \t*_:$").rstrip(" \t*_$.")
        answer = _SENTENCE_ANSWER.sub("", answer, count=1).lstrip(" \t*_:$")
        if answer and not pattern.search(answer):  # "Final Answer: the final answer is 7"
            out.append(answer)
    return out


def _pick(candidates: list[str], hidden: int, flags: frozenset[str]) -> Extraction:
    distinct = {" ".join(c.split()) for c in candidates}
    if not distinct:
        return Extraction(None, (), "no_answer", flags, hidden)
    if len(distinct) > 1:
        return Extraction(None, tuple(candidates), "multiple_answers", flags, hidden)
    return Extraction(candidates[0].strip(), tuple(candidates), None, flags, hidden)


def extract_answer(text: str, *, last_number_fallback: bool = False) -> Extraction:
    """The single final answer of a completion, or a reason why there is none."""
    text, hidden = strip_hidden(text)
    flags = frozenset({HIDDEN_FLAG}) if hidden else frozenset()
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    text = strip_think(text)
    boxes = [b for b in boxed_contents(text) if b.strip()]
    if boxes:
        return _pick(boxes, hidden, flags)
    for pattern in _STATEMENTS:
        found = statement_answers(text, pattern)
        if found:
            return _pick(found, hidden, flags)
    if last_number_fallback:
        numbers = _NUMBER.findall(text)
        if numbers:
            return _pick([numbers[-1].rstrip(",")], hidden, flags)
    return Extraction(None, (), "no_answer", flags, hidden)
