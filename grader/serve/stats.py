"""The instructor page's numbers for one assignment: per-part pass rates, the named mistakes
the class makes (most frequent first), and the score histogram.

The digest is :func:`grader.class_summary.summarize`, the one ``grader grade`` prints and
writes, applied to the service's stored results (each rebuilt from its ``results.json`` by
:func:`grader.serve.client.result_from_json`, as ``grader submit --server`` does), so a pass
rate, a named mistake and a histogram bin mean the same thing in both.

Which submissions count (``over``):

- ``"latest"`` (the default): each student's latest finished submission of the assignment
  (graded, or a grading error): where the class stands now, one vote per student.
- ``"all"``: every finished submission: how often each mistake was made at all, a student
  who fixed it included.

Queued and running submissions are not counted. A submission whose grading failed before any
part ran has no result; it is counted in ``statuses`` only. A mistake is named only when the
grader diagnosed it: the test's ``extra_data["mistake"]`` in the stored result (the course's
message, exactly as the student read it; :func:`grader.report.gradescope`), never by
searching the feedback, which quotes what the student's code raised or printed. Results
stored before that key existed name no mistake: their failed parts count under their kind
("wrong result (no known mistake)", "raised an exception", ...). Nothing here builds the
assignment's cases or imports JAX.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader import class_summary
from grader.class_summary import ClassSummary
from grader.serve.db import ERROR, GRADED, Submission
from grader.spec import Assignment

OVER = ("latest", "all")
_BATCH_STATUS = {GRADED: "graded", ERROR: "grading error"}  # class_summary's row statuses


@dataclass(frozen=True)
class _Row:
    """What :func:`grader.class_summary.summarize` reads of a row."""

    status: str
    result: object  # grader.engine.Result | None


@dataclass(frozen=True)
class Bar:
    """One bar of the histogram, in SVG user units (origin top left)."""

    label: str
    count: int
    x: float
    y: float
    width: float
    height: float


def summary(session: Session, assignment: Assignment, *, over: str = "latest") -> ClassSummary:
    """The :class:`~grader.class_summary.ClassSummary` of ``assignment``'s finished
    submissions (``over``: see the module docstring).

    Raises:
      ValueError: ``over`` is not ``"latest"`` or ``"all"``.
    """
    from grader.serve.client import result_from_json

    if over not in OVER:
        raise ValueError(f"over: expected one of {', '.join(OVER)}, got {over!r}")
    stmt = (select(Submission.account_id, Submission.status, Submission.result)
            .where(Submission.assignment == assignment.id,
                   Submission.status.in_(tuple(_BATCH_STATUS)))
            .order_by(Submission.id))
    chosen: dict[object, tuple[str, str | None]] = {}
    for n, (account_id, status, text) in enumerate(session.execute(stmt)):
        chosen[account_id if over == "latest" else n] = (status, text)
    rows = []
    for status, text in chosen.values():
        result = None
        if text:
            try:
                result = result_from_json(json.loads(text))
            except (ValueError, TypeError, AttributeError):
                result = None  # an unreadable stored result counts as no result
        rows.append(_Row(_BATCH_STATUS[status], result))
    return class_summary.summarize(assignment, rows)


def ranked_mistakes(s: ClassSummary) -> list[tuple[int, str, str]]:
    """``(count, function, message)`` for every named mistake of every part, most frequent
    first (ties in the parts' order, then alphabetically)."""
    out = [(n, p.function, m, i) for i, p in enumerate(s.parts) for m, n in p.mistakes]
    return [(n, f, m) for n, f, m, _ in sorted(out, key=lambda t: (-t[0], t[3], t[2]))]


def histogram_bars(s: ClassSummary, *, width: float = 480.0,
                   height: float = 160.0) -> list[Bar]:
    """The bars of ``s.histogram()`` laid out in a ``width`` x ``height`` plot area (the
    tallest bar fills it; empty bins have height 0)."""
    hist = s.histogram()
    if not hist:
        return []
    top = max(c for _, c in hist) or 1
    step = width / len(hist)
    bars = []
    for i, (label, count) in enumerate(hist):
        h = height * count / top
        bars.append(Bar(label, count, round(i * step + 0.1 * step, 2), round(height - h, 2),
                        round(0.8 * step, 2), round(h, 2)))
    return bars
