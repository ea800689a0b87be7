"""Failed authentications, limited per client: guessing tokens gets ``429``, not answers.

Every way in checks a token: ``Authorization: Bearer`` on the API, the login form, the pages'
cookie. Each refused token (malformed, unknown, revoked, wrong secret) is a row of
``auth_failures`` (:class:`grader.serve.db.AuthFailure`): its client and the time. A client
with ``FailureLimit.failures`` of them (default 20) in the last ``FailureLimit.seconds``
(default 600) gets ``429`` for every token it sends that this process has not verified
recently, *without the token being checked*, so a guess, even a right one, tells it nothing,
and costs the server no scrypt; ``Retry-After`` says when its oldest counted failure leaves the
window. Refusals while throttled are not counted (the window does not grow by trying).

- **Counted in the database**, so the limit holds across restarts and for several server
  processes on one database (the count is one indexed query; a failure is one small write
  transaction that counts again and writes only below the limit, and deletes the rows older
  than the window). On PostgreSQL two processes may each let a failure through at the limit
  at the same moment: the limit can be passed by a few, never by many.
- **One database connection at a time, none during scrypt.** A check reads the count and the
  token's row on one connection and gives it back before the secret is checked; a refusal is
  then written on another. A request never holds a connection while it waits for a second,
  so a burst of guesses cannot take the whole pool and stall every other request.
- **Successful logins are never slowed or counted.** A valid token from any other client is
  never refused for these failures. From the throttled client itself, a token this process
  verified within the hour (:func:`grader.serve.auth.verified_recently`: a student already
  logged in, a ``grader submit`` polling its result) still works; a token not seen yet waits
  for the window like any guess (the price of a shared address: students behind one NAT as a
  guesser). A token refused for any reason (revoked since, say) is no longer verified: it is
  throttled like any other.
- **The client** is the address uvicorn reports for the connection: a reverse proxy's
  ``X-Forwarded-For`` only from the addresses uvicorn trusts (``FORWARDED_ALLOW_IPS``, default
  loopback), so a remote client cannot pick its own address. An IPv6 client counts by its
  /64 (one host is usually given a whole /64, and could otherwise use a new address for
  every guess); an IPv4-mapped IPv6 address as its IPv4 address.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.orm import Session

from grader.serve import auth
from grader.serve.db import AuthFailure, utcnow, write_session


@dataclass(frozen=True)
class FailureLimit:
    """At most ``failures`` refused tokens per client in any ``seconds`` (sliding window)."""

    failures: int = 20
    seconds: float = 600.0

    def __post_init__(self):
        if not (isinstance(self.failures, int) and self.failures >= 1):
            raise ValueError(f"failures: expected an integer >= 1, got {self.failures!r}")
        if not self.seconds > 0:
            raise ValueError(f"seconds: expected a positive number, got {self.seconds!r}")


class Throttled(Exception):
    """Too many failed authentications from this client (HTTP 429). ``retry_after``: whole
    seconds until one more attempt is allowed; ``next_at``: that moment (UTC)."""

    def __init__(self, limit: FailureLimit, retry_after: int, next_at: dt.datetime):
        minutes = limit.seconds / 60
        window = f"{minutes:g} minutes" if minutes >= 1 else f"{limit.seconds:g} s"
        super().__init__(
            f"too many refused tokens from your address ({limit.failures} in {window}): "
            f"try again in {retry_after} s (at {next_at:%H:%M:%S} UTC); check that you copied "
            "the whole token your instructor gave you")
        self.retry_after, self.next_at = retry_after, next_at


def client_key(host: str | None) -> str:
    """The key failures are counted under for a client at ``host`` (see the module docstring):
    an IPv4 address, an IPv6 /64 (``2001:db8:1:2::/64``), or the text itself if it is no
    address (``unknown`` if None)."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class Throttle:
    """:func:`grader.serve.auth.authenticate` under a :class:`FailureLimit` per client, counted
    in ``engine``'s ``auth_failures`` table."""

    def __init__(self, engine: Engine, limit: FailureLimit | None = None):
        self.engine, self.limit = engine, limit or FailureLimit()

    def authenticate(self, token: str, host: str | None) -> auth.Caller:
        """The caller of ``token`` sent from ``host``. Uses connections of ``engine`` one at a
        time, and none while the token's secret is checked (scrypt).

        Raises:
            Throttled: ``host``'s client is over the limit, and this process has not verified
                ``token`` recently (the token is not checked) or refuses it (not counted).
            grader.serve.auth.AuthError: the token is refused (counted against the client).
        """
        key = client_key(host)
        known = auth.verified_recently(token)
        try:
            with self.engine.connect() as db:
                if not known:
                    self._check(db, key)
                row = auth.lookup(db, token)
            return auth.verify(token, row)
        except auth.AuthError:
            self._record(key)
            raise

    def _check(self, db: Session | Connection, key: str) -> None:
        """Raises :class:`Throttled` if ``key``'s client is at the limit (read in ``db``)."""
        now = utcnow()
        recent = db.execute(
            select(AuthFailure.at)
            .where(AuthFailure.client == key,
                   AuthFailure.at > now - dt.timedelta(seconds=self.limit.seconds))
            .order_by(AuthFailure.at.desc()).limit(self.limit.failures)).scalars().all()
        if len(recent) >= self.limit.failures:
            # Below the limit again once the oldest of these leaves the window.
            next_at = recent[-1] + dt.timedelta(seconds=self.limit.seconds)
            wait = max(1, math.ceil((next_at - now).total_seconds()))
            raise Throttled(self.limit, wait, next_at)

    def _record(self, key: str) -> None:
        """Count a refused token against ``key``'s client, in one write transaction (on its own
        connection: the caller holds none) that counts again first: at the limit (other
        requests counted meanwhile, or a recently verified token refused from a throttled
        client) nothing is written and :class:`Throttled` is raised."""
        now = utcnow()
        with write_session(self.engine) as session:
            self._check(session, key)
            session.execute(delete(AuthFailure).where(
                AuthFailure.at <= now - dt.timedelta(seconds=self.limit.seconds)))
            session.add(AuthFailure(client=key, at=now))
