"""Sandbox containment: one adversarial property per test (nanochat tests/test_execution.py style).

Every test ends by asserting that nothing outlived the run: no process with a sandbox uid and
no sandbox directory on the host (see the autouse fixture).
"""

from __future__ import annotations

import glob
import os
import resource
import socket
import time

import pytest

from trueloop.sandbox import (
    UID_BASE,
    UID_SPAN,
    Job,
    Sandbox,
    SandboxError,
    SandboxLimits,
    decode_value,
)

SHORT = 0.4


def sandbox_pids() -> list[int]:
    """Host pids of processes running as a sandbox uid."""
    out = []
    for status in glob.glob("/proc/[0-9]*/status"):
        try:
            with open(status) as f:
                uid_line = next(line for line in f if line.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        if UID_BASE <= int(uid_line.split()[1]) < UID_BASE + UID_SPAN:
            out.append(int(status.split("/")[2]))
    return out


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxLimits(timeout_s=1.0, memory_mb=256), workers=2) as box:
        yield box


@pytest.fixture(autouse=True)
def nothing_outlives(request):
    yield
    if "sb" in request.fixturenames:
        deadline = time.time() + 2
        while sandbox_pids() and time.time() < deadline:
            time.sleep(0.02)
        assert sandbox_pids() == []
        assert glob.glob("/tmp/trueloop-sbx-*") == []


def run1(sb: Sandbox, source: str, expr: str = "f()", timeout: float | None = None):
    return sb.run(Job(source=source, calls=(expr,), timeout_s=timeout))


def needs(sb: Sandbox, *keys: str) -> None:
    missing = [k for k in keys if not sb.protections.get(k)]
    if missing:
        pytest.skip(f"protection(s) {missing} unavailable here (not root / no namespaces)")


def test_honest_values_come_back_plain(sb):
    r = run1(sb, "def f():\n    return [1, (2, 'a'), {3: None}, {4}, 2.5, b'x', True]")
    assert r.ended == "done"
    assert r.calls[0].value == [1, (2, "a"), {3: None}, {4}, 2.5, b"x", True]
    assert type(r.calls[0].value[1]) is tuple


def test_infinite_loop_times_out_from_outside(sb):
    r = run1(sb, "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                 "def f():\n    while True: pass", timeout=SHORT)
    assert r.ended == "timeout" and not r.calls[0].ok
    assert r.wall_s < SHORT + 1.5  # margin for a loaded machine


def test_sigterm_ignoring_sleeper_is_killed(sb):
    r = run1(sb, "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                 "def f():\n    time.sleep(100)", timeout=SHORT)
    assert r.ended == "timeout"


def test_fork_bomb_is_contained(sb):
    needs(sb, "pid_namespace")
    r = run1(sb, "import os\ndef f():\n    while True:\n        try: os.fork()\n"
                 "        except OSError: pass", timeout=SHORT)
    assert r.ended in ("timeout", "done") and not r.calls[0].ok
    assert run1(sb, "def f(): return 7").calls[0].value == 7


def test_thread_bomb_hits_the_process_limit(sb):
    needs(sb, "unprivileged_uid")
    src = ("import threading, time\n"
           "def f():\n"
           "    n = 0\n"
           "    try:\n"
           "        for _ in range(500):\n"
           "            threading.Thread(target=time.sleep, args=(5,), daemon=True).start()\n"
           "            n += 1\n"
           "    except RuntimeError:\n"
           "        return n\n")
    r = run1(sb, src, timeout=SHORT)
    assert r.calls[0].ok and r.calls[0].value < SandboxLimits().processes


def test_memory_bomb_fails_with_memory_error(sb):
    r = run1(sb, "def f():\n    x = []\n    while True: x.append(bytearray(10**8))", timeout=5)
    assert r.calls[0].error == "MemoryError"
    assert run1(sb, "def f(): return 1").calls[0].ok


def test_huge_file_is_capped_and_not_left_on_host(sb):
    r = run1(sb, "def f():\n    with open('big', 'wb') as fh:\n        while True: "
                 "fh.write(b'0' * 10**6)")
    assert not r.calls[0].ok
    assert r.ended in ("file_limit", "done")


def test_stdout_flood_is_capped(sb):
    r = run1(sb, "def f():\n    while True: print('x' * 10000)")
    assert r.ended == "output_limit" and not r.calls[0].ok
    assert len(r.output) <= SandboxLimits().output_bytes


def test_setsid_daemon_dies_with_the_run(sb):
    needs(sb, "pid_namespace")
    r = run1(sb, "import os, time\ndef f():\n    if os.fork() == 0:\n        os.setsid()\n"
                 "        if os.fork() == 0:\n            time.sleep(60)\n        os._exit(0)\n"
                 "    return 1")
    assert r.calls[0].value == 1
    # nothing_outlives asserts that the grandchild is gone


def test_no_network_to_the_host(sb):
    needs(sb, "net_namespace")
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.05)
    port = srv.getsockname()[1]
    r = run1(sb, f"import socket\ndef f():\n    s = socket.socket()\n    s.settimeout(0.2)\n"
                 f"    try:\n        s.connect(('127.0.0.1', {port}))\n        return 'open'\n"
                 f"    except OSError as e:\n        return type(e).__name__")
    with pytest.raises(TimeoutError):
        srv.accept()
    srv.close()
    assert r.calls[0].ok and r.calls[0].value != "open"
    assert "sandbox:network" in r.flags


def test_environment_is_scrubbed(sb, monkeypatch):
    monkeypatch.setenv("TRUELOOP_SECRET", "hunter2")
    r = run1(sb, "import os\ndef f(): return sorted(os.environ)")
    assert set(r.calls[0].value) <= {"PATH", "LANG", "PYTHONHASHSEED", "HOME", "TMPDIR"}


def test_host_files_and_proc_are_not_visible(sb):
    needs(sb, "chroot")
    r = run1(sb, "import os\ndef f(): return [os.path.exists(p) for p in "
                 f"('/proc/1/environ', '/etc/passwd', {os.getcwd()!r}, '/root/.bashrc')]")
    assert r.calls[0].value == [False, False, False, False]


def test_runs_as_unprivileged_uid(sb):
    needs(sb, "unprivileged_uid")
    r = run1(sb, "import os\ndef f(): return os.getuid()")
    assert r.calls[0].value >= UID_BASE


def test_killing_parent_and_group_leaves_worker_alive(sb):
    r = run1(sb, "import os, signal\ndef f():\n    for p in (os.getppid(), 1, -1):\n"
                 "        try: os.kill(p, signal.SIGKILL)\n        except OSError: pass\n"
                 "    return 2")
    assert r.calls[0].value == 2  # the template (its parent, pid 1) runs as another uid
    own = run1(sb, "import os, signal\ndef f(): os.killpg(0, signal.SIGKILL)")
    assert own.ended == "signal" and "hack:exit" in own.flags  # only its own group died
    assert run1(sb, "def f(): return 3").calls[0].value == 3


def test_interpreter_crash_only_ends_the_child(sb):
    # a real fault (a PROT_NONE page); signals a PID-1 child sends itself are ignored anyway
    r = run1(sb, "import mmap\ndef f(): return mmap.mmap(-1, 4096, prot=0)[0]")
    assert r.ended == "crash" and not r.calls[0].ok
    assert run1(sb, "def f(): return 4").calls[0].value == 4


def test_os_exit_before_tests_finish_is_flagged(sb):
    r = sb.run(Job("import os\ndef f(): os._exit(0)", calls=("f()", "1")))
    assert r.ended == "exited" and "hack:exit" in r.flags
    assert not r.calls[1].ok


def test_workdir_is_fresh_per_run(sb):
    run1(sb, "def f():\n    open('note', 'w').write('x')\n    return 1")
    r = run1(sb, "import os\ndef f(): return os.listdir('.')")
    assert r.calls[0].value == []


def test_custom_object_never_crosses_the_channel(sb):
    r = run1(sb, "class L(list):\n    def __eq__(s, o): return True\ndef f(): return L([1])")
    assert not r.calls[0].ok and r.calls[0].error == "nonplain:L"
    assert "hack:eq_override" in r.flags


def test_stdlib_dict_subclass_comes_back_as_the_dict_it_equals(sb):
    r = run1(sb, "import collections\ndef f(): return collections.Counter('aab')")
    assert r.calls[0].value == {"a": 2, "b": 1} and type(r.calls[0].value) is dict
    assert "hack:eq_override" not in r.flags


def test_forged_result_lines_are_flagged(sb):
    r = sb.run(Job("import os\nos.write(3, b'{\"n\": 1, \"v\": 42}\\n{\"v\": 42}\\n')\n"
                   "def f(): return 1", calls=("f()",)))
    assert r.calls[0].value == 1 and "hack:patched" in r.flags


@pytest.mark.parametrize("wire", [{"x": 1}, {"t": 5}, {"d": [[[1], 2]]}, {"t": [1], "s": []}])
def test_decode_rejects_non_plain_wire_values(wire):
    with pytest.raises((ValueError, TypeError)):
        decode_value(wire)


@pytest.mark.slow
def test_verifier_memory_is_flat_over_1000_runs(sb):
    from trueloop.config import VerifyConfig
    from trueloop.verify.code import verify_batch

    truth = {"entry_point": "f", "visible_tests": ["assert f(3) == [3] * 50"],
             "hidden_tests": ["assert f(4) == [4] * 50", "assert f(0) == [0] * 50"]}
    items = [(truth, "def f(x):\n    return [x] * 50\n"), (truth, "def f(x): return x")] * 50
    verify_batch(items, VerifyConfig(), sandbox=sb)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(10):
        verdicts = verify_batch(items, VerifyConfig(), sandbox=sb)
        assert [v.correct for v in verdicts] == [True, False] * 50
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 20_000


def test_degraded_mode_still_judges_and_says_so():
    with Sandbox(SandboxLimits(timeout_s=1.0), workers=1, isolate=False) as box:
        assert not any(box.protections[k] for k in ("pid_namespace", "net_namespace", "chroot"))
        r = box.run(Job("def f(x): return x * 3", calls=("f(2)", "f('a')")))
        slow = box.run(Job("def f():\n    while True: pass", calls=("f()",), timeout_s=SHORT))
    assert [c.value for c in r.calls] == [6, "aaa"] and r.protections == box.protections
    assert slow.ended == "timeout"
    assert glob.glob("/tmp/trueloop-sbx-*") == []


def test_line_cut_by_a_timeout_is_not_called_tampering(sb):
    src = "import sys\ndef f():\n    return list(range(10**6))\ndef g():\n    while True: pass"
    r = sb.run(Job(src, calls=("f()", "g()"), timeout_s=SHORT))
    assert r.ended in ("timeout", "result_limit") and "hack:patched" not in r.flags


def test_many_files_fill_only_the_private_tmpfs(sb):
    needs(sb, "chroot")
    src = ("def f():\n"
           "    n = 0\n"
           "    try:\n"
           "        for i in range(40):\n"
           "            with open(f'f{i}', 'wb') as fh:\n"
           "                fh.write(b'0' * 8 * 2**20)\n"
           "            n += 1\n"
           "    except OSError as e:\n"
           "        return [n, e.errno]\n"
           "    return [n, 0]\n")
    n, errno = run1(sb, src).calls[0].value
    assert n * 8 <= SandboxLimits().tmpfs_mb and errno == 28  # ENOSPC inside the sandbox
    assert run1(sb, "import os\ndef f(): return os.listdir('.')").calls[0].value == []


def test_a_dead_worker_is_an_error_and_gets_replaced():
    with Sandbox(SandboxLimits(timeout_s=1.0), workers=1) as box:
        box._all[0].proc.kill()
        box._all[0].proc.wait()
        with pytest.raises(SandboxError):
            box.run(Job("def f(): return 1", calls=("f()",)))
        assert box.run(Job("def f(): return 1", calls=("f()",))).calls[0].value == 1
