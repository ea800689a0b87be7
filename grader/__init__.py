"""The course grader: scores a student's file against visible and hidden cases.

Trust boundary: student code runs only in a worker subprocess (:mod:`grader.worker`), started
and killed by :mod:`grader.runner`, limited by :mod:`grader.sandbox`; the parent builds the
cases (:mod:`grader.spec`, one module per assignment in :mod:`grader.assignments`, looked up
in :mod:`grader.registry`), computes expected values, and judges (:mod:`grader.judge`) what
comes back over a pickle-free pipe (:mod:`grader.protocol`). :mod:`grader.engine` drives one
submission, :mod:`grader.batch` a folder of them, :mod:`grader.report` prints the table and
writes Gradescope JSON, :mod:`grader.cli` is the ``grader`` command, :mod:`grader.bench`
times it. Linux only (it relies on ``/proc``, sessions and ``setrlimit``).
"""
