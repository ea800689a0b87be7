"""Limits on a request's body, enforced while it streams in (ASGI middleware).

Every request that has a body (a ``Content-Length`` above 0, or ``Transfer-Encoding``) is
held to two limits, checked as its bytes arrive, never after reading it whole:

- **Size.** The upload paths (``POST /api/submissions``, the pages' ``/submit``) accept the
  server's upload limit plus ``MULTIPART_SLACK`` for the form's other fields; their routes
  check the token first and the declared size right after it, so a client without a valid
  token is told ``401``, not the size limit. Any other request's body (the login form: a
  token is about 80 bytes; a ``GET`` has no use for one) at most ``FORM_BYTES``. Over it:
  ``413`` at once by ``Content-Length``, else as soon as the count passes it.
- **Pace** (the rule of Apache's ``mod_reqtimeout``, ``body=10,MinRate=500``): each part of
  the body must arrive within :data:`grader.serve.server.REQUEST_HEAD_SECONDS` (10 s) of
  the application asking for it, and the whole body at an average of at least
  :data:`grader.serve.server.MIN_BODY_RATE` (500 bytes/s) after those first 10 s: while the
  application waits for the body, it may wait ``10 s + received / 500`` seconds in all.
  Only the time the application spends waiting for the client counts (not its own work,
  such as checking the token). Too slow: ``408``. Without it, connections that send a head
  and the start of a body and then nothing would hold uvicorn's ``limit_concurrency`` slots
  for as long as they liked, and everyone else would get ``503``.

A refused body is answered at once (the application is told the client went away and its
own answer to that is dropped). Any answer sent before the request's body was read to its
end (a refused token, a body too large or too slow) closes the connection (``Connection:
close``), so the server reads none of the rest (uvicorn would otherwise read it all to throw
it away, to keep the connection).
"""

from __future__ import annotations

import time

import anyio
from starlette.responses import JSONResponse

from grader.serve.server import MIN_BODY_RATE, REQUEST_HEAD_SECONDS

MULTIPART_SLACK = 64 * 1024  # an upload's form: its other fields and boundaries
# Any other body: the login form (``token=`` and a token of about 80 bytes) with room for odd
# encodings; 1000 connections at most hold 64 MiB of it.
FORM_BYTES = 64 * 1024


def declared_length(scope) -> int | None:
    """The request's ``Content-Length`` (None without one, or unreadable)."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def too_large_message(max_bytes: int) -> str:
    """The ``413`` message of an upload over ``max_bytes`` (the file's limit)."""
    return f"the upload is larger than this server accepts ({max_bytes} bytes for the file)"


def _refusal(status: int, detail: str, field: str) -> JSONResponse:
    return JSONResponse({"detail": detail, "field": field}, status_code=status,
                        headers={"Connection": "close"})


class RequestBodyLimits:
    """ASGI middleware holding every request's body to its size and pace (module docstring).

    Args:
        app: the ASGI application.
        upload_bytes: the largest file an upload path accepts (bytes; its form may be
            ``MULTIPART_SLACK`` larger).
        upload_paths: the paths of uploads, whose routes check the token, then the declared
            size (``413``), before reading the body.
        form_bytes: the largest body of any other request (bytes).
        part_seconds: the longest wait for each part of a body (seconds).
        min_rate: the least average pace of a body after its first ``part_seconds``
            (bytes/s).
    """

    def __init__(self, app, *, upload_bytes: int, upload_paths: frozenset[str],
                 form_bytes: int = FORM_BYTES, part_seconds: float = REQUEST_HEAD_SECONDS,
                 min_rate: float = MIN_BODY_RATE):
        self.app, self.upload_bytes, self.upload_paths = app, upload_bytes, upload_paths
        self.form_bytes, self.part_seconds, self.min_rate = form_bytes, part_seconds, min_rate

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = declared_length(scope)
        chunked = any(n == b"transfer-encoding" for n, _ in scope.get("headers", []))
        if not chunked and not declared:
            return await self.app(scope, receive, send)  # no body: nothing to hold
        if scope.get("path") in self.upload_paths:
            limit, field = self.upload_bytes + MULTIPART_SLACK, "file"
            too_large = too_large_message(self.upload_bytes)
        else:
            limit, field = self.form_bytes, "body"
            too_large = (f"the request body is larger than this server accepts here "
                         f"({self.form_bytes} bytes)")
            if declared is not None and declared > limit:
                return await _refusal(413, too_large, field)(scope, receive, send)
        too_slow = (f"the request body came too slowly: each part must arrive within "
                    f"{self.part_seconds:g} s, and the whole at {self.min_rate:g} bytes a second "
                    f"or more after the first {self.part_seconds:g} s")
        seen, waited = 0, 0.0
        refused: JSONResponse | None = None
        started = body_read = False

        async def limited_receive():
            nonlocal seen, waited, refused, body_read
            if refused is not None:
                return {"type": "http.disconnect"}
            if body_read:
                return await receive()  # the body is in: only a disconnect can come
            allowed = self.part_seconds + seen / self.min_rate - waited
            t0 = time.monotonic()
            with anyio.move_on_after(max(0.0, min(self.part_seconds, allowed))) as deadline:
                msg = await receive()
            waited += time.monotonic() - t0
            if deadline.cancelled_caught:
                # Stop waiting: the application sees the client go away (whatever it answers
                # to that is replaced by the 408 below).
                refused = _refusal(408, too_slow, "body")
                return {"type": "http.disconnect"}
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if not msg.get("more_body", False):
                    body_read = True
                if seen > limit:
                    refused = _refusal(413, too_large, field)
                    return {"type": "http.disconnect"}
            return msg

        async def tracked_send(msg):
            nonlocal started
            if refused is not None:
                return
            if msg["type"] == "http.response.start":
                started = True
                if not body_read:
                    msg = {**msg, "headers": [*msg.get("headers", []),
                                              (b"connection", b"close")]}
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except Exception:
            if refused is None:
                raise
        if refused is not None and not started:
            await refused(scope, receive, send)
