"""The worker's audit-hook policy (PEP 578), installed before the student's file loads.

What it enforces, in the worker process only:

- **Import policy.** A forbidden module (``optax``, ``jaxdl.optim``, ...; a name forbids its
  submodules too) cannot be loaded by any route. Three fences, because no single audit event
  covers every route:

  1. the ``import`` event (raised by the ``import`` statement and ``__import__`` when a module
     is actually loaded, and when an extension module is created) is checked by name;
  2. a finder at the front of ``sys.meta_path`` refuses the name for ``importlib`` routes
     (``importlib.import_module`` loads pure-Python modules without an ``import`` event);
  3. the ``open`` event refuses reading any file of a forbidden package (``io.open_code`` is
     how every loader reads ``.py``/``.pyc``), which also stops a student from removing the
     finder, or from ``exec``-ing the package's source under another name.

  Modules the assignment lets the worker *preload* (for example a ``jaxdl`` module that uses
  ``optax`` internally) are imported before the hook is armed; forbidden modules they pulled
  in are then removed from ``sys.modules`` so that the student's own import has to load them
  again and is refused. The policy is "armed" for everything after the student's file starts
  loading; it does not try to tell student frames from library frames (frame checks are easy
  to spoof by rewriting ``co_filename``), so a library that imports a forbidden module lazily
  *at call time* must be listed in the assignment's ``preload``.

  A refused import raises :class:`ForbiddenImport` (an ``ImportError``) at the import site and
  is recorded; the parent zeroes every part during which a violation was recorded (a top-level
  import is recorded while the file loads, so it zeroes every part), even if the student caught
  the exception, and names the module.

- **No processes, no network, no signals to others.** ``os.fork``/``exec``/``posix_spawn``/
  ``system``, ``subprocess``, ``pty`` and ``_posixsubprocess`` (whose ``fork_exec`` the worker
  also replaces), socket creation, DNS and connections, ``os.kill`` of any process but the
  worker itself, ``ctypes`` foreign calls and raw-address reads, raising resource limits, and
  ``gc.get_objects``/``get_referrers`` are refused with :class:`SandboxError` (a
  ``PermissionError``).
- **Writes only in the worker's temporary directory** (and the worker's own compilation-cache
  directory, see ``runner``): ``open`` for writing, ``os.remove``/``rename``/``mkdir``/... of
  any other path is refused; symlinks and hard links cannot be created; directories outside
  those roots cannot be opened as file descriptors (which would defeat the check via
  ``dir_fd``).
- **Reads refused** for the project's ``tests/`` folder (reference solutions), the folder of
  submissions being batch-graded, and other processes' ``/proc`` entries.

An in-process audit hook is a *policy fence*, not a security boundary: CPython itself warns
that a determined attacker with arbitrary code execution can get around it. What does not
depend on the hook: student code runs in a separate process in its own session, with a
memory limit and a file-size limit, under a wall-clock limit, and the whole process group is
SIGKILLed; every score is computed by the parent from plain arrays. For grading untrusted
code at scale, additionally run ``grader grade`` inside a container (as Gradescope does).
"""

from __future__ import annotations

import os
import re
import stat
import sys
from typing import Any, Iterable

_PROC_PID = re.compile(r"^/proc/(\d+)(/|$)")

_SPAWN_EVENTS = {
    "os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system",
    "subprocess.Popen", "pty.spawn", "os.startfile",
}
_NET_EVENTS = {
    "socket.__new__", "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg",
    "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
    "socket.gethostbyname_ex", "socket.getnameinfo", "urllib.Request", "webbrowser.open",
}
_NATIVE_EVENTS = {
    "ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function",
    "ctypes.cdata", "ctypes.string_at", "ctypes.wstring_at",
}
_MISC_REFUSED = {
    "resource.setrlimit": "changing resource limits",
    "resource.prlimit": "changing resource limits",
    "gc.get_objects": "walking the garbage collector's objects",
    "gc.get_referrers": "walking the garbage collector's objects",
    "os.killpg": "sending signals to process groups",
    "sys.remote_exec": "attaching to processes",
}
# (event, indices of path arguments, indices of dir_fd arguments)
_PATH_WRITE_EVENTS = {
    "os.remove": ((0,), (1,)),
    "os.rmdir": ((0,), (1,)),
    "os.mkdir": ((0,), (2,)),
    "os.rename": ((0, 1), (2, 3)),
    "os.chmod": ((0,), (2,)),
    "os.chown": ((0,), (3,)),
    "os.utime": ((0,), (3,)),
    "os.truncate": ((0,), ()),
    "os.chflags": ((0,), ()),
    "os.lchflags": ((0,), ()),
    "os.setxattr": ((0,), ()),
    "os.removexattr": ((0,), ()),
    "shutil.rmtree": ((0,), (1,)),
    "shutil.chown": ((0,), ()),
    "shutil.move": ((0, 1), ()),
    "shutil.copyfile": ((1,), ()),
    "shutil.copymode": ((1,), ()),
    "shutil.copystat": ((1,), ()),
}
# Native modules whose fresh creation would undo the fences above.
_NATIVE_MODULES = {"_posixsubprocess", "_ctypes", "_socket", "_ssl", "_multiprocessing"}

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class ForbiddenImport(ImportError):
    """A module this assignment does not allow was imported."""


class SandboxError(PermissionError):
    """Graded code tried something the grader does not allow (spawn, network, write, ...)."""


def _norm(path: Any) -> str | None:
    if isinstance(path, int):
        return None
    try:
        p = os.fsdecode(path)
    except Exception:  # noqa: BLE001
        return None
    return os.path.abspath(p)


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def module_paths(name: str) -> list[str]:
    """Files and folders that make up module ``name``, as real paths (without importing it,
    except its parents).

    For a package: its folder. For a plain module ``pkg/mod.py`` (or an extension
    ``pkg/mod.cpython-311-x86_64-linux-gnu.so``): that file and the prefix
    ``pkg/__pycache__/mod.`` (a path ending in ``.`` stands for every cached-bytecode file of
    it). Empty if the module does not exist. The fence here and the OS sandbox's view
    (:mod:`grader.bubblewrap`) both read it.
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except Exception:  # noqa: BLE001 - parent missing, or the module does not exist yet
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return [os.path.realpath(p) for p in spec.submodule_search_locations]
    if spec.origin and os.path.isabs(spec.origin):
        origin = os.path.realpath(spec.origin)
        stem = os.path.basename(origin).split(".")[0]
        return [origin, os.path.join(os.path.dirname(origin), "__pycache__", stem + ".")]
    return []


class _RefusingFinder:
    """Front-of-``sys.meta_path`` finder: refuses forbidden names for importlib routes."""

    def __init__(self, policy: "Policy"):
        self.policy = policy

    def find_spec(self, fullname, path=None, target=None):  # noqa: D401 - importlib protocol
        self.policy.check_import_name(fullname)
        return None

    def invalidate_caches(self) -> None:
        pass


class Policy:
    """One worker's policy. ``install()`` arms it; it stays armed for the process's life."""

    def __init__(self, *, forbidden: Iterable[str] = (), write_roots: Iterable[str] = (),
                 deny_read_roots: Iterable[str] = (), forbidden_names: Iterable[str] = (),
                 forbidden_paths: Iterable[tuple[str, str]] = ()):
        # ``forbidden``: refused by name and by reading their files; ``forbidden_names``: by
        # name only (used for ``grader`` itself, whose source files linecache may read while
        # formatting a warning or traceback; its sensitive folders are in deny_read instead).
        self.path_forbidden = tuple(forbidden)
        self.forbidden = tuple(forbidden) + tuple(forbidden_names)
        self.write_roots = tuple(os.path.realpath(os.path.abspath(r)) for r in write_roots)
        self.deny_read_roots = tuple(os.path.realpath(os.path.abspath(r)) for r in deny_read_roots)
        # (path, module): reading there counts as importing ``module``. Given by the parent
        # when the module is absent from the OS sandbox; found by ``prepare`` otherwise.
        self.forbidden_paths: list[tuple[str, str]] = [(str(p), str(n)) for p, n in forbidden_paths]
        self.violations: list[str] = []
        self.pid = os.getpid()
        self.armed = False

    # -- set-up (before arming) ------------------------------------------------------

    def prepare(self) -> None:
        """Locate forbidden packages' files; drop already-loaded forbidden modules."""
        for name in self.path_forbidden:
            for p in module_paths(name):
                self.forbidden_paths.append((p, name))
        for mod_name in list(sys.modules):
            if self._forbidden_name(mod_name):
                del sys.modules[mod_name]
                parent, _, child = mod_name.rpartition(".")
                if parent and parent in sys.modules:
                    try:
                        delattr(sys.modules[parent], child)
                    except AttributeError:
                        pass
        try:
            import _posixsubprocess

            def fork_exec(*args, **kwargs):
                raise SandboxError("starting processes is not allowed in graded code")

            _posixsubprocess.fork_exec = fork_exec
        except ImportError:  # pragma: no cover - non-POSIX
            pass

    def install(self) -> None:
        self.prepare()
        sys.meta_path.insert(0, _RefusingFinder(self))
        self.armed = True
        sys.addaudithook(self._hook)

    # -- checks ----------------------------------------------------------------------

    def _forbidden_name(self, name: str) -> str | None:
        for f in self.forbidden:
            if name == f or name.startswith(f + "."):
                return f
        return None

    def _violation(self, name: str) -> ForbiddenImport:
        if name not in self.violations:
            self.violations.append(name)
        return ForbiddenImport(f"imports '{name}', which this assignment does not allow")

    def check_import_name(self, name: Any) -> None:
        if not isinstance(name, str):
            return
        f = self._forbidden_name(name)
        if f is not None:
            raise self._violation(f)

    def take_violations(self) -> list[str]:
        out, self.violations = self.violations, []
        return out

    def _check_write_path(self, path: Any, what: str) -> None:
        p = _norm(path)
        if p is None:
            return
        real = os.path.realpath(p)
        if not _under(real, self.write_roots):
            raise SandboxError(f"{what} {p!r} is not allowed: graded code may only write "
                               "in its temporary working directory")

    def _check_read_path(self, path: Any, flags: Any) -> None:
        p = _norm(path)
        if p is None:
            return
        for root, name in self.forbidden_paths:
            if p == root or p.startswith(root if root.endswith(".") else root + "/"):
                raise self._violation(name)
        real = os.path.realpath(p)
        if _under(real, self.deny_read_roots):
            raise SandboxError(f"reading {p!r} is not allowed in graded code")
        m = _PROC_PID.match(real)
        if m and int(m.group(1)) != self.pid:
            raise SandboxError("reading other processes' /proc entries is not allowed")
        if isinstance(flags, int) and flags & getattr(os, "O_DIRECTORY", 0) or _isdir(real):
            if not _under(real, self.write_roots):
                raise SandboxError(f"opening the directory {p!r} is not allowed in graded code")

    def _hook(self, event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS)
            if writing:
                self._check_write_path(path, "writing to")
            else:
                self._check_read_path(path, flags)
        elif event == "import":
            name = args[0] if args else None
            self.check_import_name(name)
            if isinstance(name, str):
                if name.rpartition(".")[2] in _NATIVE_MODULES:
                    raise SandboxError(f"loading the native module {name!r} is not allowed")
                filename = args[1] if len(args) > 1 else None
                fp = _norm(filename) if filename else None
                # Under a write root *and* writable: in the OS sandbox, a project installed
                # below the scratch folder's path is bound there read-only, and is not
                # code that graded code wrote.
                if fp and _under(os.path.realpath(fp), self.write_roots) and os.access(fp, os.W_OK):
                    raise SandboxError("loading native code written by graded code is not allowed")
        elif event in _SPAWN_EVENTS:
            raise SandboxError("starting processes is not allowed in graded code")
        elif event in _NET_EVENTS:
            raise SandboxError("network access is not allowed in graded code")
        elif event in _NATIVE_EVENTS:
            raise SandboxError("ctypes (calling native code) is not allowed in graded code")
        elif event == "os.kill":
            if not args or args[0] not in (self.pid, os.getpid()):
                raise SandboxError("sending signals to other processes is not allowed")
        elif event in _MISC_REFUSED:
            raise SandboxError(f"{_MISC_REFUSED[event]} is not allowed in graded code")
        elif event in ("os.symlink", "os.link"):
            raise SandboxError("creating links is not allowed in graded code")
        elif event in _PATH_WRITE_EVENTS:
            paths, dirfds = _PATH_WRITE_EVENTS[event]
            for i in dirfds:
                if i < len(args) and args[i] not in (None, -1, -100):  # default / AT_FDCWD
                    raise SandboxError(f"{event} with dir_fd is not allowed in graded code")
            for i in paths:
                if i < len(args):
                    self._check_write_path(args[i], f"{event} on")


def _isdir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False
