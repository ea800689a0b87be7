"""The service's subcommands of ``grader`` (:mod:`grader.cli` adds the parsers and calls
:func:`add_parsers` / :func:`run`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console

USAGE_ERROR = 2
COMMANDS = ("serve", "worker", "roster", "token", "history")


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _rate_limit(text: str) -> int:
    from grader.serve.policy import parse_rate_limit

    try:
        return parse_rate_limit(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parsers(sub, add_course) -> None:
    """Add ``serve``, ``worker``, ``roster``, ``token`` and ``history`` to ``sub``;
    ``add_course(parser)`` adds ``--course`` where assignments are graded."""
    from grader.serve import DEFAULT_DB, DEFAULT_LEASE_SECONDS, DEFAULT_MAX_UPLOAD, DEFAULT_WORKERS

    db_help = (f"database URL: sqlite:///path or a file path (default ./{DEFAULT_DB}), or "
               "postgresql://user@host/db")
    s = sub.add_parser("serve", help="run the grading service: web API and grading workers")
    s.add_argument("--db", default=DEFAULT_DB, help=db_help)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                   help="grading workers to run (default 2; 0 serves the API only)")
    s.add_argument("--lease-seconds", type=_positive_float, default=DEFAULT_LEASE_SECONDS,
                   help="a job whose worker stops renewing it for this long is graded again")
    s.add_argument("--max-upload-bytes", type=int, default=DEFAULT_MAX_UPLOAD)
    s.add_argument("--rate-limit", type=_rate_limit, default=None, metavar="N/hour",
                   help="each student's submissions per assignment per sliding hour (default "
                        "10/hour; a course.toml [serve] table may set it per assignment)")
    s.add_argument("--no-sandbox", action="store_true",
                   help="grade even without the OS sandbox (bubblewrap): only for files you trust")
    add_course(s)
    w = sub.add_parser("worker", help="run a grading worker against a service's database")
    w.add_argument("--db", required=True, help=db_help)
    w.add_argument("--lease-seconds", type=_positive_float, default=DEFAULT_LEASE_SECONDS)
    w.add_argument("--no-sandbox", action="store_true",
                   help="grade even without the OS sandbox (bubblewrap): only for files you trust")
    add_course(w)
    r = sub.add_parser("roster", help="instructors: student accounts and tokens")
    rsub = r.add_subparsers(dest="roster_command", metavar="{import}", required=True)
    ri = rsub.add_parser("import", help="one account and one token per row of a CSV with "
                                        "student_id and email columns")
    ri.add_argument("roster", metavar="roster.csv")
    ri.add_argument("--db", default=DEFAULT_DB, help=db_help)
    ri.add_argument("--tokens-out", required=True, metavar="tokens.csv",
                    help="new file for the tokens (student_id,token): their only copy")
    t = sub.add_parser("token", help="instructors: create or revoke tokens")
    tsub = t.add_subparsers(dest="token_command", metavar="{create,revoke}", required=True)
    tc = tsub.add_parser("create", help="a token for an instructor (printed on the last line)")
    tc.add_argument("--instructor", required=True, metavar="NAME")
    tc.add_argument("--db", default=DEFAULT_DB, help=db_help)
    tr = tsub.add_parser("revoke", help="revoke a token (it is refused from now on)")
    tr.add_argument("token", metavar="TOKEN")
    tr.add_argument("--db", default=DEFAULT_DB, help=db_help)
    h = sub.add_parser("history", help="your submissions on the grading server")
    h.add_argument("id", nargs="?", help="only this assignment")
    h.add_argument("--server", help="the grading server's URL (or GRADER_SERVER)")
    h.add_argument("--token", help="your token (or GRADER_TOKEN)")


def add_submit_options(s) -> None:
    s.add_argument("--server", help="submit to this grading server (or GRADER_SERVER) instead "
                                    "of grading here")
    s.add_argument("--token", help="your token for the grading server (or GRADER_TOKEN)")


def wants_server(args) -> bool:
    from grader.serve.client import SERVER_ENV

    return bool(getattr(args, "server", None) or os.environ.get(SERVER_ENV))


def remote_submit(args, out: Console, err: Console) -> int:
    from grader.serve import client

    if args.seed is not None:
        err.print("grader: error: --seed is for local grading; the server chooses the seed.",
                  markup=False, highlight=False)
        return USAGE_ERROR
    path = Path(args.file) if args.file else Path("assignments") / f"{args.id}.py"
    if not args.file and not path.is_file() and path.with_suffix(".ipynb").is_file():
        path = path.with_suffix(".ipynb")
    return client.submit(args.id, path, server=args.server, token=args.token, out=out, err=err,
                         json_out=args.json)


def run(args, out: Console, err: Console) -> int:
    from grader.serve import admin, client

    def usage(message: str) -> int:
        err.print(f"grader: error: {message}", markup=False, highlight=False, soft_wrap=True)
        return USAGE_ERROR

    try:
        if args.command == "history":
            return client.history(args.id, server=args.server, token=args.token, out=out,
                                  err=err)
        if args.command == "roster":
            n = admin.import_roster(args.db, args.roster, args.tokens_out)
            out.print(f"Imported {n} students; their tokens are in {args.tokens_out} (the only "
                      "copy: hand each student their own).", markup=False, highlight=False)
            return 0
        if args.command == "token":
            if args.token_command == "create":
                token = admin.create_instructor_token(args.db, args.instructor)
                out.print(f"Instructor token for {args.instructor} (shown only now):",
                          markup=False, highlight=False)
                print(token, flush=True)
                return 0
            admin.revoke_token(args.db, args.token)
            out.print("Revoked.", markup=False)
            return 0
    except admin.AdminError as exc:
        return usage(str(exc))
    return _grading(args, err, usage)


def _grading(args, err: Console, usage) -> int:
    from grader import cli, registry

    if getattr(args, "workers", 0) < 0:
        return usage("--workers must be 0 or more.")
    if args.command == "worker" or args.workers > 0:
        status = cli._isolation(err, batch=True, no_sandbox=args.no_sandbox)
        if status is not None:
            return status
    try:
        registry.course_folders()
    except registry.CourseError as exc:
        return usage(str(exc))
    if args.command == "worker":
        from grader.serve import worker_loop

        return worker_loop.run(args.db, lease_seconds=args.lease_seconds)
    from grader.serve import policy, server

    if args.max_upload_bytes < 1:
        return usage("--max-upload-bytes must be at least 1.")
    try:  # each assignment's due date, rate limit and hidden-case reveal, checked now
        course_policy = policy.load(default_rate_limit=args.rate_limit)
    except registry.CourseError as exc:
        return usage(str(exc))
    return server.serve(db_url=args.db, courses=args.course, host=args.host, port=args.port,
                        workers=args.workers, lease_seconds=args.lease_seconds,
                        max_upload_bytes=args.max_upload_bytes, no_sandbox=args.no_sandbox,
                        policy=course_policy)
