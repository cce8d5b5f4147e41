"""Sandbox hardening (issue 10): one adversarial property per test.

Mechanisms: data crossing between jobs (1), the result channel forged (3), crash inputs (4),
work outside every limit (5), what the chroot exposes (6).
"""

from __future__ import annotations

import glob
import json
import os
import threading
import time

import pytest

from trueloop.sandbox import UID_BASE, UID_SPAN, Job, Sandbox, SandboxLimits
from trueloop.sandbox import sandbox_wire as wire


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxLimits(timeout_s=2.0, memory_mb=256), workers=1) as box:
        yield box


def needs_root_isolation(sb: Sandbox) -> None:
    if not (sb.protections.get("pid_namespace") and sb.protections.get("chroot")):
        pytest.skip("needs root and namespaces")


def _sandbox_pid() -> int | None:
    for status in glob.glob("/proc/[0-9]*/status"):
        try:
            with open(status) as f:
                uid = int(next(line for line in f if line.startswith("Uid:")).split()[1])
        except (OSError, StopIteration, ValueError):
            continue
        if UID_BASE <= uid < UID_BASE + UID_SPAN:
            return int(status.split("/")[2])
    return None


def _memory_holds(pid: int, needles: list[bytes]) -> list[bool]:
    """Scan every writable mapping of `pid` (read from outside, as root) for each needle."""
    found = [False] * len(needles)
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            if not perms.startswith("rw"):
                continue
            lo, hi = (int(x, 16) for x in addr.split("-"))
            try:
                mem.seek(lo)
                chunk = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            found = [f or n in chunk for f, n in zip(found, needles, strict=True)]
    return found


def test_a_thief_finds_nothing_of_the_job_before_it_on_the_same_worker(sb):
    needs_root_isolation(sb)
    secret = f"QZX{7 ** 40}XZQ"  # computed at run time: only the donor's result holds it
    donor = sb.run(Job('def f(): return "QZX" + str(7 ** 40) + "XZQ"', calls=("f()",)))
    assert donor.calls[0].value == secret
    thief = "import time\nMINE = 'THF' + str(11 ** 30)\ndef f():\n    time.sleep(0.5)\n    return 1"
    result = {}
    t = threading.Thread(target=lambda: result.update(r=sb.run(Job(thief, calls=("f()",)))))
    t.start()
    deadline = time.time() + 2
    while (pid := _sandbox_pid()) is None and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # the thief has loaded its program and sits in f()
    own, donors = _memory_holds(pid, [f"THF{11 ** 30}".encode(), secret.encode()])
    t.join()
    assert own  # the scan sees the thief's own data ...
    assert not donors  # ... and nothing of the donor's result
    assert result["r"].calls[0].value == 1


def test_forged_replies_then_a_hard_exit_is_an_early_end_not_a_pass(sb):
    src = ("import os, sys\n"
           "def f():\n"
           "    fr = sys._getframe()\n"
           "    while 'cmd' not in fr.f_locals:\n"
           "        fr = fr.f_back\n"
           "    n = fr.f_locals['cmd']['n']\n"
           "    os.write(3, ('{\"n\": %d, \"v\": 42}\\n' % n).encode())\n"
           "    os.write(3, b'{\"n\": 1, \"ok\": true}\\n{\"k\": \"done\"}\\n')\n"
           "    os._exit(0)\n")
    r = sb.run(Job(src, calls=("f()", "f()", "1 + 1")))
    assert r.ended == "exited" and "hack:exit" in r.flags
    assert [c.ok for c in r.calls] == [True, False, False]  # only its own answer got through


def test_invented_flags_are_dropped_and_counted(sb):
    src = ("import os\n"
           "def f():\n"
           "    line = b'{\"f\": \"hack:x%d\\\\udc80\", \"why\": \"\\\\ud800\"}\\n'\n"
           "    os.write(3, b''.join(line % i for i in range(20000)))\n"
           "    return 1\n")
    r = sb.run(Job(src, calls=("f()",)))
    assert r.calls[0].value == 1 and r.unknown_flags == 20000
    assert r.flags <= wire.FLAGS and len(r.why) <= 20
    json.dumps(list(r.why), ensure_ascii=False).encode("utf-8")  # no lone surrogate left


@pytest.mark.parametrize("wire_value", [
    {"s": [k * (2 ** 61 - 1) + 5 for k in range(1, 100)]},  # 99 distinct ints, one hash
    {"d": [[k * (2 ** 61 - 1) + 5, 0] for k in range(1, 100)]},
    {"c": [10 ** 401, 0]},
    {"b": "zz"},
    {"x": 1},
])
def test_hostile_wire_values_are_refused_not_raised(wire_value):
    with pytest.raises(wire.WireError):
        wire.decode(wire_value)


def test_a_few_equal_hashes_still_decode():
    assert wire.decode({"s": [-1, -2, 3]}) == {-1, -2, 3}  # hash(-1) == hash(-2)


def test_the_chroot_shows_the_standard_library_only(sb):
    needs_root_isolation(sb)
    src = ("import os, sys, importlib\n"
           "def f():\n"
           "    lib = os.path.dirname(os.__file__)\n"
           "    imp = {}\n"
           "    for name in ('trueloop', 'pytest', '_pytest', 'pip', 'numpy', 'ctypes'):\n"
           "        try:\n"
           "            imp[name] = hasattr(importlib.import_module(name), '__file__') and\\\n"
           "                getattr(importlib.import_module(name), '__file__') is not None\n"
           "        except ImportError:\n"
           "            imp[name] = False\n"
           "    pre = {d: os.listdir(sys.prefix + '/' + d) for d in os.listdir(sys.prefix)}\n"
           "    return [sorted(os.listdir('/')), pre, os.listdir(lib + "
           "'/site-packages'), sorted(p for p in os.listdir('/usr/lib') if "
           "p.startswith('python') and os.listdir('/usr/lib/' + p)), imp, "
           "os.path.exists(lib + '/json/__init__.py')]\n")
    top, prefix, site, system_py, imported, has_json = sb.run(
        Job(src, calls=("f()",))).calls[0].value
    assert set(top) <= {"bin", "lib", "lib32", "lib64", "usr", "dev", "sbx", "root"}
    assert set(prefix) <= {"bin", "lib"} and len(prefix.get("bin", [])) <= 1  # the interpreter
    assert all(n.startswith(("python3", "libpython")) for n in prefix["lib"])
    assert site == [] and system_py == []
    assert not any(imported.values()) and has_json


def test_work_ends_on_the_job_budget_not_on_the_per_test_limit(sb):
    src = "import time\ndef f():\n    time.sleep(0.2)\n    return 1"
    r = sb.run(Job(src, calls=("f()",) * 5, timeout_s=1.0, budget_s=0.5))
    assert r.ended == "timeout" and r.calls[0].ok and not r.calls[4].ok


def test_fail_fast_stops_at_the_first_failing_value(sb):
    src = "import time\ndef f(x):\n    if x > 1:\n        time.sleep(5)\n    return 0"
    r = sb.run(Job(src, calls=("f(0)", "f(1)", "f(2)"), fail_fast=True,
                   expect=(("eq", 0.0, 0), ("eq", 0.0, 1), ("eq", 0.0, 2))))
    assert r.ended == "done" and r.stopped_early
    assert [c.ok for c in r.calls] == [True, True, False]  # f(2) never ran


def test_a_deep_directory_chain_is_removed_without_recursion(tmp_path):
    from pathlib import Path

    from trueloop.sandbox.sandbox_worker import wipe

    base = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else tmp_path  # fast rmdir
    top = base / f"trueloop-wipe-{os.getpid()}"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    for _ in range(1500):  # deeper than os.walk/rmtree recursion and than PATH_MAX allows
        os.mkdir("a", dir_fd=fd)
        nxt = os.open("a", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    open(os.open("f", os.O_CREAT | os.O_WRONLY, dir_fd=fd), "w").close()
    os.close(fd)
    wipe(str(top))
    assert not top.exists()


def test_a_huge_honest_int_comes_back_whole(sb):
    r = sb.run(Job("import math\ndef f(): return math.factorial(2000)", calls=("f()",)))
    assert r.ended == "done" and r.flags == frozenset()
    assert r.calls[0].value == __import__("math").factorial(2000)


def test_a_non_string_flag_name_is_just_an_unknown_flag(sb):
    r = sb.run(Job("import os\nos.write(3, b'{\"f\": [1], \"why\": 2}\\n')\ndef f(): return 1",
                   calls=("f()",)))
    assert r.calls[0].value == 1 and r.unknown_flags == 1


def test_each_job_runs_under_its_own_uid(sb):
    needs_root_isolation(sb)
    uids = [sb.run(Job("import os\ndef f(): return os.getuid()", calls=("f()",))).calls[0].value
            for _ in range(3)]
    assert len(set(uids)) == 3 and all(UID_BASE <= u < UID_BASE + UID_SPAN for u in uids)


def test_no_ctypes_code_is_reachable_in_the_submissions_process(sb):
    needs_root_isolation(sb)
    src = ("import sys\ndef f():\n    seen, stack, hits = set(), [object], []\n"
           "    while stack:\n        for s in type.__subclasses__(stack.pop()):\n"
           "            if id(s) not in seen:\n                seen.add(id(s))\n"
           "                stack.append(s)\n"
           "                hits += ['ctypes' in (getattr(s, '__module__', '') or '')]\n"
           "    return [sum(hits), len(hits), [m for m in sys.modules if 'ctypes' in m]]\n")
    ctypes_classes, classes, modules = sb.run(Job(src, calls=("f()",))).calls[0].value
    assert classes > 100 and ctypes_classes == 0 and modules == []
