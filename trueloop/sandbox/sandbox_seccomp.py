"""A seccomp-BPF deny list for sandbox children (x86_64; elsewhere it reports itself absent).

Standard library only. The worker installs it (ctypes, in the worker's own process) right
before it execs the template interpreter, so the template and every child it forks run under
it; no_new_privs keeps it there. Denied with EPERM:
reading or writing other address spaces (ptrace, process_vm_readv/writev, pidfd_getfd), the
kernel keyring (add_key, request_key, keyctl), System V IPC and POSIX message queues, new
namespaces and mounts (unshare, setns, mount, pivot_root, chroot; clone with any CLONE_NEW*
flag; clone3, whose flags BPF cannot read, returns ENOSYS so libc falls back to clone), and
kernel surfaces honest test code never needs (bpf, perf_event_open, userfaultfd, io_uring,
module loading, kexec, open_by_handle_at). Other ABIs (i386, x32) are denied outright.
"""

import ctypes
import struct

PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
AUDIT_ARCH_X86_64 = 0xC000003E
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
EPERM, ENOSYS = 1, 38
CLONE, CLONE3 = 56, 435
CLONE_NEW_FLAGS = 0x7E020000
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
DENY_X86_64 = (101, 310, 311, 438, 248, 249, 250, 29, 30, 31, 64, 65, 66, 68, 69, 70, 71,
               240, 241, 242, 243, 244, 245, 272, 308, 165, 166, 155, 161, 321, 298, 323,
               425, 426, 427, 175, 313, 176, 246, 320, 304, 303, 135)
# ptrace process_vm_readv process_vm_writev pidfd_getfd add_key request_key keyctl shmget
# shmat shmctl semget semop semctl msgget msgsnd msgrcv msgctl mq_open..mq_getsetattr unshare
# setns mount umount2 pivot_root chroot bpf perf_event_open userfaultfd io_uring_setup/enter/
# register init_module finit_module delete_module kexec_load kexec_file_load
# open_by_handle_at name_to_handle_at personality
LD_W_ABS, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06


def _ins(code, k, jt=0, jf=0):
    return struct.pack("HBBI", code, jt, jf, k)


def program():
    """The filter as a list of BPF instructions (bytes)."""
    deny = [_ins(RET, RET_ERRNO | EPERM)]
    tail = [_ins(RET, RET_ALLOW), _ins(RET, RET_ERRNO | ENOSYS),
            _ins(LD_W_ABS, 16), _ins(JSET, CLONE_NEW_FLAGS, 1, 0), _ins(RET, RET_ALLOW)]
    body = []
    n = len(DENY_X86_64)
    # layout: [arch checks][nr loads][deny jumps x n][clone3][clone][tail...][deny]
    for i, nr in enumerate(DENY_X86_64):
        body.append(_ins(JEQ, nr, (n - i - 1) + 2 + len(tail), 0))
    body.append(_ins(JEQ, CLONE3, 2, 0))  # -> ENOSYS
    body.append(_ins(JEQ, CLONE, 2, 0))  # -> clone flag check
    head = [_ins(LD_W_ABS, 4), _ins(JEQ, AUDIT_ARCH_X86_64, 1, 0), _ins(RET, RET_ERRNO | EPERM),
            _ins(LD_W_ABS, 0), _ins(JGE, 0x40000000, len(body) + len(tail), 0)]
    return head + body + tail + deny


def install(libc):
    """Install the filter on the calling thread (needs no_new_privs); False where unsupported."""
    import platform

    if platform.machine() != "x86_64":
        return False
    prog = b"".join(program())

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    fprog = SockFprog(len(prog) // 8, prog)
    return libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0
