"""``from grader import check; check("initialize_parameters_he")``: one part's visible cases,
from inside a Jupyter notebook, without leaving it (as otter's ``grader.check("q1")``).

What is checked: **the kernel's executed cell history** (IPython's ``In``: every cell the
student ran, in the order they ran, including cells since deleted or edited), replayed in a
fresh grading worker. That is the function *as currently defined in the kernel*: the last
definition that ran wins, as it does in the kernel, and unsaved edits count once they are run.
The history is replayed as the kernel ran it: a cell that raised did not stop the cells run
after it, so it does not stop the replay either (a cell that does not parse is skipped);
``check(...)`` calls in it do nothing, as in a graded notebook (there ``import grader`` and
``from grader import check`` give a stand-in whose ``check`` returns ``None``, see
:mod:`grader.nbexec`). Code under ``if __name__ == "__main__":`` (the handout's demos and
training runs) does not run while checking, as in grading.

Outside a kernel (a plain ``python`` session or script) there is no history: pass
``file=PATH`` (a ``.py`` or ``.ipynb``), or the running script's own file is checked.

It runs exactly what ``grader test`` runs for that part: the same worker, in the same OS
sandbox, on the visible cases (from the handout's released data, :mod:`grader.released`, in
the student handout), and shows the same table, rendered by ``rich`` as HTML in the cell's
output. Feedback names history cells as Jupyter shows them: ``In [7], line 3``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from grader.notebook import Submission, from_cells


class CheckError(ValueError):
    """``check`` was called with a name it cannot check (the message says why)."""


@dataclass
class Checked:
    """What :func:`check` returns: the :class:`grader.engine.Result` of the one part; its repr
    is one line (Jupyter shows it below the table)."""

    result: object

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.result.parts)

    def __repr__(self) -> str:
        p = self.result.parts[0]
        return f"{p.function}(): {p.score:g} / {p.points:g} on the visible cases"


def find_part(function: str, assignment: str | None = None):
    """``(Assignment, Part)`` whose graded function is ``function``.

    Raises:
      CheckError: no assignment has it, or several do and ``assignment`` does not choose.
    """
    from grader import registry

    ids = [assignment] if assignment else registry.ids()
    found = []
    for aid in ids:
        try:
            a = registry.load(aid)
        except Exception:  # noqa: BLE001 - a broken course folder does not hide the others
            if assignment:
                raise
            continue
        found += [(a, p) for p in a.parts if p.function == function]
    if not found:
        where = f"assignment {assignment!r}" if assignment else "any assignment"
        raise CheckError(f"{function!r} is not a graded function of {where}: `grader list` "
                         "shows the parts")
    if len(found) > 1:
        raise CheckError(f"{function!r} is graded in " + ", ".join(a.id for a, _ in found)
                         + "; say which: check(..., assignment=ID)")
    return found[0]


def kernel_history() -> list[str] | None:
    """The running IPython kernel's executed cells ``In`` (``In[0]`` is empty), or ``None``."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    ip = get_ipython()
    history = getattr(ip, "user_ns", {}).get("In") if ip is not None else None
    return list(history) if isinstance(history, list) else None


def history_submission(history: list[str]) -> Submission:
    """The kernel's history as a notebook: ``In [n]`` is cell ``n`` (see the module docstring)."""
    cells = [(n, str(src)) for n, src in enumerate(history)
             if n > 0 and isinstance(src, str) and src.strip()]
    return from_cells(cells, keep_going=True, label="In [{}]")


def check(function: str, *, assignment: str | None = None, file: str | os.PathLike | None = None,
          show: bool = True) -> Checked:
    """Run the visible cases of the part whose graded function is ``function`` on the
    function as the notebook defines it now (see the module docstring) and show the table.

    ``assignment``: its id, when several assignments grade a function of that name.
    ``file``: check this file instead of the kernel's history. ``show``: print the table.

    Raises:
      CheckError: an unknown function, or no kernel history and no ``file``.
    """
    from grader import engine, report
    from grader.cli import _configure_parent_jax, cache_root

    a, part = find_part(function, assignment)
    submission = None
    if file is None:
        history = kernel_history()
        if history is not None:
            submission = history_submission(history)
            shown = "this notebook's executed cells (In)"
        else:
            main = getattr(sys.modules.get("__main__"), "__file__", None)
            if not main:
                raise CheckError("check() runs in a Jupyter notebook (it checks the cells you "
                                 "ran); elsewhere pass file=PATH")
            file = main
    if submission is None:
        shown = str(file)
    root = cache_root()
    _configure_parent_jax(root)
    seed = engine.new_seed()
    cases = [pc for pc in engine.build_cases(a, seed, hidden=False) if pc.part is part]
    grader = engine.Grader(a, seed=seed, hidden=False, cache_root=root, cases=cases)
    result = grader.grade(Path(file) if file is not None else Path("In"), display_name=shown,
                          submission=submission, cache_owner="local")  # as grader test does
    if show:
        from rich.console import Console

        report.render(result, Console())
    return Checked(result)
