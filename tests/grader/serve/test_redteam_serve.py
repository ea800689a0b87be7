"""``grader serve`` attacked from loopback by an outsider (no token, or guesses), a student
(a valid token) and a revoked student: the token-guessing throttle, uploads refused before
their body, and slow bodies. One real ``grader serve --workers 0`` (uvicorn with the
deployed settings of :mod:`grader.serve.server`) on a SQLite file for the module; each test
sends from loopback addresses of its own (``127.0.<test>.<n>``), so failures counted for one
address never reach another test.

Every test asserts the *safe* outcome. Where the attack succeeds today the test is marked
``xfail(strict=True)`` with the reason; it starts passing (and so failing as XPASS) once the
server is fixed, and the mark is then removed.
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import socket
import threading
import time

import httpx
import pytest
from sqlalchemy import func, select

from grader.serve import auth, pages, server
from grader.serve.db import (
    AuthFailure,
    Submission,
    make_engine,
    sessions,
    write_session,
)
from grader.serve.throttle import FailureLimit

from .helpers import (
    ASSIGNMENT,
    bearer,
    free_port,
    start,
    stop,
    wait_for_server,
    web_only_server,
)
from .test_auth_limits import _client, _failures, _form, _new_token, _throttled

LIMIT = FailureLimit()  # what `grader serve` uses: 20 in 10 minutes
GUESS = "gr_0123456789abcdef_" + "A" * 43  # well formed, no such token
BOUNDARY = "r3dt3am"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with web_only_server(tmp_path_factory.mktemp("redteam_serve")) as running:
        engine = make_engine(str(running["db"]))
        yield {**running, "engine": engine}
        engine.dispose()


# -- raw HTTP --------------------------------------------------------------------------------

def _multipart(*parts: tuple[bytes, bytes]) -> bytes:
    """A multipart body of ``(part headers, part data)`` pairs, with ``BOUNDARY``."""
    out = b"".join(b"--%s\r\n%s\r\n\r\n%s\r\n" % (BOUNDARY.encode(), head, data)
                   for head, data in parts)
    return out + b"--%s--\r\n" % BOUNDARY.encode()


def _field(name: str, value: bytes) -> tuple[bytes, bytes]:
    return f'Content-Disposition: form-data; name="{name}"'.encode(), value


def _file(data: bytes, filename: str = "a.py") -> tuple[bytes, bytes]:
    return (f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: text/x-python").encode(), data


def _head(site, path: str, headers: dict) -> bytes:
    lines = {"Host": f"127.0.0.1:{site['port']}", **headers}
    return (f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in lines.items())
            + "\r\n").encode()


def _raw_post(site, address: str, path: str, headers: dict, body: bytes, *,
              declared: int | None = None, chunked: bool = False, end: bool = True,
              wait: float = 15) -> tuple[str, bytes, float]:
    """POST ``body`` to ``path`` from ``address`` over a raw socket: with ``Content-Length:
    declared`` (default its length), or as one chunk of a chunked body (``end``: then its
    last chunk). Returns the response head (lower case), its body and the seconds until the
    server closed the connection. Fails if it neither answers nor closes within ``wait``."""
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", **headers}
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
        body = b"%x\r\n%s\r\n" % (len(body), body) + (b"0\r\n\r\n" if end else b"")
    else:
        headers["Content-Length"] = str(len(body) if declared is None else declared)
    data = _head(site, path, headers) + body
    with socket.socket() as sock:
        sock.bind((address, 0))
        sock.settimeout(wait)
        sock.connect(("127.0.0.1", site["port"]))
        t0 = time.monotonic()

        def send():  # in a thread: the server may answer (and close) before it is all sent
            try:
                sock.sendall(data)
            except OSError:
                pass

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass  # closed with our bytes unread: what was answered before it stays in `received`
        except TimeoutError:
            raise AssertionError(f"{path}: no answer and no close within {wait} s; got "
                                 f"{received[:300]!r}") from None
        seconds = time.monotonic() - t0
        sender.join(timeout=5)
    head, _, rest = received.partition(b"\r\n\r\n")
    return head.decode("latin-1").lower(), rest, seconds


def _submissions(engine) -> int:
    with sessions(engine)() as s:
        return s.scalar(select(func.count()).select_from(Submission))


def _server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process ``pid`` has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _fail_until_throttled(url: str, address: str) -> None:
    with _client(url, address) as c:
        for _ in range(LIMIT.failures):
            assert c.get("/api/submissions", headers=bearer(GUESS)).status_code == 401
        _throttled(c.get("/api/submissions", headers=bearer(GUESS)))


# -- 1. the throttle ---------------------------------------------------------------------------

def test_address_headers_from_a_client_that_is_no_proxy_move_nothing(site):
    """A guesser at 127.0.7.1 (not a trusted proxy) names another client in every header a
    proxy might use, one guess each: all 20 are counted against its own address, then 429
    whatever it claims; the address it named (a victim it would frame) logs in for the first
    time. Through the trusted proxy (127.0.0.1, appending the real client as nginx does) a
    client's own ``X-Forwarded-For`` entries are ignored too: the proxy's last entry counts.
    A throttled client's 50 MB upload is refused before its body."""
    engine, url = site["engine"], site["url"]
    guesser, victim = "127.0.7.1", "127.0.7.2"
    spoofs = [{"X-Forwarded-For": victim}, {"X-Forwarded-For": f"{victim}, 198.51.100.7"},
              {"X-Real-IP": victim}, {"Forwarded": f"for={victim}"},
              {"Forwarded": 'for="[2001:db8::1]:4711"'}, {"True-Client-IP": victim},
              {"CF-Connecting-IP": victim}, {"X-Client-IP": victim},
              {"X-Forwarded-For": "127.0.0.1"}, {"X-Forwarded-For": "unknown"}]
    with _client(url, guesser) as c:
        for i in range(LIMIT.failures):
            r = c.get("/api/submissions", headers={**bearer(GUESS), **spoofs[i % len(spoofs)]})
            assert r.status_code == 401, r.text
        assert _failures(engine, guesser) == LIMIT.failures
        for spoof in spoofs:
            _throttled(c.get("/api/submissions", headers={**bearer(GUESS), **spoof}))
            _throttled(c.post("/login", data={"token": GUESS}, headers={**_form(url), **spoof}))
    with sessions(engine)() as s:
        keys = set(s.scalars(select(AuthFailure.client).distinct()))
    assert not keys & {victim, "198.51.100.7", "2001:db8::/64", "127.0.0.1", "unknown"}, keys
    with _client(url, victim) as v:  # framed by name, never counted: a first login works
        r = v.post("/login", data={"token": _new_token(engine, "bob")}, headers=_form(url))
        assert r.status_code == 303, r.text

    # Behind a reverse proxy on 127.0.0.1 that appends the client it saw (nginx's
    # $proxy_add_x_forwarded_for): the guesser's own first entry changes every time.
    proxied, neighbour = "203.0.113.50", "203.0.113.51"
    with _client(url, "127.0.0.1") as proxy:
        for i in range(LIMIT.failures):
            xff = {"X-Forwarded-For": f"198.51.100.{i}, {proxied}"}
            assert proxy.get("/api/submissions",
                             headers={**bearer(GUESS), **xff}).status_code == 401
        _throttled(proxy.get("/api/submissions", headers={
            **bearer(GUESS), "X-Forwarded-For": f"192.0.2.1, {proxied}"}))
        r = proxy.get("/api/submissions", headers={**bearer(_new_token(engine, "bob")),
                                                   "X-Forwarded-For": neighbour})
        assert r.status_code == 200, r.text  # another client of the same proxy
    assert _failures(engine, proxied) == LIMIT.failures
    assert _failures(engine, "127.0.0.1") == 0

    # Throttled, an upload declaring 50 MB is answered 429 at once and its connection closed.
    head, body, seconds = _raw_post(site, guesser, "/api/submissions", bearer(GUESS),
                                    b"#" * 8192, declared=50 * 2**20)
    assert head.startswith("http/1.1 429") and "connection: close" in head, head
    assert b"too many refused tokens" in body and seconds < 10, (body, seconds)


def test_a_revoked_token_is_throttled_like_any_refused_token(site):
    """A token verified by this process, then revoked (a student the instructor cut off),
    sent again and again from one address: after 20 refusals, 429 and nothing more counted."""
    engine, url, address = site["engine"], site["url"], "127.0.8.1"
    token = _new_token(engine, "bob")
    with _client(url, address) as c:
        assert c.get("/api/submissions", headers=bearer(token)).status_code == 200
        with write_session(engine) as s:
            assert auth.revoke(s, token)
        answers = [c.get("/api/submissions", headers=bearer(token))
                   for _ in range(LIMIT.failures + 40)]
    refused = [r.status_code for r in answers[:LIMIT.failures]]
    assert refused == [401] * LIMIT.failures
    assert "revoked" in answers[0].text
    counted = _failures(engine, address)
    after = [r.status_code for r in answers[LIMIT.failures:]]
    assert (after, counted) == ([429] * 40, LIMIT.failures), (
        f"after {LIMIT.failures} refusals: {sorted(set(after))}, {counted} rows counted")


def test_a_right_guess_while_throttled_reads_like_a_wrong_one_and_costs_no_scrypt(site):
    """Throttled, 6 right tokens (valid, never used) are answered exactly as a wrong one
    (429, the same fields, no cookie) and the server spends on them far less CPU than the
    6 scrypt checks a checked token costs (measured here, side by side)."""
    engine, url, address = site["engine"], site["url"], "127.0.13.1"
    rights = [_new_token(engine, "bob") for _ in range(6)]
    t0 = time.process_time()
    for token in rights:  # what checking each would cost (same parameters as auth)
        hashlib.scrypt(token.encode(), salt=b"0" * 16, n=2**14, r=8, p=1,
                       maxmem=64 * 2**20, dklen=32)
    scrypt_seconds = (time.process_time() - t0) / len(rights)
    _fail_until_throttled(url, address)
    with _client(url, address) as c:
        wrong = c.get("/api/submissions", headers=bearer(GUESS))
        cpu0 = _server_cpu(site["proc"].pid)
        answers = [c.get("/api/submissions", headers=bearer(t)) for t in rights]
        spent = _server_cpu(site["proc"].pid) - cpu0
        login = c.post("/login", data={"token": rights[0]}, headers=_form(url))
    _throttled(wrong)
    for r in answers:
        _throttled(r)
        assert r.json().keys() == wrong.json().keys()
        assert r.json()["detail"].split(":")[0] == wrong.json()["detail"].split(":")[0]
    _throttled(login)
    assert "set-cookie" not in login.headers
    assert spent < len(rights) * scrypt_seconds / 2, (
        f"{spent:.3f} s of server CPU for {len(rights)} throttled right guesses; one scrypt "
        f"costs {scrypt_seconds:.3f} s")
    assert _failures(engine, address) == LIMIT.failures


def test_guessers_on_many_addresses_are_each_held_to_the_limit_and_lock_out_no_one(site):
    """5 loopback addresses guessing 22 times each: each is counted separately, refused at
    its own 20th failure, and stores no more than 20 rows (the table grows by the limit per
    address, not per try); a student at a sixth address logs in for the first time."""
    engine, url = site["engine"], site["url"]
    addresses = [f"127.0.14.{i}" for i in range(1, 6)]
    for address in addresses:
        with _client(url, address) as c:
            codes = [c.get("/api/submissions", headers=bearer(GUESS)).status_code
                     for _ in range(LIMIT.failures + 2)]
        assert codes == [401] * LIMIT.failures + [429] * 2, (address, codes)
    assert [_failures(engine, a) for a in addresses] == [LIMIT.failures] * len(addresses)
    with _client(url, "127.0.14.100") as c:
        token = _new_token(engine, "bob")
        assert c.get("/api/submissions", headers=bearer(token)).status_code == 200
        assert c.post("/login", data={"token": _new_token(engine, "bob")},
                      headers=_form(url)).status_code == 303


def test_a_burst_of_wrong_tokens_does_not_stall_other_students(site):
    """60 wrong tokens sent at the same moment from one address (its first failures, so all
    are checked and counted): a student elsewhere is answered within 8 s (normally 0.1 s),
    and each guess gets 401 or 429, never a 5xx. On a second server process of the same
    database, killed afterwards (a stalled pool would slow the module's other tests)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = site["tmp"] / "serve-burst.log"
    proc = start("serve", "--db", str(site["db"]), "--port", str(port), "--workers", "0",
                 log=log, cwd=site["tmp"])
    # Alice's public id with a wrong secret: each guess is checked with scrypt (about 50 ms),
    # as long as the guesser holds its first database connection.
    wrong = f"gr_{site['alice'].split('_')[1]}_{'A' * 43}"
    request = (f"GET /api/submissions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"Authorization: Bearer {wrong}\r\nConnection: close\r\n\r\n").encode()
    socks: list[socket.socket] = []
    try:
        wait_for_server(url, proc, log)
        with _client(url, "127.0.9.2") as c:  # warm: the routes, alice's token verified
            for _ in range(3):
                assert c.get("/api/submissions", headers=bearer(site["alice"])).status_code == 200
        for _ in range(60):
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.9.1", 0))
            s.settimeout(40)
            s.connect(("127.0.0.1", port))
        for s in socks:
            s.sendall(request)
        time.sleep(0.3)  # the burst reaches the server first
        t0 = time.monotonic()
        with _client(url, "127.0.9.2") as c:
            try:
                r = c.get("/api/submissions", headers=bearer(site["alice"]), timeout=8)
            except httpx.TimeoutException:
                r = None
        waited = time.monotonic() - t0
        assert r is not None and r.status_code == 200, (
            f"a student's request during the burst: {r and r.status_code} after {waited:.1f} s")
        statuses = sorted(s.recv(64)[9:12].decode() for s in socks)
        assert set(statuses) <= {"401", "429"}, statuses
    finally:
        for s in socks:
            s.close()
        stop(proc, signal.SIGKILL)


# -- 2. uploads and slow bodies -----------------------------------------------------------------

def test_uploads_that_lie_or_abuse_the_form_get_a_clear_4xx_and_queue_nothing(site):
    """A bad token on an endless chunked body: 401 at once, closed. With alice's valid token:
    a chunked 6 MB file 413; a ``Content-Length`` shorter than the body (the file cut short)
    422, the rest of the bytes never taken for a file; two file fields, 5000 fields, 100k
    url-encoded pairs, a 4 MB part header or 200k part headers: 400 naming the form. Nothing
    is queued, and the server answers a status request at once after each."""
    engine, url, address = site["engine"], site["url"], "127.0.11.1"
    alice = bearer(site["alice"])
    before = _submissions(engine)

    head, body, seconds = _raw_post(site, address, "/api/submissions", bearer(GUESS),
                                    b"#" * 8192, chunked=True, end=False)
    assert head.startswith("http/1.1 401") and "connection: close" in head, head
    assert seconds < 10, seconds

    good = _multipart(_field("assignment", ASSIGNMENT.encode()), _file(b"x = 1\n" * 200))
    cases = [
        ("chunked 6 MB",
         {"body": _multipart(_field("assignment", ASSIGNMENT.encode()),
                             _file(b"#" * 6_000_000)), "chunked": True},
         "413", b"larger than this server accepts"),
        ("short Content-Length", {"body": good, "declared": len(good) - 600}, "422",
         b"'file'"),
        ("two files",
         {"body": _multipart(_field("assignment", ASSIGNMENT.encode()), _file(b"x = 1\n"),
                             _file(b"y = 2\n", "b.py"))},
         "400", b"Too many files"),
        ("5000 fields", {"body": _multipart(*[_field(f"f{i}", b"v") for i in range(5000)])},
         "400", b"Too many fields"),
        ("4 MB part header",
         {"body": _multipart((b'Content-Disposition: form-data; name="assignment"\r\n'
                              b"X-Pad: " + b"a" * 4_000_000, ASSIGNMENT.encode()),
                             _file(b"x = 1\n"))},
         "400", b"multipart"),
        ("200k part headers",
         {"body": _multipart((b'Content-Disposition: form-data; name="assignment"'
                              + b"".join(b"\r\nX-%d: a" % i for i in range(200_000)),
                              ASSIGNMENT.encode()), _file(b"x = 1\n"))},
         "400", b"multipart"),
    ]
    with _client(url, "127.0.11.2") as c:
        for name, kwargs, status, words in cases:
            head, body, _ = _raw_post(site, address, "/api/submissions",
                                      {**alice, "Connection": "close"}, **kwargs)
            assert head.startswith(f"http/1.1 {status}"), (name, head, body[:300])
            assert words in body, (name, body[:300])
            assert c.get("/api/submissions", headers=alice).status_code == 200, name
        urlencoded = b"&".join(b"a%d=b" % i for i in range(100_000))
        head, body, _ = _raw_post(site, address, "/api/submissions", {
            **alice, "Content-Type": "application/x-www-form-urlencoded"}, urlencoded)
        assert head.startswith("http/1.1 400") and b"Too many fields" in body, (head, body)
    assert _submissions(engine) == before


def test_half_sent_uploads_without_a_token_hold_nothing(site):
    """300 connections each declaring a 50 MB upload to the API or the pages without a token
    and sending 8 KB: each is answered 401 and closed at once, and a student's status request
    meanwhile is answered."""
    url = site["url"]
    plain = _head(site, "/api/submissions", {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(50 * 2**20)}) + b"#" * 8192
    page = _head(site, "/submit", {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Origin": url,
        "Content-Length": str(50 * 2**20)}) + b"#" * 8192
    socks = []
    try:
        for i in range(300):
            s = socket.socket()
            socks.append(s)
            s.bind((f"127.0.12.{1 + i % 10}", 0))
            s.settimeout(15)
            s.connect(("127.0.0.1", site["port"]))
            s.sendall(plain if i % 2 else page)
        with _client(url, "127.0.12.100") as c:
            assert c.get("/api/submissions", headers=bearer(site["alice"])).status_code == 200
        heads = []
        for s in socks:
            data = b""
            try:
                while chunk := s.recv(65536):
                    data += chunk
            except ConnectionResetError:
                pass
            heads.append(data.split(b"\r\n", 1)[0])
    finally:
        for s in socks:
            s.close()
    assert set(heads) == {b"HTTP/1.1 401 Unauthorized"}, set(heads)


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def test_anonymous_login_forms_cannot_make_the_server_hold_megabytes(site):
    """40 connections without a token, each sending a ``/login`` form of five 1 MB fields
    (each under starlette's field limit, the whole under the upload limit) and then waiting
    for nothing: the server's memory grows by less than 50 MB (it holds 200 MB if it buffers
    them)."""
    url, pid = site["url"], site["proc"].pid
    body = b"token=x" + b"".join(b"&f%d=" % i + b"a" * 1_000_000 for i in range(5))
    head = _head(site, "/login", {"Content-Type": "application/x-www-form-urlencoded",
                                  "Origin": url, "Content-Length": str(len(body) + 10)})
    before = _rss_mib(pid)
    socks = []
    try:
        for i in range(40):
            s = socket.socket()
            socks.append(s)
            s.bind((f"127.0.15.{1 + i % 10}", 0))
            s.settimeout(15)
            s.connect(("127.0.0.1", site["port"]))
            try:
                s.sendall(head + body)
            except OSError:
                pass  # refused before all of it was read: what a safe server does
        time.sleep(1.0)
        grown = _rss_mib(pid) - before
    finally:
        for s in socks:
            s.close()
    assert grown < 50, f"the server grew by {grown:.0f} MiB holding 40 anonymous login forms"


def _raise_open_files(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < n:
        assert hard == resource.RLIM_INFINITY or hard >= n, f"need {n} open files, hard {hard}"
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))


def test_stalled_post_bodies_are_cut_off_and_students_get_in_again(site):
    """1000 connections (uvicorn's limit) that send a POST head and the start of a body,
    then nothing: 990 anonymous ``/login`` forms, 5 uploads with alice's token, 5 page
    uploads with her cookie. Once the request-head deadline has passed (+3 s), every one of
    them has been answered or closed, and a student's status request is answered 200."""
    url, alice = site["url"], site["alice"]
    n = server.LIMIT_CONCURRENCY
    _raise_open_files(n + 500)
    login = _head(site, "/login", {
        "Content-Type": "application/x-www-form-urlencoded", "Origin": url,
        "Content-Length": "1000"}) + b"token=gr_"
    form = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": "100000"}
    start_of_file = _multipart(_field("assignment", ASSIGNMENT.encode()))[:-4]
    upload = _head(site, "/api/submissions", {**form, **bearer(alice)}) + start_of_file
    page = _head(site, "/submit", {**form, "Origin": url,
                                   "Cookie": f"{pages.COOKIE}={alice}"}) + start_of_file
    kinds = ["upload with a token"] * 5 + ["page upload with a cookie"] * 5
    kinds += ["anonymous /login"] * (n - len(kinds))
    sent = {"upload with a token": upload, "page upload with a cookie": page,
            "anonymous /login": login}
    socks = []
    try:
        t0 = time.monotonic()
        for i, kind in enumerate(kinds):
            s = socket.socket()
            socks.append(s)
            s.bind((f"127.0.10.{1 + i % 10}", 0))
            s.connect(("127.0.0.1", site["port"]))
            s.sendall(sent[kind])
        time.sleep(max(0.0, t0 + server.REQUEST_HEAD_SECONDS + 3 - time.monotonic()))
        with _client(url, "127.0.10.200") as c:
            status = c.get("/api/submissions", headers=bearer(alice)).status_code
        still_open = {}
        for s, kind in zip(socks, kinds):
            s.setblocking(False)
            try:
                s.recv(4096)  # an answer, or b"": the server closed it
            except BlockingIOError:
                still_open[kind] = still_open.get(kind, 0) + 1
            except ConnectionResetError:
                pass
        assert (status, still_open) == (200, {}), (
            f"{server.REQUEST_HEAD_SECONDS + 3:g} s after {n} stalled bodies: a student got "
            f"{status}; still open: {still_open}")
    finally:
        for s in socks:
            s.close()
        # The module's server is back once they are gone (for the next tests).
        deadline = time.monotonic() + 15
        with _client(url, "127.0.10.201") as c:
            while c.get("/api/submissions", headers=bearer(alice)).status_code != 200:
                assert time.monotonic() < deadline, "the server did not recover"
                time.sleep(0.2)
