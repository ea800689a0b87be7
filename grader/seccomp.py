"""The worker's seccomp filter: system calls a grading worker never needs fail with ``EPERM``.

Built with libseccomp (through ``pyseccomp``, its ctypes binding) for the native
architecture and handed to bubblewrap (``--seccomp FD``), which installs it just before the
worker starts, after ``no_new_privs``. Everything else is allowed: the filter is a
second wall behind the namespaces of :mod:`grader.bubblewrap`, aimed at the kernel surface
an attacker would use to get out or to reach the host:

- mounting and namespaces: ``mount``, ``umount2``, ``pivot_root``, ``chroot``, ``unshare``,
  ``setns``, ``open_tree``, ``move_mount``, ``fsopen``, ``fsmount``, ``fsconfig``,
  ``fspick``, ``mount_setattr``;
- other processes and the kernel: ``ptrace``, ``process_vm_readv``/``writev``, ``kcmp``,
  ``pidfd_getfd``, ``bpf``, ``perf_event_open``, ``userfaultfd``, ``keyctl``, ``add_key``,
  ``request_key``, ``kexec_*``, ``*init_module``, ``delete_module``, ``reboot``, ``swapon``,
  ``swapoff``, ``syslog``, ``acct``, ``quotactl``, ``lookup_dcookie``,
  ``open_by_handle_at``, ``name_to_handle_at``, ``fanotify_init``;
- io_uring (its operations bypass seccomp): ``io_uring_setup``/``enter``/``register``;
- device nodes and fifos: ``mknod``, ``mknodat``;
- priorities and scheduling of anything: ``setpriority``, ``sched_setscheduler``,
  ``sched_setparam``, ``sched_setattr``, ``ioprio_set``;
- anonymous memory files, whose pages are easy to hide from memory accounting:
  ``memfd_create``, ``memfd_secret``.

:func:`filter_fd` returns a readable file descriptor holding the BPF program (a memory-backed
temporary file), or ``None`` with :func:`unavailable_reason` saying why (no libseccomp).
"""

from __future__ import annotations

import errno
import functools
import os
import tempfile

DENIED = (
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "open_tree", "move_mount",
    "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "bpf",
    "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
    "swapoff", "syslog", "acct", "quotactl", "lookup_dcookie", "open_by_handle_at",
    "name_to_handle_at", "fanotify_init",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "mknod", "mknodat",
    "setpriority", "sched_setscheduler", "sched_setparam", "sched_setattr", "ioprio_set",
    "memfd_create", "memfd_secret",
)


@functools.lru_cache(maxsize=1)
def _program() -> tuple[bytes | None, str]:
    try:
        import pyseccomp as sc
    except Exception as exc:  # noqa: BLE001 - ImportError, or libseccomp.so missing (OSError)
        return None, f"libseccomp is not available ({type(exc).__name__}: {exc})"
    try:
        f = sc.SyscallFilter(defaction=sc.ALLOW)
        for name in DENIED:
            try:
                f.add_rule(sc.ERRNO(errno.EPERM), name)
            except Exception:  # noqa: BLE001 - a call this kernel/arch does not have
                continue
        with tempfile.TemporaryFile() as tmp:
            f.export_bpf(tmp)
            tmp.seek(0)
            return tmp.read(), ""
    except Exception as exc:  # noqa: BLE001
        return None, f"the seccomp filter could not be built ({type(exc).__name__}: {exc})"


def unavailable_reason() -> str:
    """Empty if the filter can be built here, else why not."""
    return _program()[1]


def filter_fd() -> int | None:
    """A fresh file descriptor positioned at the start of the BPF program, or ``None``.

    The caller passes it to bubblewrap (``--seccomp FD``, inherited) and closes it after the
    sandbox has started.
    """
    program, _ = _program()
    if program is None:
        return None
    tmp = tempfile.TemporaryFile()
    try:
        tmp.write(program)
        tmp.flush()
        fd = os.dup(tmp.fileno())
    finally:
        tmp.close()
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
