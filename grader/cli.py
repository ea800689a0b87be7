"""The ``grader`` command.

::

    grader list
    grader test   <id> [--file PATH]
    grader submit <id> [--file PATH] [--json OUT] [--seed N]
    grader grade  <id> DIR --out grades.csv [--jobs N] [--seed N] [--pattern GLOB] [--no-sandbox]
    grader release student OUT_DIR [--id ID ...] [--server URL | --gradescope-url URL]
    grader release gradescope <id> OUT.zip [--hidden-visibility V]
    grader serve [--db URL] [--host H] [--port P] [--workers N] [--lease-seconds S]
    grader worker --db URL [--lease-seconds S]
    grader roster import roster.csv --db URL --tokens-out tokens.csv
    grader token create --instructor NAME --db URL | grader token revoke TOKEN --db URL
    grader submit <id> --file F --server URL --token T     (or GRADER_SERVER, GRADER_TOKEN)
    grader history [<id>] --server URL --token T

The grading service's commands are in :mod:`grader.serve.commands`.

Every command takes ``--course DIR`` (repeatable; or ``GRADER_COURSE``): a folder of assignment
folders of the instructor's own, searched before the built-in course (see
:mod:`grader.registry`).

Isolation (see :mod:`grader.bubblewrap` and the README's security section): workers run in
the OS sandbox wherever it works. Where it does not, ``test`` and ``submit`` still grade,
with one line saying grading is not isolated; ``grade`` refuses (exit 2) unless
``--no-sandbox``. ``GRADER_SANDBOX=require`` turns a missing sandbox into exit 1 everywhere;
``GRADER_SANDBOX=off`` never uses it.

Exit status: 0 whenever grading completed (whatever the score; in ``grade``, also when some
rows are grading errors); 2 for a usage error (unknown id, missing file, bad arguments, an
output path (``--out``, ``--json``) in a folder that does not exist or cannot be written),
detected before any grading starts, with a message saying what to do; 1 if the grader itself
could not run (its worker process failed to start; in ``grade``, the cases could not be
built); 128 + the signal number if interrupted: 130 for SIGINT (Ctrl-C), 143 for SIGTERM, 129
for SIGHUP.

Interruption: ``test``, ``submit`` and ``grade`` handle SIGINT, SIGTERM and SIGHUP (a signal
the caller set to be ignored, as ``nohup`` does, stays ignored). The first one stops starting
work and kills every live worker with everything it started
(:func:`grader.runner.kill_all`; a later start is refused); then ``grade`` writes its CSV, with
the submissions graded so far and every other row ``not graded (interrupted)``, and ``test``
and ``submit`` report no score and write no JSON (a partial score would look final). Nothing
of the grading is left running when the command exits. Workers die at once; work the parent
is doing itself (building an expected value) ends first, so exiting may take that long. A
second signal changes nothing. Output files (``--out``, ``--json``) are replaced atomically
(written in the same folder, then renamed).

Compilation cache: the parent process (which computes the expected values) uses JAX's
persistent compilation cache in ``$JAXDL_GRADER_CACHE/parent`` (default
``~/.cache/jaxdl-grader``), with thresholds at zero so the many small programs are cached;
workers use per-submission directories under ``worker/`` (see :mod:`grader.runner` for why they
never share the parent's). ``JAXDL_GRADER_CACHE=off`` disables both.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from rich.console import Console

from grader import compile_flags

USAGE_ERROR = 2


def cache_root() -> str | None:
    root = os.environ.get("JAXDL_GRADER_CACHE")
    if root and root.lower() in ("off", "0", "none", "false"):
        return None
    path = Path(root) if root else Path.home() / ".cache" / "jaxdl-grader"
    try:
        path.mkdir(parents=True, exist_ok=True)
        # An existing folder may still be unwritable (a read-only home): try a write now.
        probe = path / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        # A cache is an optimisation, never a reason to fail: grade without one, say so once.
        print(f"note: grading without a compilation cache: {path} is not writable "
              f"({exc.strerror or type(exc).__name__})", file=sys.stderr)
        return None
    return str(path)


def _configure_parent_jax(root: str | None, *, before_import: bool = False) -> None:
    """JAX's settings in the parent (the process that computes expected values): the CPU,
    and its persistent compilation cache in ``<root>/parent`` with thresholds at zero.

    ``before_import`` (a command that owns its process: ``test``, ``submit``): when JAX is
    not imported yet, the settings go into the variables JAX reads when it is imported
    (``JAX_COMPILATION_CACHE_DIR``, ...), so that JAX (half a second to import) is imported
    only when the cases need it, while the worker is already starting. Otherwise, and when
    JAX is imported already, they are set with ``jax.config.update``.
    """
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if root is None:
        return
    settings = {"jax_compilation_cache_dir": str(Path(root) / "parent"),
                "jax_persistent_cache_min_compile_time_secs": 0.0,
                "jax_persistent_cache_min_entry_size_bytes": -1}
    if before_import and "jax" not in sys.modules:
        os.environ.update({name.upper(): str(value) for name, value in settings.items()})
        return
    import jax

    try:
        for name, value in settings.items():
            jax.config.update(name, value)
    except Exception:  # noqa: BLE001 - a cache is an optimisation, never a reason to fail
        pass


def _parser() -> argparse.ArgumentParser:
    from grader.serve import commands as service

    p = argparse.ArgumentParser(
        prog="grader",
        description="Grade course assignments: student code runs in a separate, limited process; "
                    "scores come from comparing its results with the library's.")
    sub = p.add_subparsers(dest="command", metavar="{list,test,submit,grade,release,serve,"
                                                   "worker,roster,token,history}")
    sub.add_parser("list", help="list assignments, their parts and points")
    t = sub.add_parser("test", help="run the visible cases (fast feedback while you work)")
    t.add_argument("id", help="assignment id, e.g. week2/optimization")
    t.add_argument("--file", help="your file (default: assignments/<id>.py); .py or .ipynb")
    s = sub.add_parser("submit", help="run all cases, visible and hidden, and report the score")
    s.add_argument("id")
    s.add_argument("--file", help="your file (default: assignments/<id>.py); .py or .ipynb")
    s.add_argument("--json", metavar="OUT", help="also write Gradescope results.json to OUT")
    s.add_argument("--seed", type=int, help="replay a run: the seed printed by an earlier submit")
    service.add_submit_options(s)  # --server, --token: submit to a grading service
    g = sub.add_parser("grade", help="instructors: grade every submission in a folder into a CSV, "
                                     "one results.json per submission and a class summary")
    g.add_argument("id")
    g.add_argument("dir", metavar="DIR",
                   help="folder of submissions: files at its top level (student id = file name "
                        "without extension), or one folder per student (id = folder name) "
                        "holding one file")
    g.add_argument("--out", required=True,
                   help="CSV file to write (one row per student); beside it <stem>_results/ "
                        "(<student>.json in Gradescope's results.json form) and "
                        "<stem>_summary.html/.png (the class summary)")
    g.add_argument("--pattern", action="append", metavar="GLOB",
                   help="which file names are submissions (repeatable; default: *.py and "
                        "*.ipynb); only .py and .ipynb files are graded")
    g.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                   help="submissions graded at once (default: half the CPU cores)")
    g.add_argument("--seed", type=int, help="seed for everyone's hidden cases (default: random)")
    g.add_argument("--no-sandbox", action="store_true",
                   help="grade even without the OS sandbox (bubblewrap): only for files you trust")
    r = sub.add_parser("release", help="instructors: build the student handout or a Gradescope bundle")
    rsub = r.add_subparsers(dest="what", metavar="{student,gradescope}", required=True)
    rs = rsub.add_parser("student", help="the folder students receive: stubs (.py, .ipynb), "
                                         "visible cases as data; no solutions, no hidden cases")
    rs.add_argument("out_dir", metavar="OUT_DIR", help="a new (or empty) folder to write")
    rs.add_argument("--id", dest="ids", action="append", metavar="ID",
                    help="only this assignment (repeatable; default: every assignment)")
    rs.add_argument("--server", metavar="URL", help="the course's grading server, named in the "
                                                     "handout as where to submit")
    rs.add_argument("--gradescope-url", metavar="URL", help="the course's Gradescope page, named "
                                                            "in the handout as where to submit")
    rg = rsub.add_parser("gradescope", help="a Gradescope autograder bundle (zip) for one assignment")
    rg.add_argument("id")
    rg.add_argument("out_zip", metavar="OUT.zip")
    rg.add_argument("--hidden-visibility", default="after_published",
                    choices=("hidden", "after_due_date", "after_published", "visible"),
                    help="Gradescope visibility of a part's result that shows a hidden case "
                         "(default: after_published)")
    def add_course(command) -> None:
        command.add_argument("--course", action="append", metavar="DIR", default=[],
                             help="a folder of your own assignment folders, searched before the "
                                  "built-in course (repeatable; also GRADER_COURSE)")

    for command in [*sub.choices.values(), rs, rg]:
        if command is not r:
            add_course(command)
    # The grading service (grader/serve/): serve, worker, roster, token, history.
    service.add_parsers(sub, add_course)
    return p


class _Interruption:
    """SIGINT/SIGTERM/SIGHUP while grading: stop, kill every worker, remember the signal.

    The handler does no more than set a flag (``stop``, set *before* any worker is killed:
    :mod:`grader.batch` relies on that order) and send SIGKILLs; the grading code notices
    (its worker died, no new one starts) and winds down, then :func:`main` exits with
    ``128 + signal``. Handlers are restored on exit (``main`` may run inside a program).
    """

    SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self) -> None:
        from grader import runner  # imported here: never import inside a signal handler
        from grader.batch import Stop

        self.signum: int | None = None
        self.stop = Stop()
        self._kill_all = runner.kill_all
        self._saved: dict[int, object] = {}

    def _handler(self, signum: int, frame) -> None:
        if self.signum is None:
            self.signum = signum
        self.stop.set()
        self._kill_all()

    def __enter__(self) -> "_Interruption":
        if threading.current_thread() is not threading.main_thread():
            return self  # signal handlers can only be set from the main thread
        for name in self.SIGNALS:
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            old = signal.getsignal(sig)
            if old == signal.SIG_IGN:  # nohup, a background job: the caller wants it ignored
                continue
            self._saved[sig] = old
            signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> bool:
        for sig, old in self._saved.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        self._saved.clear()
        return False

    @property
    def interrupted(self) -> bool:
        return self.signum is not None

    @property
    def status(self) -> int:
        return 128 + int(self.signum or 0)

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except (TypeError, ValueError):
            return f"signal {self.signum}"


def _check_output(path: str, option: str) -> str | None:
    from grader.batch import check_writable

    why = check_writable(path)
    return None if why is None else f"{option} {path}: {why}."


def _isolation(err: Console, *, batch: bool, no_sandbox: bool = False) -> int | None:
    """Settle how workers are isolated before grading; an exit status if grading must not run.

    ``test``/``submit`` (a student grading their own file) run without the OS sandbox where it
    cannot work, saying so in one line; ``grade`` (other people's files) refuses unless
    ``--no-sandbox``. ``GRADER_SANDBOX=require`` makes a missing sandbox an error everywhere.
    """
    from grader import bubblewrap, runner

    if no_sandbox:
        os.environ[runner.SANDBOX_ENV] = "off"
        return None
    try:
        mode = runner.isolation_mode()
    except ValueError as exc:
        return _usage(err, str(exc))
    except runner.SandboxUnavailable as exc:
        err.print(f"grader: {exc}", markup=False, highlight=False, soft_wrap=True)
        return 1
    if mode == "sandbox" or os.environ.get(runner.SANDBOX_ENV, "").strip().lower() == "off":
        return None
    reason = bubblewrap.probe().reason
    if batch:
        return _usage(err, f"refusing to grade submissions without the OS sandbox ({reason}). "
                           "Install bubblewrap, or pass --no-sandbox to grade files you trust.")
    err.print(f"note: grading is not isolated on this machine ({reason}); your code runs in a "
              "plain subprocess.", markup=False, highlight=False, style="dim", soft_wrap=True)
    return None


def _usage(console: Console, message: str) -> int:
    console.print(f"grader: error: {message}", markup=False, highlight=False, soft_wrap=True)
    return USAGE_ERROR


def main(argv: list[str] | None = None) -> int:
    # Before anything starts JAX's backend: this process and its workers compile alike, fast.
    compile_flags.use_fast_compile()
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    out = Console()
    err = Console(stderr=True)
    if args.command is None:
        parser.print_help()
        return USAGE_ERROR
    from grader.serve import commands as service

    # The grading service's commands that need no course; a submit to a server grades there.
    if args.command in ("roster", "token", "history"):
        return service.run(args, out, err)
    if args.command == "submit" and service.wants_server(args):
        return service.remote_submit(args, out, err)

    from grader import registry

    try:
        registry.reset_courses()  # each run sees only its own --course folders
        registry.use_course(*args.course)
        registry.course_folders()  # a bad GRADER_COURSE is a usage error too
    except registry.CourseError as exc:
        return _usage(err, str(exc))
    if args.command == "list":
        return _list(out, registry)
    if args.command == "release":
        return _release(out, err, args)
    if args.command in ("serve", "worker"):
        return service.run(args, out, err)

    try:
        assignment = registry.load(args.id)
    except (registry.UnknownAssignment, registry.CourseError) as exc:
        return _usage(err, str(exc))
    except Exception as exc:  # noqa: BLE001 - an instructor's assignment.py that fails to import
        err.print(f"grader: error: assignment {args.id!r} could not be loaded: "
                  f"{type(exc).__name__}: {exc}", markup=False, highlight=False)
        return 1
    if args.command == "grade":
        return _grade(out, err, assignment, args)

    path = Path(args.file) if args.file else Path(assignment.default_path)
    if not args.file and not path.is_file() and path.with_suffix(".ipynb").is_file():
        path = path.with_suffix(".ipynb")
    if not path.is_file():
        hint = ("pass your file with --file PATH" if args.file else
                "run this from the course folder (the one containing assignments/), or pass "
                "your file with --file PATH")
        return _usage(err, f"file not found: {path} - {hint}.")
    if path.suffix.lower() not in (".py", ".ipynb"):
        return _usage(err, f"{path} is not a .py or .ipynb file.")

    hidden = args.command == "submit"
    if hidden and assignment.released:
        return _usage(err, _where_to_submit(registry, assignment))
    if hidden and args.json:
        problem = _check_output(args.json, "--json")
        if problem:
            return _usage(err, problem)
    status = _isolation(err, batch=False)
    if status is not None:
        return status

    with _Interruption() as interruption:
        status = _run_one(out, err, assignment, path, args, hidden, interruption)
    return status


def _run_one(out: Console, err: Console, assignment, path: Path, args, hidden: bool,
             interruption: _Interruption) -> int:
    root = cache_root()
    _configure_parent_jax(root, before_import=True)
    from grader import engine, report

    result = None
    if not interruption.interrupted:
        try:
            with _progress(out, assignment) as on_part:
                # One person's machine: all their files of an assignment share one worker
                # cache (their own), so an edit recompiles only what changed.
                result = engine.grade(assignment, path, seed=getattr(args, "seed", None),
                                      hidden=hidden, cache_root=root, on_part=on_part,
                                      cache_owner="local")
        except Exception as exc:  # noqa: BLE001 - re-raised unless the grading was interrupted
            if not interruption.interrupted:
                if isinstance(exc, engine.GraderError):
                    err.print(f"grader: the grader could not run: {exc}", markup=False,
                              highlight=False)
                    return 1
                raise
    if interruption.interrupted or result is None:  # its worker was killed: no score is final
        err.print(f"grader: interrupted by {interruption.name}: grading stopped and its worker "
                  "processes were killed; no score was recorded.", markup=False, highlight=False)
        return interruption.status
    # A signal from here on interrupts nothing that matters: finish the report, then exit
    # with its status.
    report.render(result, out)
    if hidden and args.json:
        _write_json(report, result, args.json)
        out.print(f"Wrote {args.json}", markup=False, style="dim")
    return interruption.status if interruption.interrupted else 0


def _write_json(report, result, dest: str) -> None:
    """``report.write_json`` replacing ``dest`` in one step (:mod:`grader.atomic_file`)."""
    from grader import atomic_file

    with atomic_file.replacing(dest) as tmp:
        report.write_json(result, tmp)


def _where_to_submit(registry, assignment) -> str:
    """What ``grader submit`` says in a student handout (it has no hidden cases to run)."""
    from grader import release

    submit = registry.course_settings(assignment).get("submit", {})
    return ("this copy of the grader has the visible cases only, so it does not grade "
            "submissions. " + release.submit_instructions(submit) + f" Check your work first with "
            f"`grader test {assignment.id}`.")


def _release(out: Console, err: Console, args) -> int:
    from grader import registry, release

    try:
        if args.what == "student":
            stubs = release.student(args.out_dir, ids=args.ids, server=args.server,
                                    gradescope_url=args.gradescope_url)
            out.print(f"Wrote the student handout to {args.out_dir}: {len(stubs)} assignments "
                      "(stub .py and .ipynb each), visible cases as data, no solutions or hidden "
                      "cases.", markup=False, highlight=False)
        else:
            path = release.gradescope(args.id, args.out_zip, hidden_visibility=args.hidden_visibility)
            out.print(f"Wrote the Gradescope autograder for {args.id} to {path}: upload it as the "
                      "assignment's autograder (zip with setup.sh and run_autograder).",
                      markup=False, highlight=False)
    except (release.ReleaseError, registry.UnknownAssignment, registry.CourseError) as exc:
        return _usage(err, str(exc))
    return 0


def _list(out: Console, registry) -> int:
    from rich.table import Table

    table = Table(title="Assignments", show_lines=False)
    table.add_column("Id", no_wrap=True)
    table.add_column("Title")
    table.add_column("Parts (points)")
    table.add_column("Total", justify="right")
    for aid in registry.ids():
        try:
            a = registry.load(aid)
        except Exception as exc:  # noqa: BLE001 - one broken folder does not hide the others
            table.add_row(aid, f"(cannot be loaded: {type(exc).__name__}: {exc})", "", "",
                          style="red")
            continue
        parts = ", ".join(f"{p.function} ({p.points:g})" for p in a.parts)
        table.add_row(aid, a.title, parts, f"{a.max_score:g}")
    out.print(table)
    return 0


class _progress:
    """A transient progress display while parts run (only on a terminal)."""

    def __init__(self, console: Console, assignment):
        self.console, self.assignment = console, assignment
        self.progress = None

    def __enter__(self):
        if not self.console.is_terminal:
            return None
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 TextColumn("{task.completed}/{task.total} parts"),
                                 TimeElapsedColumn(), console=self.console, transient=True)
        self.progress.start()
        task = self.progress.add_task("Starting the worker", total=len(self.assignment.parts))

        def on_part(index: int, total: int, function: str) -> None:
            self.progress.update(task, completed=index, description=f"Grading {function}()")

        return on_part

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()
        return False


def _grade(out: Console, err: Console, assignment, args) -> int:
    from grader import batch

    folder = Path(args.dir)
    if not folder.is_dir():
        return _usage(err, f"folder not found: {folder} - pass the folder holding the submissions.")
    problem = batch.check_patterns(args.pattern)
    if problem:
        return _usage(err, problem + ".")
    subs = batch.find_submissions(folder, args.pattern,
                                  exclude=[batch.output_paths(args.out)["results"]])
    if not subs:
        wanted = " or ".join(args.pattern or batch.DEFAULT_PATTERNS)
        return _usage(err, f"no submissions in {folder}: no file matching {wanted} at its top "
                           "level, and no folder (one per student).")
    if args.jobs < 1:
        return _usage(err, "--jobs must be at least 1.")
    problem = _check_output(args.out, "--out")
    if problem:
        return _usage(err, problem)
    problem = batch.check_outputs(args.out)
    if problem:
        return _usage(err, f"--out {args.out}: {problem}.")
    status = _isolation(err, batch=True, no_sandbox=args.no_sandbox)
    if status is not None:
        return status
    with _Interruption() as interruption:
        return _grade_batch(out, err, assignment, args, folder,
                            sum(1 for s in subs if s.gradable), interruption)


def _grade_batch(out: Console, err: Console, assignment, args, folder: Path, n_files: int,
                 interruption: _Interruption) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from grader import batch, class_summary

    root = cache_root()
    _configure_parent_jax(root)
    from grader.engine import new_seed

    seed = new_seed() if args.seed is None else args.seed
    progress = Progress(TextColumn("Grading"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=out, disable=not out.is_terminal)
    try:
        with progress:
            task = progress.add_task("grading", total=n_files)
            rows = batch.grade_folder(
                assignment, folder, args.out, jobs=args.jobs, seed=seed, cache_root=root,
                patterns=args.pattern, on_done=lambda row: progress.advance(task),
                stop=interruption.stop)
    except Exception as exc:  # noqa: BLE001 - the batch itself failed (not one submission)
        if interruption.interrupted:
            err.print(f"grader: interrupted by {interruption.name}.", markup=False, highlight=False)
            return interruption.status
        wrote = (f"{args.out} lists every submission as a grading error" if Path(args.out).exists()
                 else "no CSV was written")
        err.print(f"grader: the grader could not grade this batch ({type(exc).__name__}: {exc}); "
                  f"{wrote}.", markup=False, highlight=False)
        return 1
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    extra = []
    if counts.get(batch.GRADING_ERROR):
        n = counts[batch.GRADING_ERROR]
        extra.append(f"{n} grading error{'s' if n != 1 else ''} (the grader's fault, see the "
                     "note column)")
    extra += [f"{n} {status}" for status, n in counts.items()
              if status not in (batch.GRADED, batch.GRADING_ERROR)]
    if rows.summary is not None:
        class_summary.render(rows.summary, out)
    wrote = args.out + (f", {rows.results_dir}/ (one results.json per submission)"
                        if rows.results_dir is not None else "")
    out.print(f"Graded {counts.get(batch.GRADED, 0)} of {len(rows)} submissions of "
              f"{assignment.id} (seed {seed})" + "".join(f"; {e}" for e in extra)
              + f"; wrote {wrote}", markup=False, highlight=False)
    if interruption.interrupted:
        err.print(f"grader: interrupted by {interruption.name}: grading stopped and its worker "
                  f"processes were killed; {args.out} has a row for every submission.",
                  markup=False, highlight=False)
        return interruption.status
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
