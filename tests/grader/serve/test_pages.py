"""The instructor page's numbers (:mod:`grader.serve.stats`) on a real SQLite database, and
the pages' escaping and forged-request check, without a server (the browser test,
``test_browser.py``, drives the real thing)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from starlette.requests import Request

from grader import registry, report
from grader.engine import PartResult, Result
from grader.serve import migrations, pages, stats
from grader.serve.db import ERROR, GRADED, QUEUED, Account, Submission, make_engine, sessions

from .helpers import ASSIGNMENT

STANDARDIZE = "it standardizes each row (axis=1) instead of each column (axis=0)."
RELU = "it returns the mask (z > 0) instead of max(z, 0)."


def _result(wrong: dict[str, str]) -> str:
    """The stored results.json of a selftest/basics submission failing the parts in
    ``wrong`` (function -> named mistake), as the engine words and records it."""
    a = registry.load(ASSIGNMENT)
    parts = []
    for p in a.parts:
        if p.function in wrong:
            fb = f"Wrong result on {p.function} of a (5, 3) float32 array: {wrong[p.function]}"
            parts.append(PartResult(p.function, "", float(p.points), 0.0, fb,
                                    mistake=wrong[p.function]))
        else:
            parts.append(PartResult(p.function, "", float(p.points), float(p.points),
                                    "Passed all 2 cases (1 visible, 1 hidden)."))
    return report.to_json(Result(a.id, a.title, "sub.py", 1, "submit", parts))


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    engine = make_engine(str(tmp_path_factory.mktemp("stats") / "grader.db"))
    migrations.upgrade(engine)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    with sessions(engine).begin() as session:
        who = {name: Account(student_id=name, role="student", created_at=t0)
               for name in ("alice", "bob", "carol", "dave")}
        session.add_all(who.values())
        session.flush()
        rows = [("alice", GRADED, _result({})), ("alice", GRADED, _result({"standardize":
                                                                            STANDARDIZE})),
                ("bob", GRADED, _result({"standardize": STANDARDIZE, "relu": RELU})),
                ("carol", ERROR, None),  # the grader failed before any part ran
                ("dave", QUEUED, None)]
        for i, (name, status, result) in enumerate(rows):
            session.add(Submission(account_id=who[name].id, assignment=ASSIGNMENT,
                                   filename="sub.py", content=b"", status=status,
                                   submitted_at=t0 + dt.timedelta(minutes=i), result=result))
    yield engine
    engine.dispose()


def test_class_summary_over_each_students_latest_and_over_every_submission(db):
    a = registry.load(ASSIGNMENT)
    with sessions(db)() as session:
        latest = stats.summary(session, a)
        every = stats.summary(session, a, over="all")
        with pytest.raises(ValueError, match="over: expected one of latest, all"):
            stats.summary(session, a, over="best")
    assert latest.statuses == {"graded": 2, "grading error": 1}  # dave's is still queued
    assert sorted(latest.scores) == [5.0, 6.0]
    by = {p.function: p for p in latest.parts}
    assert (by["standardize"].passed, by["standardize"].graded) == (0, 2)
    assert (by["relu"].passed, by["relu"].graded) == (1, 2)
    assert stats.ranked_mistakes(latest) == [(2, "standardize", STANDARDIZE),
                                             (1, "relu", RELU)]
    assert every.statuses == {"graded": 3, "grading error": 1}
    assert sorted(every.scores) == [5.0, 6.0, 7.0]
    by = {p.function: p for p in every.parts}
    assert (by["standardize"].passed, by["standardize"].graded) == (1, 3)


def test_histogram_bars_fill_the_plot_area(db):
    with sessions(db)() as session:
        s = stats.summary(session, registry.load(ASSIGNMENT), over="all")
    bars = stats.histogram_bars(s, width=400, height=100)
    assert [b.label for b in bars] == [str(k) for k in range(8)]  # one bin per point
    assert {b.label: b.count for b in bars if b.count} == {"5": 1, "6": 1, "7": 1}
    assert {b.height for b in bars} == {0.0, 100.0}
    assert all(b.y + b.height == 100 for b in bars)
    assert bars[1].x - bars[0].x == pytest.approx(50)


def test_pages_escape_what_students_wrote():
    who = SimpleNamespace(student_id="<b>eve</b>", role="student")
    sub = {"id": 3, "assignment": ASSIGNMENT, "submitted_at": "2026-01-01T00:00:00Z",
           "filename": "<script>alert(1)</script>.py", "status": "graded", "score": 1.0,
           "max_score": 7.0, "late": True}
    resp = pages.page("history.html", who=who, subs=[sub], assignment=None)
    html = resp.body.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.py" in html and "<script>alert" not in html
    assert "&lt;b&gt;eve&lt;/b&gt;" in html
    assert '<span class="late">late</span>' in html
    assert resp.headers["content-security-policy"] == pages.CSP


def _post(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/login", "headers": raw,
                    "scheme": "http"})


def test_form_posts_must_come_from_this_server():
    here = {"Host": "grader.example:8000"}
    assert pages.same_origin(_post({**here, "Origin": "http://grader.example:8000"}))
    assert pages.same_origin(_post({**here, "Referer": "http://grader.example:8000/x"}))
    assert pages.same_origin(_post({**here, "Origin": "http://grader.example:8000",
                                    "Sec-Fetch-Site": "same-origin"}))
    for other in ({}, {"Origin": "null"}, {"Origin": "http://evil.example"},
                  {"Origin": "http://grader.example:8001"},
                  {"Origin": "https://grader.example:8000"},  # another scheme: another origin
                  {"Referer": "https://grader.example:8000/x"},
                  {"Referer": "http://evil.example/grader.example:8000"},
                  {"Origin": "http://grader.example:8000", "Sec-Fetch-Site": "same-site"}):
        assert not pages.same_origin(_post({**here, **other})), other
