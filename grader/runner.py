"""Parent side of the worker: start it, talk to it with deadlines, kill it and everything it started.

- The worker is ``sys.executable -s -B -P -c <bootstrap>`` in a **new session** (so its pid is
  its process group and session id), cwd = a fresh ``work/`` directory inside a private
  temporary directory, stdin ``/dev/null``, stdout+stderr appended to ``output.log`` next to
  ``work/`` (outside the student's write roots), and a scrubbed environment: ``PATH``,
  ``LANG``, ``HOME``/``TMPDIR`` pointing into ``work/``, ``JAX_PLATFORMS=cpu``,
  ``PYTHONHASHSEED=0`` (reproducible set/dict-of-str iteration), unbuffered output, the
  parent's ``XLA_FLAGS`` (:mod:`grader.compile_flags`: compiled as the parent compiles; a
  worker whose compile options still differ from the parent's is refused at start). No
  credentials or other variables of the caller's environment reach student code.
- Every request has a time limit in processor time (the worker's control group's running
  total, else its process tree's, read every 0.25 s) and a wall-clock backstop of
  ``WAIT_SLACK`` times it (see :meth:`Worker.request`). The parent waits with ``select`` on the reply pipe, polling
  the worker's resident memory (``/proc``) every 0.1 s as a second fence behind
  ``RLIMIT_DATA``/``RLIMIT_AS``; replies go through :class:`grader.protocol.FrameReader`, so
  any garbage becomes a :class:`Failure` ("invalid output"), never an exception here.
- :meth:`Worker.kill` sends SIGKILL to the process group, then to any process left in the
  worker's session (a process that changed its group), and reaps the worker. The worker is
  never reused after a failure: the next request starts a fresh one.
- Output: after each request the parent reads what the worker printed (first ``output_bytes``
  kept, the total counted) and truncates the log. While waiting it also watches the log's
  size and stops a worker whose output passes ``output_hard_bytes`` ("printed more than ...").
  ``RLIMIT_FSIZE`` (that cap + 256 MiB) bounds every file the worker writes, as a backstop.

Compilation cache for workers: workers never share the parent's cache (student code runs in
the worker and could write anything into a cache it can write to). A worker gets the folder
:func:`grader.worker_cache.folder` names for its submission (one student's, one source's, or
the project's trusted runs; never shared between students), sees it read-only and compiles
into a copy in its scratch space; :meth:`Worker.save_cache` then writes back the entries it
added, the parent doing the writing (see :mod:`grader.worker_cache`). A poisoned entry can
only ever be read back by the same student's later workers.
"""

from __future__ import annotations

import functools
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader import bubblewrap, cgroups, compile_flags, processes, protocol, seccomp, worker_cache
from grader.processes import session_members  # noqa: F401 - part of this module's API

_ROOT = str(Path(__file__).resolve().parent.parent)
_BOOTSTRAP = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from grader.worker import main; main()"
)
# -s: no user site-packages; -B: no .pyc writes; -P (3.11+): no cwd on sys.path.
_FLAGS = ("-s", "-B", "-P") if sys.version_info >= (3, 11) else ("-s", "-B")
# Processes and threads one sandboxed worker may have (XLA's CPU client starts a few dozen
# threads; each counts). The kernel refuses more (fork/clone fail with EAGAIN).
MAX_PIDS = 256
SANDBOX_ENV = "GRADER_SANDBOX"


class SandboxUnavailable(RuntimeError):
    """The OS sandbox was required (``GRADER_SANDBOX=require``) but cannot run here."""


def isolation_mode(setting: str | None = None) -> str:
    """``"sandbox"`` (bubblewrap) or ``"fence"`` (the in-process audit hook only).

    ``setting`` (default: the ``GRADER_SANDBOX`` environment variable, else ``"auto"``):
    ``auto`` uses the sandbox wherever :func:`grader.bubblewrap.probe` says it works;
    ``require`` raises :class:`SandboxUnavailable` where it does not; ``off`` never uses it
    (only for trusted code, e.g. debugging the grader).

    Raises:
      SandboxUnavailable: ``require`` on a machine without a working bubblewrap.
      ValueError: any other setting.
    """
    value = (setting if setting is not None else os.environ.get(SANDBOX_ENV, "auto")).strip().lower()
    if value in ("off", "0", "no", "false"):
        return "fence"
    if value not in ("auto", "require", "on", "1", "yes", "true"):
        raise ValueError(f"{SANDBOX_ENV} must be auto, require or off, got {value!r}")
    probe = bubblewrap.probe()
    if probe.ok:
        return "sandbox"
    if value == "auto":
        return "fence"
    raise SandboxUnavailable(f"the grading sandbox is required but cannot run here: {probe.reason}")


# Without the sandbox, a grader running as root starts its workers as this unprivileged user:
# they can then neither signal the grader, nor write its files, results or environment, nor
# read what is only root's (Gradescope's containers run as root and may lack user namespaces).
UNPRIVILEGED_UID = 65534


def drops_privileges(isolation: str) -> bool:
    """Whether workers of this ``isolation`` run as :data:`UNPRIVILEGED_UID`: fence mode, as
    root, where that user can run this Python and import the worker (an interpreter under
    ``/root``, as pyenv installs it, cannot: then workers run as root, as before)."""
    return (isolation == "fence" and hasattr(os, "geteuid") and os.geteuid() == 0
            and _unprivileged_python_works())


@functools.lru_cache(maxsize=1)
def _unprivileged_python_works() -> bool:
    try:
        proc = subprocess.run(
            [sys.executable, *_FLAGS, "-c", f"import sys; sys.path.insert(0, {_ROOT!r}); import grader.worker"],
            user=UNPRIVILEGED_UID, group=UNPRIVILEGED_UID, extra_groups=[], cwd="/",
            stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"})
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


@dataclass
class Failure:
    """The worker did not answer properly; ``message`` is written for the student."""

    kind: str  # "timeout" | "crash" | "exit" | "memory" | "flood" | "protocol" | "start"
    message: str


WAIT_SLACK = protocol.WAIT_SLACK  # a request may take this many times its limit in wall-clock time
CPU_POLL_SECONDS = 0.25  # how often the parent reads the worker's processor time while it waits


@dataclass(frozen=True)
class _Limits:
    """One request's limits: ``cpu`` processor seconds (reached at ``cpu_deadline`` of the
    worker's total), ``wall`` wall-clock seconds, the latter the submission's remaining
    budget when ``budget``."""

    cpu: float
    cpu_deadline: float
    wall: float
    budget: bool


@dataclass
class Reply:
    header: dict
    blobs: list[bytes]
    output: str = ""
    output_total: int = 0
    seconds: float = 0.0
    failure: Failure | None = None
    extra: dict = field(default_factory=dict)


def human_bytes(n: int) -> str:
    """``2147483648`` -> ``"2 GiB"``; ``1536`` -> ``"1.5 KiB"``."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{round(n / size, 1):g} {unit}"
    return f"{n} bytes"


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


class Worker:
    """One worker process (started lazily, restarted after any failure).

    A sandboxed worker lives only as long as the *thread* that started it: bubblewrap's
    ``--die-with-parent`` is the kernel's parent-death signal, which follows the starting
    thread. Start it from a thread that outlives it (the engine's start-up thread stays
    alive until grading ends).
    """

    def __init__(self, *, forbidden=(), preload=(), trusted=None, memory_bytes: int, output_bytes: int,
                 output_hard_bytes: int, deny_read=(), cache_dir: str | None = None,
                 start_timeout: float = 120.0, forbidden_names=(), isolation: str | None = None,
                 cpu_seconds: int = 1800):
        self.cfg = {
            "forbidden": list(forbidden),
            "forbidden_names": list(forbidden_names),
            "preload": list(preload),
            # Case.replace helpers: module name -> the source the worker executes (only the
            # helpers the part binds; see grader.helper_source).
            "trusted": {str(k): str(v) for k, v in (trusted or {}).items()},
            "memory_bytes": int(memory_bytes),
            "output_hard_bytes": int(output_hard_bytes),
            "deny_read": [str(p) for p in deny_read],
            "cache_dir": cache_dir,
            # RLIMIT_CPU: a backstop behind the wall-clock limits (a worker serves one submission).
            "cpu_seconds": int(cpu_seconds),
        }
        self.output_bytes = int(output_bytes)
        self.start_timeout = start_timeout
        self.isolation = isolation or isolation_mode()
        if self.isolation not in ("sandbox", "fence"):
            raise ValueError(f"isolation must be 'sandbox' or 'fence', got {self.isolation!r}")
        self.group: cgroups.Group | None = None
        self.proc: subprocess.Popen | None = None
        self.tmp: str | None = None
        self.starts = 0
        self.counter = 0

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Failure | None:
        self.kill()
        self.tmp = tempfile.mkdtemp(prefix="jaxdl-grader-")
        log_path = os.path.join(self.tmp, "output.log")
        log_w = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.log_r = os.open(log_path, os.O_RDWR)
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        isolated = self.isolation == "sandbox"
        seed = self.cfg["cache_dir"] if self.cfg["cache_dir"] and os.path.isdir(self.cfg["cache_dir"]) else None
        if isolated:
            try:
                fs = bubblewrap.view(forbidden=self.cfg["forbidden"],
                                     cache_seed=seed)
            except (OSError, RuntimeError, ValueError) as exc:
                for fd in (req_r, resp_w, log_w, self.req_w, self.resp_r, self.log_r):
                    os.close(fd)
                del self.req_w, self.resp_r, self.log_r
                return Failure("start", f"the grader could not build its worker's sandbox: {exc}")
            work = fs.scratch
            cwd = self.tmp
        else:
            work = os.path.join(self.tmp, "work")
            os.mkdir(work, 0o700)
            cwd = work
        unprivileged = drops_privileges(self.isolation)
        if unprivileged:
            # The worker may enter the temporary folder and own its work folder, nothing more.
            os.chmod(self.tmp, 0o711)
            os.chown(work, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
            seed = None  # the parent's cache folders stay root's alone
        cfg = dict(self.cfg, req_fd=req_r, resp_fd=resp_w, workdir=work, isolated=isolated)
        cfg["cache_seed"] = (bubblewrap.CACHE_SEED if isolated else seed) if seed else None
        if isolated:
            # Forbidden modules are absent from the sandbox; their host paths let the worker's
            # fence still name the module when student code reaches for one by path.
            cfg["forbidden_paths"] = [[p, name] for name in self.cfg["forbidden"]
                                      for p in bubblewrap.module_paths(name)]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": work,
            "TMPDIR": work,
            "JAX_PLATFORMS": "cpu",
            "PYTHONHASHSEED": "0",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONIOENCODING": "utf-8:backslashreplace",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            # Compiled as the parent compiles (grader.compile_flags: the flags change rounding).
            "XLA_FLAGS": compile_flags.for_worker(),
        }
        argv = [sys.executable, *_FLAGS, "-c", _BOOTSTRAP.format(root=_ROOT), json.dumps(cfg)]
        pass_fds = [req_r, resp_w]
        seccomp_fd = None
        try:
            if isolated:
                seccomp_fd = seccomp.filter_fd()
                if seccomp_fd is not None:
                    pass_fds.append(seccomp_fd)
                argv = bubblewrap.command(argv, fs, seccomp_fd=seccomp_fd)
                self.group = cgroups.create(memory_bytes=self._group_memory(),
                                            max_pids=MAX_PIDS)
                if self.group is not None:
                    argv = cgroups.wrap(argv, self.group)
            drop = ({"user": UNPRIVILEGED_UID, "group": UNPRIVILEGED_UID, "extra_groups": []}
                    if unprivileged else {})
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log_w, stderr=log_w, cwd=cwd, env=env,
                pass_fds=tuple(pass_fds), start_new_session=True, close_fds=True, **drop,
            )
        except (OSError, RuntimeError, ValueError) as exc:
            return Failure("start", f"the grader could not start its worker process: {exc}")
        finally:
            for fd in (req_r, resp_w, log_w, seccomp_fd):
                if fd is not None:
                    os.close(fd)
        if _register(self):  # kill_all() ran (an interrupted grading): this worker must not run
            return Failure("start", "the grading was interrupted")
        self.starts += 1
        os.set_blocking(self.resp_r, False)
        os.set_blocking(self.req_w, False)
        reply = self._receive(time.monotonic() + self.start_timeout, what="start")
        if reply.failure is not None or reply.header.get("op") != "ready":
            detail = reply.output.strip().splitlines()[-3:] if reply.output else []
            self.kill()
            msg = reply.failure.message if reply.failure else "unexpected first message"
            return Failure("start", "the grader could not start its worker process: " + msg
                           + ("\n" + "\n".join(detail) if detail else ""))
        if reply.header.get("compile_options") != compile_flags.options_digest():
            self.kill()  # its results could differ from the expected values in the last bit
            return Failure("start", "the grader's worker would compile with other XLA options than "
                                    "the grader itself: XLA_FLAGS changed after JAX started in this "
                                    "process; restart it (the kernel, or the command) with the "
                                    "XLA_FLAGS you want")
        return None

    def _group_memory(self) -> int:
        """The kernel's cap for the whole sandbox: the data limit, plus JAX's own runtime and
        the scratch tmpfs (both charged to the group)."""
        return int(self.cfg["memory_bytes"]) + 768 * 2**20

    def save_cache(self, timeout: float = 20.0) -> int:
        """Write the compile-cache entries this worker added into its cache folder.

        The worker only ever saw its folder read-only; here the parent asks for the new
        entries and writes them itself (:func:`grader.worker_cache.write_entries`: checked
        names, sizes and a total budget, plain 0600 files). A cache only saves time, so any
        failure (a dead worker, a malformed reply, an unwritable folder) writes nothing and
        returns 0. Returns the number of entries written.
        """
        folder = self.cfg["cache_dir"]
        if not folder or not self.alive:
            return 0
        reply = self.request({"op": "cache_out"}, timeout=timeout, what="saving its cache")
        if reply.failure is not None:
            return 0
        try:
            entries = list(protocol.parse_reply(reply.header, reply.blobs, "cache_out").files)
        except protocol.ProtocolError:
            return 0
        try:
            return worker_cache.write_entries(folder, entries)
        except OSError:
            return 0

    def retire(self) -> None:
        """Save what this worker compiled (:meth:`save_cache`), then stop it (:meth:`close`)."""
        self.save_cache()
        self.close()

    def reconfigure(self, **changes) -> None:
        """Stop the worker (its compiled programs saved first) and change its configuration
        (``preload``, ``cache_dir``, ...); the next request starts it anew with it."""
        self.save_cache()
        self.kill()
        for name, value in changes.items():
            if name not in self.cfg:
                raise KeyError(f"reconfigure: no worker setting {name!r}")
            self.cfg[name] = value

    def kill(self) -> None:
        """SIGKILL the worker's process group and session, reap it, remove its files."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if self.isolation == "sandbox" and proc.poll() is None:
                # The sandbox's processes first, bubblewrap last: bubblewrap reaps its child
                # and exits by itself. Killed the other way round, the sandbox's first process
                # is reparented to pid 1, which in some containers never reaps it, and the
                # zombie keeps its control group from being removed.
                processes.kill_until_gone(lambda: processes.descendants(proc.pid), rounds=1)
                try:
                    proc.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            _kill_session(proc.pid)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - unkillable (D state)
                pass
            _LIVE.pop(self, None)
            for fd in ("req_w", "resp_r", "log_r"):
                try:
                    os.close(getattr(self, fd))
                except (OSError, AttributeError):
                    pass
        group, self.group = self.group, None
        if group is not None:
            group.remove()
        if self.tmp:
            # Only the output log lives here (a sandboxed worker writes in its own tmpfs, which
            # vanished with it); without the sandbox the worker's files are here too.
            worker_cache.remove(self.tmp)  # iterative: a student-built tree of any depth
            self.tmp = None

    def close(self) -> None:
        self.kill()

    # -- requests ----------------------------------------------------------------------

    def request(self, header: dict, blobs: list[bytes] = (), *, timeout: float, what: str,
                wall_limit: float | None = None) -> Reply:
        """Send one request and wait for its reply; any failure kills the worker.

        ``timeout`` is the request's time limit in seconds of *processor* time: what the
        worker's processes use for it (:func:`grader.processes.tree_cpu_seconds`), so a machine
        busy with other work (a grading server's queue, a loaded CI runner) does not turn
        correct code into a timeout, while a loop that is too slow is as slow on any machine.
        A worker that waits instead of computing (sleeping, blocked) is stopped after
        ``WAIT_SLACK * timeout`` seconds of wall-clock time; both are failures of kind
        ``"timeout"``. ``wall_limit`` (seconds, the submission's remaining budget) stops it
        sooner: a failure of kind ``"budget"``.

        Raises:
            protocol.RequestTooLarge: the request is one the worker would refuse to read (the
                grader's own fault; the engine reports it as a grading error).
        """
        if not self.alive:
            failure = self.start()
            if failure is not None:
                return Reply({}, [], failure=failure)
        t0 = time.monotonic()
        wall = WAIT_SLACK * timeout if wall_limit is None else min(WAIT_SLACK * timeout, wall_limit)
        deadline = t0 + wall
        limits = _Limits(timeout, self._cpu_seconds() + timeout, wall, wall_limit is not None
                         and wall_limit < WAIT_SLACK * timeout)
        self.counter += 1
        header = dict(header, id=self.counter)
        data = protocol.pack_request(header, list(blobs))  # RequestTooLarge: the grader's fault
        try:
            self._send(data, deadline)
        except TimeoutError:
            reply = Reply({}, [], failure=self._timeout(limits, what, waited=True))
        except OSError:
            reply = Reply({}, [], failure=self._death(what))
        else:
            reply = self._receive(deadline, what=what, limits=limits)
            if reply.failure is None and reply.header.get("id") != self.counter:
                reply.failure = Failure("protocol", "sent back a reply the grader did not ask "
                                                    f"for while {what}")
        reply.seconds = time.monotonic() - t0
        if reply.failure is not None:
            self.kill()
        return reply

    def _cpu_seconds(self) -> float:
        """The worker's processor time so far: its control group's running total where it has
        one (every process that ever ran in it), else its live process tree's
        (:func:`grader.processes.tree_cpu_seconds`, which misses a child nobody waited for: the
        wall-clock backstop still bounds such a call)."""
        if self.group is not None:
            total = self.group.cpu_seconds()
            if total is not None:
                return total
        return processes.tree_cpu_seconds(self.proc.pid) if self.proc is not None else 0.0

    def _send(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            _, w, _ = select.select([], [self.req_w], [], min(left, 0.1))
            if w:
                try:
                    n = os.write(self.req_w, view)
                except BlockingIOError:
                    continue
                view = view[n:]
            elif not self.alive:
                raise OSError("worker died")

    def _receive(self, deadline: float, *, what: str, limits: _Limits | None = None) -> Reply:
        reader = protocol.FrameReader()
        mem_cap = int(self.cfg["memory_bytes"] * 1.25) + 512 * 2**20
        next_cpu_check = time.monotonic() + CPU_POLL_SECONDS
        while True:
            now = time.monotonic()
            left = deadline - now
            if left <= 0:
                return self._with_output(Reply({}, [], failure=self._timeout(limits, what, waited=True)))
            if limits is not None and now >= next_cpu_check:
                next_cpu_check = now + CPU_POLL_SECONDS
                if self._cpu_seconds() > limits.cpu_deadline:
                    return self._with_output(Reply({}, [], failure=self._timeout(limits, what)))
            r, _, _ = select.select([self.resp_r], [], [], min(left, 0.1))
            if r:
                try:
                    chunk = os.read(self.resp_r, 1 << 20)
                except BlockingIOError:
                    continue
                if not chunk:
                    return self._with_output(Reply({}, [], failure=self._death(what)))
                try:
                    frame = reader.feed(chunk)
                except protocol.ProtocolError as exc:
                    return self._with_output(Reply({}, [], failure=Failure(
                        "protocol", f"sent back output the grader could not read ({exc}) while {what}")))
                if frame is not None:
                    if self._log_size() > self.cfg["output_hard_bytes"]:  # printed past it just before
                        return self._with_output(Reply({}, [], failure=self._flood(what)))
                    return self._with_output(Reply(frame[0], frame[1]))
            elif self.proc is not None and self._memory() > mem_cap:
                return self._with_output(Reply({}, [], failure=Failure(
                    "memory", f"used more than {human_bytes(self.cfg['memory_bytes'])} of memory "
                    f"(the memory limit) while {what}")))
            elif self._log_size() > self.cfg["output_hard_bytes"]:
                return self._with_output(Reply({}, [], failure=self._flood(what)))

    def _with_output(self, reply: Reply) -> Reply:
        try:
            total = os.fstat(self.log_r).st_size
            os.lseek(self.log_r, 0, os.SEEK_SET)
            data = os.read(self.log_r, min(total, self.output_bytes)) if total else b""
            os.ftruncate(self.log_r, 0)
        except OSError:
            data, total = b"", 0
        reply.output = data.decode("utf-8", errors="backslashreplace")  # valid text, bytes shown
        reply.output_total = total
        return reply

    def _memory(self) -> int:
        """Bytes the worker holds now: its group's charge if it has one, else the resident
        memory of the worker process and its descendants."""
        if self.group is not None:
            return self.group.memory_usage()
        return processes.tree_rss(self.proc.pid) if self.proc is not None else 0

    def _log_size(self) -> int:
        try:
            return os.fstat(self.log_r).st_size
        except OSError:
            return 0

    def _flood(self, what: str) -> Failure:
        return Failure("flood", f"printed more than {human_bytes(self.cfg['output_hard_bytes'])} "
                                f"of output while {what}, so it was stopped")

    def _timeout(self, limits: _Limits | None, what: str, *, waited: bool = False) -> Failure:
        if limits is None:
            return Failure("timeout", f"did not finish within its time limit while {what}: "
                                      "an infinite loop, a hang, or far too much work")
        if waited and limits.budget:
            return Failure("budget", f"did not finish within the {limits.wall:g} s left of its time "
                                     f"budget while {what}")
        if waited:
            return Failure("timeout", f"did not finish within {limits.cpu:g} s (the time limit) while "
                                      f"{what}: it waited {limits.wall:g} s without doing that much work "
                                      "(a hang: sleeping, or waiting for something that never comes)")
        return Failure("timeout", f"did not finish within {limits.cpu:g} s (the time limit) while {what}: "
                                  "an infinite loop, a hang, or far too much work")

    def _death(self, what: str) -> Failure:
        proc = self.proc
        code = None
        if proc is not None:
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
        if code is None:
            return Failure("protocol", f"closed its connection to the grader while {what}")
        if self.isolation == "sandbox" and code > 128:
            # bubblewrap reports a command killed by signal N as exit status 128 + N.
            code = -(code - 128)
        if code < 0:
            sig = -code
            if sig == signal.SIGXFSZ:
                return self._flood(what)
            if sig == signal.SIGSEGV:
                return Failure("crash", f"crashed with a segmentation fault (SIGSEGV) while {what}")
            if sig == signal.SIGXCPU:
                return Failure("timeout", f"used more than {self.cfg['cpu_seconds']} s of CPU time "
                                          f"(the CPU limit) while {what}")
            if sig == signal.SIGKILL:
                return Failure("memory", f"was killed (SIGKILL) while {what}, most likely for "
                                         "using too much memory")
            return Failure("crash", f"crashed with {_signal_name(sig)} while {what}")
        if code == protocol.UNREADABLE_REQUEST_EXIT:
            return Failure("protocol", f"disturbed the worker's channel to the grader while {what} "
                                       "(the worker could not read the grader's request)")
        return Failure("exit", f"ended the worker process (exit status {code}) while {what}: "
                               "graded code must return a value, not call os._exit() or exit "
                               "the process")


def _kill_session(sid: int) -> None:
    processes.kill_until_gone(lambda: processes.session_members(sid), rounds=3, pause=0.05)


# -- every live worker, for an interrupted grading (grader.cli's signal handlers) ----------

_LIVE: dict[Worker, int] = {}  # worker -> pid, from a successful start until it is reaped
_STOPPED = False  # set by kill_all(): no worker starts any more in this process


def _register(worker: Worker) -> bool:
    """Record a just-started worker; ``True`` (and the worker killed) if kill_all() ran."""
    _LIVE[worker] = worker.proc.pid
    if _STOPPED:
        worker.kill()
        return True
    return False


def kill_all() -> None:
    """SIGKILL every live worker with everything it started, and refuse any later start.

    Safe in a signal handler and from any thread: it only sends signals (to each worker's
    process group and session; a sandbox dies with its first process); each worker's owner
    still reaps it and removes its files. Once called, :meth:`Worker.start` fails at once.
    """
    global _STOPPED
    _STOPPED = True
    for pid in list(_LIVE.values()):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        _kill_session(pid)
