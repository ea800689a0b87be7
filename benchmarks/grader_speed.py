"""The speed a person feels (issue 16): ``grader test`` / ``grader submit`` as typed, and a first ``fit``.

Every grader row is the real command, ``python -m grader.cli test|submit <id> --file F``, run
as a fresh process with the OS sandbox required (``GRADER_SANDBOX=require``, as in CI) and
timed from the outside, from start to exit (interpreter start-up, imports, the sandboxed
workers, every case, the report). Without ``--seed``, as a person types it, every ``submit``
draws new hidden inputs: new values in shapes that are the same for every seed (the shape rule
of :mod:`grader.case_tools`), so an edited run finds the programs the run before compiled,
whatever its seed. Each run must exit 0 with full marks, or the benchmark fails. The caches are the grader's own
(``JAXDL_GRADER_CACHE=<folder>``: the parent's compilation cache and the student's worker
cache):

- **cold**: an empty cache folder (a first run on a new machine);
- **edited**: the cache folder a previous run of the same command left, on a file that
  differs from the one graded now only in a comment (a student who fixed a typo in a comment
  and runs the command again).

Repeat by repeat: ``test`` of the reference solution in a new empty folder (cold), then of
the file with a comment edited (edited); the same for ``submit`` in another folder; the same
again for ``submit --seed 0`` (both runs draw the same hidden inputs, values included: how
the issue measured its "now" column, with ``python -m grader.bench --edited``); then every assignment of the built-in course (the ids
``grader list`` shows, the self-test excluded: the course's seven), each reference solution
submitted in turn, all in one new empty folder (a new machine that submits them all: the sum
of the seven processes). Targets: edited ``test`` at most 2 s, edited ``submit`` at most 4 s
(as typed, and with the seed replayed), the seven cold at most 60 s.

The last row is the library's first run: a fresh Python process (no persistent cache, JAX's
default) that calls ``jaxdl.init.init_mlp(key, [2, 5, 2, 1])`` and then ``jaxdl.train.fit``
for 5,000 epochs of the course's Adam run on the moons (the workload of
:mod:`benchmarks.moons_adam`), timed from just before ``init_mlp`` to the end of ``fit``
(imports and data loading excluded), against the NumPy course loop in this process, in the
same repeat. Target: no slower than NumPy.

The machine's load average (1 minute) is recorded at start and end: on the shared 2-core
machine, the grader rows scale with it.

``--quick``: the self-test assignment (``selftest/basics``, 7 small parts), one repeat, in one
cache folder ``test`` (cold), ``test`` (edited), then ``submit`` (edited: the cache the
``test`` runs left), no ``--seed`` or every-assignment rows, and a 10-epoch ``fit``: a smoke
test, not a measurement (``python -m benchmarks --quick`` runs it in a background thread,
overlapping the other benchmarks).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import _training as tr
from benchmarks._harness import ROOT, Result

NAME = "grader_speed"
TITLE = "What a person waits for: grader test / submit in the OS sandbox, a first fit"

ASSIGNMENT, QUICK_ASSIGNMENT = "week1/initialization", "selftest/basics"
TEST_TARGET, SUBMIT_TARGET, ALL_TARGET = 2.0, 4.0, 60.0
TIMEOUT_SECONDS = 900.0

TEST_COLD, TEST_EDITED = "grader test (cold)", "grader test (edited)"
SUBMIT_COLD, SUBMIT_EDITED = "grader submit (cold)", "grader submit (edited)"
SEED_COLD, SEED_EDITED = "grader submit --seed 0 (cold)", "grader submit --seed 0 (edited)"
ALL_COLD = "every reference solution, grader submit (cold)"
FIT = "fresh process: init_mlp + fit (cold)"
NUMPY = "NumPy course loop"
_TOTAL = re.compile(r"^Total: ([\d.]+) / ([\d.]+)", re.MULTILINE)


def course_ids() -> list[str]:
    """The built-in course's assignments (what ``grader list`` shows), the self-test excluded."""
    from grader import registry

    return [aid for aid in registry.ids() if not aid.startswith("selftest/")]


def solution_source(assignment_id: str) -> str:
    from grader import registry

    return registry.load(assignment_id).solution_path.read_text(encoding="utf-8")


def grader_run(command: str, assignment_id: str, file: Path, cache: Path, seed: int | None = None) -> float:
    """Seconds for one ``grader <command> <id> --file <file> [--seed N]`` process, sandbox required.

    Raises:
      RuntimeError: the command did not exit 0 with full marks.
    """
    env = dict(os.environ, GRADER_SANDBOX="require", JAXDL_GRADER_CACHE=str(cache), JAX_PLATFORMS="cpu")
    env.pop("JAXDL_COMPILATION_CACHE", None)
    t0 = time.perf_counter()
    argv = [command, assignment_id, "--file", str(file), *(["--seed", str(seed)] if seed is not None else [])]
    proc = subprocess.run([sys.executable, "-m", "grader.cli", *argv],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=TIMEOUT_SECONDS,
                          check=False)
    seconds = time.perf_counter() - t0
    total = _TOTAL.search(proc.stdout)
    if proc.returncode != 0 or total is None or total.group(1) != total.group(2):
        raise RuntimeError(f"grader {command} {assignment_id} (reference solution) did not exit 0 with full "
                           f"marks (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds


def edited_file(assignment_id: str, tmp: Path, r: int, version: int) -> Path:
    """The reference solution with a comment of ours appended: ``version`` changes only that comment."""
    file = tmp / f"{assignment_id.replace('/', '_')}-{r}.py"
    file.write_text(solution_source(assignment_id) + f"\n# my notes, version {version} of repeat {r}\n",
                    encoding="utf-8")
    return file


def cold_and_edited(command: str, assignment_id: str, tmp: Path, r: int,
                    seed: int | None = None) -> tuple[float, float]:
    """``command`` on the reference solution with an empty cache folder, then on the same file
    with a comment edited, with the cache the first run left."""
    cache = Path(tempfile.mkdtemp(prefix=f"cache-{command}-", dir=tmp))
    cold = grader_run(command, assignment_id, edited_file(assignment_id, tmp, r, 1), cache, seed)
    edited = grader_run(command, assignment_id, edited_file(assignment_id, tmp, r, 2), cache, seed)
    shutil.rmtree(cache, ignore_errors=True)
    return cold, edited


def every_solution_cold(ids: list[str], tmp: Path) -> float:
    """Seconds to ``grader submit`` each reference solution in turn, one new empty cache folder."""
    cache = Path(tempfile.mkdtemp(prefix="cache-all-", dir=tmp))
    total = 0.0
    for aid in ids:
        file = tmp / (aid.replace("/", "_") + ".py")
        file.write_text(solution_source(aid), encoding="utf-8")
        total += grader_run("submit", aid, file, cache)
    shutil.rmtree(cache, ignore_errors=True)
    return total


def first_fit(data: str, *, quick: bool) -> dict:
    """The fresh-process ``init_mlp`` + ``fit`` run (:func:`fit_worker` in a new interpreter)."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("JAXDL_COMPILATION_CACHE", None)  # JAX's default: no persistent cache
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "benchmarks.grader_speed", data, *(["--quick"] if quick else [])],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=TIMEOUT_SECONDS,
                          check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"the fresh-process fit failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]), process=wall)


def fit_worker(argv: list[str]) -> None:
    """``python -m benchmarks.grader_speed DATA [--quick]``: time ``init_mlp`` then ``fit`` on
    the moons of ``DATA`` (:func:`benchmarks._training.save_inputs`); print one JSON line."""
    w = tr.quick_version(tr.MOONS) if "--quick" in argv else tr.MOONS
    import jax
    import jax.numpy as jnp

    from jaxdl import init

    X_np, y_np, _ = tr.load_inputs(argv[0])
    X, Y = jnp.asarray(X_np), jnp.asarray(tr._jax_labels(w, y_np))
    jax.block_until_ready((X, Y))
    t0 = time.perf_counter()
    params = init.init_mlp(jax.random.key(w.seed), list(w.layers), method="he")
    t1 = time.perf_counter()
    _, costs = jax.block_until_ready(tr.fit_call(w, params, X, Y, jax.random.key(1)))
    t2 = time.perf_counter()
    print(json.dumps({"init_mlp": t1 - t0, "fit": t2 - t1, "total": t2 - t0, "loss": float(costs[-1])}))


def inputs(*, quick: bool) -> tuple[Path, str]:
    """A new temporary folder and, in it, the moons and initial parameters for the NumPy loop."""
    tmp = Path(tempfile.mkdtemp(prefix="grader-speed-"))
    data = str(tmp / "moons.npz")
    tr.save_inputs(data, tr.quick_version(tr.MOONS) if quick else tr.MOONS)
    return tmp, data


def measure(tmp: Path, data: str, *, quick: bool,
            repeats: int) -> tuple[dict[str, list[float]], list[dict], tuple[float, float]]:
    """Every row's samples, the fresh-process fits' details and the load average at start and
    end; removes ``tmp`` (from :func:`inputs`) when done.

    ``quick``: one cache folder for ``test`` (cold), ``test`` (edited), then ``submit`` of a
    third version of the file (edited: the cache of the ``test`` runs); no cold ``submit``.
    """
    aid = QUICK_ASSIGNMENT if quick else ASSIGNMENT
    ids = [] if quick else course_ids()
    w = tr.quick_version(tr.MOONS) if quick else tr.MOONS
    load_start = os.getloadavg()[0]
    samples: dict[str, list[float]] = {}
    fits: list[dict] = []
    try:
        X, y, params = tr.load_inputs(data)
        for r in range(repeats):
            if quick:
                cache = Path(tempfile.mkdtemp(prefix="cache-", dir=tmp))
                for row, (command, version) in ((TEST_COLD, ("test", 1)), (TEST_EDITED, ("test", 2)),
                                                (SUBMIT_EDITED, ("submit", 3))):
                    samples.setdefault(row, []).append(
                        grader_run(command, aid, edited_file(aid, tmp, r, version), cache))
            else:
                for command, seed, rows in (("test", None, (TEST_COLD, TEST_EDITED)),
                                            ("submit", None, (SUBMIT_COLD, SUBMIT_EDITED)),
                                            ("submit", 0, (SEED_COLD, SEED_EDITED))):
                    for row, seconds in zip(rows, cold_and_edited(command, aid, tmp, r, seed)):
                        samples.setdefault(row, []).append(seconds)
            if ids:
                samples.setdefault(ALL_COLD, []).append(every_solution_cold(ids, tmp))
            fits.append(first_fit(data, quick=quick))
            samples.setdefault(FIT, []).append(fits[-1]["total"])
            t0 = time.perf_counter()
            tr.numpy_train(w, X, y, params)
            samples.setdefault(NUMPY, []).append(time.perf_counter() - t0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return samples, fits, (load_start, os.getloadavg()[0])


_PREFETCHED: list[concurrent.futures.Future] = []


def prefetch(*, quick: bool, repeats: int) -> None:
    """``python -m benchmarks --quick`` calls this first, so the processes overlap the other benchmarks."""
    if quick:
        tmp, data = inputs(quick=quick)  # JAX (the initial parameters) in this thread
        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="grader-speed")
        _PREFETCHED.append(pool.submit(measure, tmp, data, quick=quick, repeats=repeats))
        pool.shutdown(wait=False)


def run(*, quick: bool = False, repeats: int = 5) -> Result:
    aid = QUICK_ASSIGNMENT if quick else ASSIGNMENT
    w = tr.quick_version(tr.MOONS) if quick else tr.MOONS
    if _PREFETCHED:
        samples, fits, (load_start, load_end) = _PREFETCHED.pop().result()
    else:
        samples, fits, (load_start, load_end) = measure(*inputs(quick=quick), quick=quick, repeats=repeats)
    ids = ALL_COLD in samples
    title = f"{TITLE} ({aid}{', --quick' if quick else ''})"
    result = Result(NAME, title)
    how = "fresh process, sandbox required, start to exit"
    result.add(TEST_COLD, samples[TEST_COLD], f"{how}; empty cache folder")
    result.add(TEST_EDITED, samples[TEST_EDITED], f"{how}; cache of the run before, a comment edited")
    if SUBMIT_COLD in samples:
        result.add(SUBMIT_COLD, samples[SUBMIT_COLD], f"{how}; empty cache folder; new hidden inputs")
    result.add(SUBMIT_EDITED, samples[SUBMIT_EDITED],
               f"{how}; cache of the run before, a comment edited; new hidden inputs (same shapes)")
    if SEED_COLD in samples:
        result.add(SEED_COLD, samples[SEED_COLD], f"{how}; empty cache folder; hidden inputs of seed 0")
        result.add(SEED_EDITED, samples[SEED_EDITED], f"{how}; cache of the run before (same seed), a comment "
                                                      "edited: how the issue measured it")
    if ids:
        result.add(ALL_COLD, samples[ALL_COLD], f"sum of {len(course_ids())} fresh processes, one new empty "
                                                "cache folder")
    result.add("target: grader test (edited)", [TEST_TARGET], "issue 16")
    result.add("target: grader submit (edited)", [SUBMIT_TARGET], "issue 16")
    if ids:
        result.add("target: every reference solution (cold)", [ALL_TARGET], "issue 16")
    median = lambda key: sorted(f[key] for f in fits)[len(fits) // 2]
    result.add(FIT, samples[FIT], f"init_mlp {median('init_mlp'):.2f} s + fit {median('fit'):.2f} s, no persistent "
                                  f"cache; whole process {median('process'):.2f} s with imports")
    result.add(NUMPY, samples[NUMPY], f"{w.epochs} epochs in this process (benchmarks.moons_adam's loop)")
    result.ratio("grader test (edited) / 2 s", TEST_EDITED, "target: grader test (edited)", "<=", 1.0)
    result.ratio("grader submit (edited) / 4 s", SUBMIT_EDITED, "target: grader submit (edited)", "<=", 1.0)
    if SEED_EDITED in samples:
        result.ratio("grader submit --seed 0 (edited) / 4 s", SEED_EDITED, "target: grader submit (edited)",
                     "<=", 1.0)
    if ids:
        result.ratio("every reference solution (cold) / 60 s", ALL_COLD, "target: every reference solution (cold)",
                     "<=", 1.0)
    result.ratio("NumPy / fresh-process init_mlp + fit", NUMPY, FIT, ">=", 1.0, paired=True)
    result.ratio("grader test: cold / edited", TEST_COLD, TEST_EDITED)
    result.ratio("grader submit: cold / edited", SUBMIT_COLD, SUBMIT_EDITED)
    result.notes.append(f"load average (1 min) {load_start:.2f} at start, {load_end:.2f} at end "
                        f"({os.cpu_count()} cores).")
    if quick:
        result.notes.append("--quick: the self-test assignment, test cold and edited then submit edited "
                            "in one cache folder, no every-assignment row, a short fit (not a measurement).")
    return result


if __name__ == "__main__":
    fit_worker(sys.argv[1:])
