"""Code-verification throughput on a realistic mix, vs one plain python3 subprocess per submission.

Work: N submissions (default 300) over the built-in code bank, in five classes (issue 9 §3):
- correct: the reference solution (every visible and hidden assert runs);
- wrong: returns None (fails its first visible test);
- slow_wrong: wrong at once, but each call after the third sleeps 1 s (a plain run that stops
  at its first failing assert never reaches them; a verifier that runs every test does);
- crash: unbounded recursion (RecursionError on the first call);
- timeout: an infinite loop (both sides pay the time limit).
Systems, on the same submissions in the same process run, each class timed separately:
- trueloop: `verify_batch` (binary reward, so fail fast) on a `Sandbox` with one warm worker
  per core: pristine fork template, candidate child per job, PID/IPC/net namespaces, chroot,
  seccomp, nonce-checked commands, type-strict values, static scan, hack flags;
- baseline (human-eval / open-r1 style): the program plus its asserts in a temp file, run with
  `python3 FILE` in a fresh subprocess with the time limit, `cores` at a time; pass = exit 0.
Also measured: the stdin/stdout bank (reference programs, every input runs; `print(0)`, fails
at once) against a plain judge running `python3 prog.py < input` per input; decoding a forged
1 MB set of ints that all hash alike (refused in linear time)
against building it naively (quadratic; timed on a slice), a row with 20,000 invented flags,
and the tmpfs memory (`Shmem`) left on the host after jobs that each wrote 36 MiB.

Prints one JSON line: per class and overall verifications/s of each system and their ratio,
agreement of each with the ground truth, the decode figures, and the machine's load.
Usage: python benchmarks/sandbox.py [--n 300] [--timeout 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from machine import commit, hardware

from trueloop.config import VerifyConfig
from trueloop.sandbox import Job, Sandbox, SandboxLimits
from trueloop.sandbox import sandbox_wire as wire
from trueloop.tasks.code import load_bank
from trueloop.verify.code import verify_batch

PYTHON3 = os.path.realpath(sys.executable)
# the real interpreter binary (not a pyenv shim or venv wrapper), so the baseline is not handicapped
MIX = {"correct": 0.45, "wrong": 0.30, "slow_wrong": 0.15, "crash": 0.08, "timeout": 0.02}
BODIES = {
    "wrong": "def {ep}(*args):\n    return None\n",
    "slow_wrong": ("import time\n_calls = [0]\ndef {ep}(*args):\n    _calls[0] += 1\n"
                   "    if _calls[0] > 3:\n        time.sleep(1.0)\n    return None\n"),
    "crash": "def {ep}(*args):\n    return {ep}(*args)\n",
    "timeout": "def {ep}(*args):\n    while True:\n        pass\n",
}


def submissions(n: int) -> dict[str, list[tuple[dict, str, bool]]]:
    """class -> [(truth, source, should_pass)]."""
    bank = load_bank()
    out: dict[str, list[tuple[dict, str, bool]]] = {}
    i = 0
    for kind, share in MIX.items():
        rows = []
        for _ in range(max(1, round(n * share))):
            row = bank[i % len(bank)]
            i += 1
            src = row["reference"] if kind == "correct" else BODIES[kind].format(
                ep=row["entry_point"])
            rows.append((row, src, kind == "correct"))
        out[kind] = rows
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


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def stdio_baseline_one(row: dict, source: str, timeout: float) -> bool:
    """A plain judge: `python3 prog.py < input` per input, stop at the first failure."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "prog.py"
        path.write_text(source)
        for t in row["visible_tests"] + row["hidden_tests"]:
            try:
                p = subprocess.run([PYTHON3, str(path)], cwd=d, input=t["input"].encode(),
                                   capture_output=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                return False
            if p.returncode != 0 or not wire.compare_output(
                    p.stdout.decode(errors="replace"), t["output"], row.get("compare", "tokens"),
                    row.get("tolerance", 0.0)):
                return False
    return True


def stdio_bank(sandbox: Sandbox, cores: int, timeout: float) -> dict:
    """The stdin/stdout bank's reference programs (every input runs) and `print(0)` programs
    (fail at once): trueloop vs a plain per-input python3 judge."""
    from trueloop.tasks.code import load_stdio_bank

    out = {}
    for kind in ("correct", "wrong"):
        subs = [(r, r["reference"] if kind == "correct" else "print(0)\n", kind == "correct")
                for r in load_stdio_bank()]
        ours, t_ours = timed(run_trueloop, [(r, f"```python\n{s}```", ok)
                                            for r, s, ok in subs], sandbox, timeout)
        with ThreadPoolExecutor(cores) as pool:
            base, t_base = timed(lambda p, xs: list(p.map(
                lambda x: stdio_baseline_one(x[0], x[1], timeout), xs)), pool, subs)
        out[kind] = {"n": len(subs), "trueloop_per_s": round(len(subs) / t_ours, 1),
                     "baseline_per_s": round(len(subs) / t_base, 1),
                     "ratio": round(t_base / t_ours, 2),
                     "trueloop_agrees": sum(a == s[2] for a, s in zip(ours, subs, strict=True)),
                     "baseline_agrees": sum(a == s[2] for a, s in zip(base, subs, strict=True))}
    return out


def hash_flood() -> dict:
    """A forged ~1 MB set of ints with one hash value: refused by `wire.decode` (linear),
    against a naive `set()` build of the same elements (quadratic; timed on a slice)."""
    body = [k * (2 ** 61 - 1) + 5 for k in range(1, 50_000)]
    text = json.dumps({"s": body})
    parsed = json.loads(text)
    t0 = time.perf_counter()
    try:
        wire.decode(parsed)
        refused = False
    except wire.WireError:
        refused = True
    ours = time.perf_counter() - t0
    honest = {"s": list(range(len(body)))}
    _, honest_s = timed(wire.decode, honest)
    n_slice = 5_000
    _, naive_s = timed(set, body[:n_slice])
    return {"flood_bytes": len(text), "flood_elements": len(body), "refused": refused,
            "decode_ms": round(ours * 1e3, 2),
            "honest_same_size_decode_ms": round(honest_s * 1e3, 2),
            f"naive_set_{n_slice}_elements_ms": round(naive_s * 1e3, 1),
            "naive_full_estimate_s": round(naive_s * (len(body) / n_slice) ** 2, 1)}


def shmem_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Shmem:"):
            return int(line.split()[1])
    return -1


def leftovers(sandbox: Sandbox) -> dict:
    """Memory the host still holds after 4 jobs that each wrote 36 MiB to their directory."""
    before = shmem_kb()
    src = "def f():\n    with open('blob', 'wb') as fh:\n        fh.write(b'x' * (36 << 20))\n"
    runs = sandbox.run_many([Job(src, calls=("f()",)) for _ in range(4)])
    time.sleep(0.2)
    return {"jobs": 4, "ended": sorted({r.ended for r in runs}),
            "shmem_left_mb": round((shmem_kb() - before) / 1024, 1)}


def flag_flood(sandbox: Sandbox) -> dict:
    src = ("import os\ndef f():\n    line = b'{\"f\": \"hack:x%d\", \"why\": \"w\"}\\n'\n"
           "    os.write(3, b''.join(line % i for i in range(20000)))\n    return 1\n")
    r, s = timed(sandbox.run, Job(src, calls=("f()",)))
    return {"unknown_flags": r.unknown_flags, "flags_kept": len(r.flags),
            "row_bytes": len(json.dumps({"flags": sorted(r.flags), "why": r.why})),
            "wall_ms": round(s * 1e3, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--timeout", type=float, default=2.0)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()
    classes = submissions(args.n)
    sandbox = Sandbox(SandboxLimits(timeout_s=args.timeout), workers=cores)
    run_trueloop(classes["correct"][:20], sandbox, args.timeout)  # warm-up (first forks)
    per_class, tot_ours, tot_base, agree_ours, agree_base, total = {}, 0.0, 0.0, 0, 0, 0
    spin_free = [0.0, 0.0, 0]  # every class but the infinite loops: trueloop s, baseline s, n
    for kind, subs in classes.items():
        expected = [s[2] for s in subs]
        ours, t_ours = timed(run_trueloop, subs, sandbox, args.timeout)
        base, t_base = timed(run_baseline, subs, cores, args.timeout)
        per_class[kind] = {"n": len(subs), "trueloop_per_s": round(len(subs) / t_ours, 1),
                           "baseline_per_s": round(len(subs) / t_base, 1),
                           "ratio": round(t_base / t_ours, 2)}
        tot_ours += t_ours
        tot_base += t_base
        if kind != "timeout":
            spin_free[0] += t_ours
            spin_free[1] += t_base
            spin_free[2] += len(subs)
        total += len(subs)
        agree_ours += sum(a == b for a, b in zip(ours, expected, strict=True))
        agree_base += sum(a == b for a, b in zip(base, expected, strict=True))
    extra = {"stdio_bank": stdio_bank(sandbox, cores, args.timeout),
             "hash_flood": hash_flood(), "flag_flood": flag_flood(sandbox),
             "leftovers": leftovers(sandbox)}
    prot = sandbox.protections
    sandbox.close()
    print(json.dumps({
        "benchmark": "sandbox", "commit": commit(), **hardware(),
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "config": {"n": total, "mix": MIX, "timeout_s": args.timeout,
                   "baseline": "python3 FILE per submission, thread pool of `cores`"},
        "overall": {"trueloop_per_s": round(total / tot_ours, 1),
                    "baseline_per_s": round(total / tot_base, 1),
                    "ratio": round(tot_base / tot_ours, 2)},
        "without_timeouts": {"n": spin_free[2],
                             "ratio": round(spin_free[1] / spin_free[0], 2)},
        "per_class": per_class,
        "trueloop_accuracy_vs_truth": round(agree_ours / total, 4),
        "baseline_accuracy_vs_truth": round(agree_base / total, 4),
        **extra, "protections": prot,
    }))


if __name__ == "__main__":
    sys.exit(main())
