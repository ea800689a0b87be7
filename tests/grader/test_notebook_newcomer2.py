"""More notebooks a DLS student would hand in (issue 13's remaining gaps): each is the
self-test reference solution changed in one way that runs in Jupyter, graded as Jupyter would
run it, with feedback that names the cell.

The notebooks come from the first newcomer suite (:func:`notebook`: a markdown title is cell 1,
the imports cell 2, ``relu`` cell 3, ``relu_backward`` cell 4, ...; a cell inserted before
``relu_backward`` is cell 4 and pushes it to cell 5). The graded ones are graded once, on the
``relu`` and ``relu_backward`` parts only, in one module fixture: ``relu`` is defined before the
changed cell and ``relu_backward`` after it, so a score shows what the change cost. The others
run the cells as the worker does, in this process (:func:`run`).
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from grader import engine

from .conftest import LIMITS, SEED
from .test_notebook_newcomer import CELLS, named, notebook, run

BACKWARD = CELLS["relu_backward"]

GRADED = {
    # 1. Line magics setting the environment (a course notebook's first cell often has one).
    "env": notebook(before={"relu_backward": [
        ("%env XLA_PYTHON_CLIENT_PREALLOCATE=false\n%env GREETING hello\n%env\n"
         "import os\nassert os.environ['GREETING'] == 'hello'")]}),
    # 2. input() left in a cell (in Jupyter it waits for the student to type).
    "input": notebook(before={"relu_backward": [
        "name = input('Your name: ')\nprint('Hello', name)"]}),
    # 3. A training loop that prints every step: 100,000 lines, past the 1 MiB output cap.
    "flood": notebook(before={"relu_backward": [
        "for step in range(100_000):\n    print(f'step {step}: cost 0.6931')"]}),
    # 4. A progress cell that clears its output each epoch, as course notebooks do.
    "clear_output": notebook(before={"relu_backward": [
        ("from IPython.display import clear_output\n\n"
         "for epoch in range(3):\n    clear_output(wait=True)\n"
         "    print(f'epoch {epoch}: cost {0.7 - 0.1 * epoch:.2f}')")]}),
    # 5. check() calls mixed with definitions: the grader's check does nothing, the statement
    # around it runs (relu_backward is defined only by the right side of an `or`), and a
    # `check` the student binds is theirs.
    "check_rule": notebook(change={
        "relu": "from grader import check\nimport grader\n\n\n" + CELLS["relu"]
                + "\n\n\ncheck('relu')\nassert grader.check('relu') is None",
        "relu_backward": "def define_backward():\n    global relu_backward\n\n"
                         + "\n".join("    " + line for line in BACKWARD.split("\n"))
                         + "\n\n\ncheck('relu_backward') or define_backward()\n"
                         "check = print\ncheck('my own check runs')"}),
    # Any other use of the grader is still refused.
    "grader_engine": notebook(extra=("from grader import engine",)),
}


@pytest.fixture(scope="module")
def graded(selftest, tmp_path_factory):
    two = dataclasses.replace(
        selftest, parts=tuple(p for p in selftest.parts if p.function in ("relu", "relu_backward")))
    folder = tmp_path_factory.mktemp("newcomer2")
    results = {}
    for name, nb in GRADED.items():
        path = folder / f"{name}.ipynb"
        path.write_text(json.dumps(nb), encoding="utf-8")
        results[name] = {p.function: p for p in
                         engine.grade(two, path, seed=SEED, hidden=False, overrides=LIMITS).parts}
    return results


def _full(part) -> bool:
    return part.score == part.points


# ---------------------------------------------------------------- 1. %env


def test_env_magics_set_the_environment_as_in_a_kernel(graded):
    """``%env VAR=value``, ``%env VAR value`` and ``%env`` (IPython's own magic, on the
    worker's environment). Observed: "[grader] %env is not run while grading", and the cell's
    ``assert`` on ``os.environ`` failed, so Run All stopped and ``relu_backward`` was missing."""
    relu, backward = graded["env"]["relu"], graded["env"]["relu_backward"]
    assert _full(relu) and _full(backward), (relu.feedback, backward.feedback)
    assert "env: XLA_PYTHON_CLIENT_PREALLOCATE=false\nenv: GREETING=hello\n" in relu.output
    assert "not run while grading" not in relu.output


def test_env_expands_names_and_reads_a_variable(monkeypatch):
    """``$name`` and ``{expression}`` expand from the notebook (as IPython's var_expand);
    ``%env VAR`` gives its value, an unknown one fails as in IPython."""
    for name in ("NEWCOMER_LEVEL", "NEWCOMER_NEXT", "NEWCOMER_NOT_SET"):
        monkeypatch.delenv(name, raising=False)  # and restored as it was after the test
    ns, errors, _ = run("level = 3\n%env NEWCOMER_LEVEL=$level\n%set_env NEWCOMER_NEXT {level + 1}",
                        "import os\ngot = os.environ['NEWCOMER_LEVEL'], os.environ['NEWCOMER_NEXT']",
                        "value = %env NEWCOMER_LEVEL",
                        "%env NEWCOMER_NOT_SET")
    assert ns["got"] == ("3", "4") and ns["value"] == "3"
    assert [(e["cell"], e["type"], e["message"]) for e in errors] == [
        (4, "UsageError", "Environment does not have key: NEWCOMER_NOT_SET")]


# ---------------------------------------------------------------- 2. input()


def test_input_raises_naming_the_cell_and_costs_what_run_all_loses(graded):
    """Observed: "Cell 4 raised EOFError ...: EOF when reading a line" (the worker's stdin is
    /dev/null). In a kernel whose front end takes no input (nbclient) input() raises IPython's
    StdinNotImplementedError; here it names the cell, and Run All stops there: relu, defined
    above it, keeps its points."""
    relu, backward = graded["input"]["relu"], graded["input"]["relu_backward"]
    assert _full(relu), relu.feedback
    assert backward.score == 0
    assert backward.feedback == (
        "Your notebook does not define relu_backward() (or it is not a function).\n"
        "Cell 4 raised StdinNotImplementedError, in cell 4, line 1 "
        "(`name = input('Your name: ')`): cell 4 calls input(), and the grader has no keyboard "
        "(remove the call), so the cells after it were not run (as Jupyter's Run All stops "
        "there).")


def test_input_in_a_graded_function_names_its_cell():
    """A function that asks for input (called later, while graded) names the cell it is in."""
    ns, errors, _ = run("def relu(z):\n    answer = input('continue? ')\n    return z")
    assert errors == []
    from IPython.core.error import StdinNotImplementedError

    with pytest.raises(StdinNotImplementedError, match=r"^cell 1 calls input\(\)"):
        ns["relu"](1.0)


# ---------------------------------------------------------------- 3. output over the cap


def test_a_cell_printing_past_the_output_cap_is_named_and_stops_there(graded):
    """Observed: "Your file printed more than 1 MiB of output while loading, so it was
    stopped" on every part, neither notebook nor cell named. Now the print that would pass
    the cap raises in the cell (the worker is not killed): the cells above it are graded."""
    relu, backward = graded["flood"]["relu"], graded["flood"]["relu_backward"]
    assert _full(relu), relu.feedback
    assert relu.output.startswith("step 0: cost 0.6931\nstep 1: cost 0.6931\n")
    assert backward.score == 0
    assert backward.feedback == (
        "Your notebook does not define relu_backward() (or it is not a function).\n"
        "Cell 4 raised OutputLimitExceeded, in cell 4, line 2 "
        "(`print(f'step {step}: cost 0.6931')`): cell 4 printed more than 1 MiB of output "
        "while the notebook loaded, the grader's limit (print less often), so the cells after "
        "it were not run (as Jupyter's Run All stops there).")


# ---------------------------------------------------------------- 4. clear_output


def test_clear_output_leaves_no_escape_codes_and_costs_nothing(graded):
    """Observed: the part's output read "[2K[2Kepoch 0: cost 0.70" (IPython prints terminal
    escape codes outside a kernel; the report drops the escape character, not the rest)."""
    relu, backward = graded["clear_output"]["relu"], graded["clear_output"]["relu_backward"]
    assert _full(relu) and _full(backward), (relu.feedback, backward.feedback)
    assert relu.output == "epoch 0: cost 0.70\nepoch 1: cost 0.60\nepoch 2: cost 0.50\n"


def test_clear_output_is_ipythons_again_after_the_cells_ran():
    """The stand-in is bound only in the notebook: IPython's own is restored after the cells
    (the in-process runs of these tests share IPython with pytest)."""
    from IPython.core import display_functions

    real = display_functions.clear_output
    ns, errors, _ = run("from IPython.display import clear_output\nimport IPython.display as d\n"
                        "clear_output(wait=True)\nd.clear_output()\nmine = clear_output")
    import IPython.display

    assert errors == [] and ns["mine"] is not real
    assert display_functions.clear_output is real and IPython.display.clear_output is real


# ---------------------------------------------------------------- 5. check() in a graded notebook


def test_check_calls_do_nothing_and_the_definitions_around_them_survive(graded):
    """The rule: ``import grader`` / ``from grader import check`` give a stand-in whose
    ``check(...)`` does nothing and returns None, wherever it is called; every statement
    runs as written. relu is defined in a cell with three check calls; relu_backward only
    by ``check(...) or define_backward()``; ``check = print`` then prints."""
    relu, backward = graded["check_rule"]["relu"], graded["check_rule"]["relu_backward"]
    assert _full(relu) and _full(backward), (relu.feedback, backward.feedback)
    assert relu.output == "my own check runs\n"


def test_a_check_the_student_defines_or_rebinds_runs_as_written():
    """A student cannot hide code behind the rule, nor lose code to it: a ``check`` they
    define (or bind to another function) is theirs and runs; the grader's check is a no-op
    inside a loop too, and its arguments are evaluated."""
    ns, errors, _ = run(
        "def check(name):\n    global defined_by_my_check\n    defined_by_my_check = name",
        "check('relu')",
        "from grader import check\nfor name in ('relu', 'sigmoid'):\n    check(name)\n"
        "after_the_loop = check('relu')\ncheck(argument := 'relu')",
        "check = len\nlength = check('relu')",
        "import grader as g\nfrom grader import check as c\nsame = g.check is c")
    assert errors == []
    assert ns["defined_by_my_check"] == "relu" and ns["after_the_loop"] is None
    assert ns["argument"] == "relu"  # a check's arguments are evaluated, as in Jupyter
    assert ns["length"] == 4 and ns["same"] is True


def test_other_uses_of_grader_are_still_refused(graded):
    """``from grader import engine`` (not the check) goes to the worker's import policy."""
    for part in graded["grader_engine"].values():
        assert part.score == 0
        assert part.feedback.startswith("Your code imports 'grader', which this assignment does "
                                         "not allow"), part.feedback


def test_a_replayed_history_keeps_its_cells_and_its_checks_do_nothing():
    """``grader.check`` replays a kernel's history (``In``) with the same rule: the cells are
    kept as written, and running them defines what the kernel defined."""
    from grader import nbexec, worker
    from grader.notebook_check import history_submission

    sub = history_submission(["", "from grader import check\nx = 1", "import grader",
                              "%%time\ny = 2", "check('f')", "z = grader.check('f')\nw = 3"])
    assert [c.number for c in sub.cells] == [1, 2, 3, 4, 5] and sub.keep_going
    assert sub.cells[0].source == "from grader import check\nx = 1"
    ns: dict = {"__name__": "submission"}
    errors = nbexec.run_cells(sub.load_header("In")["cells"], ns, "In", keep_going=True,
                              error=worker._error)
    assert errors == []
    assert (ns["x"], ns["y"], ns["z"], ns["w"]) == (1, 2, None, 3)


def test_errors_in_a_check_cell_still_name_their_line():
    """Check calls no longer turn into ``pass`` lines: a cell's own lines are what feedback
    quotes."""
    _, errors, sub = run("from grader import check\ncheck('relu')\nraise ValueError('after check')")
    assert named(sub, errors[0]) == ("cell 1, line 3", "raise ValueError('after check')")
