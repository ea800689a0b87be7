"""Shared helpers for the grader's tests.

Submissions are built from the self-test reference solution plus one or more snippets from
``fixtures/hostile/``: a later ``def`` replaces the solution's, so each snippet turns exactly
the parts it names hostile and leaves the others correct.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The fixtures are submissions, some of them hostile at import time (os._exit, hangs): never
# let pytest import them (the suite runs with --doctest-modules).
collect_ignore = ["fixtures"]

FIXTURES = Path(__file__).parent / "fixtures"
SOLUTION = Path(__file__).resolve().parents[2] / "grader" / "course" / "selftest" / "basics" / "solution.py"

# Tight limits keep hostile runs short; still generous for the 2-core CI machine.
LIMITS = {"time_per_call": 8.0, "load_seconds": 8.0, "memory_bytes": 2**30,
          "output_hard_bytes": 2**20}
SEED = 1234


def build_source(*snippets: str, **subs: object) -> str:
    src = SOLUTION.read_text()
    for name in snippets:
        text = (FIXTURES / "hostile" / f"{name}.py").read_text()
        for key, value in subs.items():
            text = text.replace("{" + key + "}", str(value))
        src += "\n\n" + text
    return src


@pytest.fixture(scope="session")
def selftest():
    from grader import registry

    return registry.load("selftest/basics")


@pytest.fixture(scope="session")
def submissions(tmp_path_factory):
    """``make(*snippets, **subs) -> Path`` of a submission file."""
    root = tmp_path_factory.mktemp("submissions")

    def make(*snippets: str, name: str | None = None, **subs: object) -> Path:
        path = root / ((name or "_".join(snippets) or "solution") + ".py")
        path.write_text(build_source(*snippets, **subs))
        return path

    return make


def by_function(result) -> dict:
    return {p.function: p for p in result.parts}


def child_pids() -> set[int]:
    """Live (non-zombie) direct children of this process."""
    me, out = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            data = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2:].split()
        if int(fields[1]) == me and fields[0] != b"Z":
            out.add(int(entry))
    return out
