"""A throwaway PostgreSQL cluster for the tests: Debian's ``initdb``/``pg_ctl`` (package
``postgresql``, which ``make sandbox`` installs as root), on a free loopback port, in a
temporary folder, stopped and deleted afterwards. As root the server runs as the
``postgres`` user (PostgreSQL refuses to run as root).

The ``postgres`` fixture: one cluster per test process, started by the first test that asks
for it and stopped at the end of the session (a test module uses it with ``from .postgres
import postgres``)."""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from .helpers import free_port


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class Cluster:
    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="grader-pg-"))
        self.data = self.root / "data"
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, timeout=120,
                       cwd=self.root)

    def start(self) -> "Cluster":
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust",
                  "-U", "grader", "-E", "UTF8", "--no-sync")
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", opts, "-w",
                  "-t", "60", "-l", str(self.root / "log"), "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://grader@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        name = "t_" + secrets.token_hex(6)
        with psycopg.connect(self.url().replace("postgresql://", "postgresql://", 1),
                             autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                      "-w", "stop")
        except (subprocess.SubprocessError, OSError):
            pass
        shutil.rmtree(self.root, ignore_errors=True)


_STARTED: list[Cluster] = []


@pytest.fixture(scope="session")
def postgres(request) -> Cluster:
    """The test process's throwaway cluster (``new_database()`` gives each test its own)."""
    if not _STARTED:
        bindir = pg_bin()
        if bindir is None:
            if os.environ.get("CI"):
                pytest.fail("PostgreSQL (initdb, pg_ctl) is missing: `make sandbox` installs it")
            pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
        cluster = Cluster(bindir).start()
        request.config.add_cleanup(cluster.stop)
        _STARTED.append(cluster)
    return _STARTED[0]
