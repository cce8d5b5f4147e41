"""The strict math verifier: extract one final answer, compare it with the gold answer exactly.

Pipeline per completion: `extract.extract_answer` (hidden characters, think blocks, boxes; or,
with `answer=`, the given answer whole) -> `clean.clean` (presentation) -> `math_forms` (labels,
lists joined by words, times and ratios, base numerals) -> the exact fast path
(`numbers.parse_number`, `fractions.Fraction`, no sympy) -> multiple-choice letters / word
answers -> only for really symbolic text, the grammar parser and sympy (`latex.py`,
`symbolic.py`, `math_sets.py`) in a killable worker (`timeout.py`).

Strict by design (lenient graders pay for answer spraying and unevaluated expressions; compare
huggingface/Math-Verify, which accepts `3+4` for 7 and 0.3333 for 1/3 within tolerance):
- numbers are compared as exact rationals, no relative tolerance;
- an integer gold needs an integer numeral (`7`, `7.0`, `x = 7`, `7\\%`), never `3+4`, `5!`,
  `2^{3}-1` or `\\frac{14}{2}`; a rational gold needs a number literal (`0.5`, `\\frac{2}{4}`);
- several differing answers (boxes, "3 or 5", `3, 5`, `\\pm 3` where one value is expected) are
  `multiple_answers`; repeated boxes with equal values are fine;
- names bind to values (`a=2, b=7` is not `a=7, b=2`); a single letter is a variable, not a unit;
- an unparseable gold is `unparseable_gold` on every verdict, with the parser's reason in the
  details and one logged warning per distinct gold, never reward 1.

Threat model. Covered: answer spraying, hedges, unevaluated expressions, answers inside
`<think>`, hidden/format characters (flagged `stego:hidden_chars`), prompt echo (empty boxes),
giant numbers (`10^{10^{10}}`), deep nesting and megabyte completions (caps; sympy time limit ->
`timeout`). Not covered: a right answer reached by wrong reasoning, answers to a different
question that happen to coincide, units that change the value (`5 km` vs `5000 m` are compared
as 5 vs 5000 after the units are dropped).
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

from trueloop.config import VerifyConfig
from trueloop.types import Verdict
from trueloop.verify.extract import HIDDEN_FLAG, Extraction, extract_answer, strip_hidden
from trueloop.verify.math import clean as clean_mod
from trueloop.verify.math import forms as forms
from trueloop.verify.math import numbers as numbers_mod
from trueloop.verify.math.clean import clean, has_hedge
from trueloop.verify.math.numbers import Number, parse_number
from trueloop.verify.math.timeout import TimedOut, pool

log = logging.getLogger(__name__)

CACHE_SIZE = 1 << 16
# (gold, candidate) comparisons remembered (answers up to CACHED_LEN chars); cleared when full
CACHED_LEN = 512
MAX_ANSWER_LEN = 5000
# longer extracted answers are wrong without being parsed (no real final answer is that long)
SYMBOLIC = "trueloop.verify.math.symbolic:compare"
GOLD_CHECK = "trueloop.verify.math.symbolic:gold_error"

_CHOICE = re.compile(r"^\(?([A-J])\)?[.:]?$")
_CHOICE_WITH_TEXT = re.compile(r"^\(([A-J])\)\s|^([A-J])[.:)]\s")
_VAR_EQ = re.compile(r"^(?:[A-Za-z](?:_\{?\w+\}?)?|\\[a-z]+)\s*(?:=|\\in)\s*(?!.*=)")
_WORDS = re.compile(r"^[A-Za-z][A-Za-z' -]*[A-Za-z]$")
_MATH_WORDS = re.compile(r"\b(?:sin|cos|tan|log|ln|exp|sqrt|pi|inf|oo)\b")
_TIMEOUT_DETAIL = {"time": "symbolic comparison exceeded {:g}s",
                   "memory": "symbolic comparison ran out of memory",
                   "died": "the sympy worker died"}
_cache: dict[tuple[str, str], tuple[str, str]] = {}
_warned: set[str] = set()
_gold_err: dict[str, str | None] = {}


def verify_math(gold: str | None, completion: str | None = None,
                config: VerifyConfig | None = None, *, answer: str | None = None) -> Verdict:
    """Verdict for one completion against a gold answer (see the module docstring).

    With `answer=` instead of `completion`, the text is an already extracted final answer: it is
    compared whole (hidden characters are still removed and flagged, nothing is extracted)."""
    config = config or VerifyConfig()
    if answer is not None:
        ex = given_answer(answer)
    else:
        ex = extract_answer(completion or "", last_number_fallback=config.last_number_fallback)
    details: dict = {"hidden_chars": ex.hidden_chars} if ex.hidden_chars else {}
    final, reason, detail = _final_answer(gold, ex, config.timeout_s, config.any_box)
    if final is not None:
        reason, detail = judge(gold, final, config.timeout_s)
    if detail:
        details["detail"] = detail
    if reason == "multiple_answers" and ex.candidates:
        details["candidates"] = list(ex.candidates)[:8]
    ok = reason == "ok"
    return Verdict(correct=ok, reward=1.0 if ok else 0.0, reason=reason, flags=ex.flags,
                   extracted=final, details=details)


def given_answer(answer: str) -> Extraction:
    """An already extracted answer as an `Extraction`: hidden characters out, NFKC, no search."""
    text, hidden = strip_hidden(answer)
    flags = frozenset({HIDDEN_FLAG}) if hidden else frozenset()
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    text = text.strip()
    return Extraction(text or None, (text,) if text else (), None if text else "no_answer",
                      flags, hidden)


def _final_answer(gold: str | None, ex: Extraction, timeout_s: float, any_box: bool = False):
    """(answer, reason, detail): several boxes count as one answer only if all are equal."""
    if ex.reason is None:
        return ex.answer, "", ""
    problem = gold_problem(gold, timeout_s)
    if problem is not None:
        return None, *_bad_gold(gold, problem)
    if ex.reason == "multiple_answers" and len(ex.candidates) <= 16 and gold is not None \
            and forms.is_list(forms.strip_label(clean(gold))):
        return ", ".join(c.strip() for c in ex.candidates), "", ""  # one box per listed value
    if ex.reason == "multiple_answers" and len(ex.candidates) <= 8 and all(
        _judge(ex.candidates[0], c, timeout_s)[0] == "ok" for c in ex.candidates[1:]
    ):
        return ex.candidates[0], "", ""
    if ex.reason == "multiple_answers" and any_box and len(ex.candidates) <= 16:
        hit = next((c for c in ex.candidates if judge(gold, c, timeout_s)[0] == "ok"), None)
        if hit is not None:  # the weak demo verifier (VerifyConfig.any_box): spraying pays
            return hit, "", ""
    return None, ex.reason or "no_answer", ""


def gold_problem(gold: str | None, timeout_s: float = VerifyConfig.timeout_s) -> str | None:
    """None if the gold answer can be compared, else why not (checked even when the completion
    has no answer: a broken gold must be loud on every verdict)."""
    if gold is None:
        return "gold answer is missing"
    g = forms.group_assignments(forms.strip_label(clean(gold)))
    if not g:
        return "gold answer is empty"
    if parse_number(g) is not None or _choice(g) is not None or _WORDS.match(g) \
            or forms.is_form(g):
        return None
    return _gold_error(forms.join_words(g) if forms.is_list(g) else g, timeout_s)


def answers_equal(gold: str, candidate: str, *, timeout_s: float = VerifyConfig.timeout_s) -> bool:
    """Comparison only (no extraction): is `candidate` the gold answer under the strict rules?"""
    return judge(gold, candidate, timeout_s)[0] == "ok"


def judge(gold: str | None, candidate: str, timeout_s: float) -> tuple[str, str]:
    """(reason, detail) for an already extracted candidate answer."""
    if gold is None:
        return _bad_gold(gold, "gold answer is missing")
    key = (gold, candidate)
    hit = _cache.get(key)
    if hit is None:
        hit = _judge(gold, candidate, timeout_s)
        if hit[0] == "unparseable_gold":
            return _bad_gold(gold, hit[1])
        if hit[0] != "timeout" and len(candidate) <= CACHED_LEN and len(gold) <= CACHED_LEN:
            if len(_cache) >= CACHE_SIZE:
                _cache.clear()
            _cache[key] = hit
    return hit


def clear_caches() -> None:
    """Forget every cached parse and comparison (here and in the sympy worker): for benchmarks."""
    _cache.clear()
    _gold_err.clear()
    clean_mod.clear_cache()
    numbers_mod.clear_cache()
    pool().call("trueloop.verify.math.symbolic:clear_cache", (), 10.0)


def _bad_gold(gold: str | None, detail: str) -> tuple[str, str]:
    if gold not in _warned:
        _warned.add(str(gold))
        log.warning("unparseable gold answer %r (%s): no completion can be rewarded", gold, detail)
    return "unparseable_gold", f"gold answer cannot be read ({detail})"


def _judge(gold: str, candidate: str, timeout_s: float) -> tuple[str, str]:
    if len(candidate) > MAX_ANSWER_LEN:
        if (problem := gold_problem(gold, timeout_s)) is not None:
            return "unparseable_gold", problem
        return "wrong", f"answer longer than {MAX_ANSWER_LEN} characters"
    g, c = (forms.group_assignments(forms.strip_label(clean(x))) for x in (gold, candidate))
    if not g:
        return "unparseable_gold", "gold answer is empty"
    if (form := forms.judge_form(g, c)) is not None:
        return form
    if parse_number(g) is None and forms.is_list(g):
        g, c = forms.join_words(g), forms.join_words(c)
    elif has_hedge(candidate):
        return "multiple_answers", "the answer hedges between alternatives"
    choice = _choice(g)
    if choice is not None:
        return ("ok", "") if _choice(c, with_text=True) == choice else ("wrong", "choice")
    if (number := parse_number(g)) is not None:
        return _judge_number(number, _VAR_EQ.sub("", c))
    if _WORDS.match(g) and _MATH_WORDS.search(g) is None and len(g) > 2:
        return ("ok", "") if _words(g) == _words(c) else ("wrong", "text answer")
    if g == c and _gold_error(g, timeout_s) is None:
        return "ok", ""
    result = pool().call(SYMBOLIC, (g, c), timeout_s)
    if isinstance(result, TimedOut):
        return "timeout", _TIMEOUT_DETAIL[result.why].format(timeout_s)
    return result


def _gold_error(gold: str, timeout_s: float) -> str | None:
    """Why the grammar rejects the cleaned gold (cached), or None when it parses."""
    if gold not in _gold_err:
        result = pool().call(GOLD_CHECK, (gold,), timeout_s)
        if isinstance(result, TimedOut):
            return "parsing the gold answer timed out"
        _gold_err[gold] = result
    return _gold_err[gold]


def _choice(text: str, with_text: bool = False) -> str | None:
    m = _CHOICE.match(text) or (_CHOICE_WITH_TEXT.match(text) if with_text else None)
    return next((g for g in m.groups() if g), None) if m else None


def _words(text: str) -> str:
    return " ".join(re.sub(r"^the\s+", "", text.lower()).replace("-", " ").split())


def _judge_number(gold: Number, c: str) -> tuple[str, str]:
    cand = parse_number(c)
    if cand is None:
        if "\\pm" in c or "\\mp" in c or _is_number_list(c):
            return "multiple_answers", "a list of values where one is expected"
        return "wrong", "not a number literal"
    if gold.kind == "int" and cand.kind in ("fraction", "mixed"):
        return "wrong", "an integer answer written as a fraction"
    return ("ok", "") if _same_number(gold, cand) else ("wrong", "")


def _is_number_list(text: str) -> bool:
    parts = [p for p in re.split(r"[,;]|\\quad|\s+and\s+", text) if p.strip()]
    return len(parts) > 1 and sum(parse_number(p) is not None for p in parts) > 1


def _same_number(gold: Number, cand: Number) -> bool:
    """Exact equality; a % on one side only may be a unit (50% vs 50) or a scale (50% vs 0.5)."""
    if gold.percent == cand.percent:
        return gold.value == cand.value
    scale = Fraction(100) if cand.percent else Fraction(1, 100)
    return cand.value == gold.value or cand.value == gold.value * scale


def verify_rows(rows: list, config: VerifyConfig) -> list[dict]:
    """`trueloop verify math`: one output dict per input row (`bad_input` for malformed rows).

    With `config.workers` > 1 rows run on that many threads, each with its own sympy worker
    process. The default (0) stays sequential here: the exact fast path holds the GIL, and on a
    2-core machine threads made a typical 100k-row file slower (14.0 s vs 10.7 s)."""
    n = config.workers
    if n <= 1 or len(rows) < 2:
        return [_verify_row(row, config) for row in rows]
    return list(_executor(n).map(_verify_row, rows, itertools.repeat(config)))


@functools.cache
def _executor(n: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(n, thread_name_prefix="verify-math")


def _verify_row(row, config: VerifyConfig) -> dict:
    if not isinstance(row, dict) or "_bad_line" in row:
        error = row.get("_error", "not a JSON object") if isinstance(row, dict) else "not an object"
        return _bad_input(error)
    gold, completion, answer = row.get("gold"), row.get("completion"), row.get("answer")
    if not isinstance(gold, str):
        return _bad_input("row needs a string field 'gold'")
    if isinstance(completion, str) == isinstance(answer, str):
        return _bad_input("row needs exactly one string field: 'completion' (model text, the "
                          "answer is extracted) or 'answer' (an extracted answer, compared whole)")
    v = verify_math(gold, completion, config, answer=answer)
    out = {"correct": v.correct, "reward": v.reward, "reason": v.reason,
           "flags": sorted(v.flags), "extracted": v.extracted}
    if v.details:
        out["details"] = v.details
    return out


def _bad_input(error: str) -> dict:
    return {"correct": False, "reward": 0.0, "reason": "bad_input", "flags": [], "error": error}
