"""Instructor commands on the database: roster import, instructor tokens, revocation.

An account is a student's or an instructor's, and these commands never turn one into the
other: a roster row naming an instructor's account, or ``--instructor`` naming a student's,
is refused (:class:`AdminError`, exit 2) and nothing is written. Each command is one
transaction: a roster is imported whole or not at all (its tokens file is written only for
a committed import), so it can be fixed and imported again.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.serve import auth
from grader.serve.db import INSTRUCTOR, STUDENT, Account, write_session


class AdminError(Exception):
    """A usage error (exit 2): a bad roster file, an unknown token."""


def _engine(db_url: str | None):
    from grader.serve import migrations
    from grader.serve.db import make_engine

    engine = make_engine(db_url)
    migrations.upgrade(engine)
    return engine


class RosterRow(NamedTuple):
    student_id: str
    email: str
    line: int  # in the CSV file, the header being line 1


def read_roster(path: str | Path) -> list[RosterRow]:
    """The rows of a roster CSV (columns ``student_id`` and ``email``, any case and order;
    UTF-8, a byte-order mark allowed), values stripped.

    Raises:
      AdminError: the file cannot be read, is not UTF-8, lacks a column, has an empty
        ``student_id`` or lists one twice (the message names the file and line).
    """
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
                rows.append(RosterRow(row["student_id"], row.get("email", ""), n))
    except OSError as exc:
        raise AdminError(f"{path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise AdminError(f"{path}: not UTF-8 text ({exc})") from exc
    ids = [r.student_id for r in rows]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise AdminError(f"{path}: student_id listed more than once: {', '.join(dup)}")
    return rows


def _roles(session: Session, student_ids: list[str]) -> dict[str, str]:
    """The role of each of ``student_ids`` that already has an account."""
    found: dict[str, str] = {}
    for i in range(0, len(student_ids), 500):  # a bounded IN list per query
        chunk = student_ids[i:i + 500]
        rows = session.execute(select(Account.student_id, Account.role)
                               .where(Account.student_id.in_(chunk)))
        found.update((sid, role) for sid, role in rows)
    return found


def import_roster(db_url: str | None, roster: str | Path, tokens_out: str | Path) -> int:
    """One student account (created, or its email updated) and one new token per row;
    ``tokens_out`` gets ``student_id,token`` (written with mode 0600: it is the only copy of
    the tokens). Returns the row count.

    All or nothing: one transaction, and the tokens file exists only if it committed.

    Raises:
      AdminError: the roster is bad (:func:`read_roster`); ``tokens_out`` exists, its
        folder does not, or it cannot be created; a row's ``student_id`` is an instructor's
        account (every such row is named, with its line).
    """
    rows = read_roster(roster)
    out = Path(tokens_out)
    if out.exists():
        raise AdminError(f"{out} exists: choose a new file for the tokens (it is the only "
                         "copy, so it is never overwritten)")
    if not out.parent.is_dir():
        raise AdminError(f"{out.parent} is not a folder")
    engine = _engine(db_url)
    created = False
    try:
        with write_session(engine) as session:
            roles = _roles(session, [r.student_id for r in rows])
            clash = [r for r in rows if roles.get(r.student_id, STUDENT) != STUDENT]
            if clash:
                named = "; ".join(f"line {r.line}: student_id {r.student_id!r}" for r in clash)
                raise AdminError(
                    f"{roster}: {named}: already an instructor's account in this database; a "
                    "roster holds students only, and an instructor's account cannot also be a "
                    "student's (give the student another id). Nothing was imported.")
            tokens = [(r.student_id, auth.new_token(
                          session, auth.account(session, r.student_id, email=r.email,
                                                role=STUDENT)))
                      for r in rows]
            try:
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except OSError as exc:
                raise AdminError(f"{out}: {exc.strerror or exc}. Nothing was imported.") from exc
            created = True
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["student_id", "token"])
                w.writerows(tokens)
    except BaseException:
        if created:  # the transaction did not commit: those tokens do not exist
            out.unlink(missing_ok=True)
        raise
    finally:
        engine.dispose()
    return len(tokens)


def create_instructor_token(db_url: str | None, name: str) -> str:
    """A new token for the instructor ``name`` (the account is created if new).

    Raises:
      AdminError: ``name`` is empty, or is a student's account (a student never becomes an
        instructor, nor do their tokens; nothing is written).
    """
    name = name.strip()
    if not name:
        raise AdminError("--instructor needs a name")
    engine = _engine(db_url)
    try:
        with write_session(engine) as session:
            role = _roles(session, [name]).get(name, INSTRUCTOR)
            if role != INSTRUCTOR:
                raise AdminError(
                    f"--instructor {name!r}: {name!r} is a {role}'s account in this database "
                    f"(from a roster); an instructor needs an id no student has. No token "
                    "was created and the account is unchanged.")
            return auth.new_token(session, auth.account(session, name, role=INSTRUCTOR))
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
