"""Workers' compilation-cache folders: where they are, and keeping them bounded.

A worker may write its own folder (student code runs there and can put anything in it), so
everything here treats a folder's contents as hostile: walks are iterative (a tree 10,000
levels deep is fine), never follow symlinks, stop counting at a limit, and removal never
raises. The parent's own cache is elsewhere and is never shown to a worker.

Layout: ``<cache root>/worker/<digest>``, where the digest covers the assignment id and the
submission's source (or ``"trusted"`` for the project's own runs, which share one folder per
assignment). The newest :data:`KEEP` folders are kept; a folder that grew past
:data:`MAX_BYTES` is deleted after grading.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

KEEP = 64
MAX_BYTES = 256 * 2**20
MAX_ENTRIES = 100_000  # counting stops here: such a folder is over any sane limit anyway


def folder(cache_root: str | Path, assignment_id: str, source: str, *, trusted: bool = False) -> Path:
    """The cache folder of one submission (not created)."""
    key = assignment_id + "\0" + ("trusted" if trusted else source)
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return Path(cache_root) / "worker" / digest


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
                        total += st.st_size
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
        entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in os.scandir(dir_fd)]
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


def prune(worker_root: str | Path, keep: int = KEEP) -> None:
    """Keep only the ``keep`` most recently modified folders directly under ``worker_root``."""
    try:
        with os.scandir(worker_root) as it:
            dirs = []
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    dirs.append((st.st_mtime, e.path))
    except OSError:
        return
    dirs.sort()
    for _, p in dirs[:-keep] if len(dirs) > keep else []:
        remove(p)
