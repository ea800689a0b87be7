"""The job queue: claims, leases and completing exactly once, on a real SQLite file and on a
throwaway PostgreSQL cluster (the same code; ``FOR UPDATE SKIP LOCKED`` there); and a grading
worker killed with SIGKILL mid-grading whose job another worker then grades, once."""

from __future__ import annotations

import datetime as dt
import signal
import threading
import time

import httpx
import pytest
from sqlalchemy import select

from grader.serve import jobs, migrations
from grader.serve.db import Job, Submission, make_engine, sessions, write_session

from .helpers import (
    ASSIGNMENT, SOLUTION, free_port, make_accounts, start, stop, upload, wait_for_server,
    wait_status,
)
from .postgres import postgres  # noqa: F401 - a fixture


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "queue.db")
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    migrations.upgrade(eng)
    yield eng
    eng.dispose()


def _enqueue(engine, n: int) -> list[int]:
    from grader.serve import auth

    with write_session(engine) as s:
        acc = auth.account(s, f"student{time.monotonic_ns()}")
        s.flush()
        return [jobs.enqueue(s, account_id=acc.id, assignment=ASSIGNMENT, filename="a.py",
                             content=b"x = 1\n").id for _ in range(n)]


def test_claim_lease_and_complete_exactly_once(engine):
    assert migrations.current(engine) == migrations.head()
    first, second = _enqueue(engine, 2)
    a = jobs.claim(engine, "A", lease_seconds=60)
    b = jobs.claim(engine, "B", lease_seconds=0.2)
    assert (a.submission_id, b.submission_id) == (first, second)  # oldest first, never shared
    assert jobs.claim(engine, "C", lease_seconds=60) is None       # both leases hold
    assert jobs.renew(engine, a, 60)
    time.sleep(0.3)  # B stops renewing (it died): its lease runs out
    c = jobs.claim(engine, "C", lease_seconds=60)
    assert c.submission_id == second and c.attempts == 2 and c.claim != b.claim
    assert not jobs.renew(engine, b, 60)
    # the dead worker's late result is refused; the new claim's is stored, once
    assert not jobs.complete(engine, b, status="graded", result="{}", score=1, max_score=7)
    assert jobs.complete(engine, c, status="graded", result='{"score": 7}', score=7, max_score=7)
    assert not jobs.complete(engine, c, status="graded", result="{}", score=0, max_score=7)
    # a stopping worker puts its job back, uncounted
    assert jobs.release(engine, a)
    again = jobs.claim(engine, "D", lease_seconds=60)
    assert again.submission_id == first and again.attempts == 1
    with sessions(engine)() as s:
        sub = s.get(Submission, second)
        assert (sub.status, sub.score, sub.result) == ("graded", 7, '{"score": 7}')
        assert s.scalars(select(Job).where(Job.submission_id == second)).one().status == "done"
        assert jobs.queue_position(s, first) is None  # running


def test_a_job_that_keeps_killing_workers_becomes_a_grading_error(engine):
    (sid,) = _enqueue(engine, 1)
    for _ in range(jobs.MAX_ATTEMPTS):
        assert jobs.claim(engine, "W", lease_seconds=0.01) is not None
        time.sleep(0.05)
    assert jobs.claim(engine, "W", lease_seconds=60) is None
    with sessions(engine)() as s:
        sub = s.get(Submission, sid)
        assert sub.status == "error" and "not your fault" in sub.error and sub.score is None


def test_a_failed_attempt_counts_and_a_stopped_one_does_not(engine):
    """release(counted=True), a grading that raised: the attempt counts towards MAX_ATTEMPTS;
    release(), a worker told to stop: it does not. Spent attempts end as a grading error."""
    (sid,) = _enqueue(engine, 1)
    job = jobs.claim(engine, "W", lease_seconds=60)
    assert jobs.release(engine, job)  # stopped
    job = jobs.claim(engine, "W", lease_seconds=60)
    assert job.attempts == 1
    for attempt in range(2, jobs.MAX_ATTEMPTS + 1):
        assert jobs.release(engine, job, counted=True)  # failed
        assert not jobs.release(engine, job, counted=True)  # that claim is over
        job = jobs.claim(engine, "W", lease_seconds=60)
        assert job.attempts == attempt
    assert jobs.release(engine, job, counted=True)
    assert jobs.claim(engine, "W", lease_seconds=60) is None
    with sessions(engine)() as s:
        sub = s.get(Submission, sid)
        assert (sub.status, sub.score) == ("error", None)
        assert sub.error == jobs.exhausted_error(jobs.MAX_ATTEMPTS, "its grading workers stopped")


def test_concurrent_claims_never_share_a_job(db_url):
    url = db_url
    setup = make_engine(url)
    migrations.upgrade(setup)
    ids = _enqueue(setup, 40)
    claimed: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        eng = make_engine(url)  # its own engine and connections, like another process
        while (job := jobs.claim(eng, name, lease_seconds=60)) is not None:
            with lock:
                claimed.append(job.submission_id)
        eng.dispose()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    setup.dispose()
    assert sorted(claimed) == ids


def test_a_worker_killed_mid_grading_loses_nothing(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db = tmp_path / "kill.db"
    server = start("serve", "--db", str(db), "--port", str(port), "--workers", "0",
                   log=tmp_path / "serve.log")
    workers = []
    try:
        wait_for_server(url, server, tmp_path / "serve.log")
        students, _ = make_accounts(db, tmp_path)
        alice = students["alice"]
        r = upload(url, alice, content=SOLUTION.read_bytes())
        assert r.status_code == 202, r.text
        sid = r.json()["id"]
        assert r.json()["queue_position"] == 1

        first = start("worker", "--db", str(db), "--lease-seconds", "3",
                      log=tmp_path / "first.log")
        workers.append(first)
        wait_status(url, alice, sid, ("running",), timeout=60)
        time.sleep(1.0)  # well inside the grading (it takes seconds)
        stop(first, signal.SIGKILL)  # the worker and its sandboxes, at once
        assert wait_status(url, alice, sid, ("running", "graded"))["status"] == "running"

        second = start("worker", "--db", str(db), "--lease-seconds", "3",
                       log=tmp_path / "second.log")
        workers.append(second)
        done = wait_status(url, alice, sid, ("graded", "error"), timeout=120)
        assert done["status"] == "graded", done
        assert done["result"]["score"] == 7.0
        log = (tmp_path / "second.log").read_text()
        assert f"grading submission {sid} ({ASSIGNMENT}, attempt 2)" in log, log
        assert log.count(f"submission {sid}: graded") == 1, log
        assert "graded" not in (tmp_path / "first.log").read_text().split("attempt 1")[-1]
        eng = make_engine(str(db))
        with sessions(eng)() as s:
            job = s.scalars(select(Job).where(Job.submission_id == sid)).one()
            assert (job.status, job.attempts) == ("done", 2)
            assert s.scalar(select(Submission.score).where(Submission.id == sid)) == 7.0
        eng.dispose()
        history = httpx.get(f"{url}/api/submissions", headers={"Authorization": f"Bearer {alice}"})
        assert [s["id"] for s in history.json()] == [sid]  # one submission, counted once
    finally:
        for w in workers:
            stop(w)
        stop(server)


def test_leases_follow_the_database_clock_not_the_workers(postgres, monkeypatch):
    """Workers on several machines against one PostgreSQL: one whose clock is an hour behind
    claims a job; one whose clock is an hour ahead must not see that lease as expired (with
    each worker's own clock it did, and graded a job that was being graded), and the lease
    still runs out on time by the server's clock."""
    engine = make_engine(postgres.new_database())
    migrations.upgrade(engine)
    try:
        (sid,) = _enqueue(engine, 1)
        real = jobs.utcnow
        monkeypatch.setattr(jobs, "utcnow", lambda: real() - dt.timedelta(hours=1))
        slow = jobs.claim(engine, "behind", lease_seconds=10.0)
        assert slow is not None and slow.submission_id == sid
        monkeypatch.setattr(jobs, "utcnow", lambda: real() + dt.timedelta(hours=1))
        assert jobs.claim(engine, "ahead", lease_seconds=60) is None
        assert jobs.renew(engine, slow, 10.0)
        assert jobs.claim(engine, "ahead", lease_seconds=60) is None
        assert jobs.renew(engine, slow, 0.2)  # its last heartbeat: then "behind" stops
        time.sleep(0.5)  # its lease ends by the server's clock
        taken = jobs.claim(engine, "ahead", lease_seconds=60)
        assert taken is not None and taken.submission_id == sid and taken.attempts == 2
    finally:
        engine.dispose()
