"""Instructor batch mode: grade every submission in a folder, in parallel, into a CSV.

- Submissions are the ``.py`` and ``.ipynb`` files under ``DIR`` (recursively; hidden folders,
  ``__pycache__`` and ``.ipynb_checkpoints`` skipped), named in the CSV by their path relative
  to ``DIR``.
- One seed for the whole batch (everyone gets the same hidden inputs; recorded in every row).
  Cases and expected values are built once, up front, and shared read-only.
- ``jobs`` submissions are graded at once, each with its own worker process, temporary
  directory and limits, so one hostile submission cannot affect another's grade; workers may
  not read ``DIR`` (nobody can load a classmate's file at grading time).
- Every submission gets exactly one row, whatever happens, and a ``status``: ``graded``;
  ``grading error`` (the grader itself failed on it: any exception while grading it, or a
  part the engine reports as a grading error; the total is left empty, withheld rather than
  a zero, parts it did grade keep their points, and ``note`` says what failed); or
  ``not graded (interrupted)`` (``stop`` was set before it finished; grade it again); or
  ``not graded (not a file)`` (a symbolic link: never followed, so a link to a classmate's
  file or a reference solution earns nothing).
- The CSV is always written, atomically: to a temporary file in the same folder, then
  ``os.replace``d over ``out_csv``, so a reader sees the old file or the whole new one, never
  a half-written one. It is written even if preparing the batch fails (every row a grading
  error, then the exception propagates) or ``stop`` is set.
- ``stop`` (a :class:`Stop` or :class:`threading.Event`): once set, no submission starts any
  more, and one still being graded becomes ``not graded (interrupted)`` (its worker was
  killed, so its partial scores mean nothing). :mod:`grader.cli` sets it from its
  SIGINT/SIGTERM/SIGHUP handler, which then kills every live worker
  (:func:`grader.runner.kill_all`). The main thread polls ``stop`` every 0.2 s while
  submissions are graded; while it builds the expected values (before any worker starts) it
  notices ``stop`` only when that step ends.
"""

from __future__ import annotations

import concurrent.futures
import csv
import io
import os
import secrets
import threading
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple

from grader.engine import Grader, GraderError, Result
from grader.spec import Assignment

_SKIP = {"__pycache__", ".ipynb_checkpoints"}

GRADED = "graded"
GRADING_ERROR = "grading error"
INTERRUPTED = "not graded (interrupted)"
NOT_A_FILE = "not graded (not a file)"
_NOT_A_FILE_NOTE = ("a symbolic link, not a file: submissions must be the files themselves "
                    "(an archive that held a link?)")
_NOT_YOUR_FAULT = "a fault of the grader, not of the submission; grade it again once fixed"
_INTERRUPTED_NOTE = "the grading was interrupted before this submission was graded; grade it again"


class Stop:
    """A flag that says "stop grading": like :class:`threading.Event` without its lock, so a
    signal handler may set it even while the interrupted code is inside another set()."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


class Row(NamedTuple):
    """One submission's outcome: ``result`` is ``None`` unless it was graded."""

    path: Path
    result: Result | None
    status: str  # GRADED | GRADING_ERROR | INTERRUPTED | NOT_A_FILE
    note: str


def find_submissions(root: str | Path) -> list[Path]:
    """The ``.py``/``.ipynb`` files under ``root``, sorted; symbolic links to folders are not
    followed, and symbolic links named like submissions are listed (they get a row saying
    they were not graded: see :data:`NOT_A_FILE`)."""
    root = Path(root)
    out = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIP]
        for name in files:
            p = Path(folder) / name
            if p.suffix.lower() in (".py", ".ipynb") and not name.startswith("."):
                out.append(p)
    return sorted(out)


def _not_a_file(path: Path, root: Path) -> bool:
    """A symbolic link, or not a regular file inside ``root`` (an archive can hold links to
    any file the grader can read, a classmate's or a reference solution)."""
    try:
        return (path.is_symlink() or not path.is_file()
                or not os.path.realpath(path).startswith(str(root).rstrip("/") + "/"))
    except OSError:
        return True


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:300] + " …"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _error_note(result: Result) -> str | None:
    """The reason when the engine reports a grading error in ``result`` (else ``None``)."""
    status = getattr(result, "status", None)
    bad = [p for p in result.parts if "error" in str(getattr(p, "status", "") or "")]
    if not bad and not (isinstance(status, str) and "error" in status):
        return None
    reasons = [f"{p.function}: {' '.join(str(p.feedback).split())}" for p in bad]
    if not reasons:
        reasons = [" ".join(str(getattr(result, "error", "") or status).split())]
    return "grading error (" + _NOT_YOUR_FAULT + "): " + "; ".join(reasons)


def grade_folder(assignment: Assignment, root: str | Path, out_csv: str | Path, *, jobs: int = 2,
                 seed: int | None = None, overrides: Mapping[str, Any] | None = None,
                 cache_root: str | None = None,
                 on_done: Callable[[Row], None] | None = None,
                 stop: Stop | threading.Event | None = None) -> list[Row]:
    """Grade every submission under ``root`` into ``out_csv``; one :class:`Row` per file.

    Never raises for a submission's sake (see the module docstring); the CSV is written in
    every case, then any exception of the batch itself (not of one submission) propagates.
    """
    root = Path(root).resolve()
    stop = stop if stop is not None else Stop()
    files = find_submissions(root)
    rows: dict[Path, Row] = {f: Row(f, None, INTERRUPTED, _INTERRUPTED_NOTE) for f in files}
    batch_seed = seed
    try:
        try:
            base = Grader(assignment, seed=seed, overrides=overrides, cache_root=cache_root,
                          deny_read=[str(root)])
            batch_seed = base.seed
            if not stop.is_set():
                base.materialize()
                shared = base.cases()
        except Exception as exc:  # noqa: BLE001 - the grader's own fault: everyone's row says so
            note = (f"grading error ({_NOT_YOUR_FAULT}): the grader could not prepare the cases "
                    f"({_describe(exc)})")
            rows = {f: Row(f, None, GRADING_ERROR, note) for f in files}
            raise
        if not stop.is_set():
            _run(assignment, root, files, rows, jobs=jobs, seed=batch_seed, overrides=overrides,
                 cache_root=cache_root, shared=shared, on_done=on_done, stop=stop)
    finally:
        results = [rows[f] for f in files]
        write_csv(assignment, root, results, batch_seed, out_csv)
    return results


def _run(assignment: Assignment, root: Path, files: list[Path], rows: dict[Path, Row], *,
         jobs: int, seed: int, overrides, cache_root, shared, on_done, stop) -> None:
    def one(path: Path) -> Row | None:
        if stop.is_set():
            return None
        rel = str(path.relative_to(root))
        if _not_a_file(path, root):
            return Row(path, None, NOT_A_FILE, _NOT_A_FILE_NOTE)
        try:
            g = Grader(assignment, seed=seed, overrides=overrides, cache_root=cache_root,
                       deny_read=[str(root)], cases=shared)
            result = g.grade(path, display_name=rel)
        except Exception as exc:  # noqa: BLE001 - any fault here is this submission's row only
            if stop.is_set():
                return None
            what = str(exc) if isinstance(exc, GraderError) else _describe(exc)
            return Row(path, None, GRADING_ERROR, f"grading error ({_NOT_YOUR_FAULT}): {what}")
        # The signal handler sets ``stop`` before it kills any worker, so a grading that
        # returned before ``stop`` was set cannot have been disturbed by the interruption.
        if stop.is_set():
            return None
        note = _error_note(result)
        if note is not None:
            return Row(path, result, GRADING_ERROR, note)
        return Row(path, result, GRADED, "")

    pool = concurrent.futures.ThreadPoolExecutor(max(1, int(jobs)))
    try:
        pending = {pool.submit(one, f) for f in files}
        while pending:
            # Poll, rather than block, so that ``stop`` is seen within 0.2 s.
            finished, pending = concurrent.futures.wait(
                pending, timeout=0.2, return_when=concurrent.futures.FIRST_COMPLETED)
            for fut in finished:
                if fut.cancelled():
                    continue
                row = fut.result()  # one() never raises (Exception); BaseException propagates
                if row is None:
                    continue
                rows[row.path] = row
                if on_done is not None:
                    try:
                        on_done(row)
                    except Exception:  # noqa: BLE001 - a progress display never stops grading
                        pass
            if stop.is_set():
                for fut in pending:
                    fut.cancel()
    finally:
        # Running gradings end quickly once their workers are killed (kill_all refuses any
        # new worker); not-yet-started ones are cancelled.
        pool.shutdown(wait=True, cancel_futures=True)


def csv_fields(assignment: Assignment) -> list[str]:
    return (["submission", "status", "score", "max_score"] + [p.function for p in assignment.parts]
            + ["seed", "note"])


def write_csv(assignment: Assignment, root: Path, results, seed: int | None,
              out_csv: str | Path) -> None:
    """Write the rows to ``out_csv`` atomically (a temporary file in its folder, then rename)."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(csv_fields(assignment))
    n_parts = len(assignment.parts)
    for path, result, status, note in results:
        row: list[Any] = [str(path.relative_to(root)), status]
        if result is None:
            row += ["", f"{assignment.max_score:g}"] + [""] * n_parts
        elif status == GRADED:
            row += [f"{result.score:g}", f"{result.max_score:g}"] + [f"{p.score:g}" for p in result.parts]
        else:  # a grading error somewhere: the total is withheld, the parts graded are shown
            row += ["", f"{result.max_score:g}"] + [
                "" if "error" in str(getattr(p, "status", "") or "") else f"{p.score:g}"
                for p in result.parts]
        row += ["" if seed is None else seed, note]
        w.writerow(row)
    write_atomic(out_csv, buf.getvalue())


def write_atomic(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step: readers see the old file or the new one."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def check_writable(path: str | Path) -> str | None:
    """Why ``path`` cannot be written as an output file (``None`` if it can).

    Checked by creating (and removing) a file in its folder, so it is right for root, read-only
    file systems and ACLs alike.
    """
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        return f"{path} is a folder; give a file name"
    if folder.exists() and not folder.is_dir():
        return f"{folder} is not a folder"
    if not folder.is_dir():
        return f"the folder {folder} does not exist; create it first or choose another path"
    probe = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return f"cannot write in the folder {folder} ({exc.strerror or exc})"
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass
    return None
