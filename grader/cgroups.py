"""Kernel caps on one worker's memory and process count (Linux control groups).

Each sandboxed worker gets its own group, created below the grader's own group in
whichever hierarchy the machine offers:

- cgroup v2 (``/sys/fs/cgroup`` is a ``cgroup2`` mount): ``memory.max`` (and
  ``memory.swap.max`` = 0), ``pids.max``;
- cgroup v1 (``/sys/fs/cgroup/memory`` and ``/sys/fs/cgroup/pids``): ``memory.limit_in_bytes``
  (and ``memory.memsw.limit_in_bytes`` where swap accounting exists), ``pids.max``; and a
  group in ``/sys/fs/cgroup/cpu`` where it exists, so CPU time is shared equally between
  workers (a submission that starts 200 busy processes gets one worker's share, not 200).
  On v2 the unified group gives the same fairness when the cpu controller is enabled.

Groups left behind by a grader that was SIGKILLed (named after its pid) are removed the next
time a group is created.

The memory cap counts everything the worker's processes charge: heap, the sandbox's tmpfs,
shared memory and anonymous files. Going over it gets the worker killed by the kernel
(SIGKILL), which the runner reports as "used too much memory". The worker is placed into
the group before it runs anything: the command is started through ``/bin/sh`` that writes
its own pid into the group, then ``exec``\\ s bubblewrap (children inherit the group).

Where groups cannot be created (not root, a read-only ``/sys/fs/cgroup``, no controllers),
:func:`create` returns ``None`` and the worker falls back to its resource limits
(``RLIMIT_AS``/``RLIMIT_DATA``); :func:`unavailable_reason` says why.
"""

from __future__ import annotations

import functools
import itertools
import os
import time
from dataclasses import dataclass

from grader import processes

_ROOT = "/sys/fs/cgroup"
_counter = itertools.count()


def _own_path(controller: str | None) -> str:
    """This process's group in ``controller``'s hierarchy (``None``: the v2 unified one)."""
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return "/"
    for line in lines:
        _, controllers, path = line.split(":", 2)
        names = controllers.split(",") if controllers else []
        if (controller is None and controllers == "") or (controller in names):
            return path or "/"
    return "/"


def _is_v2() -> bool:
    return os.path.exists(os.path.join(_ROOT, "cgroup.controllers"))


@dataclass
class Group:
    """One worker's group(s): ``procs_files`` to join, ``dirs`` to remove afterwards."""

    dirs: list[str]
    procs_files: list[str]
    memory_file: str | None
    cpu_file: str | None = None  # v2 cpu.stat (usage_usec) or v1 cpuacct.usage (ns)

    def cpu_seconds(self) -> float | None:
        """Processor seconds used by every process that ever ran in the group, those that
        ended included (``None`` if unknown): a running total that never goes down."""
        if not self.cpu_file:
            return None
        try:
            with open(self.cpu_file, encoding="ascii") as f:
                text = f.read()
        except OSError:
            return None
        if self.cpu_file.endswith("cpu.stat"):
            for line in text.splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
            return None
        try:
            return int(text.strip()) / 1e9
        except ValueError:
            return None

    def memory_usage(self) -> int:
        """Bytes charged to the group now (0 if unknown)."""
        if not self.memory_file:
            return 0
        try:
            with open(self.memory_file, encoding="ascii") as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def kill_all(self) -> None:
        """SIGKILL every process still in the group (a backstop to the pid namespace)."""
        processes.kill_until_gone(self._members)

    def _members(self) -> set[int]:
        pids: set[int] = set()
        for procs in self.procs_files:
            try:
                with open(procs, encoding="ascii") as f:
                    pids.update(int(p) for p in f.read().split())
            except (OSError, ValueError):
                pass
        return pids

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs:
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:  # still busy for a moment after the last process died
                    time.sleep(0.02)


def _remove_stale(base: str) -> None:
    """Remove groups left by grader processes that died without cleaning up (SIGKILL)."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for n in names:
        parts = n.split("-")
        if len(parts) == 4 and n.startswith("jaxdl-grader-") and parts[2].isdigit():
            if not os.path.exists(f"/proc/{parts[2]}"):
                Group([os.path.join(base, n)], [os.path.join(base, n, "cgroup.procs")], None).remove()


def _write(path: str, value: str) -> bool:
    try:
        with open(path, "w", encoding="ascii") as f:
            f.write(value)
        return True
    except OSError:
        return False


def create(*, memory_bytes: int, max_pids: int) -> Group | None:
    """Make a fresh group with these caps, or ``None`` if this machine does not allow it."""
    name = f"jaxdl-grader-{os.getpid()}-{next(_counter)}"
    made: list[str] = []
    try:
        if _is_v2():
            base = os.path.join(_ROOT, _own_path(None).lstrip("/"))
            _remove_stale(base)
            d = os.path.join(base, name)
            os.mkdir(d)
            made.append(d)
            if not (_write(os.path.join(d, "memory.max"), str(memory_bytes))
                    and _write(os.path.join(d, "pids.max"), str(max_pids))):
                raise OSError("memory or pids controller not enabled")
            _write(os.path.join(d, "memory.swap.max"), "0")
            return Group(made, [os.path.join(d, "cgroup.procs")], os.path.join(d, "memory.current"),
                         os.path.join(d, "cpu.stat"))
        mem_base = os.path.join(_ROOT, "memory", _own_path("memory").lstrip("/"))
        pids_base = os.path.join(_ROOT, "pids", _own_path("pids").lstrip("/"))
        for base in (mem_base, pids_base):
            _remove_stale(base)
        mem, pids = os.path.join(mem_base, name), os.path.join(pids_base, name)
        os.mkdir(mem)
        made.append(mem)
        os.mkdir(pids)
        made.append(pids)
        if not (_write(os.path.join(mem, "memory.limit_in_bytes"), str(memory_bytes))
                and _write(os.path.join(pids, "pids.max"), str(max_pids))):
            raise OSError("cannot set the limits")
        memsw = os.path.join(mem, "memory.memsw.limit_in_bytes")
        if os.path.exists(memsw):
            _write(memsw, str(memory_bytes))
        procs = [os.path.join(mem, "cgroup.procs"), os.path.join(pids, "cgroup.procs")]
        # A CPU group of its own (default weight): the scheduler shares CPU time equally
        # between workers, however many processes one of them starts.
        # And one in the cpuacct hierarchy (the same as cpu's where they are mounted together):
        # the processor time of the worker's processes, those that ended included (the
        # parent's time limits; /proc misses a child that nobody waited for).
        cpu_file = None
        for controller in ("cpu", "cpuacct"):
            base = os.path.join(_ROOT, controller, _own_path(controller).lstrip("/"))
            if not os.path.isdir(base):
                continue
            d = os.path.join(base, name)
            if os.path.isdir(d):  # cpu and cpuacct mounted together: made already
                made_here = True
            else:
                _remove_stale(base)
                try:
                    os.mkdir(d)
                    made.append(d)
                    procs.append(os.path.join(d, "cgroup.procs"))
                    made_here = True
                except OSError:
                    made_here = False
            if made_here and cpu_file is None and os.path.exists(os.path.join(d, "cpuacct.usage")):
                cpu_file = os.path.join(d, "cpuacct.usage")
        return Group(made, procs, os.path.join(mem, "memory.usage_in_bytes"), cpu_file)
    except OSError:
        Group(made, [], None).remove()
        return None


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str:
    """Empty if groups with both caps can be made here, else why not."""
    g = create(memory_bytes=2**30, max_pids=64)
    if g is None:
        return ("control groups cannot be created here (not root, or /sys/fs/cgroup read-only); "
                "memory is capped with RLIMIT_AS instead and the process count only by the "
                "pid namespace")
    g.remove()
    return ""


def wrap(argv: list[str], group: Group) -> list[str]:
    """``argv`` started inside ``group``: ``sh -c 'echo $$ > procs...; exec "$@"'``."""
    script = 'for f in "$@"; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 126; shift; done; ' \
             'shift; exec "$@"'
    return ["/bin/sh", "-c", script, "sh", *group.procs_files, "--", *argv]
