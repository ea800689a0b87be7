"""Notebooks a DLS student would hand in, tried against what issue 13 promises: a notebook
that runs in Jupyter (Run All) with correct code gets full marks, and feedback names the
cell and line (with that line's text) where things went wrong.

Each notebook is the self-test reference solution (``selftest/basics``) changed in one way.
The cases that need the grader (its sandbox, its feedback) are graded once, on the ``relu``
part only, in one module fixture; the others run the cells as the worker does
(:func:`grader.nbexec.run_cells`, in this process) and look at what they defined and which
line an error names. Every expected behaviour was checked against IPython itself (an
``InteractiveShell`` running the same cells).
"""

from __future__ import annotations

import dataclasses
import json
import re

import nbformat
import pytest

from grader import engine
from grader.notebook import from_cells, load_submission

from .conftest import LIMITS, SEED, SOLUTION


def _solution_cells() -> dict[str, str]:
    """The reference solution's imports cell and one cell per graded function."""
    code = SOLUTION.read_text(encoding="utf-8").split("# %%\n")[1]
    chunks = re.split(r"\n\n\n(?=def )", code.strip())
    cells = {"imports": chunks[0]}
    for chunk in chunks[1:]:
        cells[re.match(r"def (\w+)", chunk).group(1)] = chunk.strip()
    return cells


CELLS = _solution_cells()


def notebook(before: dict[str, list[str]] | None = None, change: dict[str, str] | None = None,
             extra: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    """A markdown title (cell 1), the imports (cell 2), then one cell per function in the
    solution's order; ``before`` inserts code cells before a named cell, ``change`` replaces
    one, ``extra`` appends code cells."""
    before, change = before or {}, change or {}
    cells = [nbformat.v4.new_markdown_cell("# Basics")]
    for name, source in CELLS.items():
        cells += [nbformat.v4.new_code_cell(s) for s in before.get(name, ())]
        cells.append(nbformat.v4.new_code_cell(change.get(name, source)))
    cells += [nbformat.v4.new_code_cell(s) for s in extra]
    return nbformat.v4.new_notebook(cells=cells)


def run(*sources: str) -> tuple[dict, list[dict], object]:
    """Run code cells 1, 2, ... as the worker runs a notebook (Run All): ``(namespace, cell
    errors, submission)``; the submission names an error's line (``where``/``line_text``)."""
    from grader import nbexec, worker

    sub = from_cells(list(enumerate(sources, start=1)))
    namespace: dict = {"__name__": "submission"}
    old = worker._State.filename
    worker._State.filename = "nb.ipynb"  # the worker's frames are those of this file
    try:
        errors = nbexec.run_cells(sub.load_header("nb.ipynb")["cells"], namespace, "nb.ipynb",
                                  keep_going=False, error=worker._error)
    finally:
        worker._State.filename = old
    return namespace, errors, sub


def named(sub, error: dict) -> tuple[str, str]:
    """``("cell 2, line 5", "that line's text")`` for a cell error, as feedback names it."""
    line = error["line"] if error["type"] == "SyntaxError" else error["frames"][-1][0]
    return sub.where(line), sub.line_text(line)


# ---------------------------------------------------------------- graded (one fixture)

# Four notebooks that Run All runs to the end in Jupyter (or, for the last two, whose
# feedback must point at the right cell), graded on the relu part only.
GRADED = {
    # The student README tells students to check a function from inside the notebook with
    # `from grader import check; check(...)`: the cell stays in the notebook they hand in.
    "check_cell": notebook(before={"relu_backward": ['from grader import check\ncheck("relu")']}),
    # %%writefile a helper module, then import it (the kernel's working folder is on sys.path).
    "writefile_import": notebook(before={"relu": ["%%writefile helpers.py\nSHIFT = 0.0\n",
                                                  "from helpers import SHIFT"]},
                                 change={"relu": "def relu(z):\n    return jnp.maximum(z, SHIFT)"}),
    # The imports cell does not parse: relu is defined, but jnp is not.
    "broken_imports": notebook(change={"imports": CELLS["imports"] + "\nprint('ready'"}),
    # A long demo cell (cell 4) outlasts the load time limit.
    "slow_cell": notebook(before={"relu_backward": ["import time\ntime.sleep(60)"]}),
}


@pytest.fixture(scope="module")
def graded(selftest, tmp_path_factory):
    relu_only = dataclasses.replace(
        selftest, parts=tuple(p for p in selftest.parts if p.function == "relu"))
    folder = tmp_path_factory.mktemp("newcomer")
    results = {}
    for name, nb in GRADED.items():
        path = folder / f"{name}.ipynb"
        path.write_text(json.dumps(nb), encoding="utf-8")
        limits = dict(LIMITS, load_seconds=4.0) if name == "slow_cell" else LIMITS
        results[name] = engine.grade(relu_only, path, seed=SEED, hidden=False, overrides=limits)
    return {name: r.parts[0] for name, r in results.items()}


def test_a_check_cell_left_in_the_notebook_costs_nothing(graded):
    """``from grader import check; check("relu")`` (as the README shows) in a submitted
    notebook: observed 0 on every part, "Your code imports 'grader', which this assignment
    does not allow". ``grader.check`` already leaves such statements out of what it replays;
    a submission should be graded the same way."""
    p = graded["check_cell"]
    assert p.score == p.points, p.feedback


def test_a_module_written_with_writefile_can_be_imported(graded):
    """Observed: ModuleNotFoundError: No module named 'helpers' (the worker's scratch folder,
    where %%writefile writes, is not on sys.path as the kernel's working folder is)."""
    p = graded["writefile_import"]
    assert p.score == p.points, p.feedback


def test_a_defined_function_failing_because_an_earlier_cell_was_skipped_says_so(graded):
    """Observed: "relu() raised NameError ... name 'jnp' is not defined." and nothing about
    cell 2, the imports cell that was not run (Jupyter's Run All stops there and shows it)."""
    p = graded["broken_imports"]
    assert "name 'jnp' is not defined" in p.feedback, p.feedback
    assert "Cell 2 was not run: it has a syntax error" in p.feedback, p.feedback


def test_a_load_timeout_names_the_cell_that_was_running(graded):
    """Observed: "Your file did not finish within 4 s (the time limit) while loading: an
    infinite loop, a hang, or far too much work": neither notebook nor cell named."""
    p = graded["slow_cell"]
    assert p.score == 0
    assert "cell 4" in p.feedback.lower(), p.feedback


# ---------------------------------------------------------------- run as a kernel runs cells


def test_a_future_import_holds_for_later_cells_as_in_ipython():
    """IPython's compiler keeps ``from __future__ import annotations`` for every later cell,
    so an annotation naming a type defined later is never evaluated. Observed: Run All
    stopped at the def with NameError: name 'Array' is not defined."""
    ns, errors, _ = run("from __future__ import annotations",
                        "def relu(z: Array) -> Array:\n    return z",
                        "Array = list")
    assert errors == [] and "relu" in ns


def test_ipythons_own_get_ipython_is_the_notebooks_shell():
    """``from IPython import get_ipython`` (the documented way to reach magics from code) gives
    the running shell in a kernel. Observed: None, so
    ``get_ipython().run_line_magic('load_ext', 'autoreload')`` raised AttributeError and
    Run All stopped there."""
    ns, errors, _ = run("from IPython import get_ipython\n"
                        "get_ipython().run_line_magic('load_ext', 'autoreload')\n"
                        "get_ipython().run_line_magic('autoreload', '2')",
                        "ok = True")
    assert errors == [] and ns.get("ok") is True


def test_in_and_out_are_defined_as_in_a_kernel():
    """A kernel's namespace holds ``In`` and ``Out`` (and ``_`` once a value was shown).
    Observed: NameError: name 'In' is not defined."""
    ns, errors, _ = run("1 + 1", "cells_run = len(In)\nshown = Out[1]")
    assert errors == [] and ns.get("shown") == 2


def test_timeit_dash_o_returns_its_result():
    """``res = %timeit -o f()`` gives IPython's TimeitResult. Observed: None, and
    ``res.best`` raised AttributeError."""
    ns, errors, _ = run("res = %timeit -o -n 1 -r 1 sum(range(3))\nbest = res.best")
    assert errors == [] and ns["best"] >= 0


@pytest.mark.parametrize("source, where, text", [
    # Blank lines at the top of a cell (IPython's transformer drops them before compiling).
    ("\n\n\nx = 1\nraise ValueError('after blank lines')", "cell 1, line 5",
     "raise ValueError('after blank lines')"),
    ("\n\ndef f(z):\n    return (1 + z\n", "cell 1, line 4", "return (1 + z"),
    # A line magic continued with a backslash (the transformer joins the two lines).
    ("%time a = 1 + \\\n    2\nb = 3\nraise ValueError('after continuation')", "cell 1, line 4",
     "raise ValueError('after continuation')"),
], ids=["blank-lines-raise", "blank-lines-syntax", "continued-magic"])
def test_errors_name_the_cells_own_line(source, where, text):
    """Observed: "cell 1, line 2" with no text (a blank line), "cell 1, line 2" for the
    unclosed parenthesis of line 4, and "cell 1, line 3 (`b = 3`)"."""
    _, errors, sub = run(source)
    assert len(errors) == 1
    assert named(sub, errors[0]) == (where, text)


def test_a_graded_function_in_a_cell_with_blank_lines_on_top_is_named_right():
    """A traceback frame inside a function of such a cell. Observed: "cell 1, line 2"."""
    ns, errors, sub = run("\n\ndef sigmoid(z):\n    raise ValueError('in sigmoid')")
    assert errors == []
    from grader import worker

    old = worker._State.filename
    worker._State.filename = "nb.ipynb"
    try:
        ns["sigmoid"](0.0)
    except ValueError as exc:
        info = worker._error(exc)
    finally:
        worker._State.filename = old
    assert named(sub, info) == ("cell 1, line 4", "raise ValueError('in sigmoid')")


# ---------------------------------------------------------------- handled right


def test_crlf_cells_run_and_name_their_lines():
    """A notebook written on Windows (every cell's lines end in CRLF)."""
    ns, errors, sub = run("import math\r\n\r\ndef f(x):\r\n    return math.sqrt(x)",
                          "y = f(4.0)\r\nraise KeyError(y)")
    assert ns["f"](9.0) == 3.0 and ns["y"] == 2.0
    assert named(sub, errors[0]) == ("cell 2, line 2", "raise KeyError(y)")


def test_capture_around_a_def_and_the_last_definition_wins():
    """``%%capture`` around a definition defines it (silently); a function defined again in
    a later cell is the later one, as after Run All."""
    ns, errors, _ = run("%%capture cap\ndef relu(z):\n    return z\nprint('hidden')",
                        "def relu(z):\n    return max(z, 0)",
                        "%load_ext autoreload\n%autoreload 2\n%matplotlib inline\nrelu??\n?relu")
    assert errors == []
    assert ns["relu"](-2) == 0 and ns["cap"].stdout == "hidden\n"


def test_sys_exit_in_a_cell_stops_run_all_and_keeps_what_was_defined():
    """``sys.exit()`` in a cell: Jupyter reports SystemExit and Run All stops there."""
    ns, errors, sub = run("def relu(z):\n    return max(z, 0)",
                          "import sys\nsys.exit('stop here')",
                          "def sigmoid(z):\n    return z")
    assert "relu" in ns and "sigmoid" not in ns
    assert [(e["cell"], e["type"], e["message"]) for e in errors] == [(2, "SystemExit", "stop here")]
    assert named(sub, errors[0]) == ("cell 2, line 2", "sys.exit('stop here')")


def test_a_colab_notebook_is_read_with_its_cells_numbered_from_the_top(tmp_path):
    """Colab's metadata, duplicated nbformat 4.5 cell ids, stored outputs and execution
    counts, a raw cell: only the code cells count, numbered as the notebook shows them."""
    nb = notebook(before={"relu": ["print('colab')"]})
    nb.cells.insert(1, nbformat.v4.new_raw_cell("%%raw text, not code"))
    nb.metadata.update({"colab": {"provenance": [], "toc_visible": True}, "accelerator": "GPU",
                        "kernelspec": {"name": "python3", "display_name": "Python 3"}})
    for i, cell in enumerate(nb.cells):
        cell["id"] = "same"
        cell.metadata.update({"id": f"c{i}", "colab": {"base_uri": "https://localhost:8080/"}})
        if cell.cell_type == "code":
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["hi\n"]}]
            cell["execution_count"] = 99
    path = tmp_path / "colab.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    sub = load_submission(path)
    assert [c.number for c in sub.cells] == list(range(3, 3 + 1 + len(CELLS)))
    assert sub.cells[1].source == "print('colab')"
    assert "hi" not in sub.text


def test_non_ascii_names_and_a_very_long_line():
    ns, errors, _ = run("def relu(ζ):\n    résultat = max(ζ, 0)  # ½\n    return résultat",
                        "x = 1  # " + "y" * 300_000)
    assert errors == [] and ns["relu"](-1) == 0 and ns["x"] == 1
