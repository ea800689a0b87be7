"""Instructor batch mode: grade every submission in a folder, in parallel, into a CSV.

- Submissions are the ``.py`` and ``.ipynb`` files under ``DIR`` (recursively; hidden folders,
  ``__pycache__`` and ``.ipynb_checkpoints`` skipped), named in the CSV by their path relative
  to ``DIR``.
- One seed for the whole batch (everyone gets the same hidden inputs; recorded in every row).
  Cases and expected values are built once, up front, and shared read-only.
- ``jobs`` submissions are graded at once, each with its own worker process, temporary
  directory and limits, so one hostile submission cannot affect another's grade; workers may
  not read ``DIR`` (nobody can load a classmate's file at grading time).
"""

from __future__ import annotations

import concurrent.futures
import csv
from pathlib import Path
from typing import Any, Callable, Mapping

from grader.engine import Grader, GraderError, Result
from grader.spec import Assignment

_SKIP = {"__pycache__", ".ipynb_checkpoints"}


def find_submissions(root: str | Path) -> list[Path]:
    root = Path(root)
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if any(part.startswith(".") or part in _SKIP for part in rel.parts[:-1]):
            continue
        if p.is_file() and p.suffix.lower() in (".py", ".ipynb") and not p.name.startswith("."):
            out.append(p)
    return out


def grade_folder(assignment: Assignment, root: str | Path, out_csv: str | Path, *, jobs: int = 2,
                 seed: int | None = None, overrides: Mapping[str, Any] | None = None,
                 cache_root: str | None = None,
                 on_done: Callable[[Path, Result | None, str], None] | None = None
                 ) -> list[tuple[Path, Result | None, str]]:
    root = Path(root).resolve()
    files = find_submissions(root)
    base = Grader(assignment, seed=seed, overrides=overrides, cache_root=cache_root,
                  deny_read=[str(root)])
    base.materialize()
    shared = base.cases()

    def one(path: Path) -> tuple[Path, Result | None, str]:
        g = Grader(assignment, seed=base.seed, overrides=overrides, cache_root=cache_root,
                   deny_read=[str(root)], cases=shared)
        rel = str(path.relative_to(root))
        try:
            return path, g.grade(path, display_name=rel), ""
        except GraderError as exc:
            return path, None, f"not graded: {exc}"

    done: dict[Path, tuple[Path, Result | None, str]] = {}
    with concurrent.futures.ThreadPoolExecutor(max(1, int(jobs))) as pool:
        futures = [pool.submit(one, f) for f in files]
        for fut in concurrent.futures.as_completed(futures):
            item = fut.result()
            done[item[0]] = item
            if on_done:
                on_done(*item)
    results = [done[f] for f in files]
    write_csv(assignment, root, results, base.seed, out_csv)
    return results


def write_csv(assignment: Assignment, root: Path, results, seed: int, out_csv: str | Path) -> None:
    fields = ["submission", "score", "max_score"] + [p.function for p in assignment.parts] + ["seed", "note"]
    with open(out_csv, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for path, result, note in results:
            row: list[Any] = [str(path.relative_to(root))]
            if result is None:
                row += [0, assignment.max_score] + [0] * len(assignment.parts)
            else:
                row += [f"{result.score:g}", f"{result.max_score:g}"] + [f"{p.score:g}" for p in result.parts]
            row += [seed, note]
            w.writerow(row)
