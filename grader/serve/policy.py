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
    passed, but no feedback or printed output from a part that ran hidden cases (before and
    after the due date); ``none``: until the due date, only what ``grader test`` shows (the
    visible cases; the hidden-case outcomes and the total withheld), the full report after it.
    ``none`` without a due date withholds them for good.

Which value applies to an assignment, first found: its own ``[serve."<id>"]`` table (in the
course folders' order: ``--course``, ``GRADER_COURSE``, built-in; it may name any assignment
the server offers), then the ``[serve]`` defaults of the course folder that holds the
assignment, then the command line / built-in defaults. An unknown key or an unknown
assignment id is an error.

Late (:meth:`AssignmentPolicy.is_late`) is computed from ``submitted_at`` and the *current*
due date, never stored: a deadline moved later (and the server restarted) un-flags.

The worker stores, in the result's ``extra_data["cases"]``, on which case each part failed
(:func:`case_outcomes`); :func:`reveal` filters a stored result with it.
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


def reveal(result: dict | None, mode: str, due: dt.datetime | None) -> dict | None:
    """What a reader sees of a stored ``result`` (the JSON object of :func:`grader.report.
    to_json`) under ``mode`` (:meth:`AssignmentPolicy.shown`); ``due`` is only worded.

    - ``full``: ``result`` itself.
    - ``pass-fail``: every part keeps its points and passed/failed; a part that ran hidden
      cases loses its printed output, and its feedback if it failed on one. ``extra_data``
      gets ``"reveal": "pass-fail"`` and loses the per-case outcomes. (Under ``pass-fail``
      and ``none``, a test whose output is rewritten also loses its own ``extra_data``,
      which names the mistake the grader found: :func:`grader.report.gradescope`.)
    - ``none``: what ``grader test`` would show (``extra_data["mode"] = "test"``): a part
      that passed its visible cases scores its points with "Passed the N visible cases";
      a part that failed a visible case is shown as it is (hidden cases never ran); the
      totals count those; ``hidden_not_run`` counts the hidden cases, ``withheld_until`` is
      the due date (ISO, or null).

    A result without the per-case outcomes (written by an older worker) is read as if every
    part had failed on a hidden case: nothing is revealed that might describe one; under
    ``none`` such a part (and a part with hidden cases only) has no ``score``, is tagged
    ``withheld`` and says until when.
    """
    if result is None or mode == FULL:
        return result
    data = copy.deepcopy(result)
    extra = data.setdefault("extra_data", {})
    outcomes = extra.pop(CASES_KEY, None) or {}
    tests = []
    for t in data.get("tests", []):
        if t.get("visibility", "visible") != "visible" and str(t.get("name", "")).endswith(
                ": printed output"):
            continue  # output printed while hidden cases ran (a Gradescope-style split)
        info = outcomes.get(t.get("name"))
        passed = t.get("status") == "passed"
        failed_case = info["failed_case"] if info else "hidden case"
        hidden_failed = failed_case.startswith("hidden")
        if not (passed or hidden_failed):
            tests.append(t)  # failed on a visible case (or before any): no hidden case ran
            continue
        n_vis, n_hid = (info["visible"], info["hidden"]) if info else (0, 0)
        if info and n_hid == 0:
            tests.append(t)  # passed, and has no hidden case
            continue
        t.pop("extra_data", None)  # its "mistake" may be the one a hidden case showed
        if mode == PASS_FAIL:
            if passed:
                t["output"] = (f"Passed all {n_vis + n_hid} cases ({n_vis} visible, {n_hid} "
                               "hidden)." if info else "Passed.")
            elif "grading-error" in (t.get("tags") or []):
                t["output"] = ("Grading error on a hidden case (the grader's fault, not yours; "
                               "tell your instructor); its details are not shown to students.")
            else:
                t["output"] = (("Failed on a hidden case." if info else "Failed.") + " This "
                               "course shows only whether hidden cases pass, not their feedback.")
        elif info and n_vis > 0:  # none: the visible cases' outcome, as `grader test` shows it
            hidden = f"the {n_hid} hidden one{'s are' if n_hid != 1 else ' is'} withheld"
            t.update(score=t["max_score"], status="passed",
                     output=(f"Passed the {n_vis} visible case{'s' if n_vis != 1 else ''}; "
                             f"{hidden} {_when(due)}."))
            tags = [x for x in t.pop("tags", None) or [] if x != "grading-error"]
            if tags:
                t["tags"] = tags
        else:
            t.pop("score", None)
            t.update(status="failed", tags=["withheld"],
                     output=f"This part's result is withheld {_when(due)}.")
        tests.append(t)
    data["tests"] = tests
    extra["reveal"] = mode
    if mode == NONE:
        scored = [t for t in tests if "score" in t]
        data["score"] = float(sum(t["score"] for t in scored))
        extra["mode"] = "test"
        extra["hidden_not_run"] = sum(o["hidden"] for o in outcomes.values())
        extra["withheld_until"] = (due.isoformat().replace("+00:00", "Z")
                                   if due is not None else None)
        errors = [t["name"] for t in tests if "grading-error" in (t.get("tags") or [])]
        extra["grading_errors"], extra["complete"] = errors, not errors
        data["output"] = (f"{extra.get('assignment', '')}: the visible cases {data['score']:g} / "
                          f"{data.get('max_score', 0):g}; the hidden cases' results and the "
                          f"total are withheld {_when(due)}.")
    return data
