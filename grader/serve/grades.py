"""The class's grades: one row per student and assignment, from the submissions table.

:func:`class_rows` is the one aggregation behind ``GET /api/grades.csv`` and the instructor
pages' class table. A row's fields (:class:`GradeRow`):

- ``best_score``: the highest score of the student's *graded* submissions (``None`` while none
  is graded; a submission whose grading failed, status ``error``, never counts, so a fault of
  the grader is never a student's grade); ``max_score``: the assignment's points as its
  latest graded (or failed) submission reports them.
- ``submissions``: every accepted submission, whatever its status.
- ``latest_submitted_at``: when the latest one was submitted (UTC, aware);
  ``latest_score``: that latest submission's score (``None`` until it is graded).
- ``late``: as a Gradescope instructor reads it, whether the submission the row's grade comes
  from was late: the *earliest* graded submission that reached ``best_score`` was submitted
  after the assignment's due date (so an on-time best score, resubmitted late, is not late);
  with nothing graded yet, whether the latest submission was late. Computed from the *current*
  due date (:mod:`grader.serve.policy`), never stored: extending a deadline un-flags.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.serve.db import GRADED, Account, Submission
from grader.serve.policy import CoursePolicy


class GradeRow(NamedTuple):
    """One student's grade on one assignment (see the module docstring for each field)."""

    student_id: str
    assignment: str
    best_score: float | None
    max_score: float | None
    submissions: int
    latest_submitted_at: dt.datetime | None
    late: bool
    latest_score: float | None = None


def class_rows(session: Session, policy: CoursePolicy) -> list[GradeRow]:
    """Every (student, assignment) with at least one submission, sorted by student id then
    assignment id; ``policy`` gives each assignment's current due date.

    Args:
      session: an open SQLAlchemy session on the service's database (read only).
      policy: the course's policy (:func:`grader.serve.policy.load`); an assignment it does
        not know has no due date, so none of its rows is late.
    """
    stmt = (select(Account.student_id, Submission.assignment, Submission.status,
                   Submission.score, Submission.max_score, Submission.submitted_at)
            .join(Account, Account.id == Submission.account_id)
            .order_by(Account.student_id, Submission.assignment, Submission.submitted_at,
                      Submission.id))
    acc: dict[tuple[str, str], dict] = {}
    for student, aid, status, score, max_score, at in session.execute(stmt):
        r = acc.setdefault((student, aid), {"best": None, "best_at": None, "max": None, "n": 0,
                                            "latest": None, "latest_score": None})
        r["n"] += 1  # rows come oldest first: the last one seen is the latest
        r["latest"] = at
        r["latest_score"] = score if status == GRADED else None
        if status == GRADED and score is not None and (r["best"] is None or score > r["best"]):
            r["best"], r["best_at"] = score, at
        if max_score is not None:
            r["max"] = max_score
    rows = []
    for (student, aid), r in sorted(acc.items()):
        counted = r["best_at"] if r["best_at"] is not None else r["latest"]
        rows.append(GradeRow(student, aid, r["best"], r["max"], r["n"], r["latest"],
                             policy.for_assignment(aid).is_late(counted), r["latest_score"]))
    return rows
