"""Processes as Linux's ``/proc`` shows them: who descends from whom, who is in a session,
how much memory they hold, and killing a set of them until none is left.

Used by :mod:`grader.runner` (a worker's processes) and :mod:`grader.cgroups` (a control
group's). Every function reads ``/proc`` afresh and never raises for a process that vanished
meanwhile.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Callable, Iterable

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields() -> Iterable[tuple[int, list[bytes]]]:
    """``(pid, fields after the command name)`` of every process in ``/proc/*/stat``."""
    try:
        entries = os.listdir("/proc")
    except OSError:  # pragma: no cover - no procfs
        return
    for entry in entries:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    data = f.read()
                yield int(entry), data[data.rindex(b")") + 2:].split()
            except (OSError, ValueError):
                continue


def descendants(pid: int) -> list[int]:
    """Pids of every live process descended from ``pid`` (not ``pid`` itself)."""
    children: dict[int, list[int]] = {}
    for p, fields in _stat_fields():
        if len(fields) > 1:  # fields[1] is the parent's pid
            children.setdefault(int(fields[1]), []).append(p)
    out, todo = [], list(children.get(pid, ()))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def session_members(sid: int) -> list[int]:
    """Pids of live (not zombie) processes whose session id is ``sid``."""
    # fields[0] is the state; the process group and the session follow the parent's pid.
    return [p for p, fields in _stat_fields()
            if len(fields) > 3 and fields[0] != b"Z" and int(fields[3]) == sid]


def rss(pid: int) -> int:
    """Resident bytes of one process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and every process descended from it."""
    return sum(rss(p) for p in [pid, *descendants(pid)])


def tree_cpu_seconds(pid: int) -> float:
    """Processor seconds (user + system) used so far by ``pid`` and every live process
    descended from it, each with its waited-for children (``/proc/<pid>/stat`` fields 14-17,
    in clock ticks: 10 ms resolution). A child that ended without being waited for is not
    counted (the kernel keeps its time nowhere its parent's tree shows)."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for p, fields in _stat_fields():
        if len(fields) > 14:  # fields[1]: the parent; fields[11:15]: utime, stime, cutime, cstime
            children.setdefault(int(fields[1]), []).append(p)
            ticks[p] = sum(int(f) for f in fields[11:15])
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += ticks.get(p, 0)
        todo.extend(children.get(p, ()))
    return total / _TICK


def kill_until_gone(members: Callable[[], Iterable[int]], *, rounds: int = 5,
                    pause: float = 0.02) -> None:
    """SIGKILL every pid ``members()`` lists, again until it lists none (a process may start
    another while the first round is sent), at most ``rounds`` times."""
    for _ in range(rounds):
        pids = list(members())
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(pause)
