"""Instructor commands on the database: roster import, instructor tokens, revocation."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from grader.serve import auth
from grader.serve.db import INSTRUCTOR, STUDENT, write_session


class AdminError(Exception):
    """A usage error (exit 2): a bad roster file, an unknown token."""


def _engine(db_url: str | None):
    from grader.serve import migrations
    from grader.serve.db import make_engine

    engine = make_engine(db_url)
    migrations.upgrade(engine)
    return engine


def read_roster(path: str | Path) -> list[tuple[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            fields = [h.strip().lower() for h in (reader.fieldnames or [])]
            if "student_id" not in fields or "email" not in fields:
                raise AdminError(f"{path}: the roster needs the columns student_id and email "
                                 f"(found: {', '.join(fields) or 'none'})")
            rows = []
            for n, raw in enumerate(reader, start=2):
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
                if not row.get("student_id"):
                    raise AdminError(f"{path}, line {n}: empty student_id")
                rows.append((row["student_id"], row.get("email", "")))
    except OSError as exc:
        raise AdminError(f"{path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise AdminError(f"{path}: not UTF-8 text ({exc})") from exc
    ids = [r[0] for r in rows]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise AdminError(f"{path}: student_id listed more than once: {', '.join(dup)}")
    return rows


def import_roster(db_url: str | None, roster: str | Path, tokens_out: str | Path) -> int:
    """One account and one new token per row; ``tokens_out`` gets ``student_id,token``
    (written with mode 0600: it is the only copy of the tokens). Returns the row count."""
    rows = read_roster(roster)
    out = Path(tokens_out)
    if out.exists():
        raise AdminError(f"{out} exists: choose a new file for the tokens (it is the only "
                         "copy, so it is never overwritten)")
    if not out.parent.is_dir():
        raise AdminError(f"{out.parent} is not a folder")
    engine = _engine(db_url)
    try:
        with write_session(engine) as session:
            tokens = [(sid, auth.new_token(session, auth.account(session, sid, email=email,
                                                                 role=STUDENT)))
                      for sid, email in rows]
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["student_id", "token"])
                w.writerows(tokens)
    finally:
        engine.dispose()
    return len(tokens)


def create_instructor_token(db_url: str | None, name: str) -> str:
    if not name.strip():
        raise AdminError("--instructor needs a name")
    engine = _engine(db_url)
    try:
        with write_session(engine) as session:
            return auth.new_token(session, auth.account(session, name.strip(), role=INSTRUCTOR))
    finally:
        engine.dispose()


def revoke_token(db_url: str | None, token: str) -> None:
    engine = _engine(db_url)
    try:
        with write_session(engine) as session:
            try:
                found = auth.revoke(session, token)
            except auth.AuthError as exc:
                raise AdminError(str(exc)) from None
            if not found:
                raise AdminError("no such token in this database")
    finally:
        engine.dispose()
