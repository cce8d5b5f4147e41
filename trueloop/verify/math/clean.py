"""Canonical answer text: strip presentation so that only the mathematical content is compared.

Drops math delimiters (`$`, `\\(`), sizing (`\\left`, `\\displaystyle`), spacing commands, units,
currency, degrees and `\\text{}` annotations; maps unicode math symbols to LaTeX; keeps `%` (a
percentage is a number) and everything that can change a value. Hedges ("3 or 5", `5\\text{ or }7`)
are detected *before* `\\text{}` is unwrapped, so an annotation can never hide a second answer.

Covered: presentation differences between a gold answer and a correct candidate.
Not covered: value equality (`verify/math/numbers.py`, `verify/math/latex.py` decide that).
"""

from __future__ import annotations

import re
from functools import lru_cache

CACHED_LEN = 512
# longest answer text whose cleaned form is cached (a megabyte answer must not pin memory)

_UNICODE = str.maketrans({
    "\u2212": "-", "\u2013": "-", "\u00d7": r"\times ", "\u00f7": r"\div ", "\u00b7": r"\cdot ",
    "\u221a": r"\sqrt", "\u03c0": r"\pi ", "\u221e": r"\infty ", "\u2264": r"\le ",
    "\u2265": r"\ge ", "\u2260": r"\ne ", "\u00b1": r"\pm ", "\u222a": r"\cup ",
    "\u00b0": r"^\circ", "\u2208": r"\in ", "\u20ac": "", "\u00a3": "", "\u00a5": "",
})
_HEDGE = re.compile(r"(?:\\text\{\s*|\\mbox\{\s*|\b)(?:or|either|and/or|maybe|possibly)\b",
                    re.IGNORECASE)
_TEXT_CMD = re.compile(r"\\(?:text|mbox|textbf|textit|textnormal|mathrm|mathbf|mathit|operatorname)"
                       r"\s*\{([^{}]*)\}")
_UNITS = (
    "cm|mm|km|meters?|metres?|centimeters?|millimeters?|kilometers?|inch|inches|ft|feet|foot"
    "|yards?|yd|miles?|mph|kg|grams?|kilograms?|mg|lbs?|pounds?|ounces?|oz|sec|seconds?"
    "|minutes?|hr|hrs|hours?|days?|weeks?|months?|years?|liters?|litres?|ml|gallons?"
    "|dollars?|cents?|usd|euros?|degrees?|deg|radians?|rad|units?|sq|square|cubic|percent"
    "|people|students|apples|cookies|items|ways|times|points|marbles|books|pages|cups|boxes"
)
# a bare one-letter "unit" (m, g, s, h, l) is a variable: `6 h` is 6h, `5 t^{2} + 3 t` a polynomial;
# only `\text{h}` / `\mathrm{m}` mark it as a unit. Short words (in, min, mi) count after a space.
_UNIT_AFTER_NUMBER = re.compile(
    rf"(?<=[\d}}%.)])\s*(?:{_UNITS})(?:\s*\^\s*\{{?\d\}}?)?(?![A-Za-z])"
    rf"|(?<=[\d}}%.)])\s+(?:in|min|mi)(?:\s*\^\s*\{{?\d\}}?)?\s*$",
    re.IGNORECASE,
)
_TEXT_UNIT = re.compile(rf"\\(?:text|mbox|mathrm)\s*\{{\s*(?:{_UNITS}|m|g|s|h|l|in|min|mi)"
                        rf"(?:\s+(?:{_UNITS}))?\s*\}}(?:\s*\^\s*\{{?\d\}}?)?", re.IGNORECASE)
_TRAILING_WORDS = re.compile(r"(?<=[\d}%.])\s+[A-Za-z][A-Za-z ]{2,}$")
_OVER = re.compile(r"\{([^{}]*)\\over(?![A-Za-z])([^{}]*)\}|^([^{}]*)\\over(?![A-Za-z])([^{}]*)$")
# thousands groups: `12 345`, `12\,345`, `12,\!345`, `12 {, }345`, `12{,}345`, `12~345`
_SEP = r"(?:\s*(?:\\,|\{\s*,\s*\}|,\\!|\\ |~)\s*| )"
_THOUSANDS = re.compile(rf"(?<![\d.,])(\d{{1,3}})((?:{_SEP}\d{{3}})+)(?![\d]|\.\d|,\d)")
_THOUSANDS_SEP = re.compile(_SEP)
_SUBS = [
    (re.compile(r"\\[\[\]()]"), " "),
    (re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)[lr]?(?![A-Za-z])\.?"), ""),
    (re.compile(r"\\(?:displaystyle|textstyle|limits|nolimits)(?![A-Za-z])|\\!"), ""),
    (re.compile(r"(?<!\\)\\[,;:> ]|\\q?quad|~"), " "),
    (re.compile(r"\\[dtc]frac(?![A-Za-z])"), r"\\frac"),
    (re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|\\degree|\^\s*\{\s*o\s*\}"), ""),
    (re.compile(r"\\\$|\$|\\euro|\\pounds"), ""),
    (re.compile(r"\\%"), "%"),
    (re.compile(r"\\(?:dots|ldots|cdots)"), "..."),
    (re.compile(r"\\(?:leq?|leqslant)(?![A-Za-z])"), r"\\le "),
    (re.compile(r"\\(?:geq?|geqslant)(?![A-Za-z])"), r"\\ge "),
    (re.compile(r"\\(?:neq?)(?![A-Za-z])"), r"\\ne "),
]


def has_hedge(text: str) -> bool:
    """True when the text offers alternatives in words ("3 or 5", `5\\text{ or }7`)."""
    return _HEDGE.search(text) is not None


def _unwrap_text(text: str) -> str:
    text = _TEXT_UNIT.sub("", text)
    prev = None
    while prev != text:
        prev, text = text, _TEXT_CMD.sub(lambda m: " " + m.group(1) + " ", text)
    return text


def clean(text: str) -> str:
    """Presentation-free answer text (see the module docstring). Short texts are cached."""
    return _clean_cached(text) if len(text) <= CACHED_LEN else _clean(text)


@lru_cache(maxsize=1 << 15)
def _clean_cached(text: str) -> str:
    return _clean(text)


def _thousands(m: re.Match[str]) -> str:
    return m.group(1) + _THOUSANDS_SEP.sub(",", m.group(2))


def _over(m: re.Match[str]) -> str:
    num, den = (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))
    return f"\\frac{{{num.strip()}}}{{{den.strip()}}}"


def _clean(text: str) -> str:
    text = text.translate(_UNICODE)
    if "\\over" in text:
        text = _OVER.sub(_over, text)
    text = _THOUSANDS.sub(_thousands, text)
    for pattern, repl in _SUBS:
        text = pattern.sub(repl, text)
    text = _unwrap_text(text)
    text = _UNIT_AFTER_NUMBER.sub("", text)
    text = _TRAILING_WORDS.sub("", text)
    text = " ".join(text.split())
    return text.rstrip(" .;:").strip()


def clear_cache() -> None:
    _clean_cached.cache_clear()
