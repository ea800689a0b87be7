"""``run_autograder`` of a Gradescope bundle (``grader release gradescope``): grade the upload.

Gradescope puts the student's upload in ``$ROOT/submission/`` and reads
``$ROOT/results/results.json`` (``$ROOT`` is ``/autograder``; ``GRADER_GRADESCOPE_ROOT`` or
``--root`` moves it, for tests). The upload must hold exactly one ``.py`` or ``.ipynb`` file,
whatever its name and folder (hidden files, ``__MACOSX/`` and ``.ipynb_checkpoints/`` are
ignored); with none or several, every part scores 0 and the output says what was found and
what to upload instead. The file is graded with the assignment's hidden cases (a new seed per
run), and the results are written in Gradescope's schema (:func:`grader.report.gradescope`):
one test per part, tests that describe a hidden case with the bundle's hidden visibility, the
seed and the timings in ``extra_data``, and in each test's own ``extra_data`` the known mistake
the grader diagnosed (``"mistake"``, ``""`` if none), as in every ``results.json`` the grader
writes. A fault of the grader gives a results file that says
so (no score for those parts), never a traceback instead of results.

Isolation: workers run in the OS sandbox where bubblewrap works (``GRADER_SANDBOX``, default
``auto``). Gradescope's containers may not allow it (no user namespaces); then, since the
autograder runs as root, each worker runs as an unprivileged user
(:data:`grader.runner.UNPRIVILEGED_UID`): it cannot signal the grader, write
``results/`` or the environment, or read the course's case builders (``setup.sh`` and
``run_autograder`` make them, the upload and the results root's alone). ``extra_data``
records which (``"isolation"``) and the output says when the sandbox was not used. With
``GRADER_SANDBOX=require`` an image without the sandbox gives a grading error instead.

Usage (what ``run_autograder`` runs)::

    python -m grader.gradescope --root /autograder --config /autograder/source/gradescope.json
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import time
from pathlib import Path

from grader import atomic_file, compile_flags

SUBMISSION_SUFFIXES = (".py", ".ipynb")
_IGNORED_DIRS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__"}


def submissions(folder: Path) -> list[Path]:
    """The ``.py``/``.ipynb`` regular files of an upload (symbolic links, FIFOs, devices and
    hidden files ignored: reading a FIFO would block the grading)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in _IGNORED_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or path.suffix.lower() not in SUBMISSION_SUFFIXES:
                continue
            try:
                if stat.S_ISREG(os.lstat(path).st_mode):
                    found.append(path)
            except OSError:
                continue
    return found


def _write(results: Path, text: str) -> None:
    results.parent.mkdir(parents=True, exist_ok=True)
    atomic_file.write_text(results, text)


def _isolation() -> str:
    from grader import runner

    try:
        mode = runner.isolation_mode()
    except (runner.SandboxUnavailable, ValueError) as exc:
        return f"none: {exc}"
    if mode == "sandbox":
        return "sandbox"
    if runner.drops_privileges(mode):
        return f"workers ran as the unprivileged uid {runner.UNPRIVILEGED_UID}"
    return "workers ran with the grader's own privileges"


def run(root: Path, assignment_id: str, hidden_visibility: str, *, seed: int | None = None) -> dict:
    """Grade the upload under ``root`` and write ``root/results/results.json``; returns it.

    Never raises for a fault of the grader: the results file then says so, with no score.
    """
    from grader import engine, registry, report
    from grader.notebook import valid_text

    t0 = time.monotonic()
    results = root / "results" / "results.json"
    upload = root / "submission"
    try:
        assignment = registry.load(assignment_id)
        files = submissions(upload)
        names = [valid_text(str(f.relative_to(upload))) for f in files]  # undecodable bytes as \\xNN
        if len(files) != 1:
            what = "no .py or .ipynb file" if not files else f"{len(files)} files: " + ", ".join(names)
            reason = (f"Your upload holds {what}. Upload exactly one file: your completed "
                      f"{assignment.default_path} (or its notebook, .ipynb), under any name.")
            result = report.unscored(assignment, file="(upload)", seed=seed, reason=reason,
                                     withheld=False)
            text = report.to_json(result, headline=reason, hidden_visibility=hidden_visibility,
                                  files=names)
        else:
            grader = engine.Grader(assignment, seed=seed, hidden=True)
            result = grader.grade(files[0], display_name=names[0])
            text = report.to_json(result, hidden_visibility=hidden_visibility, file=names[0],
                                  grading_seconds=round(result.seconds, 2))
        data = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - the grader's fault: results that say so, no score
        message = engine.grading_error("before any part ran", exc)
        data = {"output": message, "tests": [], "extra_data": {"complete": False, "error": repr(exc)}}
    data["extra_data"]["seconds"] = round(time.monotonic() - t0, 2)
    isolation = _isolation()
    data["extra_data"]["isolation"] = isolation
    if isolation != "sandbox":
        data["output"] = (f"Note: graded without the OS sandbox ({isolation}).\n"
                          + data.get("output", ""))
    _write(results, json.dumps(data, indent=2) + "\n")
    return data


def main(argv: list[str] | None = None) -> int:
    compile_flags.use_fast_compile()  # before JAX's backend starts (grader.compile_flags)
    parser = argparse.ArgumentParser(prog="python -m grader.gradescope", description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.environ.get("GRADER_GRADESCOPE_ROOT", "/autograder"))
    parser.add_argument("--config", required=True, help="the bundle's gradescope.json")
    parser.add_argument("--seed", type=int, help="replay a run (default: a new seed)")
    args = parser.parse_args(argv)
    config = json.loads(Path(args.config).read_text(encoding="utf-8"))
    run(Path(args.root), config["assignment"], config.get("hidden_visibility", "after_published"),
        seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
