"""Each assignment's policy on the grading service: due date, rate limit, what hidden cases reveal.

Read at start-up from the ``[serve]`` table of each course folder's ``course.toml``
(:func:`load`) and checked there: a bad value is a :class:`grader.registry.CourseError` naming
the file and the key. The shape::

    [serve]                       # defaults for the assignments of this course folder
    rate_limit = "10/hour"
    hidden = "pass-fail"

    [serve."week1/initialization"]
    due = 2026-12-01T23:59:00Z    # a TOML date-time with Z or an offset (-05:00)
    hidden = "none"

``due``
    The due date: a TOML offset date-time (or the same as an ISO 8601 string). A date-time
    without a timezone is an error, never guessed (write ``Z`` for UTC). Submissions after it
    are accepted and flagged late. No ``due``: nothing is ever late.
``rate_limit``
    ``"N/hour"``, N >= 1: each student's accepted submissions of the assignment in the sliding
    last hour (counted in the database, so the limit holds across restarts and across server
    processes). Instructors are not limited. Default: ``grader serve --rate-limit`` (10/hour).
``hidden``
    What a student's report shows of the hidden cases (instructors always see everything):
    ``full`` (default): the whole report; ``pass-fail``: each part's points and whether it
    passed all its cases, hidden ones included, with the feedback and printed output of a
    separate visible-cases-only grading (before and after the due date); ``none``: until the
    due date, only that visible-cases-only grading, as ``grader test`` shows it (the
    hidden-case outcomes and the total withheld), the full report after it. ``none`` without a
    due date withholds them for good.

Which value applies to an assignment, first found: its own ``[serve."<id>"]`` table (in the
course folders' order: ``--course``, ``GRADER_COURSE``, built-in; it may name any assignment
the server offers), then the ``[serve]`` defaults of the course folder that holds the
assignment, then the command line / built-in defaults. An unknown key or an unknown
assignment id is an error.

Late (:meth:`AssignmentPolicy.is_late`) is computed from ``submitted_at`` and the *current*
due date, never stored: a deadline moved later (and the server restarted) un-flags.

What a student reads under ``pass-fail`` and ``none`` (:func:`reveal`, :func:`reveal_submission`)
is built, not filtered. Every text and number in it (feedback, printed output, errors,
timings) comes from a grading whose processes never received a hidden input: when the
assignment's ``hidden`` is not ``full`` at grading time, the worker
(:mod:`grader.serve.worker_loop`) first grades the file on the visible cases alone, as
``grader test`` does, in fresh sandboxed processes, then grades it in full; it stores both
(``submissions.result``, ``submissions.visible_result``). Neither run uses the per-student
worker cache, the one piece of host state a sandboxed submission can write (through its
parent), so nothing the full run's code saw can reach a later visible run; and the visible
run is over before the full run starts. (This rests on the OS sandbox: a worker started with
``--no-sandbox`` gives student code the host's files, and no such guarantee.) From the full
run the student gets, under ``pass-fail`` only, each part's status (passed, failed, or a
grading error) and its points, worded by the server; under ``none`` nothing. A row with no
visible run (graded before schema revision 0002, or while the assignment was ``full``) is
shown with fixed wording only.

What still reaches a student, by design or as a known limit:

- Under ``pass-fail``, the status of each part, which the student's code can make depend on
  a hidden input (fail on purpose when it sees one it likes): at most one status (of three)
  per part per submission, and the rate limit bounds the submissions per hour.
- The moment a submission stops being ``running`` follows the full run's duration, which
  code that sleeps on hidden inputs can stretch: a student polling the status (or watching
  their next submission's queue position) can time it, to within the polling interval and
  up to the assignment's time limits, once per submission. The fields that would give it
  for nothing are withheld: ``execution_time`` is the visible run's and ``graded_at`` is
  null for students under ``pass-fail`` and ``none``. Closing it for good would mean holding
  every result until the assignment's full time limit.
- The visible run's own ``execution_time`` includes the worker's parent process (which runs
  no student code but checks its results), whose JAX caches earlier gradings warmed: at most
  a compile time (milliseconds, against a time shown to 0.1 s) of timing noise.

The worker also stores, in the full result's ``extra_data["cases"]``, on which case each part
failed (:func:`case_outcomes`), for instructors; of it a student's view uses only the number
of hidden cases (the assignment's, fixed before any student code runs), for a row without a
visible run.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.registry import CourseError

FULL, PASS_FAIL, NONE = "full", "pass-fail", "none"
HIDDEN_MODES = (FULL, PASS_FAIL, NONE)
DEFAULT_RATE_LIMIT = 10  # accepted submissions per student, assignment and sliding hour
WINDOW = dt.timedelta(hours=1)
KEYS = ("due", "rate_limit", "hidden")
CASES_KEY = "cases"  # extra_data key written by the worker, read by reveal()

_RATE = re.compile(r"\s*(\d{1,9})\s*/\s*hour\s*")


def parse_rate_limit(text: Any) -> int:
    """``"N/hour"`` -> N (an int >= 1).

    Raises:
      ValueError: not a string of that form, or N < 1 (the message says what is expected).
    """
    m = _RATE.fullmatch(text) if isinstance(text, str) else None
    if m is None or int(m.group(1)) < 1:
        raise ValueError(f"{text!r} is not a rate limit: write \"N/hour\" with N a whole number "
                         "of submissions >= 1, e.g. \"10/hour\"")
    return int(m.group(1))


def parse_due(value: Any) -> dt.datetime:
    """A TOML offset date-time (or an ISO 8601 string with a timezone) -> an aware UTC datetime.

    Raises:
      ValueError: not a date-time, or one without a timezone (ambiguous: never guessed).
    """
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a date-time; write e.g. 2026-12-01T23:59:00Z "
                             "(UTC) or 2026-12-01T23:59:00-05:00") from None
    if not isinstance(value, dt.datetime):
        raise ValueError(f"{value!r} is not a date-time with a time and a timezone; write e.g. "
                         "2026-12-01T23:59:00Z (UTC) or 2026-12-01T23:59:00-05:00")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value.isoformat()} has no timezone (it would be ambiguous); add Z "
                         f"for UTC ({value.isoformat()}Z) or an offset such as -05:00")
    return value.astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class AssignmentPolicy:
    """One assignment's policy. ``due``: aware UTC datetime or None; ``rate_limit``: accepted
    submissions per student per sliding hour; ``hidden``: one of :data:`HIDDEN_MODES`."""

    due: dt.datetime | None = None
    rate_limit: int = DEFAULT_RATE_LIMIT
    hidden: str = FULL

    def is_late(self, submitted_at: dt.datetime | None) -> bool:
        """Submitted after the due date (an aware datetime; None is never late)."""
        return self.due is not None and submitted_at is not None and submitted_at > self.due

    def shown(self, *, instructor: bool, now: dt.datetime) -> str:
        """What a report shows of the hidden cases to this reader at ``now``: a mode of
        :data:`HIDDEN_MODES` (instructors, and ``none`` after the due date: ``full``)."""
        if instructor or (self.hidden == NONE and self.due is not None and now > self.due):
            return FULL
        return self.hidden


@dataclass(frozen=True)
class CoursePolicy:
    """The policy of every assignment the server offers (:func:`load`)."""

    default: AssignmentPolicy = AssignmentPolicy()
    assignments: Mapping[str, AssignmentPolicy] = field(default_factory=dict)

    def for_assignment(self, assignment_id: str) -> AssignmentPolicy:
        return self.assignments.get(assignment_id, self.default)


def _key(*path: str) -> str:
    return ".".join(p if re.fullmatch(r"[A-Za-z0-9_-]+", p) else f'"{p}"' for p in path)


def _read_serve(toml: Path) -> dict:
    if not toml.is_file():
        return {}
    try:
        data = tomllib.loads(toml.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CourseError(f"{toml}: {exc}") from exc
    serve = data.get("serve", {})
    if not isinstance(serve, dict):
        raise CourseError(f"{toml}: 'serve' must be a table ([serve])")
    return serve


def _settings(table: dict, toml: Path, path: tuple[str, ...]) -> dict:
    """The checked ``due``/``rate_limit``/``hidden`` of one table (only those it sets)."""
    out: dict[str, Any] = {}
    for k, v in table.items():
        where = f"{toml}: {_key(*path, k)}"
        try:
            if k == "due":
                out[k] = parse_due(v)
            elif k == "rate_limit":
                out[k] = parse_rate_limit(v)
            elif k == "hidden":
                if v not in HIDDEN_MODES:
                    raise ValueError(f"{v!r} is not one of " + ", ".join(map(repr, HIDDEN_MODES)))
                out[k] = v
            else:
                raise ValueError("unknown key; valid keys: " + ", ".join(KEYS)
                                 + (', or a table [serve."<assignment id>"]'
                                    if len(path) == 1 else ""))
        except ValueError as exc:
            raise CourseError(f"{where}: {exc}") from None
    return out


def load(*, default_rate_limit: int | None = None) -> CoursePolicy:
    """The policy of every assignment the server offers, from the ``[serve]`` tables of the
    course folders' ``course.toml`` (:func:`grader.registry.course_folders`, in their order).

    Args:
      default_rate_limit: submissions per student per hour where no course file sets one
        (``grader serve --rate-limit``), >= 1; None: :data:`DEFAULT_RATE_LIMIT`.

    Raises:
      grader.registry.CourseError: a ``course.toml`` is not valid TOML, or a ``[serve]`` key
        is unknown or has a bad value, or names an assignment the server does not offer (the
        message names the file and the key).
    """
    from grader import registry

    entries = registry.entries()
    known = list(entries)
    defaults: dict[Path, dict] = {}
    own: dict[str, dict] = {}
    for course in registry.course_folders():
        toml = course / "course.toml"
        serve = _read_serve(toml)
        scalars = {k: v for k, v in serve.items() if not isinstance(v, dict)}
        defaults[course] = _settings(scalars, toml, ("serve",))
        for aid, table in serve.items():
            if not isinstance(table, dict):
                continue
            if aid not in entries:
                raise CourseError(f"{toml}: [{_key('serve', aid)}]: no assignment {aid!r} on "
                                  "this server; valid ids: " + ", ".join(known))
            for k, v in _settings(table, toml, ("serve", aid)).items():
                own.setdefault(aid, {}).setdefault(k, v)  # an earlier course folder wins
    base = AssignmentPolicy(rate_limit=default_rate_limit or DEFAULT_RATE_LIMIT)
    per = {aid: AssignmentPolicy(**{**vars(base), **defaults.get(e.course, {}),
                                    **own.get(aid, {})})
           for aid, e in entries.items()}
    return CoursePolicy(base, per)



# -- the rate limit ---------------------------------------------------------------------------

class RateLimited(Exception):
    """Over the rate limit: ``retry_after`` whole seconds until ``next_at`` (aware UTC), when
    the next submission is accepted. ``str()`` is the message for the student."""

    def __init__(self, *, assignment: str, limit: int, next_at: dt.datetime, retry_after: int):
        self.assignment, self.limit = assignment, limit
        self.next_at, self.retry_after = next_at, retry_after
        super().__init__(
            f"rate limit: at most {limit} submission{'s' if limit != 1 else ''} of "
            f"{assignment} per hour; your next one is accepted from "
            f"{next_at.strftime('%Y-%m-%d %H:%M:%S')} UTC (in {retry_after} s)")


def check_rate_limit(session: Session, *, account_id: int, assignment: str, limit: int,
                     now: dt.datetime) -> None:
    """Refuse a submission over ``limit`` per sliding hour; call it in the transaction that
    then inserts the submission (:class:`grader.serve.db.write_session`).

    Race-safe: the transaction first locks the student's account row (``SELECT ... FOR
    UPDATE`` on PostgreSQL; on SQLite the transaction already holds the database's write lock,
    ``BEGIN IMMEDIATE``), so two uploads of one student are counted one after the other and
    never both pass at the limit.

    Raises:
      RateLimited: ``limit`` submissions were accepted after ``now - 1 hour``.
    """
    from grader.serve.db import Account, Submission

    session.execute(select(Account.id).where(Account.id == account_id).with_for_update())
    since = now - WINDOW
    recent = (select(Submission.submitted_at)
              .where(Submission.account_id == account_id, Submission.assignment == assignment,
                     Submission.submitted_at > since))
    n = session.scalar(select(func.count()).select_from(recent.subquery()))
    if n < limit:
        return
    # The window drops below the limit when its (n - limit + 1)-th oldest entry leaves it.
    oldest = session.scalars(recent.order_by(Submission.submitted_at)
                             .offset(n - limit).limit(1)).one()
    next_at = oldest + WINDOW
    retry = max(1, math.ceil((next_at - now).total_seconds()))
    raise RateLimited(assignment=assignment, limit=limit, next_at=next_at, retry_after=retry)


# -- what a report reveals ---------------------------------------------------------------------

def case_outcomes(result) -> dict:
    """``extra_data`` for the stored JSON of ``result`` (a :class:`grader.engine.Result`;
    ``report.to_json(result, **case_outcomes(result), ...)``): under :data:`CASES_KEY`, each
    part's ``failed_case`` (``"visible case 2"``, ``"hidden case 1"``, or ``""``: passed, or
    failed before any case ran) and its numbers of ``visible`` and ``hidden`` cases."""
    return {CASES_KEY: {p.function: {"failed_case": p.failed_case, "visible": p.visible_cases,
                                     "hidden": p.hidden_cases} for p in result.parts}}


def _when(due: dt.datetime | None) -> str:
    return (f"until {due.strftime('%Y-%m-%d %H:%M')} UTC, the due date" if due is not None
            else "by this course")


# Fixed wording: the only text of a student's report that is not the visible run's own.
GRADER_FAULT = "a fault of the grader (your instructor sees the details)"
_PASSED = "Passed all its cases, the hidden ones included."
_FAILED = ("Did not pass all its cases. This course shows only whether a part passes its "
           "hidden cases, not their feedback.")
_GRADING_ERROR = ("Grading error (the grader's fault, not yours; tell your instructor); its "
                  "details are not shown to students.")
_VISIBLE_ALONE = "\n\nIts visible cases, graded on their own: "
# What a student may read of the full result's extra_data: written by the worker from the job
# and the assignment (the seed is the worker's own draw), never by anything the run returned.
_JOB_KEYS = ("assignment", "title", "file", "submission", "seed")


def _parts(result: dict | None) -> list[dict]:
    """The tests of a stored result, one per part (a Gradescope-style ``<function>: printed
    output`` test left out)."""
    return [t for t in (result or {}).get("tests", [])
            if not str(t.get("name", "")).endswith(": printed output")]


def _grading_error(test: dict) -> bool:
    return "grading-error" in (test.get("tags") or [])


def _pass_fail_tests(result: dict, visible: dict | None) -> list[dict]:
    """Each part of ``result`` (the full run) as its status and points, with the visible
    run's text (its feedback and printed output) or fixed wording."""
    own = {t.get("name"): t for t in _parts(visible)}
    tests = []
    for t in _parts(result):
        v = own.get(t.get("name"))
        passed, error = t.get("status") == "passed", _grading_error(t)
        shown: dict[str, Any] = {"name": t.get("name"), "max_score": t.get("max_score", 0.0),
                                 "status": "passed" if passed else "failed",
                                 "visibility": "visible"}
        if error:
            shown["tags"] = ["grading-error"]
        else:
            shown["score"] = t.get("score", 0.0)
        if (v is not None and not (passed or error) and v.get("status") != "passed"
                and not _grading_error(v)):
            shown["output"] = v.get("output", "")  # its visible-case failure, as run apart
        else:
            words = _GRADING_ERROR if error else _PASSED if passed else _FAILED
            shown["output"] = words + (_VISIBLE_ALONE + v.get("output", "") if v else "")
        if v is not None and isinstance(v.get("extra_data"), dict):
            shown["extra_data"] = v["extra_data"]  # the mistake named on a visible case
        tests.append(shown)
    return tests


def reveal(result: dict | None, mode: str, due: dt.datetime | None,
           visible: dict | None = None) -> dict | None:
    """What a reader sees of a stored ``result`` (the JSON object of :func:`grader.report.
    to_json`) under ``mode`` (:meth:`AssignmentPolicy.shown`); ``visible`` is the stored
    visible-cases-only grading of the same file (``submissions.visible_result``, None if
    there is none); ``due`` is only worded.

    - ``full``: ``result`` itself.
    - ``pass-fail``: one test per part of ``result``, with only its status (passed, failed or
      grading error) and points from ``result``; its text is the visible run's output for
      that part (feedback and printed output) when both runs failed it and the visible run's
      verdict is a failed case, else fixed wording saying whether it passed all its cases,
      followed by the visible run's output. Its ``extra_data`` (the mistake named) is the
      visible run's. ``execution_time`` is the visible run's (none without one); the summary
      is fixed wording; ``extra_data`` keeps only the job's own keys (assignment, title,
      file, submission, seed) and gets ``"reveal": "pass-fail"``.
    - ``none``: the visible run's report as ``grader test`` gives it (``extra_data["mode"]
      = "test"``, its own ``hidden_not_run``), with ``"reveal": "none"``, ``withheld_until``
      (the due date, ISO, or null) and a summary saying what is withheld: nothing of
      ``result`` at all.

    Without ``visible`` (graded before revision 0002, or while the assignment was ``full``):
    fixed wording only; under ``none`` every part is tagged ``withheld``, has no ``score``
    and says until when. No text of ``result`` is ever shown under ``pass-fail`` or
    ``none``.
    """
    if result is None or mode == FULL:
        return result
    full_extra = result.get("extra_data") or {}
    extra = {k: full_extra[k] for k in _JOB_KEYS if k in full_extra}
    aid = extra.get("assignment", "")
    if mode == PASS_FAIL:
        tests = _pass_fail_tests(result, visible)
        score = float(sum(t["score"] for t in tests if "score" in t))
        errors = [t["name"] for t in tests if _grading_error(t)]
        summary = f"{aid}: {score:g} / {result.get('max_score', 0):g} (seed {extra.get('seed')})"
        if errors:
            summary = (f"INCOMPLETE: grading error in {', '.join(n + '()' for n in errors)}; "
                       f"those points are withheld, not lost.\n{summary}")
        extra.update(mode="submit", complete=not errors, grading_errors=errors, reveal=PASS_FAIL)
        data = {"score": score, "max_score": result.get("max_score"), "output": summary,
                "tests": tests, "extra_data": extra}
        if visible is not None and "execution_time" in visible:
            data["execution_time"] = visible["execution_time"]
        return data
    until = due.isoformat().replace("+00:00", "Z") if due is not None else None
    if visible is not None:
        data = copy.deepcopy(visible)
        data["tests"] = _parts(data)
        extra = data.setdefault("extra_data", {})
        extra.pop(CASES_KEY, None)
        extra.update(mode="test", reveal=NONE, withheld_until=until)
        data["output"] = (f"{extra.get('assignment', aid)}: the visible cases "
                          f"{data.get('score', 0):g} / {data.get('max_score', 0):g}; the hidden "
                          f"cases' results and the total are withheld {_when(due)}.")
        return data
    outcomes = full_extra.get(CASES_KEY) or {}
    tests = [{"name": t.get("name"), "max_score": t.get("max_score", 0.0), "status": "failed",
              "tags": ["withheld"], "visibility": "visible",
              "output": f"This part's result is withheld {_when(due)}."}
             for t in _parts(result)]
    extra.update(mode="test", reveal=NONE, withheld_until=until, complete=True,
                 grading_errors=[],
                 hidden_not_run=sum(int(o.get("hidden", 0)) for o in outcomes.values()))
    return {"score": 0.0, "max_score": result.get("max_score"), "tests": tests,
            "output": f"{aid}: this submission's results are withheld {_when(due)}.",
            "extra_data": extra}


def reveal_submission(*, status: str, result: dict | None, visible: dict | None,
                      score: float | None, max_score: float | None, error: str | None,
                      graded_at: Any, mode: str, due: dt.datetime | None) -> dict:
    """A stored submission's ``status``, ``result``, ``score``, ``max_score``, ``error`` and
    ``graded_at`` as a reader sees them under ``mode`` (see :func:`reveal` for the report;
    ``result``/``visible`` are the parsed stored JSON objects or None).

    ``full``: as stored. ``pass-fail``: the report of :func:`reveal`; ``score`` and
    ``max_score`` as stored (the points are revealed); ``error`` names the parts whose status
    is a grading error (fixed wording), or :data:`GRADER_FAULT` with no report. ``none``:
    ``score`` and ``max_score`` null; ``status`` and ``error`` are the visible run's (``error``
    when it had grading errors, naming those parts); without a visible run they are the
    stored status with no error text, or :data:`GRADER_FAULT` with no report. Under both,
    ``graded_at`` is null (it would time the full run, which a student's code on hidden
    inputs can stretch; see the module docstring).
    """
    if mode == FULL:
        return {"status": status, "result": result, "score": score, "max_score": max_score,
                "error": error, "graded_at": graded_at}
    shown = reveal(result, mode, due, visible)
    finished = status in ("graded", "error")
    if mode == NONE:
        score = max_score = None
        if finished and shown is not None and visible is not None:
            status = "error" if shown["extra_data"].get("grading_errors") else "graded"
    errors = (shown or {}).get("extra_data", {}).get("grading_errors") or []
    if not finished or status != "error":
        error = None
    elif errors:
        error = "grading error in " + ", ".join(f"{n}()" for n in errors)
    else:
        error = GRADER_FAULT if shown is None else None
    return {"status": status, "result": shown, "score": score, "max_score": max_score,
            "error": error, "graded_at": None}
