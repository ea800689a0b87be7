"""The web application (FastAPI on uvicorn): the grading service's HTTP API.

Every call carries ``Authorization: Bearer <token>`` (:mod:`grader.serve.auth`).

=================================  ====================================================
``POST /api/submissions``          multipart ``assignment``, ``file`` -> ``202 {"id",
                                   "status": "queued", "queue_position"}``
``GET /api/submissions/{id}``      ``{"id", "assignment", "status", "submitted_at",
                                   "result", ...}``; ``result`` is the object ``grader
                                   submit --json`` writes once graded, else null
``GET /api/submissions``           the caller's own submissions (``?assignment=`` filters)
``GET /api/grades.csv``            instructors: one row per student and assignment
``GET /openapi.json``              the OpenAPI document
=================================  ====================================================

A student reads only their own submissions: another's id is ``404`` (as if it did not
exist, so ids leak nothing); instructor endpoints are ``403``. Errors are JSON
``{"detail": message, "field": name or null}`` with a 4xx status: ``401`` missing, malformed,
unknown or revoked token (the header is checked before a byte of an upload's body is read:
a refused upload is answered at once and its connection closed, see
:mod:`grader.serve.request_body`);
``429`` a client with too many refused tokens (:mod:`grader.serve.throttle`; header
``Retry-After``); ``404`` unknown assignment (``assignments`` lists the ids) or
submission; ``413`` an upload over ``max_upload_bytes``, or another request's body over
``FORM_BYTES`` (64 KiB; the body is counted while it streams in and refused as soon as it is
too large); ``408`` a body that comes too slowly (each part within 10 s, at least 500 bytes
a second on average: :mod:`grader.serve.request_body`); ``422`` a missing field or a file that is
not ``.py``/``.ipynb``; ``400`` a body that is not multipart; ``429`` a student over the
assignment's rate limit (header ``Retry-After``: whole seconds; the message says when, in UTC,
the next submission is accepted; ``next_accepted_at`` and ``retry_after`` in the body);
``503`` when no database connection came free within the pool's timeout (SQLAlchemy's 30 s:
the server is overloaded; header ``Retry-After``).

Each assignment's policy (:mod:`grader.serve.policy`, from the course's ``course.toml``; the
application keeps it in ``app.state.policy``): a rate limit per student (instructors have
none); a due date, after which submissions are still accepted and marked ``"late": true`` in
their view (computed from the current due date, so an extended deadline un-flags them); and
what a student's ``result`` shows of the hidden cases (``full``, ``pass-fail``, or ``none``
until the due date: :func:`grader.serve.policy.reveal`; under ``pass-fail`` and ``none`` its
text comes from a visible-cases-only grading, ``graded_at`` is null and ``error`` is fixed
wording; with ``none``, ``score`` and ``max_score`` are null until then). Instructors always
see the whole result.

A status request (``GET /api/submissions/{id}``, what ``grader submit`` polls) costs two
indexed queries, each on a pooled connection held for that query only: the token joined to
its account (:func:`grader.serve.auth.lookup`, under :class:`grader.serve.throttle.Throttle`,
which gives the connection back before any scrypt), then the submission's columns it shows
(never its file) with its queue position (:func:`submission_rows`). No request holds a
connection while it waits for another.

``grades.csv`` (:func:`grader.serve.grades.class_rows`): ``best_score`` is the best graded
score, ``late`` is ``true`` when the submission that best score comes from (the earliest one
that reached it) was late, or, with nothing graded yet, when the latest submission was.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from pathlib import PurePosixPath

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as FastAPIPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
import sqlalchemy.exc
from sqlalchemy import Connection, Engine, Select, bindparam, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from grader.batch import spreadsheet_cell
from grader.serve import auth, jobs, policy as policies
from grader.serve.db import INSTRUCTOR, Submission, sessions, utcnow, write_session
from grader.serve.grades import class_rows
from grader.serve.request_body import (
    MULTIPART_SLACK, RequestBodyLimits, declared_length, too_large_message,
)
from grader.serve.throttle import FailureLimit, Throttle, Throttled

from grader.serve import DEFAULT_MAX_UPLOAD

_BUSY_RETRY_SECONDS = 5  # Retry-After of a 503 (no database connection free)


class ApiError(Exception):
    def __init__(self, status: int, detail: str, field: str | None = None, *,
                 headers: dict | None = None, **extra):
        super().__init__(detail)
        self.status, self.detail, self.field, self.extra = status, detail, field, extra
        self.headers = headers


def _error(status: int, detail: str, field: str | None = None, headers=None, **extra):
    body = {"detail": detail, "field": field, **extra}
    return JSONResponse(body, status_code=status, headers=headers)


def _safe_filename(name: str | None) -> str:
    """The client's file name reduced to a harmless display name (never used as a path)."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C")
    base = base.encode("utf-8", "replace").decode("utf-8")[:200].strip()
    return base or "submission.py"


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


_VIEW_COLUMNS = (Submission.id, Submission.account_id, Submission.assignment,
                 Submission.filename, Submission.submitted_at, Submission.status,
                 Submission.result, Submission.visible_result, Submission.score,
                 Submission.max_score, Submission.error, Submission.graded_at)


def submission_rows() -> Select:
    """A query of submissions with what :func:`submission_view` shows (each row also has
    ``account_id`` and ``queue_position``, 0 unless queued), never the uploaded file; add
    ``.where(...)`` and ``.order_by(...)``."""
    return select(*_VIEW_COLUMNS,
                  jobs.queue_position_of(Submission.id).label("queue_position"))


# Built once (building a statement costs more CPU than running it on SQLite).
_BY_ID = submission_rows().where(Submission.id == bindparam("submission_id"))


def submission_row(db: Connection, submission_id: int):
    """The row of :func:`submission_rows` of ``submission_id``, or None (one query)."""
    return db.execute(_BY_ID, {"submission_id": submission_id}).first()


def submission_view(sub, *, policy: policies.CoursePolicy, instructor: bool) -> dict:
    """The JSON of one submission (a row of :func:`submission_rows`) as ``instructor`` (or its
    student) may see it now (:func:`grader.serve.policy.reveal_submission`)."""
    rules = policy.for_assignment(sub.assignment)
    shown = rules.shown(instructor=instructor, now=utcnow())
    result = json.loads(sub.result) if sub.result else None
    visible = (json.loads(sub.visible_result)
               if shown != policies.FULL and sub.visible_result else None)
    fields = policies.reveal_submission(
        status=sub.status, result=result, visible=visible, score=sub.score,
        max_score=sub.max_score, error=sub.error, graded_at=_iso(sub.graded_at), mode=shown,
        due=rules.due)
    return {
        "id": sub.id,
        "assignment": sub.assignment,
        "status": fields["status"],
        "submitted_at": _iso(sub.submitted_at),
        "result": fields["result"],
        "late": rules.is_late(sub.submitted_at),
        "filename": sub.filename,
        "score": fields["score"],
        "max_score": fields["max_score"],
        "error": fields["error"],
        "graded_at": fields["graded_at"],
        "queue_position": sub.queue_position or None,
    }


# The multipart form of POST /api/submissions, for /openapi.json (the route reads the form
# itself, after the token: see upload_form).
_UPLOAD_OPENAPI = {"requestBody": {"required": True, "content": {"multipart/form-data": {
    "schema": {"type": "object", "required": ["assignment", "file"], "properties": {
        "assignment": {"type": "string", "description": "assignment id"},
        "file": {"type": "string", "format": "binary",
                 "description": "your .py or .ipynb file"}}}}}}}


def client_host(request: Request) -> str | None:
    """The client's address as uvicorn reports it (see :mod:`grader.serve.throttle`)."""
    return request.client.host if request.client else None


def create_app(engine: Engine, *, assignments: list[str],
               max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
               policy: policies.CoursePolicy | None = None,
               auth_failures: FailureLimit | None = None) -> FastAPI:
    """The application over ``engine`` (already migrated), accepting ``assignments``, with
    their ``policy`` (:func:`grader.serve.policy.load`; default: no due dates, 10/hour, full
    feedback), kept in ``app.state.policy``, and at most ``auth_failures`` refused tokens per
    client (:class:`grader.serve.throttle.FailureLimit`; default 20 in 10 minutes)."""
    Session = sessions(engine)
    known = list(assignments)
    policy = policy if policy is not None else policies.CoursePolicy()
    throttle = Throttle(engine, auth_failures)
    app = FastAPI(title="jaxdl grader", version="1",
                  description="Submit course assignments; they are graded in a sandbox on "
                              "the server, with hidden cases that never leave it.",
                  # No /docs or /redoc: FastAPI's pages run inline script from a CDN on this
                  # origin, outside the pages' Content-Security-Policy. /openapi.json stays.
                  docs_url=None, redoc_url=None)
    app.state.policy = policy
    app.add_middleware(RequestBodyLimits, upload_bytes=max_upload_bytes,
                       upload_paths=frozenset({"/api/submissions", "/submit"}))
    bearer = HTTPBearer(auto_error=False, description="a token from your instructor")

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else exc.headers
        return _error(exc.status, exc.detail, exc.field, headers=headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 400:
            detail = f"the request body could not be read as a multipart form: {detail}"
        return _error(exc.status_code, detail, "body" if exc.status_code == 400 else None)

    @app.exception_handler(sqlalchemy.exc.TimeoutError)
    async def _pool_timeout(request: Request, exc: sqlalchemy.exc.TimeoutError):
        return _error(503, "the server is too busy to answer now; try again in a few seconds",
                      headers={"Retry-After": str(_BUSY_RETRY_SECONDS)})

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path")]
        field = loc[0] if loc else None
        msg = first.get("msg", "invalid request")
        return _error(422, f"{field or 'request'}: {msg}", field)

    def authenticated(token: str, request: Request) -> auth.Caller:
        """``token``'s caller, under the throttle (which holds no database connection while
        the token is checked); :class:`ApiError` 401 or 429 if refused. The pages' login and
        cookie go through here too."""
        try:
            return throttle.authenticate(token, client_host(request))
        except Throttled as exc:
            raise ApiError(429, str(exc), "Authorization",
                           headers={"Retry-After": str(exc.retry_after)},
                           retry_after=exc.retry_after,
                           next_accepted_at=_iso(exc.next_at)) from None
        except auth.AuthError as exc:
            raise ApiError(401, str(exc), "Authorization") from None

    def account(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(
            bearer)) -> auth.Caller:
        """The Bearer token's caller (a dependency)."""
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(401, "missing token: send the header 'Authorization: Bearer <token>'",
                           "Authorization")
        return authenticated(credentials.credentials, request)

    async def upload_form(request: Request) -> FormData:
        """The upload's form, read once its sender is known (never before): ``413`` at once
        if its ``Content-Length`` is over the limit (else counted while it streams in,
        :class:`grader.serve.request_body.RequestBodyLimits`), ``400`` if it is not a multipart form. The caller closes
        it (``await form.close()``)."""
        declared = declared_length(request.scope)
        if declared is not None and declared > max_upload_bytes + MULTIPART_SLACK:
            raise ApiError(413, too_large_message(max_upload_bytes), "file")
        try:
            return await request.form(max_files=1, max_fields=10)
        except ClientDisconnect:  # the sender went away mid-upload: nobody to answer, no error
            raise ApiError(400, "the upload ended before its end (the connection was closed)",
                           "file") from None

    def accept(assignment, file, who: auth.Caller) -> dict:
        """Queue ``file`` (an upload of the form) for grading as ``assignment`` for ``who``:
        the checks and limits of ``POST /api/submissions``, shared with the pages' form.
        Raises :class:`ApiError`."""
        if not assignment or not isinstance(assignment, str):
            raise ApiError(422, "assignment: the form field 'assignment' (an assignment id) is "
                                "missing", "assignment")
        if assignment not in known:
            raise ApiError(404, f"unknown assignment {assignment[:200]!r}; valid ids: "
                                + ", ".join(known), "assignment", assignments=known)
        if not isinstance(file, UploadFile):
            raise ApiError(422, "file: the form field 'file' (your .py or .ipynb file) is missing",
                           "file")
        name = _safe_filename(file.filename)
        if not re.search(r"\.(py|ipynb)$", name, re.IGNORECASE):
            raise ApiError(422, f"file: {name!r} is not a .py or .ipynb file", "file")
        content = file.file.read(max_upload_bytes + 1)
        if len(content) > max_upload_bytes:
            raise ApiError(413, f"file: larger than this server accepts ({max_upload_bytes} "
                                "bytes)", "file")
        with write_session(engine) as session:
            if who.role != INSTRUCTOR:
                try:
                    policies.check_rate_limit(
                        session, account_id=who.id, assignment=assignment,
                        limit=policy.for_assignment(assignment).rate_limit, now=utcnow())
                except policies.RateLimited as exc:
                    raise ApiError(429, str(exc), "assignment",
                                   headers={"Retry-After": str(exc.retry_after)},
                                   retry_after=exc.retry_after,
                                   next_accepted_at=_iso(exc.next_at)) from None
            sub = jobs.enqueue(session, account_id=who.id, assignment=assignment, filename=name,
                               content=content)
            session.flush()
            position = jobs.queue_position(session, sub.id)
            sub_id = sub.id
        return {"id": sub_id, "status": "queued", "queue_position": position}

    @app.post("/api/submissions", status_code=202, summary="Submit a file for grading",
              openapi_extra=_UPLOAD_OPENAPI)
    async def submit(request: Request,
                     credentials: HTTPAuthorizationCredentials | None = Depends(bearer)):
        # The token first: a refused upload is answered before a byte of its body is read.
        who = await run_in_threadpool(account, request, credentials)
        form = await upload_form(request)
        try:
            return await run_in_threadpool(accept, form.get("assignment"), form.get("file"),
                                           who)
        finally:
            await form.close()

    def view_of(sub, who: auth.Caller) -> dict:
        return submission_view(sub, policy=policy, instructor=who.role == INSTRUCTOR)

    @app.get("/api/submissions/{submission_id}", summary="One submission: status and report")
    def get_submission(request: Request,
                       submission_id: int = FastAPIPath(ge=1, le=2**63 - 1),
                       credentials: HTTPAuthorizationCredentials | None = Depends(bearer)):
        # What `grader submit` polls: the token, then the submission (one query each).
        who = account(request, credentials)
        with engine.connect() as db:
            sub = submission_row(db, submission_id)
        if sub is None or (sub.account_id != who.id and who.role != INSTRUCTOR):
            raise ApiError(404, f"no submission {submission_id}", "submission_id")
        return JSONResponse(view_of(sub, who))

    @app.get("/api/submissions", summary="Your submissions, newest first")
    def list_submissions(request: Request, assignment: str | None = Query(None),
                         credentials: HTTPAuthorizationCredentials | None = Depends(bearer)):
        who = account(request, credentials)
        with engine.connect() as db:
            stmt = submission_rows().where(Submission.account_id == who.id)
            if assignment:
                stmt = stmt.where(Submission.assignment == assignment)
            subs = db.execute(stmt.order_by(Submission.id.desc())).all()
        return JSONResponse([view_of(s, who) for s in subs])

    @app.get("/api/grades.csv", summary="Instructors: grades, one row per student and assignment",
             response_class=Response)
    def grades(who: auth.Caller = Depends(account)):
        if who.role != INSTRUCTOR:
            raise ApiError(403, "instructors only", "Authorization")
        with Session() as session:
            rows = class_rows(session, policy)
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["student_id", "assignment", "best_score", "max_score", "submissions",
                    "latest_submitted_at", "late"])
        for r in rows:
            w.writerow([spreadsheet_cell(r.student_id), spreadsheet_cell(r.assignment),
                        "" if r.best_score is None else f"{r.best_score:g}",
                        "" if r.max_score is None else f"{r.max_score:g}", r.submissions,
                        _iso(r.latest_submitted_at), "true" if r.late else "false"])
        return Response(out.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="grades.csv"',
                                 "Cache-Control": "no-store"})

    from grader.serve import pages  # the browser pages, through the functions above
    app.include_router(pages.router(engine, assignments=known, policy=policy, submit=accept,
                                    upload_form=upload_form, authenticated=authenticated,
                                    grades=grades, account=account))
    return app
