"""Code-verification throughput: trueloop's sandbox pool vs one fresh python3 per submission.

Work: N submissions (default 500) over the built-in code bank: mostly correct references,
wrong ones, and a few slow ones (sleep, then correct). Each is checked against all of its
visible + hidden asserts.
- trueloop: `verify_batch` on a `Sandbox` with one warm worker per core (fork per submission,
  PID/net namespaces, chroot, rlimits, type-strict values, static scan, hack flags).
- baseline (human-eval / open-r1 style): write the program plus its asserts to a temp file and
  run `python3 FILE` in a fresh subprocess with a timeout, one at a time per core
  (a thread pool of `cores` workers); pass = exit code 0.
Both run in the same process run on the same submissions. Prints one JSON line with the
verifications per second of each, their ratio, and how often the two agree on pass/fail.

Usage: python benchmarks/sandbox.py [--n 500] [--slow 5] [--timeout 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from machine import commit

from trueloop.config import VerifyConfig
from trueloop.tasks.code import load_bank
from trueloop.verify.code import verify_batch
from trueloop.verify.sandbox import Sandbox, SandboxLimits

PYTHON3 = os.path.realpath(sys.executable)
# the real interpreter binary (not a pyenv shim or venv wrapper), so the baseline is not handicapped


def submissions(n: int, n_slow: int) -> list[tuple[dict, str, bool]]:
    """(truth, source, should_pass): 70% correct, 30% wrong, `n_slow` slow-but-correct."""
    bank = load_bank()
    out = []
    for i in range(n):
        row = bank[i % len(bank)]
        if i < n_slow:
            src = f"import time\ntime.sleep(0.25)\n{row['reference']}"
            out.append((row, src, True))
        elif i % 10 < 7:
            out.append((row, row["reference"], True))
        else:
            out.append((row, f"def {row['entry_point']}(*args):\n    return None\n", False))
    return out


def baseline_one(truth: dict, source: str, timeout: float) -> bool:
    tests = "\n".join(truth["visible_tests"] + truth["hidden_tests"])
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "prog.py"
        path.write_text(f"{source}\n\n{tests}\n")
        try:
            p = subprocess.run([PYTHON3, str(path)], cwd=d, capture_output=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
    return p.returncode == 0


def run_baseline(subs: list[tuple[dict, str, bool]], cores: int, timeout: float) -> list[bool]:
    with ThreadPoolExecutor(cores) as pool:
        return list(pool.map(lambda s: baseline_one(s[0], s[1], timeout), subs))


def run_trueloop(subs, sandbox: Sandbox, timeout: float) -> list[bool]:
    verdicts = verify_batch([(t, s) for t, s, _ in subs], VerifyConfig(timeout_s=timeout),
                            sandbox=sandbox)
    return [v.correct for v in verdicts]


def agreement(got: list[bool], expected: list[bool]) -> float:
    return sum(a == b for a, b in zip(got, expected, strict=True)) / len(expected)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--slow", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=2.0)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    subs = submissions(args.n, args.slow)
    expected = [s[2] for s in subs]
    sandbox = Sandbox(SandboxLimits(timeout_s=args.timeout), workers=cores)
    run_trueloop(subs[:20], sandbox, args.timeout)  # warm-up (imports, first forks)
    t0 = time.perf_counter()
    ours = run_trueloop(subs, sandbox, args.timeout)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    base = run_baseline(subs, cores, args.timeout)
    t_base = time.perf_counter() - t0
    prot = sandbox.protections
    sandbox.close()
    print(json.dumps({
        "benchmark": "sandbox", "commit": commit(), "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(), "cores": cores,
        "config": {"n": args.n, "slow": args.slow, "timeout_s": args.timeout,
                   "baseline": "python3 FILE per submission, thread pool of `cores`"},
        "trueloop_per_s": round(args.n / t_ours, 1), "baseline_per_s": round(args.n / t_base, 1),
        "ratio": round(t_base / t_ours, 2),
        "trueloop_accuracy_vs_truth": agreement(ours, expected),
        "baseline_accuracy_vs_truth": agreement(base, expected),
        "protections": prot,
    }))


if __name__ == "__main__":
    sys.exit(main())
