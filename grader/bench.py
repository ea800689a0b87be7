"""Benchmark: wall time of ``grader submit`` on reference solutions, cold and warm.

::

    python -m grader.bench                 # every available assignment that has a solution
    python -m grader.bench week2/optimization selftest/basics
    python -m grader.bench --startup       # worker start-up, OS sandbox vs none (median of 9)
    python -m grader.bench --edited week1/initialization   # what a student feels: see below

Each run is a fresh ``python -m grader.cli submit <id> --file <solution> --seed 0`` process
(what a student types), timed from the outside. "cold" uses an empty compilation-cache folder,
"warm" runs again with the cache the cold run left. Targets (2 cores): one assignment within
15 s, all seven within 60 s. This is a benchmark to run by hand, not a timed test.

``--startup`` starts a worker (JAX imported and initialised inside) with the OS sandbox and
without it, alternately, and reports the medians and their difference: the sandbox's cost per
worker (target: at most 100 ms). ``--edited ID`` submits the reference solution once (a warm
cache), then times what a student does after editing one comment: ``grader test`` and then
``grader submit`` of the edited file, each a fresh process.
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


def solution_for(assignment_id: str) -> Path | None:
    """The reference solution in the assignment's folder (None without one)."""
    path = registry.load(assignment_id).solution_path
    return path if path is not None and path.is_file() else None


def run_once(assignment_id: str, solution: Path, cache: str,
             command: str = "submit") -> tuple[float, int, str]:
    env = dict(os.environ, JAXDL_GRADER_CACHE=cache)
    seed = ["--seed", "0"] if command == "submit" else []
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "grader.cli", command, assignment_id,
                           "--file", str(solution), *seed],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - t0
    total = next((ln for ln in proc.stdout.splitlines() if ln.startswith("Total:")), "?")
    return seconds, proc.returncode, total


def startup(repeats: int = 9) -> dict[str, float]:
    """Median seconds to start a worker (until it answers ``ready``), with and without the
    OS sandbox, alternating so both see the same machine load."""
    import statistics

    from grader.runner import Worker

    times: dict[str, list[float]] = {"sandbox": [], "fence": []}
    for i in range(repeats + 1):
        for mode in times:
            w = Worker(memory_bytes=2**31, output_bytes=4096, output_hard_bytes=2**20,
                       forbidden=("optax", "flax", "jaxdl.optim"), isolation=mode)
            t0 = time.perf_counter()
            failure = w.start()
            elapsed = time.perf_counter() - t0
            w.kill()
            if failure is not None:
                raise SystemExit(f"{mode} worker did not start: {failure.message}")
            if i:  # the first round warms the page cache
                times[mode].append(elapsed)
    return {mode: statistics.median(ts) for mode, ts in times.items()}


def edited(assignment_id: str) -> tuple[float, float]:
    """Seconds for ``grader test`` then ``grader submit`` of a reference solution with one
    comment edited, after the unedited file was submitted once (its cache warm)."""
    solution = solution_for(assignment_id)
    if solution is None:
        raise SystemExit(f"no reference solution for {assignment_id}")
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        cache = str(Path(tmp) / "cache")
        run_once(assignment_id, solution, cache)
        changed = Path(tmp) / solution.name
        changed.write_text(solution.read_text() + "\n# an edited comment\n")
        t_test = run_once(assignment_id, changed, cache, command="test")[0]
        t_submit = run_once(assignment_id, changed, cache)[0]
    return t_test, t_submit


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m grader.bench", description=__doc__.split("\n")[0])
    p.add_argument("ids", nargs="*", help="assignment ids (default: all available)")
    p.add_argument("--startup", action="store_true", help="worker start-up, sandbox vs none")
    p.add_argument("--edited", metavar="ID", help="an edited file: grader test, then submit")
    args = p.parse_args(argv)
    if args.startup:
        m = startup()
        print(f"worker start-up: sandbox {m['sandbox'] * 1000:.0f} ms, none {m['fence'] * 1000:.0f} ms, "
              f"sandbox cost {(m['sandbox'] - m['fence']) * 1000:+.0f} ms (median of 9)")
        return 0
    if args.edited:
        t_test, t_submit = edited(args.edited)
        print(f"{args.edited}: edited file, grader test {t_test:.1f} s, then grader submit "
              f"{t_submit:.1f} s")
        return 0
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
