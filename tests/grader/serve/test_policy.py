"""Each assignment's policy on the grading service (:mod:`grader.serve.policy`): the rate limit
(429 with ``Retry-After``, per student and assignment, from the database: across restarts and
racing uploads), late flags (the submission JSON and ``grades.csv``), what hidden cases reveal
(``full`` / ``pass-fail`` / ``none`` until the due date) and the checks of ``course.toml``.

Most tests serve the real application on uvicorn in a thread of the test process (one per
policy: a restarted server is another one on the same database), on a real SQLite file (and
PostgreSQL where the database matters); one module fixture grades a real submission through
``grader serve`` and ``grader submit --server``, so the reveal filter is proven on a real
report.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import socket
import threading
import time

import httpx
import pytest
import uvicorn
from sqlalchemy import select, update

from grader import registry
from grader.serve import auth, jobs, migrations
from grader.serve import policy as policies
from grader.serve.app import create_app
from grader.serve.db import (
    GRADED, INSTRUCTOR, Submission, make_engine, sessions, utcnow, write_session,
)
from grader.serve.grades import class_rows
from grader.serve.policy import AssignmentPolicy, CoursePolicy

from .helpers import ASSIGNMENT, REPO, bearer, free_port, grader, start, stop, wait_for_server
from .test_queue import postgres  # noqa: F401 - the throwaway PostgreSQL cluster (a fixture)

OTHER = "week1/initialization"
HOUR = dt.timedelta(hours=1)


def _tokens(engine, *students: str, instructor: str | None = "prof") -> dict[str, str]:
    out = {}
    with write_session(engine) as s:
        for name in students:
            acc = auth.account(s, name)
            s.flush()
            out[name] = auth.new_token(s, acc)
        if instructor:
            acc = auth.account(s, instructor, role=INSTRUCTOR)
            s.flush()
            out[instructor] = auth.new_token(s, acc)
    return out


@pytest.fixture
def db(tmp_path):
    """A migrated SQLite file, students alice, bob, carol, dave and instructor prof."""
    path = tmp_path / "policy.db"
    engine = make_engine(str(path))
    migrations.upgrade(engine)
    tokens = _tokens(engine, "alice", "bob", "carol", "dave")
    yield path, engine, tokens
    engine.dispose()


_servers: list[tuple[uvicorn.Server, threading.Thread, httpx.Client]] = []


def _serve(app) -> httpx.Client:
    """``app`` on uvicorn (a thread of this process, a free loopback port) until the test
    ends (:func:`_stop_servers`); a client for it whose ``.app`` is ``app``."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    client.app = app
    _servers.append((server, thread, client))
    return client


@pytest.fixture(autouse=True)
def _stop_servers():
    yield
    while _servers:
        server, thread, client = _servers.pop()
        client.close()
        server.should_exit = True
        thread.join(timeout=10)


def _client(engine, **rules) -> httpx.Client:
    policy = CoursePolicy(AssignmentPolicy(), {ASSIGNMENT: AssignmentPolicy(**rules)})
    return _serve(create_app(engine, assignments=[ASSIGNMENT, OTHER], policy=policy))


def _upload(client: httpx.Client, token: str, assignment: str = ASSIGNMENT):
    return client.post("/api/submissions", data={"assignment": assignment},
                       files={"file": ("a.py", b"x = 1\n", "text/x-python")},
                       headers=bearer(token))


def _parse(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso)


# -- the rate limit ----------------------------------------------------------------------------

def test_rate_limit_per_student_and_assignment_with_retry_after_and_across_restarts(db):
    path, engine, tok = db
    client = _client(engine, rate_limit=3)
    ids = []
    for _ in range(3):
        r = _upload(client, tok["alice"])
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    before = utcnow()
    r = _upload(client, tok["alice"])
    assert r.status_code == 429, r.text
    body = r.json()
    with sessions(engine)() as s:
        first = s.get(Submission, ids[0]).submitted_at
    next_at = first + HOUR
    assert _parse(body["next_accepted_at"]) == next_at
    assert body["field"] == "assignment" and body["retry_after"] == int(r.headers["Retry-After"])
    assert 3590 <= int(r.headers["Retry-After"]) <= 3600
    assert abs(int(r.headers["Retry-After"]) - (next_at - before).total_seconds()) <= 2
    assert f"at most 3 submissions of {ASSIGNMENT} per hour" in body["detail"]
    assert f"accepted from {next_at:%Y-%m-%d %H:%M:%S} UTC" in body["detail"], body
    with sessions(engine)() as s:  # the refused upload stored nothing
        assert len(s.scalars(select(Submission)).all()) == 3

    # another student, another assignment, an instructor: unaffected
    assert _upload(client, tok["bob"]).status_code == 202
    assert _upload(client, tok["alice"], OTHER).status_code == 202
    assert all(_upload(client, tok["prof"]).status_code == 202 for _ in range(5))

    # a sliding hour: the oldest leaves the window
    now = utcnow()
    with write_session(engine) as s:
        for sid, ago in zip(ids, (61, 50, 10)):
            s.execute(update(Submission).where(Submission.id == sid)
                      .values(submitted_at=now - dt.timedelta(minutes=ago)))
    assert _upload(client, tok["alice"]).status_code == 202
    r = _upload(client, tok["alice"])
    assert r.status_code == 429
    assert abs(int(r.headers["Retry-After"]) - 600) <= 3  # when the one of 50 minutes ago leaves

    # the limit is in the database: a new application (a restarted server) still refuses
    restarted = make_engine(str(path))
    try:
        r = _upload(_client(restarted, rate_limit=3), tok["alice"])
        assert r.status_code == 429 and "Retry-After" in r.headers
        # the default from the command line applies where the course file sets none
        default = _serve(create_app(restarted, assignments=[ASSIGNMENT],
                                    policy=CoursePolicy(AssignmentPolicy(rate_limit=4))))
        assert _upload(default, tok["alice"]).status_code == 202  # her 4th in the last hour
        assert _upload(default, tok["alice"]).status_code == 429
    finally:
        restarted.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_uploads_at_the_limit_never_both_pass(backend, tmp_path, request):
    """The check and the insert of two racing uploads (each on its own engine, like two server
    processes), with a pause between them that lets the race happen if nothing serializes."""
    url = (str(tmp_path / "race.db") if backend == "sqlite"
           else request.getfixturevalue("postgres").new_database())
    setup = make_engine(url)
    migrations.upgrade(setup)
    with write_session(setup) as s:
        acc = auth.account(s, "racer")
        s.flush()
        account_id = acc.id
    engines = [make_engine(url) for _ in range(2)]
    outcomes: list[str] = []
    try:
        for round_ in range(3):
            barrier = threading.Barrier(2)
            assignment = f"race/{round_}"

            def submit(engine, barrier=barrier, assignment=assignment):
                barrier.wait()
                try:
                    with write_session(engine) as s:
                        policies.check_rate_limit(s, account_id=account_id,
                                                  assignment=assignment, limit=1, now=utcnow())
                        time.sleep(0.2)
                        jobs.enqueue(s, account_id=account_id, assignment=assignment,
                                     filename="a.py", content=b"")
                    outcomes.append("accepted")
                except policies.RateLimited:
                    outcomes.append("refused")

            threads = [threading.Thread(target=submit, args=(e,)) for e in engines]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert sorted(outcomes) == ["accepted"] * 3 + ["refused"] * 3
        with sessions(setup)() as s:
            assert len(s.scalars(select(Submission)).all()) == 3
    finally:
        for e in (setup, *engines):
            e.dispose()


# -- late ----------------------------------------------------------------------------------

def _graded(engine, student: str, at: dt.datetime, score: float | None,
            assignment: str = ASSIGNMENT) -> int:
    """A submission of ``student`` at ``at``, graded with ``score`` (None: still queued)."""
    with write_session(engine) as s:
        acc = auth.account(s, student)
        s.flush()
        sub = jobs.enqueue(s, account_id=acc.id, assignment=assignment, filename="a.py",
                           content=b"")
        sub.submitted_at = at
        if score is not None:
            sub.status, sub.score, sub.max_score = GRADED, score, 7.0
        s.flush()
        return sub.id


def _csv(client, token) -> dict[str, dict]:
    import csv
    import io

    r = client.get("/api/grades.csv", headers=bearer(token))
    assert r.status_code == 200, r.text
    return {row["student_id"]: row for row in csv.DictReader(io.StringIO(r.text))}


def test_late_flags_in_the_json_and_grades_csv_and_an_extension_unflags(db):
    _, engine, tok = db
    due = dt.datetime(2026, 3, 1, 23, 59, tzinfo=dt.timezone.utc)
    a_early = _graded(engine, "alice", due - 2 * HOUR, 5.0)
    a_late = _graded(engine, "alice", due + HOUR, 7.0)      # her best is late
    _graded(engine, "bob", due - HOUR, 7.0)                  # best on time ...
    _graded(engine, "bob", due + HOUR, 7.0)                  # ... resubmitted late: not late
    _graded(engine, "carol", due + HOUR, None)               # nothing graded, latest late
    _graded(engine, "dave", due - HOUR, 3.0)
    _graded(engine, "dave", due + HOUR, 2.0)                 # a late, lower score: not late
    _graded(engine, "dave", due + HOUR, 1.0, assignment=OTHER)  # OTHER has no due date

    client = _client(engine, due=due)
    views = {v["id"]: v for v in client.get("/api/submissions",
                                            headers=bearer(tok["alice"])).json()}
    assert (views[a_early]["late"], views[a_late]["late"]) == (False, True)
    rows = _csv(client, tok["prof"])
    assert {k: r["late"] for k, r in rows.items()} == {
        "alice": "true", "bob": "false", "carol": "true", "dave": "false"}
    assert rows["alice"]["best_score"] == "7" and rows["alice"]["submissions"] == "2"
    with sessions(engine)() as s:
        grades = {(g.student_id, g.assignment): g
                  for g in class_rows(s, client.app.state.policy)}
    assert grades[("dave", ASSIGNMENT)].latest_score == 2.0
    assert grades[("dave", ASSIGNMENT)].best_score == 3.0
    assert grades[("dave", OTHER)].late is False
    assert grades[("carol", ASSIGNMENT)].best_score is None

    extended = _client(engine, due=due + 2 * HOUR)  # the deadline moved later: un-flagged
    assert {r["late"] for r in _csv(extended, tok["prof"]).values()} == {"false"}
    view = extended.get(f"/api/submissions/{a_late}", headers=bearer(tok["alice"])).json()
    assert view["late"] is False


# -- what hidden cases reveal, on a stored result ----------------------------------------------

def _stored_result() -> dict:
    """The shape the worker stores (report.to_json plus policy.case_outcomes), written by hand
    for the cases a real grading rarely produces (see the real-grading test below). Every
    text of this full run is marked ``X=42`` or ``(full run)``."""
    return {
        "score": 1.0, "max_score": 3.0, "execution_time": 1.0, "output": "a: 1 / 3 (seed 4)",
        "tests": [
            {"name": "f", "score": 1.0, "max_score": 1.0, "status": "passed",
             "output": "Passed all 3 cases (1 visible, 2 hidden).\n\nYour code printed:\nX=42",
             "visibility": "visible"},
            {"name": "g", "max_score": 1.0, "status": "failed", "tags": ["grading-error"],
             "output": "Grading error while checking hidden case 2: X=42", "visibility": "visible"},
            {"name": "h", "score": 0.0, "max_score": 1.0, "status": "failed",
             "output": "Wrong result on visible case 1 (full run)", "visibility": "visible",
             "extra_data": {"mistake": "(full run)"}},
        ],
        "extra_data": {"seed": 4, "assignment": "a", "title": "A", "file": "sub.py",
                       "submission": 7, "mode": "submit", "complete": False,
                       "grading_errors": ["g"],
                       "cases": {"f": {"failed_case": "", "visible": 1, "hidden": 2},
                                 "g": {"failed_case": "hidden case 2", "visible": 1,
                                       "hidden": 2},
                                 "h": {"failed_case": "visible case 1", "visible": 1,
                                       "hidden": 2}}},
    }


def _visible_result() -> dict:
    """The same submission's visible run (``grader test``'s report, as the worker stores it)."""
    return {
        "score": 2.0, "max_score": 3.0, "execution_time": 0.5, "output": "a: 2 / 3 (seed 9)",
        "tests": [
            {"name": "f", "score": 1.0, "max_score": 1.0, "status": "passed",
             "output": "Passed the visible case.\n\nYour code printed:\nV=1",
             "visibility": "visible", "extra_data": {"mistake": ""}},
            {"name": "g", "score": 1.0, "max_score": 1.0, "status": "passed",
             "output": "Passed the visible case.", "visibility": "visible",
             "extra_data": {"mistake": ""}},
            {"name": "h", "score": 0.0, "max_score": 1.0, "status": "failed",
             "output": "Wrong result on visible case 1 (visible run)", "visibility": "visible",
             "extra_data": {"mistake": "the visible mistake"}},
        ],
        "extra_data": {"seed": 9, "assignment": "a", "title": "A", "file": "sub.py",
                       "submission": 7, "mode": "test", "complete": True, "grading_errors": [],
                       "hidden_not_run": 6,
                       "cases": {n: {"failed_case": c, "visible": 1, "hidden": 0}
                                 for n, c in (("f", ""), ("g", ""), ("h", "visible case 1"))}},
    }


def _no_full_text(shown: dict) -> None:
    assert "X=42" not in str(shown) and "(full run)" not in str(shown), shown
    assert "hidden case 2" not in str(shown) and "cases" not in shown["extra_data"], shown


def test_reveal_takes_every_text_from_the_visible_run_and_only_status_and_points_from_the_full():
    stored, visible = _stored_result(), _visible_result()
    due = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    assert policies.reveal(stored, policies.FULL, due, visible) is stored

    pf = policies.reveal(stored, policies.PASS_FAIL, due, visible)
    _no_full_text(pf)
    assert [t.get("score") for t in pf["tests"]] == [1.0, None, 0.0]  # the full run's points
    assert [t["status"] for t in pf["tests"]] == ["passed", "failed", "failed"]
    assert pf["tests"][1]["tags"] == ["grading-error"] and pf["score"] == 1.0
    f, g, h = (t["output"] for t in pf["tests"])
    assert f.startswith("Passed all its cases") and f.endswith("Your code printed:\nV=1")
    assert g.startswith("Grading error") and "Passed the visible case." in g
    assert h == "Wrong result on visible case 1 (visible run)"  # failed a visible case
    assert pf["tests"][2]["extra_data"] == {"mistake": "the visible mistake"}
    assert pf["execution_time"] == 0.5  # the visible run's time
    assert pf["extra_data"]["grading_errors"] == ["g"] and pf["extra_data"]["seed"] == 4
    assert pf["extra_data"]["reveal"] == "pass-fail" and pf["extra_data"]["mode"] == "submit"

    none = policies.reveal(stored, policies.NONE, due, visible)
    _no_full_text(none)
    assert [t["score"] for t in none["tests"]] == [1.0, 1.0, 0.0]  # the visible run's
    assert [t["output"] for t in none["tests"]] == [t["output"] for t in visible["tests"]]
    assert none["score"] == 2.0 and none["extra_data"]["grading_errors"] == []
    assert none["execution_time"] == 0.5 and none["extra_data"]["hidden_not_run"] == 6
    assert none["extra_data"]["withheld_until"] == "2026-03-01T00:00:00Z"
    assert none["extra_data"]["mode"] == "test" and none["extra_data"]["reveal"] == "none"
    assert stored == _stored_result() and visible == _visible_result()  # not modified


def test_reveal_without_a_visible_run_is_fixed_wording_only():
    """Graded before revision 0002, or while the assignment showed hidden cases in full: not
    one text or timing of the full run, not even a visible case's feedback (in the full run,
    an earlier part's code may have seen hidden inputs)."""
    stored = _stored_result()
    for old in (stored, {**stored, "extra_data": {"assignment": "a", "seed": 4}}):
        pf = policies.reveal(old, policies.PASS_FAIL, None)
        assert "X=42" not in str(pf) and "Wrong result" not in str(pf)
        assert [t.get("score") for t in pf["tests"]] == [1.0, None, 0.0]
        assert [t["output"].split(".")[0] for t in pf["tests"]] == [
            "Passed all its cases, the hidden ones included",
            ("Grading error (the grader's fault, not yours; tell your instructor); its "
             "details are not shown to students"),
            "Did not pass all its cases"]
        assert "execution_time" not in pf and all("extra_data" not in t for t in pf["tests"])
        none = policies.reveal(old, policies.NONE, None)
        assert "X=42" not in str(none) and "Wrong result" not in str(none)
        assert all("score" not in t and t["tags"] == ["withheld"] for t in none["tests"])
        assert none["score"] == 0.0 and none["extra_data"]["withheld_until"] is None
        assert "execution_time" not in none


def test_reveal_submission_words_the_error_and_hides_the_full_runs_time():
    stored, visible = _stored_result(), _visible_result()
    due = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    row = {"status": "error", "result": stored, "visible": visible, "score": 1.0,
           "max_score": 3.0, "error": "grading error in g() X=42",
           "graded_at": "2026-02-01T00:00:09Z", "due": due}
    full = policies.reveal_submission(**row, mode=policies.FULL)
    assert full == {k: row[k] for k in ("status", "result", "score", "max_score", "error",
                                        "graded_at")}
    pf = policies.reveal_submission(**row, mode=policies.PASS_FAIL)
    assert (pf["status"], pf["error"], pf["score"], pf["max_score"], pf["graded_at"]) == (
        "error", "grading error in g()", 1.0, 3.0, None)
    none = policies.reveal_submission(**row, mode=policies.NONE)
    assert (none["status"], none["error"], none["score"], none["max_score"],
            none["graded_at"]) == ("graded", None, None, None, None)  # the visible run's
    broken = json.loads(json.dumps(visible))
    broken["tests"][0]["tags"] = ["grading-error"]
    broken["extra_data"]["grading_errors"] = ["f"]
    none = policies.reveal_submission(**{**row, "status": "graded", "visible": broken},
                                      mode=policies.NONE)
    assert (none["status"], none["error"]) == ("error", "grading error in f()")
    for mode in (policies.PASS_FAIL, policies.NONE):
        nothing = policies.reveal_submission(**{**row, "result": None, "visible": None},
                                             mode=mode)
        assert nothing["result"] is None and nothing["error"] == policies.GRADER_FAULT
        queued = policies.reveal_submission(**{**row, "status": "queued", "result": None,
                                               "error": None}, mode=mode)
        assert queued["status"] == "queued" and queued["error"] is None


def test_reveal_withholds_the_mistake_named_on_a_hidden_case():
    """The mistake the grader named (a test's ``extra_data``) is as hidden as the feedback
    that names it; on a visible case the visible run names it, as its feedback does."""
    from grader import report
    from grader.engine import PartResult, Result

    hidden, visible = "the mistake seen on hidden case 2.", "the mistake seen on visible case 1."
    parts = [PartResult("f", "", 1.0, 0.0, f"Wrong result on hidden case 2: {hidden}",
                        visible_cases=1, hidden_cases=2, failed_case="hidden case 2",
                        mistake=hidden),
             PartResult("g", "", 1.0, 0.0, f"Wrong result on visible case 1: {visible}",
                        visible_cases=1, hidden_cases=2, failed_case="visible case 1",
                        mistake=visible)]
    result = Result("a", "A", "sub.py", 4, "submit", parts)
    stored = json.loads(report.to_json(result, **policies.case_outcomes(result)))
    assert [t["extra_data"] for t in stored["tests"]] == [{"mistake": hidden},
                                                          {"mistake": visible}]
    own = Result("a", "A", "sub.py", 5, "test", [
        PartResult("f", "", 1.0, 1.0, "Passed the visible case.", visible_cases=1),
        PartResult("g", "", 1.0, 0.0, f"Wrong result on visible case 1: {visible}",
                   visible_cases=1, failed_case="visible case 1", mistake=visible)])
    alone = json.loads(report.to_json(own, **policies.case_outcomes(own)))
    for mode in (policies.PASS_FAIL, policies.NONE):
        shown = policies.reveal(stored, mode, None, alone)
        assert hidden not in str(shown), mode
        assert shown["tests"][1]["extra_data"] == {"mistake": visible}, mode
        assert hidden not in str(policies.reveal(stored, mode, None)), mode


# -- the schema ------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_from_revision_0001_keeps_every_row_without_a_visible_run(backend, tmp_path,
                                                                         request):
    """A database of the first schema (a server before this change) is upgraded at start-up:
    its rows stay, with no visible run (shown with fixed wording); the new column is
    written and read back."""
    from alembic import command
    from sqlalchemy import inspect, text

    url = (str(tmp_path / "old.db") if backend == "sqlite"
           else request.getfixturevalue("postgres").new_database())
    engine = make_engine(url)
    try:
        cfg = migrations._config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
        assert migrations.current(engine) == "0001"
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO accounts (id, student_id, role, created_at) "
                              "VALUES (1, 'alice', 'student', :t)"), {"t": utcnow()})
            conn.execute(text("INSERT INTO submissions (id, account_id, assignment, filename, "
                              "content, submitted_at, status, result, score) VALUES (1, 1, "
                              "'a', 'a.py', :c, :t, 'graded', '{}', 2.0)"),
                         {"c": b"x = 1\n", "t": utcnow()})
        migrations.upgrade(engine)
        assert migrations.current(engine) == migrations.head() == "0003"
        columns = {c["name"]: c for c in inspect(engine).get_columns("submissions")}
        assert columns["visible_result"]["nullable"]
        with write_session(engine) as s:
            sub = s.get(Submission, 1)
            assert (sub.result, sub.score, sub.visible_result) == ("{}", 2.0, None)
            sub.visible_result = '{"tests": []}'
        with sessions(engine)() as s:
            assert s.get(Submission, 1).visible_result == '{"tests": []}'
    finally:
        engine.dispose()


# -- course.toml -----------------------------------------------------------------------------

@pytest.fixture
def course(tmp_path):
    """An instructor's course folder (one assignment, ``hw/one``) in use; write its
    ``course.toml`` with the returned function."""
    folder = tmp_path / "course"
    (folder / "hw" / "one").mkdir(parents=True)
    (folder / "hw" / "one" / "assignment.py").write_text("")
    registry.use_course(folder)
    toml = folder / "course.toml"

    def write(text: str):
        toml.write_text(text)
        return toml

    yield write
    registry.reset_courses()


def test_course_toml_sets_each_assignment_and_the_defaults(course):
    course('[serve]\nhidden = "pass-fail"\nrate_limit = "5/hour"\n'
           '[serve."hw/one"]\ndue = 2026-12-01T23:59:00-05:00\n'
           f'[serve."{ASSIGNMENT}"]\nhidden = "none"\ndue = "2026-12-02T00:00:00Z"\n')
    p = policies.load(default_rate_limit=7)
    assert p.for_assignment("hw/one") == AssignmentPolicy(
        due=dt.datetime(2026, 12, 2, 4, 59, tzinfo=dt.timezone.utc), rate_limit=5,
        hidden="pass-fail")
    # a built-in assignment: its own table from this course; the defaults are this course's
    # assignments' only, so the command line's rate limit applies
    assert p.for_assignment(ASSIGNMENT) == AssignmentPolicy(
        due=dt.datetime(2026, 12, 2, tzinfo=dt.timezone.utc), rate_limit=7, hidden="none")
    assert p.for_assignment(OTHER) == AssignmentPolicy(rate_limit=7)
    # no course file anywhere: the defaults
    course("")
    assert policies.load() == CoursePolicy(
        AssignmentPolicy(), {aid: AssignmentPolicy() for aid in registry.ids()})


@pytest.mark.parametrize("text, key, words", [
    ('[serve."hw/one"]\ndue = 2026-12-01T23:59:00\n', 'serve."hw/one".due', "no timezone"),
    ('[serve."hw/one"]\ndue = 2026-12-01\n', 'serve."hw/one".due', "timezone"),
    ('[serve."hw/one"]\ndue = "next friday"\n', 'serve."hw/one".due', "not a date-time"),
    ('[serve]\nrate_limit = "ten/hour"\n', "serve.rate_limit", "N/hour"),
    ('[serve]\nrate_limit = "0/hour"\n', "serve.rate_limit", ">= 1"),
    ('[serve]\nrate_limit = 10\n', "serve.rate_limit", "N/hour"),
    ('[serve."hw/one"]\nhidden = "after-due"\n', 'serve."hw/one".hidden', "'pass-fail'"),
    ('[serve]\nrate-limit = "5/hour"\n', "serve.rate-limit", "unknown key"),
    ('[serve."week9/nope"]\nhidden = "none"\n', '[serve."week9/nope"]', "valid ids: hw/one"),
    ("serve = 3\n", "'serve'", "must be a table"),
])
def test_bad_course_toml_is_a_course_error_naming_the_file_and_key(course, text, key, words):
    toml = course(text)
    with pytest.raises(registry.CourseError) as info:
        policies.load()
    message = str(info.value)
    assert message.startswith(f"{toml}: ") and key in message and words in message, message


def test_serve_refuses_a_bad_rate_limit_or_course_file_at_start_up(course, tmp_path, capsys):
    from grader import cli

    for bad in ("ten/hour", "10/minute", "0/hour"):
        assert cli.main(["serve", "--rate-limit", bad]) == 2
        err = capsys.readouterr().err
        assert f"argument --rate-limit: '{bad}' is not a rate limit" in err, err
    toml = course('[serve."hw/one"]\nhidden = "sometimes"\n')
    db = tmp_path / "x.db"
    with socket.socket() as taken:  # were the file accepted, serving would fail, not block
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", "--course", str(toml.parent), "--workers", "0", "--db",
                         str(db), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f'{toml}: serve."hw/one".hidden: \'sometimes\' is not one of' in err, err
    assert not db.exists()  # refused before anything started


# -- a real grading: the reveal filter on a real report ---------------------------------------

# Right on the visible case of relu(), wrong on its hidden ones, printing their shapes;
# relu_backward() right everywhere; sigmoid() wrong on its visible case; the rest not
# implemented (quick to grade).
_SUBMISSION = (REPO / "grader" / "course" / "selftest" / "basics" / "solution.py").read_text() + '''

def relu(z):
    print("SHAPE-SEEN", tuple(z.shape))
    return jnp.maximum(z, 0) if tuple(z.shape) == (3, 4) else z


def sigmoid(z):
    return z


def sample_normal(key, n):
    raise NotImplementedError


def standardize(X):
    raise NotImplementedError


def train_logistic(key, X, y, num_steps=200, learning_rate=0.5):
    raise NotImplementedError
'''


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """``grader serve`` with an instructor's course (a copy of selftest/basics whose
    course.toml withholds hidden cases until a due date tomorrow), and ``grader submit
    --server`` of :data:`_SUBMISSION` by alice: graded by a real worker."""
    tmp = tmp_path_factory.mktemp("reveal")
    folder = tmp / "course"
    shutil.copytree(REPO / "grader" / "course" / "selftest" / "basics",
                    folder / "selftest" / "basics",
                    ignore=shutil.ignore_patterns("__pycache__"))
    due = (utcnow() + dt.timedelta(days=1)).replace(microsecond=0)
    (folder / "course.toml").write_text(
        f'[serve."{ASSIGNMENT}"]\nhidden = "none"\ndue = {due.isoformat()}\n')
    db, port = tmp / "reveal.db", free_port()
    url, log = f"http://127.0.0.1:{port}", tmp / "serve.log"
    cache, before = tmp / "cache", os.environ.get("JAXDL_GRADER_CACHE")
    os.environ["JAXDL_GRADER_CACHE"] = str(cache)  # the worker's, inherited
    try:
        proc = start("serve", "--db", str(db), "--course", str(folder), "--port", str(port),
                     "--workers", "1", log=log)
    finally:
        if before is None:
            del os.environ["JAXDL_GRADER_CACHE"]
        else:
            os.environ["JAXDL_GRADER_CACHE"] = before
    try:
        wait_for_server(url, proc, log)
        engine = make_engine(str(db))
        tok = _tokens(engine, "alice")
        sub = tmp / "submission.py"
        sub.write_text(_SUBMISSION)
        r = grader("submit", ASSIGNMENT, "--file", str(sub), "--server", url, "--token",
                   tok["alice"], cwd=tmp)
        assert r.returncode == 0, r.stdout + r.stderr + log.read_text()
        yield {"engine": engine, "tokens": tok, "due": due, "stdout": r.stdout,
               "cache": cache}
        engine.dispose()
    finally:
        stop(proc)


def _views(engine, tok, **rules) -> tuple[dict, dict]:
    client = _client(engine, **rules)
    (student,) = client.get("/api/submissions", headers=bearer(tok["alice"])).json()
    inst = client.get(f"/api/submissions/{student['id']}", headers=bearer(tok["prof"])).json()
    return student, inst


@pytest.mark.slow
def test_reveal_on_a_real_report(graded):
    engine, tok, due = graded["engine"], graded["tokens"], graded["due"]
    past = utcnow() - HOUR

    full, inst = _views(engine, tok)
    assert full == inst and full["status"] == "graded"
    tests = {t["name"]: t for t in full["result"]["tests"]}
    # what there is to hide: relu's hidden-case feedback and what it printed there
    assert "hidden case 1" in tests["relu"]["output"] and tests["relu"]["score"] == 0
    visible_shape = "SHAPE-SEEN (3, 4)"  # relu's visible case (the visible run prints it too)
    hidden_shapes = set(re.findall(r"SHAPE-SEEN \([^)]*\)", tests["relu"]["output"])) - {
        visible_shape}
    assert hidden_shapes, tests["relu"]["output"]
    assert tests["relu_backward"]["status"] == "passed"
    assert "visible case 1" in tests["sigmoid"]["output"] and full["score"] == 1.0
    # the worker also ran the visible cases alone (stored), and used no worker cache
    with sessions(engine)() as s:
        own = json.loads(s.scalars(select(Submission.visible_result)).one())
    assert own["extra_data"]["mode"] == "test" and own["score"] == 2.0
    assert not any(x in json.dumps(own) for x in hidden_shapes), own
    worker_caches = graded["cache"] / "worker"
    assert not worker_caches.exists() or not any(worker_caches.iterdir())

    def hides(view: dict | str) -> bool:
        return not any(x in str(view) for x in hidden_shapes) and "hidden case 1" not in str(
            view)

    for rules in ({"hidden": "pass-fail"}, {"hidden": "pass-fail", "due": past}):
        pf, inst = _views(engine, tok, **rules)
        assert inst["result"] == full["result"] and inst["score"] == 1.0
        t = {x["name"]: x for x in pf["result"]["tests"]}
        assert hides(pf)
        assert (t["relu"]["status"], t["relu"]["score"]) == ("failed", 0.0)
        assert t["relu"]["output"].startswith("Did not pass all its cases")
        assert visible_shape in t["relu"]["output"]  # the visible run's printed output
        assert t["relu_backward"]["output"].startswith("Passed all")
        assert t["sigmoid"] == tests["sigmoid"]  # a visible case: shown as it is
        assert pf["score"] == pf["result"]["score"] == 1.0

    none, inst = _views(engine, tok, hidden="none", due=due)
    assert inst == full
    t = {x["name"]: x for x in none["result"]["tests"]}
    assert hides(none)
    assert (t["relu"]["status"], t["relu"]["score"]) == ("passed", 1.0)  # its visible case
    assert t["relu"]["output"].startswith("Passed the visible case")
    assert t["sigmoid"] == tests["sigmoid"]
    assert none["result"]["tests"] == own["tests"]  # the visible run's report, as it is
    assert none["result"]["execution_time"] == own["execution_time"]
    assert none["graded_at"] is None and inst["graded_at"] is not None
    assert none["score"] is None and none["max_score"] is None
    visible_total = full["score"] + tests["relu"]["max_score"]  # relu passed its visible case
    assert none["result"]["score"] == visible_total == 2.0
    assert none["result"]["extra_data"]["mode"] == "test"
    assert none["result"]["extra_data"]["hidden_not_run"] > 0
    assert none["result"]["extra_data"]["withheld_until"] == due.isoformat().replace(
        "+00:00", "Z")

    after, _ = _views(engine, tok, hidden="none", due=past)  # after the due date: everything
    assert after["result"] == full["result"] and after["score"] == 1.0

    # what `grader submit --server` printed, under the course's "none" until tomorrow
    out = graded["stdout"]
    assert hides(out) and visible_shape in out, out
    assert "Total: 2 / 7" in out and "visible cases only" in out, out
    assert f"withheld until {due:%Y-%m-%d %H:%M:%S} UTC (the due date)" in out, out
