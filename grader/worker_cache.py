"""Workers' compilation-cache folders: where they are, how entries cross, keeping them bounded.

No worker ever writes a cache folder on the host. A sandboxed worker sees its submission's
folder read-only, copies its entries (:func:`read_entries`) into its scratch tmpfs and points
JAX there; after grading, the parent asks it for the entries it added and writes them
itself (:func:`write_entries`): flat regular files with safe names, mode 0600, within a
size budget. A submission can therefore only ever put bytes into its *own* cache entries
(keyed by its source), never a link, a special file, a mode bit, a sparse file or a
timestamp onto the host. Folders written by older versions, or without the sandbox, are
still treated as hostile: walks are iterative (a tree 10,000 levels deep is fine), never
follow symlinks, stop counting at a limit, count allocated blocks (not just sizes), and
removal never raises. The parent's own cache is elsewhere and is never shown to a worker.

Layout: ``<cache root>/worker/<digest>`` (and ``executor/<digest>`` for the jit executor's
programs), where the digest covers the assignment id and who the folder belongs to (see
:func:`folder`): one student (``grader test``/``submit`` on a
student's machine, one per student id in ``grader grade``), one submission's source, or the
project's own trusted runs. The newest :data:`KEEP` folders are kept; a folder that grew past
:data:`MAX_BYTES` is deleted after grading.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import stat
from pathlib import Path

KEEP = 64
MAX_BYTES = 64 * 2**20
MAX_ENTRY_BYTES = 16 * 2**20
MAX_ENTRIES_OUT = 1024
# JAX's cache entries: "<name>-<sha256 hex>-cache" (and companions); nothing else is kept.
ENTRY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}")
MAX_ENTRIES = 100_000  # counting stops here: such a folder is over any sane limit anyway


def folder(cache_root: str | Path, assignment_id: str, source: str, *, trusted: bool = False,
           owner: str | None = None, executor: bool = False) -> Path:
    """The cache folder of one submission (not created).

    Keyed by the assignment and, in order: ``"trusted"`` (the project's own runs: one folder
    per assignment), the ``owner`` (one student: every file of theirs shares the folder, so an
    edited file compiles only what changed), or else the submission's ``source`` (nothing is
    shared). What a student's worker put into a cache can only ever reach that student's own
    later workers: never another student's, the parent's (its cache is elsewhere) or the jit
    executor's.

    ``executor``: the folder of the executor that runs the programs the submission's jit and
    vjp cases export (``<cache root>/executor/<digest>``, beside ``worker/``, same keys). Only
    that executor writes it (through the parent, as for workers), and it runs no student
    Python: each of its entries is the compiler's own output for the program whose hash names
    the entry, so a submission cannot put anything there but the compiled form of a program
    it sent, found again only by the same program. Its student's worker never sees it.
    """
    if trusted:
        who = "trusted"
    elif owner is not None:
        who = "owner\0" + owner
    else:
        who = "source\0" + source
    key = assignment_id + "\0" + who
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return Path(cache_root) / ("executor" if executor else "worker") / digest


MAX_DEPTH = 8  # JAX's cache is flat: a folder nested deeper than this is not a cache


def size(path: str | Path, limit: int) -> int:
    """Bytes of regular files below ``path``, counted iteratively without following links.

    Returns more than ``limit`` as soon as the count passes it, and also for a folder that
    cannot be a compilation cache: more than :data:`MAX_ENTRIES` entries, or folders nested
    deeper than :data:`MAX_DEPTH`.
    """
    total, seen = 0, 0
    stack = [(str(path), 0)]
    while stack:
        d, depth = stack.pop()
        try:
            with os.scandir(d) as it:
                for entry in it:
                    seen += 1
                    if seen > MAX_ENTRIES:
                        return limit + 1
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        if depth + 1 > MAX_DEPTH:
                            return limit + 1
                        stack.append((entry.path, depth + 1))
                    elif stat.S_ISREG(st.st_mode):
                        # Allocated blocks too: fallocate(KEEP_SIZE) reserves disk at size 0.
                        total += max(st.st_size, st.st_blocks * 512)
                        if total > limit:
                            return total
        except OSError:
            continue
    return total


_FLAT_DEPTH = 32  # open directory fds while removing; deeper folders are moved up first


def remove(path: str | Path) -> None:
    """Delete ``path`` and everything below it; never follows links, never raises.

    Works on trees of any depth with at most :data:`_FLAT_DEPTH` open file descriptors and no
    path longer than one name: below that depth, folders are renamed up into ``path`` and
    removed in a later pass.
    """
    path = str(path)
    try:
        st = os.lstat(path)
    except OSError:
        return
    if not stat.S_ISDIR(st.st_mode):
        try:
            os.unlink(path)
        except OSError:
            pass
        return
    try:
        root = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    counter = iter(range(10**9))
    try:
        for _ in range(100_000):
            try:
                if not os.listdir(root):
                    break
            except OSError:
                break
            _clear(root, 0, root, counter)
    finally:
        os.close(root)
    try:
        os.rmdir(path)
    except OSError:
        pass


def _clear(dir_fd: int, depth: int, root_fd: int, counter) -> None:
    try:
        with os.scandir(dir_fd) as it:
            entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
    except OSError:
        return
    for name, is_dir in entries:
        try:
            if not is_dir:
                os.unlink(name, dir_fd=dir_fd)
                continue
            if depth >= _FLAT_DEPTH:
                os.rename(name, f".removing-{next(counter)}", src_dir_fd=dir_fd, dst_dir_fd=root_fd)
                continue
            try:
                os.chmod(name, 0o700, dir_fd=dir_fd)
            except OSError:
                pass
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            try:
                _clear(child, depth + 1, root_fd, counter)
            finally:
                os.close(child)
            os.rmdir(name, dir_fd=dir_fd)
        except OSError:
            continue


def cap_size(path: str | Path, limit: int = MAX_BYTES) -> bool:
    """Delete the folder if it holds more than ``limit`` bytes; ``True`` if it was deleted."""
    if size(path, limit) > limit:
        remove(path)
        return True
    return False


def read_entries(folder: str | Path, *, skip: dict[str, int] | None = None,
                 budget: int = MAX_BYTES) -> list[tuple[str, bytes]]:
    """``(name, bytes)`` of the cache entries in ``folder``: regular files directly in it with
    an :data:`ENTRY_NAME`, at most :data:`MAX_ENTRY_BYTES` each, :data:`MAX_ENTRIES_OUT`
    in all and ``budget`` bytes in total (the rest is left out). ``skip`` maps names to
    sizes to leave out when unchanged (the entries a worker was seeded with). Never raises.
    """
    out: list[tuple[str, bytes]] = []
    total = 0
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return out
    for name in names:
        if len(out) >= MAX_ENTRIES_OUT or not ENTRY_NAME.fullmatch(name):
            continue
        path = os.path.join(folder, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_ENTRY_BYTES:
                continue
            if skip is not None and skip.get(name) == st.st_size:
                continue
            if total + st.st_size > budget:
                continue
            data = os.read(fd, st.st_size + 1)
            if len(data) != st.st_size:
                continue
        except OSError:
            continue
        finally:
            os.close(fd)
        total += len(data)
        out.append((name, data))
    return out


def write_entries(folder: str | Path, entries: list[tuple[str, bytes]]) -> int:
    """Write cache entries received from a worker into ``folder`` (created if missing).

    Each is checked (:data:`ENTRY_NAME`, size) and written as a fresh 0600 regular file,
    atomically (a temporary name, then rename); the folder's total stays within
    :data:`MAX_BYTES`. Returns the number written. Raises ``OSError`` only if ``folder``
    cannot be created.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    room = MAX_BYTES - size(folder, MAX_BYTES)
    written = 0
    for name, data in entries[:MAX_ENTRIES_OUT]:
        if not (isinstance(name, str) and ENTRY_NAME.fullmatch(name) and isinstance(data, bytes)):
            continue
        if len(data) > MAX_ENTRY_BYTES or len(data) > room:
            continue
        tmp = folder / f".tmp-{secrets.token_hex(8)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, folder / name)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            continue
        room -= len(data)
        written += 1
    return written


def prune(worker_root: str | Path, keep: int = KEEP) -> None:
    """Keep only the ``keep`` most recently changed folders directly under ``worker_root``.

    Ordered by status-change time (``ctime``), which no process can set to the future
    (``mtime`` can be, with ``utime``; only the parent writes these folders anyway).
    """
    try:
        with os.scandir(worker_root) as it:
            dirs = []
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    dirs.append((st.st_ctime, e.path))
    except OSError:
        return
    dirs.sort()
    for _, p in dirs[:-keep] if len(dirs) > keep else []:
        remove(p)
