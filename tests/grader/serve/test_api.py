"""The grading service end to end: ``grader serve`` (uvicorn, one grading worker, a SQLite
file it creates itself) on a free loopback port, real HTTP, the real CLI.

One server for the module (grading in the sandbox costs seconds); the end-to-end test runs
first, the uploads that are refused or only queued come after it.
"""

from __future__ import annotations

import csv
import io
import os

import httpx
import pytest

from .helpers import (
    ASSIGNMENT, SOLUTION, bearer, free_port, grader, make_accounts, start, stop, upload,
    wait_for_server, wait_status,
)

MAX_UPLOAD = 50_000


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp / "serve.log"
    # No --db: the server creates ./grader.db in its working directory.
    proc = start("serve", "--port", str(port), "--workers", "1",
                 "--max-upload-bytes", str(MAX_UPLOAD), log=log, cwd=tmp)
    try:
        wait_for_server(url, proc, log)
        db = tmp / "grader.db"
        assert db.is_file()
        students, instructor = make_accounts(db, tmp)
        yield {"url": url, "db": db, "tmp": tmp, "log": log, "students": students,
               "instructor": instructor, "proc": proc}
    finally:
        stop(proc)
    assert proc.returncode == 0, log.read_text()


def test_submit_over_http_prints_the_local_report_and_stores_the_result(service):
    url, alice = service["url"], service["students"]["alice"]
    r = grader("submit", ASSIGNMENT, "--file", str(SOLUTION), "--server", url, "--token", alice,
               "--json", str(service["tmp"] / "out.json"))
    assert r.returncode == 0, r.stdout + r.stderr + service["log"].read_text()
    assert "Total: 7 / 7" in r.stdout and "Seed: " in r.stdout, r.stdout
    assert "relu_backward()" in r.stdout

    subs = httpx.get(f"{url}/api/submissions", headers=bearer(alice)).json()
    assert len(subs) == 1
    sub = subs[0]
    assert sub["status"] == "graded" and sub["assignment"] == ASSIGNMENT
    assert set(sub) >= {"id", "assignment", "status", "submitted_at", "result"}
    result = sub["result"]  # the object `grader submit --json` writes
    assert result["score"] == result["max_score"] == 7.0
    assert [t["name"] for t in result["tests"]] == [
        "relu", "relu_backward", "sigmoid", "sample_normal", "standardize", "train_logistic"]
    assert result["extra_data"]["assignment"] == ASSIGNMENT
    assert result["extra_data"]["mode"] == "submit"  # hidden cases ran
    assert "hidden" in result["tests"][0]["output"]
    import json
    assert json.loads((service["tmp"] / "out.json").read_text()) == result

    # history, with the server and token from the environment
    env = {**os.environ, "GRADER_SERVER": url, "GRADER_TOKEN": alice}
    h = grader("history", ASSIGNMENT, env=env)
    assert h.returncode == 0, h.stderr
    assert "graded" in h.stdout and "7 / 7" in h.stdout

    # the instructor's CSV
    r = httpx.get(f"{url}/api/grades.csv", headers=bearer(service["instructor"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows == [{"student_id": "alice", "assignment": ASSIGNMENT, "best_score": "7",
                     "max_score": "7", "submissions": "1",
                     "latest_submitted_at": sub["submitted_at"], "late": "false"}]


def test_students_see_only_their_own_submissions(service):
    url, alice, bob = service["url"], service["students"]["alice"], service["students"]["bob"]
    sid = httpx.get(f"{url}/api/submissions", headers=bearer(alice)).json()[0]["id"]
    r = httpx.get(f"{url}/api/submissions/{sid}", headers=bearer(bob))
    assert r.status_code == 404  # not 403: ids leak nothing
    assert httpx.get(f"{url}/api/submissions/999999", headers=bearer(bob)).status_code == 404
    assert httpx.get(f"{url}/api/submissions", headers=bearer(bob)).json() == []
    r = httpx.get(f"{url}/api/grades.csv", headers=bearer(bob))
    assert r.status_code == 403 and r.json()["detail"] == "instructors only"
    r = httpx.get(f"{url}/api/submissions/{sid}", headers=bearer(service["instructor"]))
    assert r.status_code == 200 and r.json()["result"]["score"] == 7.0


def test_bad_input_gets_a_clear_4xx_naming_the_field(service):
    url, bob = service["url"], service["students"]["bob"]
    src = b"def relu(z):\n    return z\n"

    def check(resp, status, field, words=""):
        assert resp.status_code == status, (resp.status_code, resp.text)
        body = resp.json()
        assert body["field"] == field, body
        assert words in body["detail"], body

    check(upload(url, None, content=src), 401, "Authorization", "missing token")
    check(upload(url, "nonsense", content=src), 401, "Authorization", "malformed token")
    check(upload(url, "gr_0123456789abcdef_" + "x" * 43, content=src), 401, "Authorization",
          "unknown token")
    r = upload(url, bob, assignment="week9/nope", content=src)
    check(r, 404, "assignment", "unknown assignment")
    assert ASSIGNMENT in r.json()["assignments"]
    check(upload(url, bob, assignment="x' OR 1=1; DROP TABLE jobs; --", content=src), 404,
          "assignment")
    check(upload(url, bob, assignment=None, content=src), 422, "assignment")
    # an id past SQLite's integers was a 500 (found by a red-team review)
    huge = httpx.get(f"{url}/api/submissions/99999999999999999999999",
                     headers={"Authorization": f"Bearer {bob}"}, timeout=30)
    check(huge, 422, "submission_id")
    check(upload(url, bob, content=None), 422, "file")
    check(upload(url, bob, content=src, filename="notes.txt"), 422, "file", "not a .py")
    check(upload(url, bob, content=b"#" * (MAX_UPLOAD + 1)), 413, "file")
    # far over the limit: refused from Content-Length / while streaming, not read whole
    check(upload(url, bob, content=b"#" * (20 * MAX_UPLOAD)), 413, "file")

    def chunks():  # no Content-Length: counted while it streams
        yield (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.py"\r\n'
               b'Content-Type: text/x-python\r\n\r\n')
        for _ in range(100):
            yield b"#" * 10_000
    r = httpx.post(f"{url}/api/submissions", headers={**bearer(bob),
                   "Content-Type": "multipart/form-data; boundary=xyz"}, content=chunks())
    check(r, 413, "file")
    r = httpx.post(f"{url}/api/submissions", headers={**bearer(bob),
                   "Content-Type": "multipart/form-data; boundary=xyz"},
                   content=b"--xyz\r\nthis is not a part header\r\n\r\nhi\r\n")
    assert 400 <= r.status_code < 500 and "detail" in r.json(), r.text
    r = httpx.post(f"{url}/api/submissions", headers=bearer(bob), json={"assignment": "x"})
    assert r.status_code == 422 and r.json()["field"] == "assignment", r.text
    r = httpx.get(f"{url}/api/submissions/not-a-number", headers=bearer(bob))
    check(r, 422, "submission_id")
    # a path in the file name is only a display name; nothing is written under it
    r = upload(url, bob, content=src, filename="../../../../tmp/evil\x00\n.py")
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued"
    sub = httpx.get(f"{url}/api/submissions/{r.json()['id']}", headers=bearer(bob)).json()
    assert sub["filename"].startswith("evil") and sub["filename"].endswith(".py")
    assert "/" not in sub["filename"] and "\x00" not in sub["filename"]
    # the server is still answering
    assert httpx.get(f"{url}/openapi.json").status_code == 200


def test_openapi_document(service):
    doc = httpx.get(f"{service['url']}/openapi.json").json()
    assert {"/api/submissions", "/api/submissions/{submission_id}", "/api/grades.csv"} <= set(
        doc["paths"])
    assert "post" in doc["paths"]["/api/submissions"]


def test_tokens_are_stored_hashed_and_can_be_revoked(service):
    url, db = service["url"], service["db"]
    tokens = [*service["students"].values(), service["instructor"]]
    stored = b"".join(p.read_bytes() for p in db.parent.glob("grader.db*"))
    for token in tokens:
        # the secret is URL-safe base64, which may itself hold "_": split after the public id
        secret = token.split("_", 2)[2]
        assert len(secret) >= 20, token
        assert token.encode() not in stored and secret.encode() not in stored

    bob = service["students"]["bob"]
    assert httpx.get(f"{url}/api/submissions", headers=bearer(bob)).status_code == 200
    r = grader("token", "revoke", bob, "--db", str(db))
    assert r.returncode == 0, r.stderr
    r = httpx.get(f"{url}/api/submissions", headers=bearer(bob))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    r = grader("history", "--server", url, "--token", bob)
    assert r.returncode == 2 and "revoked" in r.stderr
    r = grader("token", "revoke", "gr_0123456789abcdef", "--db", str(db))
    assert r.returncode == 2 and "no such token" in r.stderr
    # alice is unaffected
    alice = service["students"]["alice"]
    assert httpx.get(f"{url}/api/submissions", headers=bearer(alice)).status_code == 200
