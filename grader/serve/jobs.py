"""The job queue, in the database: enqueue, claim with a lease, renew, complete exactly once.

- :func:`enqueue` adds a submission and its job in the caller's transaction.
- :func:`claim` takes the oldest job that is ``queued``, or ``running`` with an expired lease
  (its worker died), marks it ``running`` for this worker with a fresh ``claim`` id and a
  lease of ``lease_seconds``, and counts an attempt. One code path for both databases: on
  SQLite the transaction begins with ``BEGIN IMMEDIATE`` (the write lock is taken before the
  job is chosen, so two workers never choose the same job); on PostgreSQL the row is selected
  ``FOR UPDATE SKIP LOCKED`` (workers on several machines each skip the rows others are
  claiming). SQLAlchemy renders ``with_for_update`` only where the dialect has it.
- :func:`renew` extends the lease while grading runs (a worker heartbeat). Leases are taken
  and compared by the database's clock (PostgreSQL's, for workers on several machines whose
  clocks may disagree).
- :func:`complete` stores the result only if this worker's claim is still the job's claim: a
  worker whose lease expired and whose job was claimed again stores nothing, so a submission
  is never counted twice. A job whose workers keep dying (``MAX_ATTEMPTS`` claims) becomes a
  grading error instead of killing workers forever.
- :func:`release` puts a job back in the queue: uncounted when its worker was told to stop
  mid-grading, counted when the grading attempt failed (the grader raised, e.g. a
  ``KeyboardInterrupt`` or ``SystemExit`` from course code), so such a job is tried at most
  ``MAX_ATTEMPTS`` times before it becomes a grading error (:func:`exhausted_error`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, and_, func, or_, select, update
from sqlalchemy.orm import Session

from grader.serve.db import (
    ERROR, GRADED, JOB_DONE, QUEUED, RUNNING, Job, Submission, database_now, sessions, utcnow,
)

MAX_ATTEMPTS = 3


def exhausted_error(attempts: int, cause: str) -> str:
    """The ``error`` of a submission the grader failed on ``attempts`` times (``cause`` says
    how): a grading fault, never the student's."""
    return (f"the grader failed {attempts} times on this submission ({cause}): a grading "
            "fault, not your fault; tell your instructor")


@dataclass(frozen=True)
class Claimed:
    job_id: int
    submission_id: int
    claim: str
    attempts: int
    assignment: str
    filename: str
    content: bytes
    account_id: int = 0  # whose submission: the worker cache is that student's alone


def enqueue(session: Session, *, account_id: int, assignment: str, filename: str,
            content: bytes) -> Submission:
    now = utcnow()
    sub = Submission(account_id=account_id, assignment=assignment, filename=filename,
                     content=content, submitted_at=now, status=QUEUED)
    session.add(sub)
    session.flush()
    session.add(Job(submission_id=sub.id, status=QUEUED, attempts=0, created_at=now))
    return sub


def claim(engine: Engine, owner: str, lease_seconds: float) -> Claimed | None:
    """Claim the next job for ``owner``, or None if there is none. Leases begin and end by
    the database's clock (:func:`grader.serve.db.database_now`), never the worker's own."""
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_immediate=True)
        with Session(bind=conn) as session, session.begin():
            now = database_now(session)
            stmt = (select(Job)
                    .where(or_(Job.status == QUEUED,
                               and_(Job.status == RUNNING, Job.lease_expires_at < now)))
                    .order_by(Job.id).limit(1)
                    .with_for_update(skip_locked=True))
            job = session.scalars(stmt).first()
            if job is None:
                return None
            sub = session.get(Submission, job.submission_id)
            if job.attempts >= MAX_ATTEMPTS:
                # Every earlier worker died on it: a grading error, not another dead worker.
                _finish(session, job, sub, status=ERROR, result=None, score=None,
                        max_score=None,
                        error=exhausted_error(job.attempts, "its grading workers stopped"))
                return None  # the caller asks again
            job.status = RUNNING
            job.owner = owner
            job.claim = secrets.token_hex(16)
            job.lease_expires_at = now + dt.timedelta(seconds=lease_seconds)
            job.attempts += 1
            sub.status = RUNNING
            return Claimed(job.id, sub.id, job.claim, job.attempts, sub.assignment,
                           sub.filename, sub.content, sub.account_id)


def renew(engine: Engine, job: Claimed, lease_seconds: float) -> bool:
    """Extend ``job``'s lease; False if the claim is no longer ours (do not store a result)."""
    with sessions(engine).begin() as session:
        expires = database_now(session) + dt.timedelta(seconds=lease_seconds)
        res = session.execute(
            update(Job).where(Job.id == job.job_id, Job.claim == job.claim,
                              Job.status == RUNNING)
            .values(lease_expires_at=expires))
        return res.rowcount == 1


def _finish(session: Session, job: Job, sub: Submission, *, status: str, result: str | None,
            score: float | None, max_score: float | None, error: str | None) -> None:
    now = utcnow()
    job.status = JOB_DONE
    job.finished_at = now
    job.lease_expires_at = None
    sub.status = status
    sub.result = result
    sub.score = score
    sub.max_score = max_score
    sub.error = error
    sub.graded_at = now


def complete(engine: Engine, job: Claimed, *, status: str, result: str | None,
             score: float | None, max_score: float | None, error: str | None = None) -> bool:
    """Store the outcome of ``job`` if our claim still holds; True if stored.

    The conditional UPDATE of the job (same id, same claim, still running) and the write of
    the submission are one transaction: exactly one claim of a job ever stores a result.
    """
    assert status in (GRADED, ERROR)
    with sessions(engine).begin() as session:
        now = utcnow()
        res = session.execute(
            update(Job).where(Job.id == job.job_id, Job.claim == job.claim,
                              Job.status == RUNNING)
            .values(status=JOB_DONE, finished_at=now, lease_expires_at=None))
        if res.rowcount != 1:
            return False
        session.execute(
            update(Submission).where(Submission.id == job.submission_id)
            .values(status=status, result=result, score=score, max_score=max_score,
                    error=error, graded_at=now))
        return True


def release(engine: Engine, job: Claimed, *, counted: bool = False) -> bool:
    """Put ``job`` back in the queue now, if our claim still holds; True if it was.

    ``counted=False``: its worker is stopping (told to), the attempt is not counted.
    ``counted=True``: the attempt failed (the grader raised): it counts towards
    ``MAX_ATTEMPTS``, so a job that makes grading fail every time ends as a grading error.
    """
    with sessions(engine).begin() as session:
        res = session.execute(
            update(Job).where(Job.id == job.job_id, Job.claim == job.claim,
                              Job.status == RUNNING)
            .values(status=QUEUED, owner=None, claim=None, lease_expires_at=None,
                    attempts=Job.attempts if counted else Job.attempts - 1))
        if res.rowcount != 1:
            return False
        session.execute(update(Submission).where(Submission.id == job.submission_id)
                        .values(status=QUEUED))
        return True


def queue_position_of(submission_id) -> ColumnElement[int]:
    """The SQL of :func:`queue_position` for ``submission_id``, a value or a column: with
    ``Submission.id`` it is correlated, one more column of a query of submissions (so a status
    request reads its submission and its position in one statement). 0 if not queued."""
    mine = (select(Job.id).where(Job.submission_id == submission_id, Job.status == QUEUED)
            .correlate_except(Job).scalar_subquery())
    ahead = Job.__table__.alias("ahead")
    return (select(func.count()).select_from(ahead)
            .where(ahead.c.status == QUEUED, ahead.c.id <= mine).scalar_subquery())


def queue_position(session: Session, submission_id: int) -> int | None:
    """1 for the next job to be claimed; None unless the submission is queued.

    One query: the queued jobs up to this submission's, counted on the ``(status, id)``
    index; 0 of them means it is not queued.
    """
    return int(session.scalar(select(queue_position_of(submission_id)))) or None
