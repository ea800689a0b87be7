"""Token guessing and unauthenticated uploads, attacked over real HTTP: two ``grader serve
--workers 0`` processes (uvicorn, as deployed) on one SQLite file, clients on distinct
loopback addresses (127.0.0.2 guesses, 127.0.0.3 is a student elsewhere, 127.0.0.4 sends raw
uploads), so each test's failures count for its own address only.

- A client refused 20 tokens in 10 minutes (:mod:`grader.serve.throttle`; counted in the
  database, so across both processes) gets ``429`` for every token this process has not
  verified, a right one included; students elsewhere, and one already logged in there, are
  not refused; after the window the address is let in again.
- ``POST /api/submissions`` (and the pages' ``/submit``) check the token before reading a
  byte of the body: a raw client declaring 50 MB and sending 8 KB is told ``401`` at once and
  its connection closed.
- The status request made cheaper (one statement for the submission and its queue
  position) shows the position the queue has; ``grader submit`` asks for it less often the
  further back it waits.
"""

from __future__ import annotations

import datetime as dt
import socket

import httpx
import pytest
from sqlalchemy import func, select, text, update

from grader.serve import auth, client, jobs, pages, server
from grader.serve.db import (
    Account, AuthFailure, make_engine, sessions, utcnow, write_session,
)
from grader.serve.throttle import FailureLimit, client_key

from .helpers import ASSIGNMENT, bearer, free_port, make_accounts, start, stop, wait_for_server

GUESSER, ELSEWHERE, RAW = "127.0.0.2", "127.0.0.3", "127.0.0.4"
LIMIT = FailureLimit()  # what `grader serve` uses: 20 in 10 minutes


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("auth_limits")
    db = tmp / "grader.db"
    procs, urls = [], []
    try:
        for name in ("a", "b"):
            port = free_port()
            log = tmp / f"serve-{name}.log"
            procs.append(start("serve", "--db", str(db), "--port", str(port), "--workers", "0",
                               log=log, cwd=tmp))
            urls.append(f"http://127.0.0.1:{port}")
            wait_for_server(urls[-1], procs[-1], log)
        students, instructor = make_accounts(db, tmp)
        engine = make_engine(str(db))
        yield {"urls": urls, "db": db, "engine": engine, "students": students,
               "instructor": instructor, "tmp": tmp}
        engine.dispose()
    finally:
        for p in procs:
            stop(p)


def _client(url: str, address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (a loopback address of its own)."""
    return httpx.Client(base_url=url, timeout=30,
                        transport=httpx.HTTPTransport(local_address=address))


def _new_token(engine, student_id: str) -> str:
    with write_session(engine) as s:
        return auth.new_token(s, s.scalars(select(Account)
                                           .where(Account.student_id == student_id)).one())


def _failures(engine, key: str) -> int:
    with sessions(engine)() as s:
        return s.scalar(select(func.count()).select_from(AuthFailure)
                        .where(AuthFailure.client == key))


def _form(url: str, **headers) -> dict:
    return {"Origin": url, "Sec-Fetch-Site": "same-origin", **headers}


def _throttled(r: httpx.Response) -> None:
    assert r.status_code == 429, (r.status_code, r.text)
    assert 0 < int(r.headers["retry-after"]) <= LIMIT.seconds, r.headers
    assert "too many refused tokens from your address" in r.text, r.text


def test_guessing_tokens_gets_429_then_nothing_while_students_get_in(servers):
    engine, (a_url, b_url) = servers["engine"], servers["urls"]
    alice = servers["students"]["alice"]
    bob = _new_token(engine, "bob")       # valid, and never used yet: a right guess
    carol = _new_token(engine, "alice")   # a second valid token, never used yet
    public_id = alice.split("_")[1]
    guesses = (["nonsense", "gr_0123456789abcdef_" + "x" * 43]  # malformed, unknown
               + [f"gr_{public_id}_{'A' * 43}"] * 3)             # alice's id, a wrong secret
    with (_client(a_url, GUESSER) as a, _client(b_url, GUESSER) as b,
          _client(a_url, ELSEWHERE) as a_else, _client(b_url, ELSEWHERE) as b_else):
        # Alice, logged in from the guesser's address (one NAT) before the guessing starts.
        assert a.get("/api/submissions", headers=bearer(alice)).status_code == 200
        # 20 refused tokens from one address, through both servers and every way in.
        for i in range(LIMIT.failures):
            token = guesses[i % len(guesses)]
            kind = i % 3
            if kind == 0:
                r = a.get("/api/submissions", headers=bearer(token))
                assert r.status_code == 401 and r.json()["field"] == "Authorization", r.text
            elif kind == 1:
                r = b.post("/login", data={"token": token}, headers=_form(b_url))
                assert r.status_code == 401 and "That token was refused" in r.text, r.text
                assert "set-cookie" not in r.headers
            else:
                r = a.get("/history", headers={"Cookie": f"{pages.COOKIE}={token}"})
                assert r.status_code == 401 and 'action="/login"' in r.text, r.status_code
        assert _failures(engine, GUESSER) == LIMIT.failures

        # Over the limit: 429 everywhere, on both servers, the tokens not even checked.
        r = a.get("/api/submissions", headers=bearer(guesses[2]))
        _throttled(r)
        assert r.json()["field"] == "Authorization" and r.json()["retry_after"] > 0
        _throttled(b.get("/api/submissions/1", headers=bearer(guesses[0])))
        _throttled(b.post("/login", data={"token": guesses[1]}, headers=_form(b_url)))
        _throttled(a.get("/history", headers={"Cookie": f"{pages.COOKIE}={guesses[2]}"}))
        _throttled(a.post("/api/submissions", headers=bearer(guesses[2]),
                          data={"assignment": ASSIGNMENT},
                          files={"file": ("a.py", b"x = 1\n", "text/x-python")}))
        # ... and a right guess tells it nothing either: same answer, no cookie.
        r = b.post("/login", data={"token": bob}, headers=_form(b_url))
        _throttled(r)
        assert "set-cookie" not in r.headers
        _throttled(a.get("/api/submissions", headers=bearer(bob)))
        # A header naming another client is not believed from a client that is no proxy.
        _throttled(b.get("/api/submissions", headers={**bearer(carol),
                                                      "X-Forwarded-For": "198.51.100.7"}))
        # Trying while refused does not count: the window does not grow.
        assert _failures(engine, GUESSER) == LIMIT.failures

        # Alice, already logged in on server A, is not locked out by her neighbour ...
        assert a.get("/api/submissions", headers=bearer(alice)).status_code == 200
        # ... a student at another address is never refused, on either server ...
        assert a_else.get("/api/submissions", headers=bearer(bob)).status_code == 200
        assert b_else.get("/api/submissions", headers=bearer(carol)).status_code == 200
        r = b_else.post("/login", data={"token": bob}, headers=_form(b_url))
        assert r.status_code == 303 and pages.COOKIE in r.headers["set-cookie"], r.text
        # ... and a mistake there counts there, not against the guesser's count.
        assert a_else.get("/api/submissions", headers=bearer(guesses[1])).status_code == 401
        assert _failures(engine, ELSEWHERE) == 1

        # After the window (its rows dated as 10 minutes later would find them), the address
        # is let in again, and the next failure deletes the rows that left the window.
        with write_session(engine) as s:
            s.execute(update(AuthFailure).where(AuthFailure.client == GUESSER).values(
                at=utcnow() - dt.timedelta(seconds=LIMIT.seconds + 1)))
        fresh = _new_token(engine, "bob")
        assert b.get("/api/submissions", headers=bearer(fresh)).status_code == 200
        r = b.post("/login", data={"token": fresh}, headers=_form(b_url))
        assert r.status_code == 303, r.text
        assert b.get("/api/submissions", headers=bearer(guesses[0])).status_code == 401
        assert _failures(engine, GUESSER) == 1


def _raw_post(url: str, path: str, headers: dict, declared: int, sent: int) -> tuple[str, bytes]:
    """POST ``path`` from ``RAW``: the head with ``Content-Length: declared``, then ``sent``
    bytes of a multipart body (and no more); returns the response head and everything read
    until the server closed the connection. Fails if the server waits instead (30 s)."""
    host, port = url.removeprefix("http://").split(":")
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"assignment\"\r\n\r\n"
            f"{ASSIGNMENT}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"a.py\"\r\nContent-Type: text/x-python\r\n\r\n").encode()
    body += b"#" * (sent - len(body))
    head = "".join(f"{k}: {v}\r\n" for k, v in {
        "Host": f"{host}:{port}", "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(declared), **headers}.items())
    with socket.socket() as sock:
        sock.bind((RAW, 0))
        sock.settimeout(30)
        sock.connect((host, int(port)))
        sock.sendall(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + body)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            raise AssertionError(f"no answer and no close within 30 s; got {received[:300]!r}"
                                 ) from None
    status_head, _, rest = received.partition(b"\r\n\r\n")
    return status_head.decode("latin-1").lower(), rest


def test_an_upload_without_a_valid_token_is_refused_before_its_body(servers):
    engine, url = servers["engine"], servers["urls"][0]
    revoked = _new_token(engine, "bob")
    with write_session(engine) as s:
        assert auth.revoke(s, revoked)
    big, under_limit, sent = 50 * 2**20, 4 * 2**20, 8 * 1024
    cases = [({}, big, "missing token"),
             (bearer("gr_0123456789abcdef_" + "y" * 43), big, "unknown token"),
             (bearer(revoked), big, "revoked"),
             # under the size limit: without the token checked first the server would wait
             # for the other 4 MB
             (bearer("nonsense"), under_limit, "malformed token")]
    for headers, declared, words in cases:
        head, body = _raw_post(url, "/api/submissions", headers, declared, sent)
        assert head.startswith("http/1.1 401"), (words, head)
        assert "connection: close" in head, head
        assert words.encode() in body, (words, body)
    # The pages' form: the cookie is checked before the form is read.
    head, body = _raw_post(url, "/submit", {"Origin": url, "Cookie": f"{pages.COOKIE}=nonsense"},
                           big, sent)
    assert head.startswith("http/1.1 401") and "connection: close" in head, head
    assert b'action="/login"' in body
    # A valid token with a body over the limit: 413 from its Content-Length, nothing read.
    alice = servers["students"]["alice"]
    head, body = _raw_post(url, "/api/submissions", bearer(alice), big, sent)
    assert head.startswith("http/1.1 413") and b"larger than this server accepts" in body, head
    # The server is healthy and accepts a real upload.
    with _client(url, RAW) as c:
        r = c.post("/api/submissions", headers=bearer(alice), data={"assignment": ASSIGNMENT},
                   files={"file": ("a.py", b"x = 1\n", "text/x-python")})
        assert r.status_code == 202, r.text
        assert c.get(f"/api/submissions/{r.json()['id']}",
                     headers=bearer(alice)).json()["status"] == "queued"


def test_a_status_request_reads_its_queue_position_in_the_same_query(servers):
    """The status a student polls (one statement: the submission and its position) against
    the queue counted directly: running is no position, queued ones count up in order."""
    engine, url, alice = servers["engine"], servers["urls"][1], servers["students"]["alice"]
    with _client(url, RAW) as c:
        ids = []
        for _ in range(3):
            r = c.post("/api/submissions", headers=bearer(alice), data={"assignment": ASSIGNMENT},
                       files={"file": ("a.py", b"x = 1\n", "text/x-python")})
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
        claimed = jobs.claim(engine, "test-worker", 60.0)  # a worker takes the oldest job
        assert claimed is not None
        shown = {i: c.get(f"/api/submissions/{i}", headers=bearer(alice)).json() for i in ids}
        listed = {s["id"]: s for s in c.get("/api/submissions", headers=bearer(alice)).json()}
    with engine.connect() as conn:
        def counted(sid: int) -> int | None:
            n = conn.execute(text(
                "SELECT count(*) FROM jobs WHERE status = 'queued' AND id <= "
                "(SELECT id FROM jobs WHERE submission_id = :s AND status = 'queued')"),
                {"s": sid}).scalar()
            return n or None
        expected = {i: counted(i) for i in ids}
    for i in ids:
        assert shown[i]["queue_position"] == listed[i]["queue_position"] == expected[i], (
            i, shown[i], expected)
    if claimed.submission_id in ids:
        assert shown[claimed.submission_id]["status"] == "running"
        assert shown[claimed.submission_id]["queue_position"] is None
    queued = [shown[i]["queue_position"] for i in ids if i != claimed.submission_id]
    assert queued == list(range(queued[0], queued[0] + len(queued))), queued


@pytest.mark.parametrize("host, key", [
    ("203.0.113.9", "203.0.113.9"),
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),  # a host's whole /64
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.9", "203.0.113.9"),
    ("testclient", "testclient"),
    (None, "unknown"),
])
def test_failures_are_counted_per_address_and_per_ipv6_slash_64(host, key):
    assert client_key(host) == key


def test_a_failure_limit_names_a_bad_value():
    with pytest.raises(ValueError, match="failures: expected an integer >= 1, got 0"):
        FailureLimit(failures=0)
    with pytest.raises(ValueError, match="seconds: expected a positive number, got -1"):
        FailureLimit(seconds=-1)


def test_grader_submit_polls_less_often_far_back_in_the_queue():
    interval = client.poll_interval
    assert interval({"status": "running", "queue_position": None}) == 1.0
    assert [interval({"status": "queued", "queue_position": p}) for p in (1, 2, 4, 6, 150)] == [
        1.0, 1.0, 2.0, 3.0, 3.0]
    assert interval({"status": "queued", "queue_position": None}) == 1.0
    # Never past the server's keep-alive: a waiting client keeps its connection.
    assert client.MAX_POLL_SECONDS < server.TIMEOUT_KEEP_ALIVE
