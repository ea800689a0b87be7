"""Output files replaced in one step: a reader sees the old file or the whole new one, never a
half-written one, and a failure leaves no temporary file behind.

The temporary file is a hidden name in the target's own folder (``.<name>.<pid>.<random>.tmp``,
so :func:`os.replace` is a rename within one file system), created exclusively; the umask
applies to its mode. Used for every file the grader writes for people to read: the CSV of
``grader grade``, each ``results.json``, the class summary's page and image.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


def temporary_name(path: str | Path) -> Path:
    """A fresh hidden name next to ``path``."""
    path = Path(path)
    return path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on any exception it is
    removed and the exception propagates (``path`` is untouched)."""
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (flushed to disk first)."""
    with replacing(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` as UTF-8 (strict: text must already be valid), newlines
    as given."""
    write_bytes(path, text.encode("utf-8"))
