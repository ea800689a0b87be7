"""``grader serve``'s request-body limits (:mod:`grader.serve.request_body`) attacked from
loopback over raw sockets: bodies where none belongs, conflicting or malformed framing
headers, a refused body followed by more bytes on the same connection, a client gone
mid-body, and a tiny body trickled to hold a connection. One real ``grader serve --workers
0`` for the module; each test sends from loopback addresses of its own (``127.0.<N>.x``).

Every test asserts the *safe* outcome. One attack worked when written and was fixed: a
student's upload cut off mid-body put a traceback in the server's log for each cut
(``ClientDisconnect`` out of the upload route; now a 400 that nobody reads).
"""

from __future__ import annotations

import socket
import time

import pytest

from grader.serve import server
from grader.serve.request_body import FORM_BYTES

from .helpers import bearer, web_only_server


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with web_only_server(tmp_path_factory.mktemp("redteam_body")) as running:
        yield running


def _request(site, method: str, path: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [("Host", f"127.0.0.1:{site['port']}"), *headers]
    return (f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in lines)
            + "\r\n").encode()


def _connect(site, address: str, wait: float = 10) -> socket.socket:
    sock = socket.socket()
    sock.bind((address, 0))
    sock.settimeout(wait)
    sock.connect(("127.0.0.1", site["port"]))
    return sock


def _exchange(site, address: str, data: bytes, wait: float = 10) -> tuple[list[str], float]:
    """Send ``data`` on one connection (as much as the server takes), read until it closes.
    Returns the status lines of every response received, and the seconds it took. Fails if
    the server neither answers-and-closes nor closes within ``wait``."""
    with _connect(site, address, wait) as sock:
        t0 = time.monotonic()
        try:
            sock.sendall(data)
        except OSError:
            pass  # answered and closed before all of it was read
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        except TimeoutError:
            raise AssertionError(f"no close within {wait} s; got {received[:300]!r}") from None
        seconds = time.monotonic() - t0
    statuses = [line.decode("latin-1") for line in received.split(b"\r\n")
                if line.startswith(b"HTTP/1.1 ")]
    return statuses, seconds


def _codes(statuses: list[str]) -> list[int]:
    return [int(s.split()[1]) for s in statuses]


def _log_errors(site) -> list[str]:
    text = site["log"].read_text(errors="replace")
    return [line for line in text.splitlines()
            if "Traceback" in line or "Exception in ASGI" in line or " 500" in line]


def _assert_alive(site, address: str) -> None:
    get = _request(site, "GET", "/api/submissions",
                   [("Authorization", bearer(site["alice"])["Authorization"]),
                    ("Connection", "close")])
    statuses, _ = _exchange(site, address, get)
    assert _codes(statuses) == [200], statuses


# -- 1. bodies where none belongs ---------------------------------------------------------------

@pytest.mark.parametrize("method,path", [("GET", "/api/submissions"), ("DELETE", "/"),
                                         ("PATCH", "/no/such/path"), ("GET", "/login"),
                                         ("PUT", "/api/submissions"), ("OPTIONS", "/submit")])
def test_a_body_on_a_route_that_reads_none_is_answered_and_the_connection_closed(site, method,
                                                                                 path):
    """A declared body (60 KiB, under the form limit) that is never sent, on routes that do
    not read one: answered at once (4xx or 200, never 500), with ``Connection: close``, and
    the pipelined request behind it is never answered (the unread body is not parsed as a
    request). A declared body over the form limit on a non-upload path: ``413`` at once."""
    smuggled = _request(site, "GET", "/api/submissions", [])
    head = _request(site, method, path, [("Content-Length", str(60_000))])
    statuses, seconds = _exchange(site, "127.0.40.1", head + smuggled)
    codes = _codes(statuses)
    assert len(codes) == 1 and codes[0] < 500, statuses
    assert seconds < 5, seconds
    huge = _request(site, method, "/login" if path != "/login" else path,
                    [("Content-Length", str(FORM_BYTES + 1))])
    statuses, seconds = _exchange(site, "127.0.40.2", huge)
    assert _codes(statuses) == [413] and seconds < 5, (statuses, seconds)


@pytest.mark.parametrize("method,path", [("GET", "/api/submissions"), ("PUT", "/api/submissions"),
                                         ("POST", "/api/submissions"), ("POST", "/submit")])
def test_a_terabyte_declared_on_an_upload_path_is_answered_at_once(site, method, path):
    """``Content-Length: 10**12`` on the upload paths (whose size the route checks, not the
    middleware), with alice's token and without: answered within 5 s (``401``, ``405``,
    ``413``, or the page's ``303``/``403``), never a 500, the connection closed."""
    for i, auth in enumerate([[], [("Authorization", bearer(site["alice"])["Authorization"])]]):
        head = _request(site, method, path, [
            ("Content-Type", "multipart/form-data; boundary=x"), *auth,
            ("Content-Length", str(10**12))])
        statuses, seconds = _exchange(site, f"127.0.47.{i + 1}", head + b"--x\r\n")
        codes = _codes(statuses)
        assert len(codes) == 1 and codes[0] < 500 and codes[0] != 202, (auth, statuses)
        assert seconds < 5, seconds


# -- 2. framing headers ---------------------------------------------------------------------------

def _chunked(body: bytes, part: int = 8192) -> bytes:
    out = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + part]), body[i:i + part])
                   for i in range(0, len(body), part))
    return out + b"0\r\n\r\n"


@pytest.mark.parametrize("declared", ["0", "10", "70000"])
def test_chunked_plus_content_length_is_held_to_the_form_limit(site, declared):
    """``Transfer-Encoding: chunked`` with a ``Content-Length`` of 0, 10 (smaller than the
    body) or over the limit, and a 200 KB chunked body on ``/login``: refused (``400`` or
    ``413``), never a login, never a 500, and the connection closed."""
    head = _request(site, "POST", "/login", [
        ("Content-Type", "application/x-www-form-urlencoded"), ("Origin", site["url"]),
        ("Content-Length", declared), ("Transfer-Encoding", "chunked")])
    statuses, seconds = _exchange(site, "127.0.41.1", head + _chunked(b"a" * 200_000))
    codes = _codes(statuses)
    assert len(codes) == 1 and codes[0] in (400, 413), statuses
    assert seconds < 5, seconds


@pytest.mark.parametrize("headers,allowed", [
    ([("Content-Length", "-1")], (400,)),
    ([("Content-Length", "+5")], (400,)),
    ([("Content-Length", "abc")], (400,)),
    ([("Content-Length", "1e3")], (400,)),
    ([("Content-Length", "9" * 18)], (413,)),
    ([("Content-Length", "9" * 40)], (400, 413)),
    ([("Content-Length", "0x10")], (400,)),
    ([("Content-Length", "5, 6")], (400,)),
    ([("Content-Length", "5"), ("Content-Length", "6")], (400,)),
    ([("Content-Length", "5"), ("Content-Length", "70000")], (400,)),
    ([("Content-Length", "70000"), ("Content-Length", "5")], (400,)),
    ([("Content-Length", "5"), ("Content-Length", "5")], (400, 401, 403, 422)),
    ([("Transfer-Encoding", "gzip, chunked")], (400, 501)),
    ([("Transfer-Encoding", "identity")], (400, 501)),
])
def test_malformed_content_lengths_get_a_4xx_and_leave_the_server_well(site, headers, allowed):
    """Negative, signed, non-numeric, hexadecimal, 18- and 40-digit (h11 refuses over 20 digits), comma-listed and duplicated
    ``Content-Length`` headers, and transfer codings other than ``chunked``, on ``/login``
    with a 5-byte body: a 4xx (``413`` for a number over the limit), never a 500; the
    server answers the next request."""
    head = _request(site, "POST", "/login", [
        ("Content-Type", "application/x-www-form-urlencoded"), ("Origin", site["url"]),
        ("Connection", "close"), *headers])  # close: an accepted form is not kept alive
    statuses, seconds = _exchange(site, "127.0.42.1", head + b"token")
    codes = _codes(statuses)
    assert len(codes) == 1 and codes[0] in allowed, (headers, statuses)
    assert seconds < 5, seconds
    _assert_alive(site, "127.0.42.2")


# -- 3. the state a refused request leaves ---------------------------------------------------------

def test_a_refused_chunked_body_answers_nothing_pipelined_behind_it(site):
    """A chunked login form over the form limit, then a pipelined request on the same
    connection: ``413`` only, and the connection closed (the rest of the body is not read
    as requests); the server answers the next connection."""
    pipelined = _request(site, "GET", "/api/submissions/1", [])
    big = _request(site, "POST", "/login", [
        ("Content-Type", "application/x-www-form-urlencoded"), ("Origin", site["url"]),
        ("Transfer-Encoding", "chunked")])
    statuses, seconds = _exchange(site, "127.0.43.2",
                                  big + b"%x\r\n" % (FORM_BYTES + 10) + b"a" * (FORM_BYTES + 10)
                                  + b"\r\n0\r\n\r\n" + pipelined)
    assert _codes(statuses) == [413] and seconds < 5, (statuses, seconds)
    _assert_alive(site, "127.0.43.3")


def _gone_mid_body(site, address: str, requests: list[bytes]) -> list[str]:
    """Send each of ``requests`` (a head and part of its body) on a connection of its own,
    then close it while the application waits for the rest. Returns the new log errors."""
    before = _log_errors(site)
    for i, data in enumerate(requests):
        with _connect(site, f"{address}.{i + 1}") as sock:
            sock.sendall(data)
            time.sleep(0.3)  # the application is now waiting for the rest
    time.sleep(0.5)
    _assert_alive(site, f"{address}.100")
    return _log_errors(site)[len(before):]


def test_clients_gone_mid_login_form_leave_no_error_in_the_log(site):
    """Half a login form (by ``Content-Length``; chunked, cut after a chunk; chunked with a
    malformed chunk size after the first), then the client closes: no traceback or 500 in the server's log; the server answers the next
    request."""
    form = [("Content-Type", "application/x-www-form-urlencoded"), ("Origin", site["url"])]
    assert _gone_mid_body(site, "127.0.44", [
        _request(site, "POST", "/login", [*form, ("Content-Length", "100")]) + b"token=gr_",
        _request(site, "POST", "/login", [*form, ("Transfer-Encoding", "chunked")])
        + b"5\r\ntoken\r\n",
        _request(site, "POST", "/login", [*form, ("Transfer-Encoding", "chunked")])
        + b"5\r\ntoken\r\nzz\r\n",  # a malformed chunk size: h11 refuses it mid-body
    ]) == []


def test_students_gone_mid_upload_leave_no_error_in_the_log(site):
    """Half an upload with alice's token (by ``Content-Length``, and chunked), then the
    client closes: no traceback or 500 in the server's log; the server answers the next
    request."""
    upload = [("Content-Type", "multipart/form-data; boundary=x"),
              ("Authorization", bearer(site["alice"])["Authorization"])]
    assert _gone_mid_body(site, "127.0.46", [
        _request(site, "POST", "/api/submissions", [*upload, ("Content-Length", "5000")])
        + b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.py"\r\n\r\nx=',
        _request(site, "POST", "/api/submissions", [*upload, ("Transfer-Encoding", "chunked")])
        + b"3\r\n--x\r\n",
    ]) == []


# -- 4. pace -------------------------------------------------------------------------------------

def test_a_tiny_body_trickled_cannot_hold_a_connection_past_its_allowance(site):
    """A 100-byte login form sent one byte a second (each part well within 10 s, but an
    average of 1 byte/s): the server may wait ``10 s + 100 / 500 s`` for it in all, so it is
    answered ``408`` (or closed) about 10 s in, not 100 s; nothing in the log."""
    before = _log_errors(site)
    head = _request(site, "POST", "/login", [
        ("Content-Type", "application/x-www-form-urlencoded"), ("Origin", site["url"]),
        ("Content-Length", "100")])
    allowance = server.REQUEST_HEAD_SECONDS + 100 / server.MIN_BODY_RATE
    with _connect(site, "127.0.45.1", wait=1.0) as sock:
        sock.sendall(head)
        t0 = time.monotonic()
        received = b""
        closed = None
        for _ in range(int(allowance) + 5):  # bounded: 1 byte a second
            try:
                sock.sendall(b"a")
            except OSError:
                closed = time.monotonic() - t0
                break
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                chunk = b""
            received += chunk
            if not chunk or b"\r\n\r\n" in received:
                closed = time.monotonic() - t0
                break
    assert closed is not None, f"still open {int(allowance) + 5} s into a 100-byte body"
    assert closed < allowance + 2.5, closed
    assert received == b"" or received.startswith(b"HTTP/1.1 408"), received[:200]
    assert _log_errors(site) == before, _log_errors(site)[len(before):]
