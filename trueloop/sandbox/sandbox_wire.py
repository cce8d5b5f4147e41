"""The sandbox's value channel: type-strict encoding, linear size-capped decoding, comparisons.

Standard library only: loaded by the trusted verifier (`trueloop.sandbox`), by the
sandbox worker (which runs under `python -I -S` and imports it as a top-level module), and by
the two kinds of sandbox children (the candidate, which encodes what the submission returned,
and the checker, which decodes what the candidate sent).

Wire format (JSON): null/bool/int/float/str/list stand for themselves; tuples, dicts, sets,
frozensets, bytes and complex are {"t": [...]}, {"d": [[k, v], ...]}, {"s": [...]},
{"f": [...]}, {"b": "hex"}, {"c": [re, im]}; an int above `BIG_INT_BITS` is {"x": "0x..."}.
- `encode` takes exact built-in types only (`type(x) is int`, never isinstance), so no user
  code runs while a value is encoded; the standard library's dict subclasses that compare
  equal to a dict (Counter, OrderedDict, defaultdict) are read through `dict.items` and sent
  as plain dicts. Anything else raises `NonPlain`.
- `decode` is linear in the input and bounded: nesting depth `MAX_DEPTH`, and sets/dict keys
  with more than `MAX_SAME_HASH` elements of one hash value (a hash flood, quadratic to insert)
  are refused. Every malformed input raises `WireError` and nothing else.
- `compare` decides one check on plain values and never raises.
- `FLAGS` is the fixed vocabulary of run-time flags; `clean` makes child-supplied text safe to
  print (no lone surrogates, no control characters, capped).
"""

import collections
import math
import operator

MAX_DEPTH = 100
MAX_SAME_HASH = 16
BIG_INT_BITS = 12_000
FLAGS = frozenset({"hack:exit", "hack:skip", "hack:patched", "hack:eq_override",
                   "hack:introspection", "sandbox:network", "sandbox:process",
                   "sandbox:signal"})
_DICTS = (collections.Counter, collections.OrderedDict, collections.defaultdict)
_PLAIN = (type(None), bool, int, float, str)
CHECKS = frozenset({"eq", "ne", "is", "is_not", "truthy", "falsy", "in", "not_in", "contains",
                    "not_contains", "lt", "le", "gt", "ge", "close"})
_ORDER = {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge}


class WireError(ValueError):
    """A value on the wire that is not a plain encoded value."""


class NonPlain(Exception):
    def __init__(self, value):
        self.value = value
        super().__init__(type(value).__name__)


MAX_NODES = 1 << 19
# values in one encoding: a shared sublist (`a = [a, a]` forty times) would otherwise expand
# to 2**40 nodes; past 2**19 values the JSON is over the 1 MiB result channel anyway


def encode(v, depth=0, budget=None):
    """Exact-type encoding of a plain value; raises NonPlain for anything else, ValueError past
    `MAX_NODES` values."""
    if budget is None:
        budget = [MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError("value too large to encode")
    t = type(v)
    if depth > MAX_DEPTH:
        raise RecursionError("value nested too deeply")
    if t is int and v.bit_length() > BIG_INT_BITS:
        return {"x": hex(v)}  # JSON ints stop at 4,300 digits; hex has no such limit
    if t in _PLAIN:
        return v
    d, b = depth + 1, budget
    if t is list:
        return [encode(x, d, b) for x in v]
    if t is tuple:
        return {"t": [encode(x, d, b) for x in v]}
    if t is dict or t in _DICTS:
        return {"d": [[encode(k, d, b), encode(x, d, b)] for k, x in dict.items(v)]}
    if t is set or t is frozenset:
        return {"s" if t is set else "f": [encode(x, d, b) for x in v]}
    if t is bytes:
        return {"b": v.hex()}
    if t is complex:
        return {"c": [v.real, v.imag]}
    raise NonPlain(v)


def decode(x, depth=0):
    """Rebuild a plain value from parsed JSON; WireError for anything else."""
    t = type(x)
    if t in _PLAIN:
        return x
    if depth > MAX_DEPTH:
        raise WireError("nested too deeply")
    if t is list:
        return [decode(v, depth + 1) for v in x]
    if t is not dict or len(x) != 1:
        raise WireError("not a plain value")
    ((tag, body),) = x.items()
    if tag == "x" and type(body) is str:
        try:
            value = int(body, 16)
        except ValueError:
            raise WireError("bad hex int") from None
        if value.bit_length() <= BIG_INT_BITS:
            raise WireError("small int sent as hex")  # one encoding per value
        return value
    if tag == "b" and type(body) is str:
        try:
            return bytes.fromhex(body)
        except ValueError:
            raise WireError("bad hex") from None
    if type(body) is not list:
        raise WireError("bad tagged value")
    if tag == "t":
        return tuple(decode(v, depth + 1) for v in body)
    if tag in ("s", "f"):
        items = _hashable([decode(v, depth + 1) for v in body])
        return set(items) if tag == "s" else frozenset(items)
    if tag == "d":
        if any(type(p) is not list or len(p) != 2 for p in body):
            raise WireError("bad dict item")
        keys = _hashable([decode(p[0], depth + 1) for p in body])
        return dict(zip(keys, [decode(p[1], depth + 1) for p in body], strict=True))
    if tag == "c" and len(body) == 2 and all(type(p) in (int, float) for p in body):
        try:
            return complex(float(body[0]), float(body[1]))
        except OverflowError:
            raise WireError("complex part out of range") from None
    raise WireError("unknown tag")


def _hashable(items):
    """`items` if they can go into a set in linear time: hashable, no flood of one hash."""
    counts = {}
    for v in items:
        try:
            h = hash(v)
        except TypeError:
            raise WireError("unhashable element") from None
        counts[h] = c = counts.get(h, 0) + 1
        # hash values are ints below 2**61, which hash to themselves: `counts` cannot flood
        if c > MAX_SAME_HASH:
            raise WireError("hash flood: too many elements with one hash value")
    return items


def compare(check, got, expected, tol=0.0):
    """True when `got` passes `check` against `expected`; plain values in, never raises on
    them (an unknown `check` is a bug in the caller and raises)."""
    if check not in CHECKS:
        raise ValueError(f"unknown check {check!r}; known: {sorted(CHECKS)}")
    try:
        return bool(_compare(check, got, expected, tol))
    except (TypeError, ValueError, OverflowError, RecursionError, ZeroDivisionError):
        return False


def _compare(check, got, expected, tol):
    if check == "eq":
        return got == expected
    if check == "ne":
        return got != expected
    if check == "is":
        return got is expected
    if check == "is_not":
        return got is not expected
    if check == "truthy":
        return bool(got)
    if check == "falsy":
        return not got
    if check == "in":
        return got in expected
    if check == "not_in":
        return got not in expected
    if check == "contains":
        return expected in got
    if check == "not_contains":
        return expected not in got
    if check in _ORDER:
        return _ORDER[check](got, expected)
    if check == "close":
        numbers = (int, float)
        if type(got) not in numbers or type(expected) not in numbers:
            return False
        return math.isfinite(got) and abs(float(got) - float(expected)) <= tol


def clean(text, limit=200):
    """Child-supplied text made safe to store and print: str, capped, printable, no surrogates."""
    s = text if type(text) is str else repr(type(text))
    s = s[:limit].encode("utf-8", "replace").decode("utf-8")
    return "".join(c if c.isprintable() else "?" for c in s)


OUTPUT_MODES = frozenset({"tokens", "exact", "float"})


def compare_output(got, want, mode="tokens", tol=0.0):
    """Whether a program's stdout `got` matches `want` (judge rules): `tokens` compares
    whitespace-separated tokens as exact strings, `exact` the text as lines (`exact_text`),
    `float` tokens with numbers within `tol` (absolute or relative); nan/inf never match a
    number."""
    if mode not in OUTPUT_MODES:
        raise ValueError(f"unknown output comparison {mode!r}; known: {sorted(OUTPUT_MODES)}")
    if mode == "exact":
        return exact_text(got) == exact_text(want)
    g, w = got.split(), want.split()
    if mode == "tokens" or len(g) != len(w):
        return g == w
    return all(_token_close(a, b, tol) for a, b in zip(g, w, strict=True))


def exact_text(text):
    """The text that `exact` compares, as strict judges read a file (testlib's `fcmp`:
    lines, line endings ignored): `\r\n` is `\n`, and one final newline is insignificant.
    Everything else counts: a second blank line, a trailing space, a missing line."""
    text = text.replace("\r\n", "\n")
    return text[:-1] if text.endswith("\n") else text


def _token_close(got, want, tol):
    try:
        b = float(want)
    except ValueError:
        return got == want
    if not math.isfinite(b):
        return got == want
    try:
        a = float(got)
    except ValueError:
        return False
    return math.isfinite(a) and (abs(a - b) <= tol or abs(a - b) <= tol * abs(b))
