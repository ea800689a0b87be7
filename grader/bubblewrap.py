"""The worker's kernel sandbox: a bubblewrap (``bwrap``) command line and the filesystem it shows.

Every worker (:mod:`grader.runner`) runs as ``bwrap ... python -c <bootstrap>`` when
bubblewrap works on this machine (Debian/Ubuntu package ``bubblewrap``; Linux only):

- **Namespaces**: new user, pid, network, ipc, uts and cgroup namespaces
  (``--unshare-all``); inside, the worker is the unprivileged uid/gid 65534 ("nobody") with
  no capabilities and cannot create further user namespaces (``--disable-userns``). The pid
  namespace means the worker sees only its own processes, and when its first process dies
  the kernel kills every process in it; ``--die-with-parent`` ties that first process to the
  grader's life, so nothing a submission starts can outlive its grading. The network
  namespace holds only an unconfigured loopback device: no connection can leave it, and a
  server started inside is unreachable from outside.
- **Filesystem by absence**: the root is an empty tmpfs, onto which only what the worker
  needs is bound **read-only**, at the paths it has on the host (so imports behave as they
  do outside): the system's ``/usr`` (and the ``/bin``, ``/lib*`` links to it), the Python
  installation and its virtual environment, the ``jaxdl`` package, and from the ``grader``
  package only the worker's own modules (:data:`WORKER_MODULES`); nothing of any course
  folder (trusted helpers arrive as source text, see :mod:`grader.helper_source`). A module the assignment forbids is *not there*: its
  files are left out of the view (``optax/``, ``flax/``, ``jaxdl/optim.py`` and its cached
  bytecode, ...), so no import route, path trick (``/proc/self/root/...``) or source reader
  can reach it. (In a folder too large to recreate entry by entry, such as site-packages,
  the module's folder is an empty one whose ``__init__.py`` raises ``ModuleNotFoundError``:
  see :func:`bind_tree`.) Also absent: the project's ``tests/``, ``.git/``, every course
  folder (reference solutions, case builders, mistakes; an instructor's course too), the parent's compilation cache, every other submission, the
  caller's home directory and ``/etc`` (but ``ld.so.cache``).
- **One writable place**: a private tmpfs at ``/tmp`` (or, if the project or Python lives
  under ``/tmp``, the next of :data:`SCRATCH_CANDIDATES`; size-capped: :data:`SCRATCH_BYTES`,
  charged to the memory cap), the worker's working, home and temporary directory; it
  vanishes with the sandbox. Nothing on the host is writable: the submission's own
  compile-cache folder, if the caller gives one, is shown read-only at :data:`CACHE_SEED`
  and the parent itself writes back what the worker compiled (see ``runner``), so no file
  mode, link, sparse file or timestamp a submission makes can reach the host.
- **Minimal /dev and /proc**: ``--dev`` (null, zero, random, urandom, tty, shm) and a
  ``/proc`` of the new pid namespace.
- **A seccomp filter** (:mod:`grader.seccomp`) and **kernel memory and process caps**
  (:mod:`grader.cgroups`) are applied on top, where the machine allows them.

:func:`probe` tells whether bubblewrap works here (cached per process); the grader falls
back to the in-process fence (:mod:`grader.sandbox`) only where it does not, and says so.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from grader import registry
from grader.sandbox import module_paths

GRADER_DIR = Path(__file__).resolve().parent
# The grader modules a worker imports (``worker`` and what it imports); nothing else of the
# grader (case builders, engine, judge, tests' fixtures) exists inside the sandbox.
WORKER_MODULES = ("__init__.py", "worker.py", "protocol.py", "sandbox.py", "worker_cache.py",
                  "absent_module.py", "nbexec.py", "compile_flags.py")
SCRATCH_BYTES = 512 * 2**20
SANDBOX_UID = 65534
# Where the worker's scratch tmpfs (cwd, HOME, TMPDIR) goes: the first that does not
# collide with the view (see view()).
SCRATCH_CANDIDATES = ("/tmp", "/var/tmp/grader", "/grader-scratch")
# Where the submission's compile-cache folder appears, read-only, inside the sandbox.
CACHE_SEED = "/var/cache/grader-seed"


@dataclass(frozen=True)
class Probe:
    """Whether bubblewrap can start a sandbox here; ``reason`` says why not."""

    ok: bool
    reason: str = ""
    bwrap: str | None = None


@functools.lru_cache(maxsize=1)
def probe() -> Probe:
    """Try to start a trivial sandbox with the same namespaces the workers use (~10 ms).

    Returns a :class:`Probe`; never raises. Cached for the life of the process.
    """
    if not sys.platform.startswith("linux"):
        return Probe(False, f"bubblewrap needs Linux (this is {sys.platform})")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Probe(False, "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)")
    cmd = [bwrap, *_namespace_args(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
           "true"]
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Probe(False, f"bubblewrap could not run: {exc}", bwrap)
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return Probe(False, "bubblewrap could not create a sandbox here (user namespaces "
                            f"disabled?): {why[-1] if why else done.returncode}", bwrap)
    return Probe(True, "", bwrap)


def _namespace_args() -> list[str]:
    return ["--unshare-all", "--unshare-user", "--disable-userns", "--uid", str(SANDBOX_UID), "--gid",
            str(SANDBOX_UID), "--hostname", "grader", "--die-with-parent", "--new-session"]


def _hidden(path: str, hidden: Sequence[str]) -> bool:
    for h in hidden:
        if h.endswith("."):
            if path.startswith(h):
                return True
        elif path == h:
            return True
    return False


def _covers(path: str, hidden: Sequence[str]) -> bool:
    """Whether something hidden lies at or below ``path``."""
    prefix = path.rstrip("/") + "/"
    return any(h == path or h.startswith(prefix) for h in hidden)


# A folder with something hidden below it is recreated entry by entry when it is this small;
# a larger one (site-packages, the standard library) is bound whole and the hidden entries are
# masked, because every bind costs start-up time (~0.4-1 ms each).
RECREATE_MAX = 40
ABSENT_MODULE = str(GRADER_DIR / "absent_module.py")


def bind_tree(src: str, hidden: Sequence[str], out: list[str]) -> None:
    """Append bwrap args that show ``src`` read-only at its own path, minus ``hidden`` paths.

    A folder with nothing hidden below it is one bind. A small folder with something hidden
    is recreated (``--dir``) and its entries bound one by one, recursively, so the hidden
    ones do not exist at all. A large one is bound whole and each hidden entry masked
    (:func:`_mask`): its contents are gone, and importing it fails like a missing module.
    Symlinks are recreated as symlinks (their targets must be in the view to resolve).
    """
    if _hidden(src, hidden):
        return
    if os.path.islink(src):
        out += ["--symlink", os.readlink(src), src]
        return
    if not os.path.exists(src):
        return
    if not (os.path.isdir(src) and _covers(src, hidden)):
        out += ["--ro-bind", src, src]
        return
    try:
        entries = sorted(os.listdir(src))
    except OSError:
        return
    if len(entries) > RECREATE_MAX:
        out += ["--ro-bind", src, src]
        prefix = src.rstrip("/") + "/"
        for h in hidden:
            if h.startswith(prefix):
                _mask(h, out)
        return
    out += ["--dir", src]
    for entry in entries:
        bind_tree(os.path.join(src, entry), hidden, out)


def _mask(path: str, out: list[str]) -> None:
    """Hide ``path`` inside a folder that is bound whole (see :func:`bind_tree`)."""
    if path.endswith("."):  # cached bytecode of a module: every file with this prefix
        folder, stem = os.path.split(path)
        try:
            names = [n for n in os.listdir(folder) if n.startswith(stem)]
        except OSError:
            names = []
        for n in names:
            out += ["--ro-bind", "/dev/null", os.path.join(folder, n)]
    elif os.path.isdir(path) and not os.path.islink(path):
        out += ["--perms", "0555", "--size", "65536", "--tmpfs", path]
        if os.path.exists(os.path.join(path, "__init__.py")):
            out += ["--ro-bind", ABSENT_MODULE, os.path.join(path, "__init__.py")]
        out += ["--remount-ro", path]
    elif os.path.exists(path):
        stand_in = ABSENT_MODULE if path.endswith(".py") else "/dev/null"
        out += ["--ro-bind", stand_in, path]


def _system_dirs(out: list[str]) -> None:
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            out += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            out += ["--ro-bind", top, top]
    for f in ("/etc/ld.so.cache", "/etc/localtime"):
        if os.path.exists(f):
            out += ["--ro-bind", f, f]


def _python_roots() -> list[str]:
    """The interpreter's installation and (if any) its virtual environment, as real paths."""
    roots = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    exe = os.path.realpath(sys.executable)
    if not any(exe.startswith(r.rstrip("/") + "/") for r in roots):
        roots.add(os.path.dirname(exe))
    # Nested roots (a venv inside the installation) are covered by the outer bind.
    ordered = sorted(roots, key=len)
    return [r for i, r in enumerate(ordered)
            if not any(r.startswith(o.rstrip("/") + "/") for o in ordered[:i])]


def _base_site_packages() -> list[str]:
    """The base installation's site-packages when running in a venv that does not use it."""
    if os.path.realpath(sys.prefix) == os.path.realpath(sys.base_prefix):
        return []
    visible = {os.path.realpath(p) for p in sys.path if p}
    out = []
    for key in ("purelib", "platlib"):
        try:
            p = sysconfig.get_path(key, vars={"base": sys.base_prefix, "platbase": sys.base_prefix})
        except KeyError:  # pragma: no cover
            continue
        p = os.path.realpath(p)
        if p not in visible and p not in out:
            out.append(p)
    return out


@dataclass(frozen=True)
class View:
    """The worker's filesystem: bwrap ``args``, and ``scratch``, its one writable folder."""

    args: tuple[str, ...]
    scratch: str


def _scratch_for(bound: Sequence[str]) -> str:
    """:data:`SCRATCH_CANDIDATES`' first path that holds nothing bound and is not inside
    anything bound: a tmpfs there would hide (or be hidden by) the view."""
    for cand in SCRATCH_CANDIDATES:
        prefix = cand.rstrip("/") + "/"
        if not any(b == cand or b.startswith(prefix) or prefix.startswith(b.rstrip("/") + "/")
                   for b in bound):
            return cand
    raise RuntimeError("no place for the worker's scratch folder: everything is bound")


def view(*, forbidden: Iterable[str], cache_seed: str | None) -> View:
    """The worker's filesystem (see the module docstring).

    ``forbidden``: module names left out of the view (a package, or a submodule such as
    ``jaxdl.optim``). ``cache_seed``: the submission's compile-cache folder on the host, shown read-only at
    :data:`CACHE_SEED` (the worker copies it into its scratch tmpfs; see ``runner``).
    The scratch tmpfs is ``/tmp`` unless the project or Python lives there (a clone in
    ``/tmp``); then the next of :data:`SCRATCH_CANDIDATES`.
    """
    out: list[str] = []
    _system_dirs(out)
    courses = [str(c) for c in registry.course_folders()]
    for c in courses:  # a course folder inside /usr (bound whole) is masked like a module
        if any(c.startswith(top + "/") for top in ("/usr", "/bin", "/sbin", "/lib", "/lib64")):
            _mask(c, out)
    hidden: list[str] = []
    for name in forbidden:
        hidden += module_paths(name)
    hidden += _base_site_packages()
    grader_dir = str(GRADER_DIR)
    roots = _python_roots()
    # Installed (not editable), the grader lies inside a bound Python root: a tmpfs of its own
    # covers it, filled below and made read-only last. Otherwise it is simply left out.
    grader_in_root = any(grader_dir.startswith(r.rstrip("/") + "/") for r in roots)
    if not grader_in_root:
        hidden.append(grader_dir)
    project = str(GRADER_DIR.parent)
    hidden += [os.path.join(project, p) for p in ("tests", ".git")]
    # Course folders are outside every bound tree in a normal install; hidden anyway, in case
    # one lives inside the Python installation or next to jaxdl.
    hidden += [c for c in courses if not c.startswith(grader_dir.rstrip("/") + "/")]
    for root in roots:
        bind_tree(root, hidden, out)
    jaxdl_dirs = [p for p in module_paths("jaxdl")
                  if not any(p.startswith(r.rstrip("/") + "/") for r in roots)]
    for p in jaxdl_dirs:
        bind_tree(p, hidden, out)
    # The grader package: only the worker's modules and the requested trusted helpers.
    if grader_in_root:
        out += ["--perms", "0555", "--size", "1048576", "--tmpfs", grader_dir]
    else:
        out += ["--dir", grader_dir]
    for name in WORKER_MODULES:
        out += ["--ro-bind", os.path.join(grader_dir, name), os.path.join(grader_dir, name)]
    if grader_in_root:
        out += ["--remount-ro", grader_dir]
    bound = [out[k + 1] if out[k] in ("--dir", "--tmpfs") else out[k + 2]
             for k in range(len(out)) if out[k] in ("--dir", "--tmpfs", "--ro-bind", "--symlink")]
    scratch = _scratch_for(bound)
    out += ["--proc", "/proc", "--dev", "/dev"]
    if cache_seed:
        out += ["--ro-bind", cache_seed, CACHE_SEED]
    out += ["--size", str(SCRATCH_BYTES), "--perms", "0700", "--tmpfs", scratch]
    # The root tmpfs holding the folders recreated above becomes read-only too; the scratch
    # folder is a mount of its own and stays writable.
    out += ["--remount-ro", "/"]
    return View(tuple(out), scratch)


def command(python_argv: Sequence[str], fs: View, *, seccomp_fd: int | None = None) -> list[str]:
    """The full ``bwrap`` command that runs ``python_argv`` in the worker sandbox ``fs``.

    Raises:
      RuntimeError: bubblewrap is not usable here (see :func:`probe`).
    """
    p = probe()
    if not p.ok:
        raise RuntimeError(p.reason)
    args = [p.bwrap, *_namespace_args(), *fs.args, "--chdir", fs.scratch]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    return args + ["--", *python_argv]
