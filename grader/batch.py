"""Instructor batch mode: grade every submission in a folder, in parallel, into a CSV, one
Gradescope ``results.json`` per submission, and a class summary.

What is a submission (:func:`find_submissions`):

- a file at the top level of ``DIR`` whose name matches a pattern (``--pattern``, repeatable;
  default ``*.py`` and ``*.ipynb``; matched case-insensitively against the file name; only
  ``.py`` and ``.ipynb`` files are ever graded, a pattern only narrows them). The student id
  is the file's stem: ``DIR/alice.ipynb`` is ``alice``;
- or a folder at the top level of ``DIR``: one folder per student, the student id is the
  folder's name, and the submission is the one file directly inside it that matches a
  pattern (``DIR/bob/work.py`` is ``bob``). A folder with no such file gets a row
  ``not graded (no file)``, one with several ``not graded (several files)``; neither is
  scored, and ``note`` says what was found;
- nothing else: files deeper down, hidden files and folders (``.*``), ``__pycache__``,
  ``.ipynb_checkpoints`` and files that match no pattern are never looked at. Several
  submissions with the same student id (``alice.py`` and ``alice.ipynb``, or ``alice.py`` and
  ``alice/``) make one row ``not graded (several files)``: the grader does not guess which
  one counts.
- Symbolic links are never followed: a link named like a submission, a link to a folder, and
  a student's file that is a link all get a row ``not graded (not a file)`` (a link to a
  classmate's file or to a reference solution earns nothing).

Rows are sorted by student id (ignoring case); each student has exactly one.

Grading:

- One seed for the whole batch (everyone gets the same hidden inputs; recorded in every row).
  Cases and expected values are built once, up front, and shared read-only.
- ``jobs`` submissions are graded at once, each with its own worker process, temporary
  directory and limits, so one hostile submission cannot affect another's grade; workers may
  not read ``DIR`` (nobody can load a classmate's file at grading time).
- Every submission gets exactly one row, whatever happens, and a ``status``: ``graded``;
  ``grading error`` (the grader itself failed on it: any exception while grading it, or a
  part the engine reports as a grading error; the total is left empty, withheld rather than
  a zero, parts it did grade keep their points, and ``note`` says what failed); or
  ``not graded (interrupted)`` (``stop`` was set before it finished; grade it again); or one
  of the ``not graded (...)`` statuses above (the submission itself cannot be graded as
  found; no score).

What it writes, for ``--out grades.csv`` (:func:`output_paths`):

- ``grades.csv``: one row per student. Columns: ``student``, ``submission`` (its path
  relative to ``DIR``; a folder ends in ``/``), ``status``, ``score`` (empty unless
  ``graded``), ``max_score``, one column per part with its points, ``seed``, ``note`` (why a
  row has no score), then one column per part with its feedback (``<function> feedback``:
  the text the student reads, e.g. "Not implemented yet", "Wrong result on ...: the weights
  are scaled by sqrt(1 / n_{l-1}) (Xavier); He uses sqrt(2 / n_{l-1}).", "Your code did not
  finish within 10 s ..."). Text cells that a spreadsheet would run as a formula (starting
  with ``=``, ``+``, ``-``, ``@``) are prefixed with ``'``.
- ``grades_results/<student>.json``: the student's Gradescope ``results.json``, written by
  :func:`grader.report.to_json` exactly as ``grader submit --json`` writes it, with the
  student id, the submission and its batch status added to ``extra_data``. A row without a
  result gets one too (:func:`grader.report.unscored`): score 0 with the reason on every
  test when the submission is why, every test a grading error (points withheld) when the
  grader is. Interrupted rows get none (a partial score would look final). The folder is
  replaced as a whole, so it holds this run's files only; a folder of that name holding
  anything but ``.json`` files is never touched (:func:`check_outputs`).
- ``grades_summary.html`` and ``grades_summary.png``: the class summary
  (:mod:`grader.class_summary`): per part the pass rate and the named mistakes, most frequent
  first, and the score histogram (the PNG needs matplotlib; without it the page says so).

Writing:

- The CSV is always written, atomically: to a temporary file in the same folder, then
  ``os.replace``d over ``out_csv``, so a reader sees the old file or the whole new one, never
  a half-written one. It is written even if preparing the batch fails (every row a grading
  error, then the exception propagates) or ``stop`` is set. The results folder and the
  summary are written after it (each replaced in one step too).
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
import fnmatch
import hashlib
import io
import os
import secrets
import shutil
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from grader import atomic_file, class_summary, report
from grader.engine import Grader, GraderError, Result
from grader.spec import Assignment

_SKIP = {"__pycache__", ".ipynb_checkpoints"}
DEFAULT_PATTERNS = ("*.py", "*.ipynb")
SUFFIXES = (".py", ".ipynb")

GRADED = "graded"
GRADING_ERROR = "grading error"
INTERRUPTED = "not graded (interrupted)"
NOT_A_FILE = "not graded (not a file)"
NO_FILE = "not graded (no file)"
SEVERAL_FILES = "not graded (several files)"
_NOT_A_FILE_NOTE = ("a symbolic link, not a file: submissions must be the files themselves "
                    "(an archive that held a link?)")
_FOLDER_LINK_NOTE = ("a symbolic link to a folder, not a folder: links are never followed; "
                     "copy the student's folder itself into DIR")
_NOT_YOUR_FAULT = "a fault of the grader, not of the submission; grade it again once fixed"
_INTERRUPTED_NOTE = "the grading was interrupted before this submission was graded; grade it again"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class Stop:
    """A flag that says "stop grading": like :class:`threading.Event` without its lock, so a
    signal handler may set it even while the interrupted code is inside another set()."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


class Submission(NamedTuple):
    """One student's entry in ``DIR`` (see the module docstring).

    ``path``: the file to grade (for an entry that cannot be graded: the folder, or the first
    file found). ``shown``: the ``submission`` column, relative to ``DIR``. ``status``/``note``:
    empty for a file to grade, else why it is not graded (:data:`NOT_A_FILE`,
    :data:`NO_FILE`, :data:`SEVERAL_FILES`)."""

    student: str
    path: Path
    shown: str
    status: str = ""
    note: str = ""

    @property
    def gradable(self) -> bool:
        return not self.status


class Row(NamedTuple):
    """One submission's outcome: ``result`` is ``None`` unless it was graded."""

    path: Path
    result: Result | None
    status: str  # GRADED | GRADING_ERROR | INTERRUPTED | NOT_A_FILE | NO_FILE | SEVERAL_FILES
    note: str
    student: str = ""
    submission: str = ""  # the CSV's ``submission`` column (relative to DIR)


class Batch(list):
    """What :func:`grade_folder` returns: the :class:`Row` of every student (a ``list``,
    sorted by student id) and what it wrote: ``csv``, ``results_dir`` (the per-submission
    ``results.json`` files) and ``summary`` (a :class:`grader.class_summary.ClassSummary`
    whose ``html``/``png`` are the summary page and its image; ``None`` if not written)."""

    csv: Path | None = None
    results_dir: Path | None = None
    summary: class_summary.ClassSummary | None = None


def check_patterns(patterns: Iterable[str] | None) -> str | None:
    """Why ``patterns`` cannot select submissions (``None`` if they can)."""
    for p in patterns or ():
        if not p or "/" in p or os.sep in p:
            return (f"--pattern {p!r}: a pattern matches file names (at the top level of DIR, "
                    "or directly inside a student's folder), not paths")
    return None


def _matches(name: str, patterns: Sequence[str]) -> bool:
    low = name.lower()
    return (not name.startswith(".") and os.path.splitext(low)[1] in SUFFIXES
            and any(fnmatch.fnmatchcase(low, p.lower()) for p in patterns))


def _listing(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as it:
        return sorted((e for e in it if not e.name.startswith(".") and e.name not in _SKIP),
                      key=lambda e: e.name)


def find_submissions(root: str | Path, patterns: Iterable[str] | None = None, *,
                     exclude: Iterable[str | Path] = ()) -> list[Submission]:
    """Every student's :class:`Submission` in ``root``, sorted by student id (see the module
    docstring for the rules). ``exclude``: folders never taken for a student's (the batch's own
    results folder, when it is inside ``root``)."""
    root = Path(root)
    patterns = tuple(patterns or DEFAULT_PATTERNS)
    skip = {os.path.realpath(p) for p in exclude}
    found: dict[str, list[tuple[Path, str, str]]] = {}  # student -> [(path, shown, kind)]
    for entry in _listing(root):
        path = root / entry.name
        if entry.is_symlink():
            if _matches(entry.name, patterns):
                found.setdefault(path.stem, []).append((path, entry.name, "link"))
            elif path.is_dir():  # only looks at where it points: it is never walked
                found.setdefault(entry.name, []).append((path, entry.name + "/", "folder link"))
        elif entry.is_dir(follow_symlinks=False):
            if os.path.realpath(path) not in skip:
                found.setdefault(entry.name, []).append((path, entry.name + "/", "folder"))
        elif entry.is_file(follow_symlinks=False) and _matches(entry.name, patterns):
            found.setdefault(path.stem, []).append((path, entry.name, "file"))
    # File names enter as valid text (bytes that are not UTF-8 shown as \xNN escapes), so the
    # CSV and every results.json can be written strictly; ``path`` keeps the real name.
    from grader.notebook import valid_text

    return [sub._replace(student=valid_text(sub.student), shown=valid_text(sub.shown),
                         note=valid_text(sub.note))
            for sub in (_one_student(student, found[student], patterns)
                        for student in sorted(found, key=lambda s: (s.casefold(), s)))]


def _one_student(student: str, entries: list[tuple[Path, str, str]],
                 patterns: Sequence[str]) -> Submission:
    if len(entries) > 1:
        shown = ", ".join(s for _, s, _ in entries)
        return Submission(student, entries[0][0], "; ".join(s for _, s, _ in entries),
                          SEVERAL_FILES, f"several submissions for {student} ({shown}): keep "
                          "one and grade again")
    path, shown, kind = entries[0]
    if kind == "link":
        return Submission(student, path, shown, NOT_A_FILE, _NOT_A_FILE_NOTE)
    if kind == "folder link":
        return Submission(student, path, shown, NOT_A_FILE, _FOLDER_LINK_NOTE)
    if kind == "file":
        return Submission(student, path, shown)
    try:
        inside = [e for e in _listing(path) if _matches(e.name, patterns)
                  and (e.is_symlink() or not e.is_dir(follow_symlinks=False))]
    except OSError as exc:
        return Submission(student, path, shown, NO_FILE,
                          f"the folder {shown} cannot be read ({exc.strerror or exc})")
    wanted = " or ".join(patterns)
    if not inside:
        return Submission(student, path, shown, NO_FILE,
                          f"no submission in {shown}: no file matching {wanted} directly inside it")
    if len(inside) > 1:
        names = ", ".join(e.name for e in inside)
        return Submission(student, path / inside[0].name, shown, SEVERAL_FILES,
                          f"several files in {shown} match {wanted} ({names}): keep one and "
                          "grade again (or narrow them with --pattern)")
    entry = inside[0]
    file = path / entry.name
    if entry.is_symlink():
        return Submission(student, file, shown + entry.name, NOT_A_FILE, _NOT_A_FILE_NOTE)
    return Submission(student, file, shown + entry.name)


def output_paths(out_csv: str | Path) -> dict[str, Path]:
    """Where a batch writing ``out_csv`` puts its other files: ``results`` (the folder of
    per-submission ``results.json``), ``html`` and ``png`` (the class summary), all beside
    the CSV and named after its stem: ``grades.csv`` -> ``grades_results/``,
    ``grades_summary.html``, ``grades_summary.png``."""
    out_csv = Path(out_csv)
    stem = out_csv.stem
    return {"results": out_csv.with_name(f"{stem}_results"),
            "html": out_csv.with_name(f"{stem}_summary.html"),
            "png": out_csv.with_name(f"{stem}_summary.png")}


def check_outputs(out_csv: str | Path) -> str | None:
    """Why the batch's other outputs (:func:`output_paths`) cannot replace what is there
    (``None`` if they can): the results folder is replaced as a whole, so a file of its name,
    or a folder of its name holding anything but ``.json`` files (not ours), is left alone."""
    paths = output_paths(out_csv)
    problem = _check_results_folder(paths["results"])
    if problem:
        return problem + "; move it or choose another --out"
    for key in ("html", "png"):
        if paths[key].is_dir():
            return f"{paths[key]} is a folder; move it or choose another --out"
    return None


def _check_results_folder(folder: Path) -> str | None:
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        return f"{folder} exists and is not a folder"
    if folder.is_dir():
        try:
            with os.scandir(folder) as it:
                strange = sorted(e.name for e in it if not (
                    e.name.endswith(".json") and e.is_file(follow_symlinks=False)))
        except OSError as exc:
            return f"cannot read {folder} ({exc.strerror or exc})"
        if strange:
            return (f"{folder} holds files other than results.json files (e.g. {strange[0]}) "
                    "and each run replaces that folder")
    return None


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
                 cache_root: str | None = None, patterns: Iterable[str] | None = None,
                 reports: bool = True,
                 on_done: Callable[[Row], None] | None = None,
                 stop: Stop | threading.Event | None = None) -> Batch:
    """Grade every submission in ``root`` into ``out_csv``; one :class:`Row` per student.

    ``patterns``: which files are submissions (default :data:`DEFAULT_PATTERNS`; see the
    module docstring). ``reports``: also write the per-submission ``results.json`` files and
    the class summary (:func:`output_paths`). ``on_done`` is called with each row that needed
    grading, once graded (rows not graded as found are known from the start).

    Never raises for a submission's sake (see the module docstring); the CSV is written in
    every case, then any exception of the batch itself (not of one submission) propagates.
    """
    root = Path(root).resolve()
    stop = stop if stop is not None else Stop()
    paths = output_paths(out_csv)
    subs = find_submissions(root, patterns, exclude=[paths["results"]])
    rows = {s.student: _unscored_row(s, INTERRUPTED, _INTERRUPTED_NOTE) for s in subs}
    batch_seed = seed
    shared = None
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
            rows = {s.student: _unscored_row(s, GRADING_ERROR, note) for s in subs}
            raise
        if not stop.is_set():
            _run(assignment, root, subs, rows, jobs=jobs, seed=batch_seed, overrides=overrides,
                 cache_root=cache_root, shared=shared, on_done=on_done, stop=stop)
    finally:
        results = Batch(rows[s.student] for s in subs)
        write_csv(assignment, root, results, batch_seed, out_csv)
        results.csv = Path(out_csv)
        if reports:
            _write_reports(assignment, results, batch_seed, paths)
    return results


def _unscored_row(sub: Submission, status: str, note: str) -> Row:
    """The row of a submission without a result: its own problem if it has one, else
    ``status``/``note``."""
    if not sub.gradable:
        return Row(sub.path, None, sub.status, sub.note, sub.student, sub.shown)
    return Row(sub.path, None, status, note, sub.student, sub.shown)


def _run(assignment: Assignment, root: Path, subs: list[Submission], rows: dict[str, Row], *,
         jobs: int, seed: int, overrides, cache_root, shared, on_done, stop) -> None:
    def one(sub: Submission) -> Row | None:
        if stop.is_set():
            return None
        if _not_a_file(sub.path, root):
            return Row(sub.path, None, NOT_A_FILE, _NOT_A_FILE_NOTE, sub.student, sub.shown)
        try:
            # One lane each when submissions are graded side by side already (cores are busy).
            g = Grader(assignment, seed=seed, overrides=overrides, cache_root=cache_root,
                       deny_read=[str(root)], cases=shared, lanes=1 if jobs > 1 else 2)
            # Each student's files share one worker cache, never another student's.
            result = g.grade(sub.path, display_name=sub.shown, cache_owner="student\0" + sub.student)
        except Exception as exc:  # noqa: BLE001 - any fault here is this submission's row only
            if stop.is_set():
                return None
            what = str(exc) if isinstance(exc, GraderError) else _describe(exc)
            return Row(sub.path, None, GRADING_ERROR, f"grading error ({_NOT_YOUR_FAULT}): {what}",
                       sub.student, sub.shown)
        # The signal handler sets ``stop`` before it kills any worker, so a grading that
        # returned before ``stop`` was set cannot have been disturbed by the interruption.
        if stop.is_set():
            return None
        note = _error_note(result)
        if note is not None:
            return Row(sub.path, result, GRADING_ERROR, note, sub.student, sub.shown)
        return Row(sub.path, result, GRADED, "", sub.student, sub.shown)

    pool = concurrent.futures.ThreadPoolExecutor(max(1, int(jobs)))
    try:
        pending = {pool.submit(one, s) for s in subs if s.gradable}
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
                rows[row.student] = row
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
    """The CSV's header: the columns of earlier versions keep their order (``student`` is
    new in front, the feedback columns new at the end)."""
    parts = [p.function for p in assignment.parts]
    return (["student", "submission", "status", "score", "max_score"] + parts + ["seed", "note"]
            + [f"{f} feedback" for f in parts])


def spreadsheet_cell(text: str) -> str:
    """Text for a spreadsheet cell that it will not run as a formula (file names and
    feedback can hold anything a student typed)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_csv(assignment: Assignment, root: Path, results: Iterable[Row], seed: int | None,
              out_csv: str | Path) -> None:
    """Write the rows to ``out_csv`` atomically (a temporary file in its folder, then rename)."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(csv_fields(assignment))
    n_parts = len(assignment.parts)
    for r in results:
        shown = r.submission or str(r.path.relative_to(root))
        row: list[Any] = [spreadsheet_cell(r.student or Path(shown).stem), spreadsheet_cell(shown), r.status]
        result = r.result
        if result is None:
            points = [""] * n_parts
            row += ["", f"{assignment.max_score:g}"] + points
        elif r.status == GRADED:
            row += [f"{result.score:g}", f"{result.max_score:g}"] + [f"{p.score:g}" for p in result.parts]
        else:  # a grading error somewhere: the total is withheld, the parts graded are shown
            row += ["", f"{result.max_score:g}"] + [
                "" if "error" in str(getattr(p, "status", "") or "") else f"{p.score:g}"
                for p in result.parts]
        row += ["" if seed is None else seed, spreadsheet_cell(r.note)]
        if result is None:
            row += [""] * n_parts
        else:
            row += [spreadsheet_cell(p.feedback) for p in result.parts]
        w.writerow(row)
    atomic_file.write_text(out_csv, buf.getvalue())


def _json_name(student: str) -> str:
    """``<student>.json``, shortened (with a hash, so still unique) where a file system would
    refuse so long a name."""
    name = student + ".json"
    if len(name.encode("utf-8", "surrogateescape")) <= 200:
        return name
    digest = hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return student.encode("utf-8", "surrogateescape")[:150].decode("utf-8", "ignore") + f"-{digest}.json"


def write_results(assignment: Assignment, rows: Iterable[Row], seed: int | None,
                  folder: str | Path) -> Path:
    """One Gradescope ``results.json`` per row into ``folder`` (``<student>.json``; none for an
    interrupted row), replacing the folder as a whole (see the module docstring)."""
    folder = Path(folder)
    problem = _check_results_folder(folder)
    if problem:
        raise FileExistsError(problem)
    tmp = atomic_file.temporary_name(folder)
    try:
        tmp.mkdir()
        for r in rows:
            if r.status == INTERRUPTED:
                continue
            result = r.result
            if result is None:
                result = report.unscored(assignment, file=r.submission, seed=seed,
                                         reason=_reason(r), withheld=r.status == GRADING_ERROR)
            text = report.to_json(result, headline=_reason(r) if r.note else "",
                                  student=r.student, submission=r.submission, status=r.status,
                                  note=r.note)
            (tmp / _json_name(r.student)).write_text(text, encoding="utf-8")
        _replace_folder(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _reason(row: Row) -> str:
    """The feedback of every part of a row without a result (Gradescope shows it)."""
    if row.status == GRADING_ERROR:
        return row.note[:1].upper() + row.note[1:] + "."
    return f"Not graded: {row.note}."


def _replace_folder(new: Path, dest: Path) -> None:
    """``new`` becomes ``dest``; the old ``dest`` (if any) is removed after the swap, so a
    reader sees the old folder or the new one (for a moment, none)."""
    old = None
    if dest.is_dir() and not dest.is_symlink():
        old = atomic_file.temporary_name(dest).with_suffix(".old")
        os.rename(dest, old)
    os.rename(new, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_reports(assignment: Assignment, results: Batch, seed: int | None,
                   paths: Mapping[str, Path]) -> None:
    results.results_dir = write_results(assignment, results, seed, paths["results"])
    summary = class_summary.summarize(assignment, results, seed=seed)
    results.summary = class_summary.write_html(summary, paths["html"], paths["png"])


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
