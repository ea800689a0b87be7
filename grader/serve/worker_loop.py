"""A grading worker: claim a job, grade it in the sandbox, store the result, repeat.

``grader worker --db URL`` runs one; ``grader serve --workers N`` starts N of them as child
processes. Grading is :class:`grader.engine.Grader` with hidden cases, exactly as ``grader
submit`` grades (the student's code runs in the OS sandbox; a worker refuses to start
without it unless ``--no-sandbox``), and the stored result is the JSON ``grader submit
--json`` writes (:func:`grader.report.to_json`, with ``title``, ``file`` and
``submission`` added to ``extra_data``).

An assignment whose ``hidden`` policy (``course.toml``, read for each job) is not ``full``
is graded twice: first :func:`grade_visible`, only the visible cases (what ``grader test``
runs), in fresh sandboxed processes of its own; then the full grading. Neither uses the
per-student worker cache (the one host state a sandboxed submission writes, through the
parent), so nothing the full grading's code saw (hidden inputs) can reach the visible run,
whose report is the only text a student reads (``submissions.visible_result``, written just
before the outcome: :func:`grader.serve.policy.reveal`). The cost: two gradings, both
compiling from a cold cache (see the README's grading-service section). Other assignments are
graded once, with the student's cache, and store no visible run.

Outcomes: ``graded``; or ``error`` when the grader failed (an exception, or a part the
engine reports as a grading error): the result then marks those parts as grading errors
(points withheld, never a zero) and ``error`` says what failed. An exception that is not an
``Exception`` (``KeyboardInterrupt``, ``SystemExit``, ... raised by course code or a
library inside the grading) fails only that attempt: the job goes back in the queue with the
attempt counted (:func:`grader.serve.jobs.release`), and the attempt that reaches
``MAX_ATTEMPTS`` stores an ``error`` whose parts are withheld, never a zero; the worker goes
on with the next job. A result that cannot be stored (the database unreachable) is left to
the lease: it runs out and the job is graded again.

While it grades, a heartbeat thread renews the job's lease every third of
``lease_seconds``. If the worker dies (killed, machine lost), the lease runs out and another
worker claims the job again; the dead worker's claim can no longer store anything
(:func:`grader.serve.jobs.complete`). SIGTERM/SIGINT: stop claiming, kill the sandboxed
processes of the grading in progress and put its job back in the queue, then exit.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from grader.serve import jobs
from grader.serve.db import ERROR, GRADED

from grader.serve import DEFAULT_LEASE_SECONDS

POLL_SECONDS = 0.5
FAULT = "Grading error (the grader's fault, not yours; tell your instructor): "


def _log(message: str) -> None:
    print(f"[grader worker {os.getpid()}] {message}", file=sys.stderr, flush=True)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def withheld(job: jobs.Claimed, what: str, assignment=None):
    """The outcome of a job the grader failed on (``what`` says how): ``error``, every part a
    grading error with its points withheld (never a zero); no result when even the
    assignment cannot be loaded."""
    from grader import registry, report

    if assignment is None:
        try:
            assignment = registry.load(job.assignment)
        except BaseException as exc:  # noqa: BLE001 - the course itself is broken
            _log(f"assignment {job.assignment!r} could not be loaded: {_describe(exc)}")
            return ERROR, None, None, None, what
    reason = FAULT + what
    unscored = report.unscored(assignment, file=job.filename, seed=None, reason=reason,
                               withheld=True)
    from grader.serve.policy import case_outcomes

    text = report.to_json(unscored, **case_outcomes(unscored), **_extra(job, assignment))
    return ERROR, text, None, unscored.max_score, what


def _extra(job: jobs.Claimed, assignment) -> dict:
    return {"title": assignment.title, "file": job.filename, "submission": job.submission_id}


def grade_claimed(job: jobs.Claimed, *, cache_root: str | None, scratch: Path):
    """Grade ``job``; return ``(status, result_json, score, max_score, error)``.

    Raises:
      BaseException: only what is not an ``Exception`` (``KeyboardInterrupt``,
        ``SystemExit``, ...); every ``Exception`` is a grading error in the outcome.
    """
    from grader import registry, report
    from grader.engine import Grader, GraderError

    try:
        assignment = registry.load(job.assignment)
    except Exception as exc:  # noqa: BLE001 - the course itself is broken: the grader's fault
        return ERROR, None, None, None, (f"assignment {job.assignment!r} could not be loaded: "
                                         f"{_describe(exc)}")
    folder = Path(tempfile.mkdtemp(prefix=f"job{job.job_id}-", dir=scratch))
    suffix = ".ipynb" if job.filename.lower().endswith(".ipynb") else ".py"
    path = folder / f"submission{suffix}"  # never a name the client chose
    try:
        path.write_bytes(job.content)
        grader = Grader(assignment, hidden=True, cache_root=cache_root, deny_read=[str(scratch)])
        # One worker cache per student (their resubmissions reuse it; nobody else's do).
        result = grader.grade(path, display_name=job.filename,
                              cache_owner=f"account\0{job.account_id}")
    except Exception as exc:  # noqa: BLE001 - a fault of the grader, never the student's zero
        return withheld(job, str(exc) if isinstance(exc, GraderError) else _describe(exc),
                        assignment)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    from grader.serve.policy import case_outcomes  # what each part's report may reveal

    text = report.to_json(result, **case_outcomes(result), **_extra(job, assignment))
    if result.errors:
        names = ", ".join(p.function + "()" for p in result.errors)
        return ERROR, text, result.score, result.max_score, f"grading error in {names}"
    return GRADED, text, result.score, result.max_score, None


def grade_visible(job: jobs.Claimed, *, scratch: Path) -> str | None:
    """The JSON of a visible-cases-only grading of ``job`` (``grader test``'s run: no hidden
    case is built into its cases, so none is ever sent to its processes), in fresh sandboxed
    processes, without a worker cache; with ``hidden_not_run`` (the hidden cases it left out)
    and the job's keys in ``extra_data``. A grading error is a report whose every part is
    one. None if the assignment cannot be loaded (:func:`grade_claimed` reports that).

    Raises:
      BaseException: only what is not an ``Exception``, as :func:`grade_claimed`.
    """
    from grader import registry, report
    from grader.engine import Grader, GraderError
    from grader.serve.policy import case_outcomes

    try:
        assignment = registry.load(job.assignment)
    except Exception:  # noqa: BLE001 - the full grading stores this as its error
        return None
    folder = Path(tempfile.mkdtemp(prefix=f"job{job.job_id}-visible-", dir=scratch))
    suffix = ".ipynb" if job.filename.lower().endswith(".ipynb") else ".py"
    path = folder / f"submission{suffix}"
    try:
        path.write_bytes(job.content)
        grader = Grader(assignment, hidden=False, cache_root=None, deny_read=[str(scratch)])
        result = grader.grade(path, display_name=job.filename)
    except Exception as exc:  # noqa: BLE001 - a fault of the grader, never the student's zero
        what = str(exc) if isinstance(exc, GraderError) else _describe(exc)
        result = report.unscored(assignment, file=job.filename, seed=None, reason=FAULT + what,
                                 withheld=True)
        result.mode = "test"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return report.to_json(result, **case_outcomes(result), hidden_not_run=result.hidden_not_run,
                          **_extra(job, assignment))


def store_visible(engine, job: jobs.Claimed, text: str | None) -> bool:
    """Write ``submissions.visible_result`` of ``job`` (None clears what an earlier attempt
    wrote) if our claim still holds; True if written. Called just before
    :func:`grader.serve.jobs.complete`: until the submission is finished, no reader looks at
    it."""
    from sqlalchemy import exists, update

    from grader.serve.db import RUNNING, Job, Submission, sessions

    ours = exists().where(Job.id == job.job_id, Job.claim == job.claim, Job.status == RUNNING)
    with sessions(engine).begin() as session:
        res = session.execute(update(Submission).where(Submission.id == job.submission_id, ours)
                              .values(visible_result=text))
        return res.rowcount == 1


def hidden_mode(assignment_id: str) -> str:
    """The assignment's ``hidden`` policy now (:func:`grader.serve.policy.load`, read for each
    job: a millisecond). A course file that cannot be read counts as ``none``: graded both
    ways, without the cache (the safe side)."""
    from grader.serve import policy as policies

    try:
        return policies.load().for_assignment(assignment_id).hidden
    except Exception as exc:  # noqa: BLE001 - the server refuses such a file at start-up
        _log(f"the course's policy could not be read ({_describe(exc)}); grading "
             f"{assignment_id} as if its hidden cases were withheld")
        return policies.NONE


class _Heartbeat(threading.Thread):
    def __init__(self, engine, job: jobs.Claimed, lease_seconds: float):
        super().__init__(daemon=True, name=f"lease-{job.job_id}")
        self.engine, self.job, self.lease = engine, job, lease_seconds
        self.done = threading.Event()
        self.lost = False

    def run(self) -> None:
        while not self.done.wait(self.lease / 3):
            try:
                if not jobs.renew(self.engine, self.job, self.lease):
                    self.lost = True
                    return
            except Exception as exc:  # noqa: BLE001 - try again next beat; the lease may lapse
                _log(f"could not renew the lease of job {self.job.job_id}: {exc}")


def _store(engine, job: jobs.Claimed, outcome, fault: str | None, *, stopping: bool,
           t0: float, visible: str | None = None) -> None:
    """Store what grading ``job`` gave: its outcome (and ``visible``, the visible run's JSON,
    or None), or (interrupted, or failed with ``fault``) the job back in the queue, or a
    grading error once its attempts are spent."""
    if stopping:
        # Told to stop (its sandbox was killed: the result means nothing): back in the
        # queue for another worker, the attempt not counted.
        if jobs.release(engine, job):
            _log(f"put submission {job.submission_id} back in the queue")
        return
    if fault is not None:
        if job.attempts < jobs.MAX_ATTEMPTS:
            if jobs.release(engine, job, counted=True):
                _log(f"put submission {job.submission_id} back in the queue after attempt "
                     f"{job.attempts} of {jobs.MAX_ATTEMPTS} failed ({fault})")
            return
        outcome = withheld(job, jobs.exhausted_error(job.attempts, f"last: {fault}"))
    status, text, score, max_score, error = outcome
    store_visible(engine, job, visible)
    stored = jobs.complete(engine, job, status=status, result=text, score=score,
                           max_score=max_score, error=error)
    _log(f"submission {job.submission_id}: {status}"
         + (f" {score:g}/{max_score:g}" if score is not None else "")
         + f" in {time.monotonic() - t0:.1f} s"
         + ("" if stored else " (not stored: its lease was taken over)"))


def run(db_url: str | None, *, lease_seconds: float = DEFAULT_LEASE_SECONDS,
        stop: threading.Event | None = None, once: bool = False) -> int:
    """The worker loop (the caller has set up the course folders and the isolation)."""
    from grader import runner
    from grader.cli import _configure_parent_jax, cache_root
    from grader.serve import migrations
    from grader.serve import policy as policies
    from grader.serve.db import make_engine

    engine = make_engine(db_url)
    migrations.upgrade(engine)
    root = cache_root()
    _configure_parent_jax(root)
    stop = stop or threading.Event()
    grading = threading.Event()

    def on_signal(signum, frame):
        stop.set()
        if grading.is_set():
            runner.kill_all()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)
    owner = f"{socket.gethostname()}:{os.getpid()}"
    scratch = Path(tempfile.mkdtemp(prefix="grader-serve-"))
    _log(f"ready ({owner}, lease {lease_seconds:g} s)")
    try:
        while not stop.is_set():
            try:
                job = jobs.claim(engine, owner, lease_seconds)
            except Exception as exc:  # noqa: BLE001 - a database hiccup: wait and try again
                _log(f"could not claim a job: {type(exc).__name__}: {exc}")
                stop.wait(2.0)
                continue
            if job is None:
                if once:
                    return 0
                stop.wait(POLL_SECONDS)
                continue
            _log(f"grading submission {job.submission_id} ({job.assignment}, attempt "
                 f"{job.attempts})")
            t0 = time.monotonic()
            beat = _Heartbeat(engine, job, lease_seconds)
            beat.start()
            grading.set()
            fault = visible = None
            try:
                full = hidden_mode(job.assignment) == policies.FULL
                if not full:  # first, before anything of the full grading exists
                    visible = grade_visible(job, scratch=scratch)
                outcome = grade_claimed(job, cache_root=root if full else None,
                                        scratch=scratch)
            except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt, SystemExit, ...
                _log(traceback.format_exc())
                outcome, fault = None, _describe(exc)
            finally:
                grading.clear()
                beat.done.set()
            try:
                _store(engine, job, outcome, fault, stopping=stop.is_set(), t0=t0,
                       visible=visible)
            except Exception as exc:  # noqa: BLE001 - the lease runs out; graded again
                _log(f"could not store submission {job.submission_id} "
                     f"({type(exc).__name__}: {exc}); its lease will run out and another "
                     "claim grades it")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        engine.dispose()
    return 0
