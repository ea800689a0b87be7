"""Benchmark: wall time of ``grader submit`` on reference solutions, cold and warm.

::

    python -m grader.bench                 # every available assignment that has a solution
    python -m grader.bench week2/optimization selftest/basics

Each run is a fresh ``python -m grader.cli submit <id> --file <solution> --seed 0`` process
(what a student types), timed from the outside. "cold" uses an empty compilation-cache folder,
"warm" runs again with the cache the cold run left. Targets (2 cores): one assignment within
15 s, all seven within 60 s. This is a benchmark to run by hand, not a timed test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader import registry

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = {"selftest/basics": ROOT / "tests" / "grader" / "fixtures" / "selftest_solution.py"}


def solution_for(assignment_id: str) -> Path | None:
    path = SOLUTIONS.get(assignment_id, ROOT / "tests" / "solutions" / f"{assignment_id}.py")
    return path if path.is_file() else None


def run_once(assignment_id: str, solution: Path, cache: str) -> tuple[float, int, str]:
    env = dict(os.environ, JAXDL_GRADER_CACHE=cache)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "submit", assignment_id,
                           "--file", str(solution), "--seed", "0"],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - t0
    total = next((ln for ln in proc.stdout.splitlines() if ln.startswith("Total:")), "?")
    return seconds, proc.returncode, total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m grader.bench", description=__doc__.split("\n")[0])
    p.add_argument("ids", nargs="*", help="assignment ids (default: all available)")
    args = p.parse_args(argv)
    ids = args.ids or registry.available()
    cold_total = warm_total = 0.0
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        for aid in ids:
            solution = solution_for(aid)
            if solution is None:
                print(f"{aid:32s} (no reference solution found; skipped)")
                continue
            cache = str(Path(tmp) / aid.replace("/", "_"))
            cold, rc1, total = run_once(aid, solution, cache)
            warm, rc2, _ = run_once(aid, solution, cache)
            cold_total += cold
            warm_total += warm
            flag = "" if rc1 == rc2 == 0 else f"  exit {rc1}/{rc2}"
            print(f"{aid:32s} cold {cold:6.1f} s   warm {warm:6.1f} s   {total}{flag}", flush=True)
    print(f"{'all':32s} cold {cold_total:6.1f} s   warm {warm_total:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
