"""The course grader: scores a student's file against visible and hidden cases.

Trust boundary: student code runs only in a worker process (:mod:`grader.worker`), started
and killed by :mod:`grader.runner` inside a kernel sandbox (:mod:`grader.bubblewrap` builds
its namespaces and read-only filesystem, :mod:`grader.seccomp` its system-call filter,
:mod:`grader.cgroups` its memory, process and CPU caps); :mod:`grader.sandbox` is an
in-process fence inside it for friendlier messages, which nothing depends on. The parent
builds the cases (:mod:`grader.spec`; one folder per assignment under ``grader/course/`` or an
instructor's ``--course`` folder, discovered by :mod:`grader.registry`, case builders sharing
:mod:`grader.case_tools`), computes expected values, and judges
(:mod:`grader.judge`) what comes back over a pickle-free pipe (:mod:`grader.protocol`, which
checks every reply). :mod:`grader.engine` drives one submission, :mod:`grader.batch` a folder
of them, :mod:`grader.report` prints the table and writes Gradescope JSON, :mod:`grader.class_summary`
summarises a class, :mod:`grader.handout` / :mod:`grader.released` / :mod:`grader.release`
build the student handout and the Gradescope bundle (whose ``run_autograder`` is
:mod:`grader.gradescope`),
:mod:`grader.worker_cache` keeps each submission's compile cache (written by the parent
only), :mod:`grader.cli` is the ``grader`` command, :mod:`grader.bench` times it. Linux only
(it relies on ``/proc``, sessions and ``setrlimit``; the sandbox on bubblewrap).
"""

__all__ = ["check"]


def __getattr__(name: str):
    """``from grader import check`` (:func:`grader.notebook_check.check`), imported on first
    use: the grading worker imports this package too, and needs none of it."""
    if name == "check":
        from grader.notebook_check import check

        return check
    raise AttributeError(f"module 'grader' has no attribute {name!r}")
