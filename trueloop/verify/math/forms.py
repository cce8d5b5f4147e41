"""Answer forms read before the grammar: labels, lists joined by words, clock times and ratios,
numerals in a base. Each function works on cleaned text (`verify/math/clean.py`).

- A label names the value and is dropped: `(m,n)=(4,1)` is `(4,1)`, `PQ=6` is `6`, `f(x)=3x` is
  `3x`, `|v|=5` is `5`, `\\frac{NO}{BO}=\\frac{1}{2}` and `A:B=2:3` keep their right side. Only a
  text with a single `=` has a label; `y = 2x + 3` (one lowercase letter) stays an equation.
- A gold that joins values with words (`4 \\text{ and } 9`, `x = 1 \\text{ or } x = 6`,
  `19, 46, and 82`) is a list; so is a candidate compared with it.
- Groups of assignments to the same names (`p=5, q=2; p=7, q=2`) are the tuples they bind, in
  the order the names are written: `(5, 2), (7, 2)`.
- Clock times and ratios (`5:45`, `9:42 PM`, `7:32`) compare part by part, exactly (`2:4` is not
  `1:2`: a ratio gold in lowest terms is expected in lowest terms; `9:42 PM` is not `21:42`).
- A numeral in a base (`1011_2`, `204_{5}`) matches the same digits, with or without the
  subscript; its decimal value (`11`) does not answer "write it in base 2".
"""

from __future__ import annotations

import re

_NAME = r"[A-Za-z](?:_\{?\w+\}?)?"
_ONE_EQ = r"\s*=\s*(?=[^=]*$)"
_LABEL = re.compile(
    rf"^(?:\((?:\s*{_NAME}\s*,)+\s*{_NAME}\s*\)"  # (m, n) = ...
    r"|[A-Z]{2,3}"  # PQ = ...
    r"|[A-Za-z]\s*\(\s*[a-z](?:\s*,\s*[a-z])*\s*\)"  # f(x) = ...
    r"|\|\s*[A-Za-z]{1,3}\s*\|"  # |v| = ...
    r"|\\frac\{[A-Z]{1,3}\}\{[A-Z]{1,3}\}"  # \frac{NO}{BO} = ...
    rf"|{_NAME}\s*:\s*{_NAME})"  # V_1 : V_2 = ...
    + _ONE_EQ)
_JOIN = re.compile(r"\s*,?\s*\b(?:and|or)\b\s*", re.IGNORECASE)
_LISTY = re.compile(r"[,;]|\\pm|\b(?:and|or)\b")
_CLOCK = re.compile(r"^(\d+(?:\s*:\s*\d+)+)\s*([ap])?\.?\s*(?:m\.?)?$", re.IGNORECASE)
_BASE = re.compile(r"^(\d+)\s*_\s*\{?\s*(\d+)\s*\}?$")
_DIGITS = re.compile(r"^(\d+)(?:\s*_\s*\{?\s*(\d+)\s*\}?)?$")


def strip_label(text: str) -> str:
    """Drop a label, or the label of every item of a list (`AB=4, CD=5` is `4, 5`)."""
    if "=" not in text:
        return text
    stripped = _LABEL.sub("", text, count=1)
    if stripped != text or "," not in text:
        return stripped
    items = text.split(",")
    if all(_LABEL.match(item.strip()) for item in items):
        return ", ".join(_LABEL.sub("", item.strip(), count=1) for item in items)
    return text


def group_assignments(text: str) -> str:
    """`p=5, q=2; p=7, q=2` (groups of assignments to the same names) -> `(5, 2), (7, 2)`."""
    if ";" not in text or "=" not in text:
        return text
    groups = [[item.split("=") for item in group.split(",")] for group in text.split(";")]
    if not all(len(pair) == 2 for group in groups for pair in group):
        return text
    names = [[name.strip() for name, _ in group] for group in groups]
    if any(n != names[0] for n in names) or not all(re.fullmatch(_NAME, n) for n in names[0]):
        return text
    return ", ".join("(" + ", ".join(v.strip() for _, v in group) + ")" for group in groups)


def is_list(gold: str) -> bool:
    """Whether the gold may be a list of values (then a candidate's "or" is not a hedge)."""
    return _LISTY.search(gold) is not None


def join_words(text: str) -> str:
    """`4 and 9` -> `4, 9`; `19, 46, and 82` -> `19, 46, 82`."""
    return _JOIN.sub(", ", text).strip(" ,")


def is_form(gold: str) -> bool:
    """Whether `judge_form` decides this gold."""
    return _CLOCK.match(gold) is not None or _BASE.match(gold) is not None


def judge_form(gold: str, cand: str) -> tuple[str, str] | None:
    """(reason, detail) for a clock / ratio or base-numeral gold, else None."""
    if (g := _CLOCK.match(gold)) is not None:
        c = _CLOCK.match(cand)
        same = c is not None and _parts(g.group(1)) == _parts(c.group(1)) and (
            (g.group(2) or "").lower() == (c.group(2) or "").lower())
        return ("ok", "") if same else ("wrong", "time or ratio")
    if (g := _BASE.match(gold)) is not None:
        c = _DIGITS.match(cand)
        same = c is not None and c.group(1).lstrip("0") == g.group(1).lstrip("0") and (
            c.group(2) in (None, g.group(2)))
        return ("ok", "") if same else ("wrong", f"a base-{g.group(2)} numeral")
    return None


def _parts(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(":"))
