"""Build `benchmarks/data/math_external.jsonl`: (gold, candidate, label) rows from outside.

Run once by a maintainer; the rows are committed, so neither the peers' repositories nor the
generator are dependencies. Sources (licences and citations in `benchmarks/data/math_external.md`):

- `math-verify`: the parametrized (gold, prediction, expected) tables of huggingface/Math-Verify's
  `tests/` (read with `ast`, as data; no code is copied). Rows whose label depends on a test
  option (the same pair labelled both ways) are dropped; `strict=False` rows are dropped.
- `hendrycks-math`: the `is_equiv` unit tests of hendrycks/math
  (`modeling/math_equivalence_test.py`).
- `mathematics-dataset`: questions from DeepMind's generator (`pip install mathematics_dataset`,
  run with `--generator PATH` on a sys.path entry holding it); per gold: the gold itself,
  rewritings its format implies (LaTeX for `**` / `*`, `x = v` for "Solve ... for x", spacing),
  and clear wrongs (a value changed). Labels follow from the construction.

A candidate that contains a `\\boxed{}`, an explicit answer statement or prose (four words in a
row) is a `completion` (trueloop extracts its answer); any other candidate is an `answer` row,
compared whole. A gold written as
boxes (`\\boxed{2}, \\boxed{3}`) is given as its boxed contents joined by ", ".

    .venv/bin/python benchmarks/math_external_build.py --math-verify DIR --hendrycks DIR \\
        --generator /tmp/mds
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trueloop.verify.extract import boxed_contents  # noqa: E402

OUT = Path(__file__).resolve().parent / "data" / "math_external.jsonl"
MV_FILES = ("test_all", "test_numina_cases", "test_open_thoughts", "test_yujianll",
            "test_string_extraction", "test_boxed", "test_strict")
_STATEMENT = re.compile(r"\\boxed|\\fbox|final\s+answer|the\s+answer\s+is|answer\s*:|^\s*####"
                        r"|^\s*answer\s*(?:\$|\\\[|\\\()",
                        re.IGNORECASE | re.MULTILINE)


def _git_show(repo: str, path: str) -> tuple[str, str]:
    head = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    text = subprocess.run(["git", "-C", repo, "show", f"HEAD:{path}"], capture_output=True,
                          text=True, check=True).stdout
    return head, text


def _strip_dollars(text: str) -> str:
    text = text.strip()
    while len(text) >= 2 and text.startswith("$") and text.endswith("$"):
        text = text[1:-1].strip()
    return text


def _gold(text: str) -> str:
    text = _strip_dollars(text)
    boxes = boxed_contents(text)
    return ", ".join(b.strip() for b in boxes) if boxes else text


_PROSE = re.compile(r"(?:\b[A-Za-z']{2,}\b[ ,.:;]+){4}")


def _row(source: str, ref: str, gold: str, pred: str, label: bool) -> dict:
    prose = _PROSE.search(pred) is not None and not pred.lstrip("$ ").startswith("\\text")
    field = "completion" if _STATEMENT.search(pred) or prose else "answer"
    cand = pred if field == "completion" else _strip_dollars(pred)
    return {"id": f"{source}:{ref}", "source": source, "gold": _gold(gold), field: cand,
            "label": bool(label)}


def _param_tuples(tree: ast.Module):
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef):
            continue
        for dec in fn.decorator_list:
            if not (isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "parametrize"):
                continue
            names = [n.strip() for n in ast.literal_eval(dec.args[0]).split(",")]
            for k, elt in enumerate(getattr(dec.args[1], "elts", [])):
                try:
                    values = ast.literal_eval(elt)
                except ValueError:
                    continue  # an f-string or a call: not plain data
                yield fn.name, k, dict(zip(names, values, strict=False))


def math_verify_rows(repo: str) -> tuple[str, list[dict]]:
    found: dict[tuple, tuple[dict, set]] = {}
    head = ""
    for name in MV_FILES:
        head, text = _git_show(repo, f"tests/{name}.py")
        for fn, k, p in _param_tuples(ast.parse(text)):
            gold, pred = p.get("gold"), p.get("pred")
            label = p.get("expected", p.get("result"))
            if not isinstance(gold, str) or not isinstance(pred, str) or label not in (0, 1):
                continue
            if p.get("strict") is False:
                continue
            row = _row("math-verify", f"{name}.py::{fn}#{k}", gold, pred, bool(label))
            key = (row["gold"], row.get("answer", row.get("completion")))
            found.setdefault(key, (row, set()))[1].add(bool(label))
    return head, [row for row, labels in found.values() if len(labels) == 1]


_HENDRYCKS = re.compile(r"def (test_\w+)\(self\):\s*test_in = (\"(?:[^\"\\]|\\.)*\")\s*"
                        r"test_out = (\"(?:[^\"\\]|\\.)*\")\s*self\.assert(True|False)")


def hendrycks_rows(repo: str) -> tuple[str, list[dict]]:
    head, text = _git_show(repo, "modeling/math_equivalence_test.py")
    rows = []
    for fn, gold, pred, verdict in _HENDRYCKS.findall(text):
        gold, pred = ast.literal_eval(gold), ast.literal_eval(pred)
        rows.append(_row("hendrycks-math", f"math_equivalence_test.py::{fn}", gold, pred,
                         verdict == "True"))
    return head, rows


def generator_rows(path: str, per_module: int, seed: int) -> list[dict]:
    sys.path.insert(0, path)
    import numpy as np
    import sympy
    from mathematics_dataset import generate
    from mathematics_dataset.modules import modules

    random.seed(seed)
    np.random.seed(seed)
    rng = random.Random(seed)

    def flat(d, prefix=""):
        for k, v in d.items():
            yield from flat(v, f"{prefix}{k}__") if isinstance(v, dict) else [(prefix + k, v)]

    rows = []
    for name, make in flat(modules.train(generate._make_entropy_fn(0, 1))):
        for i in range(per_module):
            try:
                problem = make()
            except (AttributeError, TypeError):
                break  # an unpatched generator on a current numpy (see the data README)
            question, gold = str(problem.question), str(problem.answer)
            for k, (cand, label) in enumerate(_variants(question, gold, rng, sympy)):
                row = {"id": f"mathematics-dataset:{name}#{i}.{k}",
                       "source": "mathematics-dataset", "question": question, "gold": gold,
                       "label": label}
                if rng.random() < 0.3:
                    row["completion"] = f"Working it out step by step. The answer is " \
                                        f"$\\boxed{{{cand}}}$."
                else:
                    row["answer"] = cand
                rows.append(row)
    return rows


_SOLVE_FOR = re.compile(r"\bfor ([a-z])\.\s*$")
_INT = re.compile(r"-?\d+$")
_DEC = re.compile(r"-?\d+\.\d+$")
_FRAC = re.compile(r"(-?)(\d+)/(\d+)$")


def _variants(question: str, gold: str, rng: random.Random, sympy) -> list[tuple[str, bool]]:
    """The gold, equivalent rewritings its format implies, and clear wrongs."""
    out = [(gold, True)]
    if _INT.match(gold):
        n = int(gold)
        if (m := _SOLVE_FOR.search(question)) is not None:
            out.append((f"{m.group(1)} = {n}", True))
        out += [(f"{n}.0", True), (str(n + rng.choice([-2, -1, 1, 3])), False)]
        if abs(n) >= 1000:
            out.append((f"{n:,}", True))
        if n:
            out.append((str(-n), False))
    elif _DEC.match(gold):
        out += [(gold + "0", True), (gold[:-1] + str((int(gold[-1]) + 1) % 10), False)]
    elif (m := _FRAC.match(gold)) is not None:
        sign, p, q = m.group(1), int(m.group(2)), int(m.group(3))
        out += [(f"{sign}\\frac{{{p}}}{{{q}}}", True), (f"{sign}{p + 1}/{q}", False),
                (f"{sign}\\frac{{{q}}}{{{p}}}", p == q),
                (f"{sign}\\dfrac{{{2 * p}}}{{{2 * q}}}", True),
                (f"{'' if sign else '-'}{p}/{q}", False)]
        if _terminates(q):
            out.append((f"{sign}{p / q:g}" if len(f"{p / q:g}") < 12 else gold, True))
    elif gold in ("True", "False"):
        out += [(gold.lower(), True), ("False" if gold == "True" else "True", False)]
    elif re.fullmatch(r"-?[\d/.]+(, -?[\d/.]+)+", gold):
        parts = gold.split(", ")
        out.append((",".join(parts), True))
        j = rng.randrange(len(parts))
        wrong = parts[:j] + [_bump(parts[j])] + parts[j + 1:]
        out.append((", ".join(wrong), False))
    elif re.search(r"[a-z]", gold) and re.fullmatch(r"[-+*/()a-z\d. ]+", gold):
        try:
            expr = sympy.sympify(gold)  # trusted generator output, not model text
        except sympy.SympifyError:
            return out  # a base-16 numeral such as 2374a0
        out.append((sympy.latex(expr), True))
        wrong = expr + 1
        out.append((sympy.latex(wrong), False))
    return out


def _terminates(q: int) -> bool:
    while q % 2 == 0:
        q //= 2
    while q % 5 == 0:
        q //= 5
    return q == 1


def _bump(part: str) -> str:
    return str(int(part) + 1) if _INT.match(part) else part + "1"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--math-verify", required=True, help="git dir of huggingface/Math-Verify")
    ap.add_argument("--hendrycks", required=True, help="git dir of hendrycks/math")
    ap.add_argument("--generator", required=True, help="sys.path entry with mathematics_dataset")
    ap.add_argument("--per-module", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    mv_head, mv = math_verify_rows(args.math_verify)
    h_head, hd = hendrycks_rows(args.hendrycks)
    gen = generator_rows(args.generator, args.per_module, args.seed)
    rows = mv + hd + gen
    OUT.parent.mkdir(exist_ok=True)
    with OUT.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(json.dumps({"rows": len(rows), "math-verify": len(mv), "math-verify_commit": mv_head,
                      "hendrycks-math": len(hd), "hendrycks_commit": h_head,
                      "mathematics-dataset": len(gen)}))


if __name__ == "__main__":
    main()
