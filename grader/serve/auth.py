"""Tokens: random, shown once, stored only as ``hashlib.scrypt`` hashes; revocable.

A token reads ``gr_<public id>_<secret>``: the public id (8 random bytes, hex) finds its row,
the secret (32 random bytes, url-safe base64) is checked against ``scrypt(secret, salt)``
with a per-token random salt, compared in constant time. The database holds neither the
token nor its secret, so a copy of the database lets nobody in.

scrypt is slow on purpose (about 50 ms), so a process remembers, for an hour, the SHA-256
of tokens it has verified (in memory only, never stored); a token refused for any reason
(revoked, unknown, a wrong secret) is forgotten at once. Revocation is checked against the
database on every request (one query: the token's row joined to its account), so a revoked
token is refused at once. A request's caller is a :class:`Caller` (plain values, no ORM
object: a status request loads nothing else).

Checking a token is two steps, so a server need not hold a database connection while scrypt
runs: :func:`lookup` (one query) and :func:`verify` (memory and CPU only);
:func:`authenticate` is both.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from grader.serve.db import INSTRUCTOR, STUDENT, Account, Token, utcnow

PREFIX = "gr_"
_FORM = re.compile(r"^gr_([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})$")
# scrypt parameters: n=2**14, r=8, p=1 (16 MiB, the standard interactive-login setting).
_N, _R, _P = 2**14, 8, 1
# A verified token is remembered (by its SHA-256, in memory) for an hour: scrypt costs about
# 50 ms of CPU, and a student's `grader submit` polls once a second (with 60 s, 1 poll in 60
# paid it: the service's p99 status latency under load was 1.21 s, 0.46 s with an hour).
# Revocation is still read from the database on every request.
_CACHE_SECONDS = 3600.0
_cache: dict[str, tuple[int, float]] = {}
_cache_lock = threading.Lock()


class AuthError(Exception):
    """A missing, malformed, unknown or revoked token (HTTP 401)."""


@dataclass(frozen=True)
class Caller:
    """Whose token it is: the account's row id, its ``student_id`` (an instructor's name) and
    ``role`` (``student`` or ``instructor``)."""

    id: int
    student_id: str
    role: str


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=64 * 2**20,
                          dklen=32)


def new_token(session: Session, account: Account) -> str:
    """Create a token for ``account`` (in ``session``; the caller commits) and return it: the
    only time it exists in clear."""
    public_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    session.add(Token(public_id=public_id, salt=salt, hash=_hash(secret, salt), account=account,
                      created_at=utcnow()))
    return f"{PREFIX}{public_id}_{secret}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


def parse(token: str) -> tuple[str, str]:
    m = _FORM.match(token.strip())
    if not m:
        raise AuthError("malformed token: a token looks like gr_<16 hex digits>_<secret>")
    return m.group(1), m.group(2)


# Built once (building a statement costs more CPU than running it on SQLite).
_BY_PUBLIC_ID = (select(Token.id, Token.salt, Token.hash, Token.revoked_at, Account.id,
                        Account.student_id, Account.role)
                 .join(Account, Account.id == Token.account_id)
                 .where(Token.public_id == bindparam("public_id")))


@dataclass(frozen=True)
class TokenRow:
    """What :func:`lookup` read of a token that is not revoked: its row id, salt and scrypt
    hash, and its account."""

    token_id: int
    salt: bytes
    hash: bytes
    caller: Caller


def forget(token: str) -> None:
    """Drop ``token`` from this process's verified tokens (see :func:`verified_recently`)."""
    digest = _digest(token)
    with _cache_lock:
        _cache.pop(digest, None)


def lookup(db: Session | Connection, token: str) -> TokenRow:
    """``token``'s row, read in ``db`` (a session or a connection; one query). Its secret is
    not checked (:func:`verify` does).

    Raises:
        AuthError: the token is malformed, unknown or revoked (the message says which); it is
            forgotten (:func:`forget`).
    """
    try:
        public_id, _ = parse(token)
        row = db.execute(_BY_PUBLIC_ID, {"public_id": public_id}).first()
        if row is None:
            raise AuthError("unknown token")
        token_id, salt, stored, revoked_at, account_id, student_id, role = row
        if revoked_at is not None:
            raise AuthError("this token was revoked; ask your instructor for a new one")
    except AuthError:
        forget(token)
        raise
    return TokenRow(token_id, salt, stored, Caller(account_id, student_id, role))


def verify(token: str, row: TokenRow) -> Caller:
    """The caller of ``token`` if its secret matches ``row`` (its :func:`lookup`): from memory
    if this process verified it within the hour, else by scrypt (about 50 ms of CPU; no
    database needed).

    Raises:
        AuthError: the secret is wrong (read as "unknown token"); the token is forgotten.
    """
    _, secret = parse(token)
    digest = _digest(token)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(digest)
    if hit is None or hit[0] != row.token_id or now - hit[1] > _CACHE_SECONDS:
        if not hmac.compare_digest(_hash(secret, row.salt), row.hash):
            forget(token)
            raise AuthError("unknown token")
        with _cache_lock:
            if len(_cache) > 10_000:
                _cache.clear()
            _cache[digest] = (row.token_id, now)
    return row.caller


def authenticate(db: Session | Connection, token: str) -> Caller:
    """The account ``token`` belongs to, read in ``db`` (:func:`lookup` then :func:`verify`).

    Raises:
        AuthError: the token is malformed, unknown, revoked, or its secret is wrong (the
            message says which, except that a wrong secret reads as unknown).
    """
    return verify(token, lookup(db, token))


def verified_recently(token: str) -> bool:
    """True if this process verified ``token``'s secret within the last hour and has not
    refused it since (it may have been revoked since without this process knowing yet:
    :func:`lookup` still checks). Reads memory only."""
    digest = _digest(token)
    with _cache_lock:
        hit = _cache.get(digest)
    return hit is not None and time.monotonic() - hit[1] <= _CACHE_SECONDS


def revoke(session: Session, token: str) -> bool:
    """Revoke ``token`` (the full token, or just its ``gr_<public id>`` part). False if no
    such token."""
    text = token.strip()
    m = re.match(r"^gr_([0-9a-f]{16})(?:_.*)?$", text)
    if not m:
        raise AuthError("malformed token: a token looks like gr_<16 hex digits>_<secret>")
    row = session.scalars(select(Token).where(Token.public_id == m.group(1))).first()
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return True


def account(session: Session, student_id: str, *, email: str | None = None,
            role: str = STUDENT) -> Account:
    """The account named ``student_id``, created if new (its email/role updated if given)."""
    acc = session.scalars(select(Account).where(Account.student_id == student_id)).first()
    if acc is None:
        acc = Account(student_id=student_id, email=email, role=role, created_at=utcnow())
        session.add(acc)
    else:
        if email:
            acc.email = email
        if role == INSTRUCTOR:
            acc.role = INSTRUCTOR
    return acc
