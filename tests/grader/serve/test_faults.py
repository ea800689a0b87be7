"""The grading service under faults, with real processes: a grading that raises a
``BaseException`` (retried a bounded number of times, then a grading error, never a zero),
a server stopped and restarted with jobs queued (none lost, each graded once), a SQLite file
kept busy by other writers while uploads pour in (all accepted, none lost), a hostile
submission graded beside an honest one (which keeps its full marks), two processes racing
for PostgreSQL's jobs, and idle half-sent requests that must not starve the service.

Grading here is a tiny course of our own (one part, one case: seconds per job), written to a
temporary folder and passed with ``--course``; where grading is not the point, processes
use the queue's functions as a worker does, without grading (``_stand_in_worker``).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import select, text

from grader.serve import jobs, migrations
from grader.serve.db import Job, Submission, make_engine, sessions, write_session

from .postgres import postgres  # noqa: F401 - a fixture

from .helpers import (
    SOLUTION, bearer, free_port, grader, make_accounts, start, stop, upload, wait_for_server,
    wait_status,
)

DOUBLE = b"def double(z):\n    return 2 * z\n"

_ASSIGNMENT = '''
import numpy as np

from grader.spec import Assignment, Case, Part

{body}

ASSIGNMENT = Assignment(id="{id}", title="{id}", parts=(Part("{fn}", 5, "{fn}", visible),))
'''

COURSE = {
    # A tiny honest assignment: double(z) = 2 z.
    "tiny/double": {"fn": "double", "body": """
def visible():
    z = np.arange(3, dtype=np.float32)
    return [Case(args=(z,), expected=2 * z, label="arange(3)")]
"""},
    # relu, for the hostile submission (the attack suite's escapes run inside relu).
    "tiny/relu": {"fn": "relu", "body": """
def visible():
    z = np.array([-1.5, 0.0, 2.0], np.float32)
    return [Case(args=(z,), expected=np.maximum(z, 0), label="[-1.5, 0, 2]")]
"""},
    # A broken course: the expected value, computed in the grading worker mid-grading (the
    # student's code already ran in its sandbox), raises KeyboardInterrupt (SystemExit and
    # any other BaseException take the same path).
    "faulty/interrupt": {"fn": "double", "body": """
def _expected():
    raise KeyboardInterrupt("a stray interrupt in the course's code")


def visible():
    return [Case(args=(np.ones(3, np.float32),), expected=_expected, label="ones")]
"""},
}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("course")
    for aid, parts in COURSE.items():
        folder = root / aid
        folder.mkdir(parents=True)
        (folder / "assignment.py").write_text(_ASSIGNMENT.format(id=aid, **parts))
    return root


def _engine(db: Path):
    eng = make_engine(str(db))
    migrations.upgrade(eng)
    return eng


def _submissions(db: Path) -> dict[int, tuple[Submission, Job]]:
    eng = make_engine(str(db))
    try:
        with sessions(eng)() as s:
            rows = s.execute(select(Submission, Job).join(Job, Job.submission_id == Submission.id))
            return {sub.id: (sub, job) for sub, job in rows}
    finally:
        eng.dispose()


def _wait_done(db: Path, ids, timeout: float = 120) -> dict[int, tuple[Submission, Job]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = _submissions(db)
        if all(rows[i][1].status == "done" for i in ids):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError({i: (rows[i][0].status, rows[i][1].attempts) for i in ids})
        time.sleep(0.2)


# ----------------------------------------------------------------------- BaseException


@pytest.mark.slow
def test_a_grading_that_raises_a_base_exception_ends_as_a_grading_error(course, tmp_path):
    """A KeyboardInterrupt raised inside the grading (by the course's code) fails that
    attempt only: it is counted, the job is tried again, at most MAX_ATTEMPTS times in all,
    then stored as a grading error (points withheld, no score); the worker lives on and
    grades the next job. (Before: the job went back uncounted, retried forever.)"""
    db = tmp_path / "faults.db"
    eng = _engine(db)
    with write_session(eng) as s:
        from grader.serve import auth

        acc = auth.account(s, "carol")
        s.flush()
        ids = [jobs.enqueue(s, account_id=acc.id, assignment=aid, filename="carol.py",
                            content=DOUBLE).id
               for aid in ("faulty/interrupt", "tiny/double")]
    eng.dispose()
    log = tmp_path / "worker.log"
    worker = start("worker", "--db", str(db), "--course", str(course), "--lease-seconds", "30",
                   log=log)
    try:
        rows = _wait_done(db, ids)
        assert worker.poll() is None, log.read_text()  # it lived on
    finally:
        stop(worker)
    text_ = log.read_text()
    sid, honest = ids
    sub, job = rows[sid]
    assert (job.attempts, sub.status, sub.score) == (jobs.MAX_ATTEMPTS, "error", None), text_
    assert f"failed {jobs.MAX_ATTEMPTS} times" in sub.error, sub.error
    assert "KeyboardInterrupt: a stray interrupt" in sub.error and "not your fault" in sub.error
    result = json.loads(sub.result)  # every part withheld, with the reason
    assert "withheld" in result["output"] and "error in the grader" in result["output"]
    assert "the grader's fault, not yours" in result["tests"][0]["output"]
    assert text_.count(f"grading submission {sid} (") == jobs.MAX_ATTEMPTS, text_
    for attempt in range(1, jobs.MAX_ATTEMPTS + 1):
        assert f"grading submission {sid} (faulty/interrupt, attempt {attempt})" in text_
    sub, job = rows[honest]
    assert (sub.status, sub.score, sub.max_score, job.attempts) == ("graded", 5.0, 5.0, 1)


# ----------------------------------------------------------------------- restart


@pytest.mark.slow
def test_a_server_stopped_with_jobs_queued_grades_each_once_after_a_restart(course, tmp_path):
    """Stopped (SIGTERM) while its worker grades the first of two jobs: the worker puts that
    job back (uncounted), nothing is lost; the restarted server grades both, each exactly
    once."""
    db = tmp_path / "restart.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ("serve", "--db", str(db), "--course", str(course), "--port", str(port),
            "--workers", "1")
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    server = start(*args, log=first_log)
    try:
        wait_for_server(url, server, first_log)
        students, _ = make_accounts(db, tmp_path)
        alice = students["alice"]
        ids = []
        for _ in range(2):
            r = upload(url, alice, assignment="tiny/double", content=DOUBLE, filename="d.py")
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
        wait_status(url, alice, ids[0], ("running",), timeout=60)
        os.kill(server.pid, signal.SIGTERM)  # the server alone: it stops its worker itself
        assert server.wait(timeout=60) == 0, first_log.read_text()
    finally:
        stop(server)
    before = _submissions(db)
    assert sorted(before) == ids
    assert all(job.status in ("queued", "done") for _, job in before.values())

    server = start(*args, log=second_log)
    try:
        wait_for_server(url, server, second_log)
        for sid in ids:
            done = wait_status(url, alice, sid, ("graded", "error"), timeout=120)
            assert done["status"] == "graded" and done["result"]["score"] == 5.0, done
    finally:
        stop(server)
    logs = first_log.read_text() + second_log.read_text()
    for sid, (sub, job) in _submissions(db).items():
        assert logs.count(f"submission {sid}: graded") == 1, logs
        assert (job.status, job.attempts, sub.score) == ("done", 1, 5.0)
    assert f"put submission {ids[0]} back in the queue" in first_log.read_text() or (
        f"submission {ids[0]}: graded" in first_log.read_text())


# ----------------------------------------------------------------------- racing claims


def _stand_in_worker(url: str, name: str, go, done, out, all_hold_one, *,
                     result_bytes: int = 100, hold_seconds: float = 0.0) -> None:
    """A grading worker's use of the queue, in another process, without the grading: from
    ``go`` on, claim jobs and store a result of ``result_bytes`` for each; after each, hold
    the database's write lock for ``hold_seconds`` (a slow disk). Its first claimed job is
    held until every stand-in holds one (``all_hold_one``, a barrier), so each of them
    certainly gets work however the scheduler runs them. Stops at the first empty claim once
    ``done`` is set; puts ``(name, [submission ids stored])`` in ``out``."""
    eng = make_engine(url)
    stored: list[int] = []
    go.wait()
    result = json.dumps({"output": "x" * result_bytes})
    first = True
    while True:
        job = jobs.claim(eng, name, lease_seconds=60)
        if job is None:
            if done.is_set():
                break
            time.sleep(0.01)
            continue
        if first:
            all_hold_one.wait(timeout=60)
            first = False
        if jobs.complete(eng, job, status="graded", result=result, score=1.0, max_score=1.0):
            stored.append(job.submission_id)
        if hold_seconds:
            with write_session(eng) as s:
                s.execute(text("UPDATE jobs SET owner = owner WHERE id = -1"))
                time.sleep(hold_seconds)
    eng.dispose()
    out.put((name, stored))


def _run_stand_ins(url: str, n: int, during=None, **kwargs):
    """``n`` stand-in workers racing from the same instant; ``during()`` runs meanwhile
    (``done`` is set when it returns, or at once without it). Returns ``({name: [submission
    ids it stored]}, what during() returned)``."""
    ctx = multiprocessing.get_context("spawn")
    go, done, out, all_hold_one = ctx.Event(), ctx.Event(), ctx.Queue(), ctx.Barrier(n)
    procs = [ctx.Process(target=_stand_in_worker, args=(url, f"w{i}", go, done, out,
                                                        all_hold_one),
                         kwargs=kwargs) for i in range(n)]
    for proc in procs:
        proc.start()
    try:
        go.set()
        value = during() if during is not None else None
        done.set()
        stored = dict(out.get(timeout=60) for _ in procs)
    finally:
        done.set()
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    return stored, value


def test_two_worker_processes_on_postgresql_never_claim_the_same_job(postgres):  # noqa: F811
    """Two processes claim from one PostgreSQL queue at once (``FOR UPDATE SKIP LOCKED``):
    each job is claimed by exactly one of them, once, and both got work."""
    url = postgres.new_database()
    eng = _engine(url)
    with write_session(eng) as s:
        from grader.serve import auth

        acc = auth.account(s, "dave")
        s.flush()
        ids = [jobs.enqueue(s, account_id=acc.id, assignment="tiny/double", filename="d.py",
                            content=DOUBLE).id for _ in range(60)]
    eng.dispose()
    stored, _ = _run_stand_ins(url, 2)
    assert sorted(stored["w0"] + stored["w1"]) == ids  # none twice, none missed
    assert stored["w0"] and stored["w1"], stored  # both held a job at once
    rows = _submissions(url)
    for name, mine in stored.items():
        for sid in mine:
            sub, job = rows[sid]
            assert (job.status, job.attempts, job.owner, sub.status) == (
                "done", 1, name, "graded")


# ----------------------------------------------------------------------- API server


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """``grader serve --workers 0`` on a SQLite file, with a roster of 24 students imported
    through the real command."""
    tmp = tmp_path_factory.mktemp("api")
    db = tmp / "busy.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp / "serve.log"
    proc = start("serve", "--db", str(db), "--port", str(port), "--workers", "0", log=log)
    try:
        wait_for_server(url, proc, log)
        roster = tmp / "roster.csv"
        roster.write_text("student_id,email\n" + "".join(
            f"s{i:02d},s{i:02d}@example.org\n" for i in range(24)))
        r = grader("roster", "import", str(roster), "--db", str(db), "--tokens-out",
                   str(tmp / "tokens.csv"))
        assert r.returncode == 0, r.stderr
        tokens = [line.split(",", 1)[1] for line in
                  (tmp / "tokens.csv").read_text().strip().splitlines()[1:]]
        yield {"url": url, "db": db, "tokens": tokens, "proc": proc, "log": log}
    finally:
        stop(proc)
    assert proc.returncode == 0, log.read_text()


def test_uploads_to_a_busy_sqlite_file_are_all_accepted_and_none_lost(api):
    """80 uploads, 16 at a time, while two other processes claim jobs, write 200 kB results
    and keep taking SQLite's write lock: every upload is answered 202 (the server waits for
    the lock: no 'database is locked', no 500), and every one is queued and then stored
    exactly once."""
    tokens, url = api["tokens"], api["url"]
    before = set(_submissions(api["db"]))

    def one(i: int) -> httpx.Response:
        return upload(url, tokens[i % len(tokens)], content=DOUBLE + f"# {i}\n".encode(),
                      filename=f"upload{i}.py")

    def uploads() -> list[httpx.Response]:
        with ThreadPoolExecutor(16) as pool:
            return list(pool.map(one, range(80)))

    stored, responses = _run_stand_ins(str(api["db"]), 2, uploads, result_bytes=200_000,
                                       hold_seconds=0.02)
    assert [r.status_code for r in responses] == [202] * 80, [r.text for r in responses
                                                              if r.status_code != 202]
    ids = [r.json()["id"] for r in responses]
    assert len(set(ids)) == 80
    rows = _submissions(api["db"])
    assert set(rows) - before == set(ids)
    claimed = stored["w0"] + stored["w1"]
    assert sorted(claimed) == sorted(ids)  # every job stored once, by one of the two
    assert stored["w0"] and stored["w1"]
    for sid in ids:
        sub, job = rows[sid]
        assert (sub.status, job.status, job.attempts) == ("graded", "done", 1)
    assert "database is locked" not in api["log"].read_text()


# ----------------------------------------------------------------------- slow clients


def test_idle_half_sent_requests_do_not_starve_the_service(api):
    """300 connections that each send half a request line and then nothing (slowloris):
    a student's status request is still answered; each idle one gets 408 and is closed once
    the request-head deadline passes (uvicorn alone would keep them open forever)."""
    from grader.serve.server import REQUEST_HEAD_SECONDS

    port = int(api["url"].rsplit(":", 1)[1])
    token = api["tokens"][0]
    sid = upload(api["url"], token, content=DOUBLE).json()["id"]
    idle = []
    t0 = time.monotonic()
    try:
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(b"GET /api/submissions/1 HT")
            idle.append(s)
        r = httpx.get(f"{api['url']}/api/submissions/{sid}", headers=bearer(token), timeout=10)
        assert r.status_code == 200 and r.json()["id"] == sid
        answers = [s.recv(200) for s in idle]  # blocks until the server gives up on them
        waited = time.monotonic() - t0
    finally:
        for s in idle:
            s.close()
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), set(answers)
    assert REQUEST_HEAD_SECONDS - 1 <= waited <= REQUEST_HEAD_SECONDS + 15
    r = httpx.get(f"{api['url']}/api/submissions/{sid}", headers=bearer(token), timeout=10)
    assert r.status_code == 200


# ----------------------------------------------------------------------- hostile


@pytest.mark.slow
def test_a_hostile_submission_leaves_another_students_job_and_the_database_alone(course,
                                                                                  tmp_path):
    """Bob's submission switches the in-process fence off and, from relu, tries to overwrite
    the server's database file (now and from a child 3 s later) and to kill and renice the
    server; Alice's honest submission, graded at the same time by the other worker, scores
    its full marks, the server and its workers live on, and the database is intact."""
    from grader.engine import PROJECT_ROOT

    from ..conftest import build_source

    db = tmp_path / "hostile.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    server = start("serve", "--db", str(db), "--course", str(course), "--port", str(port),
                   "--workers", "2", log=log)
    try:
        wait_for_server(url, server, log)
        students, instructor = make_accounts(db, tmp_path)
        hostile = build_source(
            "fence_off", "os_escapes", OUTSIDE=db, PARENT_PID=server.pid, PORT=free_port(),
            PROJECT=PROJECT_ROOT, SITE=Path(np.__file__).resolve().parent.parent,
            CACHE=tmp_path / "cache")
        nice_before = os.getpriority(os.PRIO_PROCESS, server.pid)
        r_bob = upload(url, students["bob"], assignment="tiny/relu", content=hostile.encode(),
                       filename="bob.py")
        r_alice = upload(url, students["alice"], assignment="tiny/relu",
                         content=SOLUTION.read_bytes(), filename="alice.py")
        assert r_bob.status_code == r_alice.status_code == 202
        bob = wait_status(url, students["bob"], r_bob.json()["id"], ("graded", "error"))
        alice = wait_status(url, students["alice"], r_alice.json()["id"], ("graded", "error"))
        time.sleep(3.5)  # the child the attack spawned would write at 3 s
        assert server.poll() is None, log.read_text()
        assert os.getpriority(os.PRIO_PROCESS, server.pid) == nice_before
        r = httpx.get(f"{url}/api/grades.csv", headers=bearer(instructor), timeout=10)
        assert r.status_code == 200, r.text
    finally:
        stop(server)
    assert (alice["status"], alice["result"]["score"], alice["result"]["max_score"]) == (
        "graded", 5.0, 5.0), alice
    assert bob["status"] == "graded" and bob["result"]["score"] == 5.0, bob  # its honest relu
    output = bob["result"]["tests"][0]["output"]
    for attack in ("write_outside", "signal_parent", "setpriority_parent", "spawn"):
        assert f"ATTACK {attack} " in output, output
    for attack in ("write_outside", "signal_parent", "setpriority_parent"):
        assert f"ATTACK {attack} failed" in output, output
    assert "exited" not in log.read_text()  # no worker died
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM accounts").fetchone() == (3,)
        assert conn.execute("SELECT count(*) FROM submissions").fetchone() == (2,)
    conn.close()
    assert db.read_bytes()[:16] == b"SQLite format 3\x00"
    assert not Path(f"{db}.db").exists()
    rows = _submissions(db)
    assert sorted((s.status, s.score, j.attempts) for s, j in rows.values()) == [
        ("graded", 5.0, 1), ("graded", 5.0, 1)]
