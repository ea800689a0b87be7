"""Stubs and notebooks from an assignment's one source, its folder's ``solution.py``.

The reference solution marks every hole nbgrader-style::

    def relu(z):
        \"\"\"...\"\"\"
        ### BEGIN SOLUTION
        return jnp.maximum(z, 0)
        ### END SOLUTION

and the stub is the same file with each marked block replaced by ``# YOUR CODE HERE`` and
``raise NotImplementedError`` (at the marker's indentation); lines ending in
``# SOLUTION ONLY`` are dropped. The stub's "Allowed imports" paragraph is rendered from the
assignment's policy (:meth:`grader.spec.Assignment.policy_text`): it replaces the paragraph
that starts ``# **Allowed imports:**`` in the solution, or, in a solution without one, ends
its first markdown cell. The notebook is the stub converted by jupytext (percent format ->
``.ipynb``, nbformat 4, no outputs).

``tools/make_stubs.py`` keeps ``assignments/`` (and the policy paragraph of each solution) in
step with this; ``grader release student`` writes the same files into the handout.
"""

from __future__ import annotations

import re
import textwrap

from grader.spec import Assignment

_BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")
_END = re.compile(r"^\s*### END SOLUTION\s*$")
POLICY_START = "# **Allowed imports:**"
WIDTH = 95  # the solutions' line length


class HandoutError(ValueError):
    """A solution file whose markers or cells cannot make a stub (the message says where)."""


def make_stub(solution_source: str, origin: str = "<solution>") -> str:
    """The stub text for a reference solution's text.

    Raises:
      HandoutError: unbalanced or nested ``### BEGIN/END SOLUTION`` markers.
    """
    out: list[str] = []
    indent: str | None = None
    for number, line in enumerate(solution_source.splitlines(keepends=True), start=1):
        begin = _BEGIN.match(line)
        if indent is None:
            if begin:
                indent = begin.group(1)
                out.append(f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError\n")
            elif _END.match(line):
                raise HandoutError(f"{origin}:{number}: END SOLUTION without BEGIN SOLUTION")
            elif not line.rstrip().endswith("# SOLUTION ONLY"):
                out.append(line)
        elif begin:
            raise HandoutError(f"{origin}:{number}: nested BEGIN SOLUTION")
        elif _END.match(line):
            indent = None
    if indent is not None:
        raise HandoutError(f"{origin}: BEGIN SOLUTION without END SOLUTION")
    return "".join(out)


def policy_lines(assignment: Assignment) -> list[str]:
    """The "Allowed imports" paragraph as ``# `` comment lines of a markdown cell."""
    body = textwrap.wrap(assignment.policy_text(), width=WIDTH - 2, break_on_hyphens=False,
                         break_long_words=False)
    return [f"# {line}\n" for line in body]


def with_policy(source: str, assignment: Assignment, origin: str = "<solution>") -> str:
    """``source`` with its "Allowed imports" paragraph rendered from ``assignment``'s policy.

    Raises:
      HandoutError: no paragraph and no markdown cell to put one in.
    """
    lines = source.splitlines(keepends=True)
    new = policy_lines(assignment)
    for i, line in enumerate(lines):
        if line.startswith(POLICY_START):
            j = i + 1
            while j < len(lines) and lines[j].startswith("# ") and not lines[j].startswith("# %%"):
                j += 1
            return "".join(lines[:i] + new + lines[j:])
    # No paragraph yet: end the first markdown cell with one.
    start = next((i for i, line in enumerate(lines) if line.startswith("# %% [markdown]")), None)
    if start is None:
        raise HandoutError(f"{origin}: no markdown cell to hold the 'Allowed imports' paragraph")
    end = start + 1
    while end < len(lines) and lines[end].startswith("#") and not lines[end].startswith("# %%"):
        end += 1
    return "".join(lines[:end] + ["#\n"] + new + lines[end:])


def stub_source(assignment: Assignment) -> str:
    """The stub students edit (jupytext percent ``.py``), from the folder's ``solution.py``.

    Raises:
      HandoutError: the assignment has no ``solution.py`` or its markers are broken.
    """
    path = assignment.solution_path
    if path is None or not path.is_file():
        raise HandoutError(f"{assignment.id}: no solution.py in its folder")
    source = path.read_text(encoding="utf-8")
    return make_stub(with_policy(source, assignment, str(path)), str(path))


def notebook_json(stub: str) -> str:
    """The stub as a Jupyter notebook (nbformat 4 JSON text), converted by jupytext."""
    import jupytext

    notebook = jupytext.reads(stub, fmt="py:percent")
    notebook.metadata.pop("jupytext", None)  # the handout's .py is not paired with it
    return jupytext.writes(notebook, fmt="ipynb")
