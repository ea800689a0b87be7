"""The instructor commands (:mod:`grader.serve.admin`) through the real command line, on a
real SQLite file: a student's account and an instructor's never become one another, and a
refused command writes nothing (exit 2, the message naming the row or the argument)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from grader.serve import auth
from grader.serve.db import INSTRUCTOR, STUDENT, Account, Token, make_engine, sessions

from .helpers import grader


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """A database with the instructor ``prof`` and the student ``alice``, made by the real
    commands; yields its path, the engine and both tokens."""
    tmp = tmp_path_factory.mktemp("admin")
    db = tmp / "grader.db"
    r = grader("token", "create", "--instructor", "prof", "--db", str(db))
    assert r.returncode == 0, r.stderr
    prof = r.stdout.strip().splitlines()[-1]
    roster = tmp / "first.csv"
    roster.write_text("student_id,email\nalice,alice@example.org\n")
    r = grader("roster", "import", str(roster), "--db", str(db), "--tokens-out",
               str(tmp / "first-tokens.csv"))
    assert r.returncode == 0, r.stderr
    alice = (tmp / "first-tokens.csv").read_text().splitlines()[1].split(",", 1)[1]
    engine = make_engine(str(db))
    yield {"db": db, "tmp": tmp, "engine": engine, "prof": prof, "alice": alice}
    engine.dispose()


def _accounts(engine) -> dict[str, tuple[str, str | None, int]]:
    """student_id -> (role, email, number of tokens)."""
    with sessions(engine)() as s:
        rows = s.execute(select(Account.student_id, Account.role, Account.email,
                                func.count(Token.id))
                         .outerjoin(Token, Token.account_id == Account.id)
                         .group_by(Account.id)).all()
    return {sid: (role, email, n) for sid, role, email, n in rows}


def _role_of(engine, token: str) -> str:
    with sessions(engine)() as s:
        return auth.authenticate(s, token).role


def test_a_roster_row_naming_an_instructor_is_refused_and_nothing_is_imported(db):
    before = _accounts(db["engine"])
    roster = db["tmp"] / "class.csv"
    roster.write_text("student_id,email\nalice,alice@new.example.org\nbob,bob@example.org\n"
                      "prof,prof@example.org\n")
    tokens = db["tmp"] / "class-tokens.csv"
    r = grader("roster", "import", str(roster), "--db", str(db["db"]), "--tokens-out",
               str(tokens))
    assert r.returncode == 2, r.stdout + r.stderr
    message = " ".join(r.stderr.split())
    assert "line 4: student_id 'prof'" in message and "instructor" in message, message
    assert "Nothing was imported" in message and "Traceback" not in r.stderr
    # all or nothing: no tokens file, bob not created, alice's email and prof untouched
    assert not tokens.exists()
    assert _accounts(db["engine"]) == before
    assert before["prof"][0] == INSTRUCTOR and before["alice"][:2] == (STUDENT,
                                                                       "alice@example.org")
    assert _role_of(db["engine"], db["prof"]) == INSTRUCTOR


def test_an_instructor_token_for_a_student_is_refused_and_she_stays_a_student(db):
    before = _accounts(db["engine"])
    r = grader("token", "create", "--instructor", " alice ", "--db", str(db["db"]))
    assert r.returncode == 2, r.stdout + r.stderr
    message = " ".join(r.stderr.split())
    assert "--instructor 'alice'" in message and "student's account" in message, message
    assert "gr_" not in r.stdout + r.stderr and "Traceback" not in r.stderr  # no token shown
    assert _accounts(db["engine"]) == before  # no token added, her role unchanged
    assert _role_of(db["engine"], db["alice"]) == STUDENT
