"""The grading service's pages in a real browser: Debian's ``chromium`` driven by Playwright
(the system browser, ``executable_path``; no browser download), against ``grader serve``
(uvicorn, one grading worker, SQLite) on a loopback port.

One server and one browser for the module. A student logs in with a token, uploads a file
that does not load (quick to grade) and the reference solution with a known mistake,
watches the second wait in the queue until it is graded, and reads the reports; the
instructor sees the class table and the named mistake, and downloads the CSV and a
Gradescope ``results.json``. Without chromium the tests fail saying how to install it
(``make setup`` does), never skip.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx
import pytest

from grader.serve import client

from .helpers import ASSIGNMENT, SOLUTION, bearer
from .test_api import service  # noqa: F401 - the module's server (a fixture)

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
GRADING = 120_000  # ms: one worker grades the two submissions one after the other
BROKEN = b"def relu(z)\n    return z\n"  # a syntax error: every part 0, nothing runs
MISTAKE = "it standardizes each row (axis=1) instead of each column (axis=0)."
# The reference solution with the mistake above, and printed output that looks like markup.
MISTAKEN = (SOLUTION.read_text()
            .replace("(X - X.mean(axis=0)) / (X.std(axis=0) + 1e-8)",
                     "(X - X.mean(axis=1, keepdims=True)) / (X.std(axis=1, keepdims=True) + 1e-8)")
            .replace("def standardize(X):\n",
                     "def standardize(X):\n    print('<b>bold</b><img src=x>')\n"))
HOSTILE_NAME = "<img src=x onerror=alert(1)>.py"  # no "/": that would make it a path


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests drive Debian's chromium "
                    "(`make setup` installs it, or `apt-get install chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def shared():
    """What the tests of the module share: the ids of the student's two submissions."""
    return {}


def _log_in(browser, url: str, token: str):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/")
    page.get_by_label("Your token").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(url + "/")
    return context, page, errors


def _submit(page, url: str, *, name: str, content: bytes) -> int:
    page.goto(url + "/")
    page.get_by_label("Assignment").select_option(ASSIGNMENT)
    page.get_by_label("Your .py or .ipynb file").set_input_files(
        {"name": name, "mimeType": "text/x-python", "buffer": content})
    page.get_by_role("button", name="Submit for grading").click()
    page.wait_for_url(f"{url}/submissions/*")
    return int(page.url.rsplit("/", 1)[1])


def test_student_submits_watches_the_queue_and_reads_the_report(  # noqa: F811
        service, browser, shared):
    from playwright.sync_api import expect

    assert "axis=1, keepdims" in MISTAKEN and "print('<b>" in MISTAKEN
    url = service["url"]
    context, first, errors = _log_in(browser, url, service["students"]["alice"])
    cookie = next(c for c in context.cookies() if c["name"] == "grader_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    broken = _submit(first, url, name="solution.py", content=BROKEN)
    second = context.new_page()
    second.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    mistaken = _submit(second, url, name=HOSTILE_NAME, content=MISTAKEN.encode())
    # One worker, busy with (or about to take) the first: the second waits in the queue.
    assert second.locator("#status").text_content() == "queued"
    assert "in the queue" in second.locator("#position").text_content()
    polled = second.request.get(f"{url}/submissions/{mistaken}/status").json()
    assert polled["poll_seconds"] == client.poll_interval(polled), polled  # app.js waits that long
    assert second.locator("#filename").text_content() == HOSTILE_NAME  # text, not markup
    assert second.locator("main img").count() == 0

    # app.js polls the status and reloads the page once graded: the report appears.
    expect(first.locator("#status")).to_have_text("graded", timeout=GRADING)
    report = first.locator("#report").text_content()
    assert "Total: 0 / 7" in report and "syntax error at line 1" in report, report
    expect(second.locator("#status")).to_have_text("graded", timeout=GRADING)
    report = second.locator("#report").text_content()  # what `grader submit` prints
    assert "Total: 6 / 7" in report and "Seed: " in report, report
    for part in ("relu()", "relu_backward()", "sigmoid()", "standardize()", "train_logistic()"):
        assert part in report
    assert "it standardizes each row" in report
    assert "<b>bold</b><img src=x>" in report  # printed output shown as text
    assert second.locator("#report b, #report img").count() == 0

    second.goto(url + "/history")
    rows = second.locator("#history tbody tr")
    expect(rows).to_have_count(2)
    assert rows.nth(0).locator("td").nth(3).text_content() == HOSTILE_NAME
    assert [rows.nth(i).locator("td").nth(5).text_content() for i in range(2)] == ["6 / 7",
                                                                                   "0 / 7"]
    assert errors == [], errors  # no Content-Security-Policy violation, no script error
    shared.update(broken=broken, mistaken=mistaken)
    context.close()


def test_a_student_cannot_see_the_class_or_another_students_submission(  # noqa: F811
        service, browser, shared):
    url = service["url"]
    context, page, _ = _log_in(browser, url, service["students"]["bob"])
    resp = page.goto(url + "/instructor")
    assert resp.status == 403 and "instructors only" in page.locator("h1").text_content()
    resp = page.goto(f"{url}/submissions/{shared['broken']}")
    assert resp.status == 404 and "no submission" in page.locator("h1").text_content()
    resp = page.goto(f"{url}/submissions/{shared['broken']}/gradescope.json")
    assert resp.status == 404
    context.close()
    # the same over the API with a Bearer token
    r = httpx.get(f"{url}/api/submissions/{shared['broken']}/gradescope.json",
                  headers=bearer(service["students"]["bob"]))
    assert r.status_code == 404 and r.json()["field"] == "submission_id"


def test_the_instructor_sees_the_class_and_downloads_the_grades(  # noqa: F811
        service, browser, shared):
    url, alice = service["url"], service["students"]["alice"]
    context, page, errors = _log_in(browser, url, service["instructor"])
    page.goto(url + "/instructor")
    row = page.locator("#class-table tbody tr")
    assert row.count() == 1
    cells = [c.text_content().strip() for c in row.locator("td").all()]
    assert cells == ["alice", "6", "6", "7", "2", cells[5], ""], cells
    parts = {r.locator("td").nth(0).text_content(): r.locator("td").nth(2).text_content()
             for r in page.locator("#parts tbody tr").all()}
    assert parts["standardize()"] == "0/1 (0%)" and parts["relu()"] == "1/1 (100%)"
    mistakes = page.locator("#mistakes tbody tr")
    assert mistakes.count() == 1
    assert [c.text_content() for c in mistakes.first.locator("td").all()] == [
        "1", "standardize()", MISTAKE]
    page.get_by_role("link", name="count every submission").click()
    parts = {r.locator("td").nth(0).text_content(): r.locator("td").nth(2).text_content()
             for r in page.locator("#parts tbody tr").all()}
    assert parts["standardize()"] == "0/2 (0%)" and parts["relu()"] == "1/2 (50%)"
    assert "file does not load" in page.locator("#parts").text_content()
    assert page.locator("#histogram rect.bar").count() == 8  # one bin per point, 0..7

    with page.expect_download() as download:
        page.locator("#grades-csv").click()
    data = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename == "grades.csv"
    assert data == httpx.get(f"{url}/api/grades.csv", headers=bearer(service["instructor"])).content
    text = data.decode()
    subs = httpx.get(f"{url}/api/submissions", headers=bearer(alice)).json()
    assert list(csv.DictReader(io.StringIO(text))) == [
        {"student_id": "alice", "assignment": ASSIGNMENT, "best_score": "6", "max_score": "7",
         "submissions": "2", "latest_submitted_at": subs[0]["submitted_at"], "late": "false"}]

    sid = shared["mistaken"]
    link = page.locator(f'#submissions a[href="/submissions/{sid}/gradescope.json"]')
    with page.expect_download() as download:
        link.click()
    results = json.loads(Path(download.value.path()).read_text())
    assert results == subs[0]["result"]  # Gradescope's results.json, as stored
    assert results["score"] == 6.0 and {t["name"] for t in results["tests"]} >= {"standardize"}
    r = httpx.get(f"{url}/api/submissions/{sid}/gradescope.json", headers=bearer(alice))
    assert r.status_code == 200 and r.json() == results
    assert errors == [], errors
    context.close()


def test_forms_refuse_requests_from_other_sites(service, shared):  # noqa: F811
    url, alice = service["url"], service["students"]["alice"]
    r = httpx.get(url + "/")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "'unsafe-inline'" not in r.headers["content-security-policy"]
    for headers in ({}, {"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Referer": "http://evil.example/x"},
                    {"Origin": url, "Sec-Fetch-Site": "cross-site"}):
        r = httpx.post(url + "/login", data={"token": alice}, headers=headers)
        assert r.status_code == 403 and "set-cookie" not in r.headers, headers
    r = httpx.post(url + "/login", data={"token": alice}, headers={"Origin": url})
    assert r.status_code == 303 and "grader_token=" in r.headers["set-cookie"]
    cookies = {"grader_token": alice}
    r = httpx.post(url + "/submit", cookies=cookies, headers={"Origin": "http://evil.example"},
                   data={"assignment": ASSIGNMENT},
                   files={"file": ("a.py", b"x = 1\n", "text/x-python")})
    assert r.status_code == 403
    assert len(httpx.get(f"{url}/api/submissions", headers=bearer(alice)).json()) == 2
    # The JSON API still reads only the Bearer header, never the cookie.
    assert httpx.get(f"{url}/api/submissions", cookies=cookies).status_code == 401
    r = httpx.post(url + "/login", data={"token": "gr_nonsense"}, headers={"Origin": url})
    assert r.status_code == 401 and "refused" in r.text
