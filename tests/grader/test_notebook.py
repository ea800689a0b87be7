"""Notebook submissions graded the way Jupyter runs them (issue 13's field reports, one test
each, on a small notebook of the honest week1/initialization solution changed in one way),
feedback that names cells, and text at the boundary."""

from __future__ import annotations

import json
import re

import nbformat
import pytest

from grader import engine, registry
from grader.notebook import (CLEAR_OUTPUTS, SourceError, from_cells, load_submission,
                             notebook_to_source, read_submission, valid_text)

from .conftest import LIMITS, SEED


def _solution_cells() -> dict[str, str]:
    """The honest solution's imports and three graded functions, one cell each."""
    import jupytext

    from grader.engine import PROJECT_ROOT

    path = PROJECT_ROOT / "grader" / "course" / "week1" / "initialization" / "solution.py"
    nb = jupytext.reads(path.read_text(encoding="utf-8"), fmt="py:percent")
    out = {"imports": "import math\n\nimport jax\nimport jax.numpy as jnp\nimport numpy as np"}
    for c in nb.cells:
        for name in ("zeros", "random", "he"):
            if c.source.startswith(f"def initialize_parameters_{name}("):
                out[name] = c.source
    return out


CELLS = _solution_cells()


def notebook(*extra, change=None, v3=False) -> dict:
    """A notebook: markdown title (cell 1), imports (2), markdown (3), zeros (4), random (5),
    he (6), then ``extra`` code cells (7, 8, ...). ``change`` maps a cell name to new text."""
    change = change or {}
    code = [change.get(k, CELLS[k]) for k in ("imports", "zeros", "random", "he")]
    cells = [nbformat.v4.new_markdown_cell("# Initialization"),
             nbformat.v4.new_code_cell(code[0]),
             nbformat.v4.new_markdown_cell("## The three functions"),
             *[nbformat.v4.new_code_cell(c) for c in code[1:]],
             *[nbformat.v4.new_code_cell(c) for c in extra]]
    nb = nbformat.v4.new_notebook(cells=cells)
    if v3:
        return {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": ""}, "worksheets": [{
            "cells": [{"cell_type": "code", "input": c.source, "language": "python",
                       "outputs": [], "metadata": {}}
                      if c.cell_type == "code" else
                      {"cell_type": "markdown", "source": c.source, "metadata": {}}
                      for c in cells], "metadata": {}}]}
    return nb


@pytest.fixture(scope="module")
def init():
    return registry.load("week1/initialization")


def grade(init, tmp_path, nb, name="nb.ipynb"):
    path = tmp_path / name
    path.write_text(json.dumps(nb), encoding="utf-8")
    return engine.grade(init, path, seed=SEED, hidden=False, overrides=LIMITS)


def scores(result) -> dict:
    return {p.function.removeprefix("initialize_parameters_"): p.score for p in result.parts}


# ---------------------------------------------------------------- the field reports


def test_display_is_defined_as_in_a_kernel(init, tmp_path):
    r = grade(init, tmp_path, notebook("display({'layers': [2, 4, 1]})\n"
                                       "from IPython.display import display as d2, Markdown\n"
                                       "d2(Markdown('**done**'))"))
    assert r.score == 30, [p.feedback for p in r.parts]
    assert "{'layers': [2, 4, 1]}" in r.parts[0].output


def test_a_cell_starting_with_time_magic_defines_its_function(init, tmp_path):
    r = grade(init, tmp_path, notebook(change={"zeros": "%%time\n" + CELLS["zeros"]}))
    assert scores(r) == {"zeros": 10, "random": 10, "he": 10}
    assert "Wall time" not in r.parts[0].output  # no timings in feedback


def test_shell_escapes_and_help_run_no_process(init, tmp_path):
    r = grade(init, tmp_path, notebook("n = !nproc\njax.random.split?\n!pip install optax\n"
                                       "print('n =', n, type(n).__name__, len(n))"))
    assert r.score == 30, [p.feedback for p in r.parts]
    assert "n = [] SList 0" in r.parts[0].output


def test_nbformat_3_is_upgraded(init, tmp_path):
    r = grade(init, tmp_path, notebook(v3=True))
    assert r.score == 30, [p.feedback for p in r.parts]


def test_a_last_cell_that_does_not_parse_costs_nothing(init, tmp_path):
    r = grade(init, tmp_path, notebook("print('never run'"))
    assert r.score == 30, [p.feedback for p in r.parts]


def test_a_cell_that_does_not_parse_costs_only_its_functions(init, tmp_path):
    broken = CELLS["he"].replace("parameters = {}", "parameters = {", 1)
    r = grade(init, tmp_path, notebook("print('after')", change={"he": broken}))
    assert scores(r) == {"zeros": 10, "random": 10, "he": 0}
    fb = r.parts[2].feedback
    assert fb.startswith("Your notebook does not define initialize_parameters_he()"), fb
    assert re.search(r"Cell 6 was not run: it has a syntax error in cell 6, line \d+ "
                     r"\(`parameters = \{`\)", fb), fb
    assert "after" in r.parts[0].output  # the cells after it ran


def test_stored_outputs_do_not_count_towards_the_size_limit(init, tmp_path):
    nb = notebook()
    png = "iVBORw0KGgo" * (4_500_000 // 11)
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={"image/png": png})]
    r = grade(init, tmp_path, nb)
    assert (tmp_path / "nb.ipynb").stat().st_size > 4.5e6
    assert r.score == 30, [p.feedback for p in r.parts]


def test_a_notebook_refused_for_size_says_to_clear_outputs(tmp_path):
    path = tmp_path / "huge.ipynb"
    nb = notebook()
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="x" * (65 * 2**20))]
    path.write_text(json.dumps(nb), encoding="utf-8")
    with pytest.raises(SourceError) as exc:
        load_submission(path)
    assert "clear the outputs (Kernel → Restart & Clear Output) and save" in str(exc.value)
    assert CLEAR_OUTPUTS in str(exc.value)


def test_time_line_magic_keeps_the_assignment(init, tmp_path):
    random = CELLS["random"].replace("* 10", "* SCALE")
    assert random != CELLS["random"]
    r = grade(init, tmp_path, notebook(change={"imports": CELLS["imports"] + "\n%time SCALE = float(10)",
                                               "random": random}))
    assert scores(r) == {"zeros": 10, "random": 10, "he": 10}, [p.feedback for p in r.parts]


def test_cell_magics_capture_and_writefile(init, tmp_path):
    r = grade(init, tmp_path, notebook("%%capture cap\nprint('quiet')",
                                       "%%writefile notes.txt\nhello from a cell",
                                       "print(cap.stdout.strip(), open('notes.txt').read())",
                                       "%%bash\necho hi", "1 + 1"))
    assert r.score == 30, [p.feedback for p in r.parts]
    out = r.parts[0].output
    assert "Writing notes.txt" in out and "quiet hello from a cell" in out
    assert "%%bash is not run while grading" in out
    assert out.rstrip().endswith("2")  # the last expression is shown, as Out[n]


def test_an_error_stops_the_notebook_there_as_run_all_does(init, tmp_path):
    nb = notebook()
    nb.cells.insert(4, nbformat.v4.new_code_cell("x = 1\ny = undefined_name + x"))
    r = grade(init, tmp_path, nb)
    assert scores(r) == {"zeros": 10, "random": 0, "he": 0}
    fb = r.parts[1].feedback
    assert fb.startswith("Your notebook does not define initialize_parameters_random()"), fb
    assert ("Cell 5 raised NameError, in cell 5, line 2 (`y = undefined_name + x`): name "
            "'undefined_name' is not defined, so the cells after it were not run") in fb, fb


def test_tracebacks_name_the_cell_and_line(init, tmp_path):
    bad = CELLS["he"].replace("parameters = {}", "parameters = {}\n    raise ValueError('no he yet')", 1)
    r = grade(init, tmp_path, notebook(change={"he": bad}))
    assert scores(r) == {"zeros": 10, "random": 10, "he": 0}
    fb = r.parts[2].feedback
    line = bad.split("\n").index("    raise ValueError('no he yet')") + 1
    assert f"in cell 6, line {line} (`raise ValueError('no he yet')`): no he yet" in fb, fb


def test_unknown_magic_fails_like_ipython(init, tmp_path):
    r = grade(init, tmp_path, notebook("%nosuchmagic\nprint('after')"))
    assert r.score == 30  # the last cell: nothing after it is lost
    nb = notebook()
    nb.cells.insert(3, nbformat.v4.new_code_cell("%nosuchmagic"))
    r = grade(init, tmp_path, nb)
    assert scores(r) == {"zeros": 0, "random": 0, "he": 0}
    assert "Cell 4 raised UsageError" in r.parts[0].feedback
    assert "Line magic function `%nosuchmagic` not found" in r.parts[0].feedback


# ---------------------------------------------------------------- issue 13, leftovers

def only(init, *names):
    """The assignment with only the parts of these functions (fewer loads and cases)."""
    import dataclasses

    parts = tuple(p for p in init.parts if p.function.removeprefix("initialize_parameters_") in names)
    return dataclasses.replace(init, parts=parts)


# Characters str.splitlines splits at and Python's tokenizer does not (a form feed, a file
# separator, NEL, the Unicode line separator): a comment or a string may hold them.
ODD = "\x0c \x1c \x85 \u2028"


def test_quoted_lines_are_the_lines_python_numbers(init, tmp_path):
    """A cell whose first line holds one of ODD: the quoted line of a later cell's traceback
    is the right one, and IPython's warning about its own line splitting (with a path of the
    grader's environment) never reaches the student."""
    imports = f"# the weights{ODD} and biases\nNOTE = 'a{ODD}b'  # {ODD}\n" + CELLS["imports"]
    bad = CELLS["he"].replace("parameters = {}", "parameters = {}\n    raise ValueError('no he yet')", 1)
    r = grade(only(init, "zeros", "he"), tmp_path, notebook(
        "%time N = len(NOTE)\nprint('N =', N)", change={"imports": imports, "he": bad}))
    assert scores(r) == {"zeros": 10, "he": 0}, [p.feedback for p in r.parts]
    line = bad.split("\n").index("    raise ValueError('no he yet')") + 1
    fb = r.parts[1].feedback
    assert (f"initialize_parameters_he() raised ValueError on visible case 1 "
            f"(initialize_parameters_he(jax.random.key(3), layers_dims=[2, 4, 1])), in cell 6, "
            f"line {line} (`raise ValueError('no he yet')`): no he yet.") == fb, fb
    assert "N = 9" in r.parts[0].output
    for p in r.parts:
        for text in (p.feedback, p.output):
            assert "Warning" not in text and "make_tokens_by_line" not in text, text
            assert "site-packages" not in text and "/grader/" not in text, text


def test_line_numbers_and_quotes_count_only_python_line_ends():
    from grader import worker
    from grader.notebook import source_lines

    assert source_lines(f"a{ODD}\r\nb\rc\n") == [f"a{ODD}", "b", "c", ""]
    sub = from_cells([(2, f"x = '{ODD}'  # {ODD}\ny = 1"), (4, "z = 2\nraise KeyError(z)")])
    assert sub.where(6) == "cell 4, line 2" and sub.line_text(6) == "raise KeyError(z)"
    assert sub.where(3) == "cell 2, line 2" and sub.line_text(3) == "y = 1"
    assert sub.where(7) == ""  # past the last line of the cell
    # A .py file: the worker quotes the frames' lines (its linecache) the same way.
    import sys

    source = f"S = '{ODD}'  # {ODD}\n\n\ndef f():\n    raise KeyError('k')\n"
    try:
        assert worker._load({"source": source, "filename": "odd.py"})["ok"]
        try:
            worker._State.module.f()
        except KeyError as exc:
            frames = worker._error(exc)["frames"]
        assert frames[-1] == [5, "f", "raise KeyError('k')"], frames
    finally:
        sys.modules.pop("submission", None)
        __import__("linecache").cache.pop("odd.py", None)
        worker._State.module = None


def test_os_exit_in_a_cell_stops_run_all_and_keeps_what_was_defined(init, tmp_path):
    """os._exit in a cell ends a Jupyter kernel, so Run All stops there: the functions the
    cells before it defined are graded (a .py file that exits at its top level cannot be
    loaded at all: tests/grader/test_load_failures.py)."""
    nb = notebook(change={"imports": CELLS["imports"] + "\nimport os"})
    nb.cells.insert(5, nbformat.v4.new_code_cell("print('before the exit')\nos._exit(0)"))
    r = grade(only(init, "random", "he"), tmp_path, nb)
    assert scores(r) == {"random": 10, "he": 0}, [p.feedback for p in r.parts]
    fb = r.parts[1].feedback
    assert fb == ("Your notebook does not define initialize_parameters_he() (or it is not a "
                  "function).\nCell 6 ended the kernel, in cell 6, line 2 (`os._exit(0)`): "
                  "os._exit(0) ends the Jupyter kernel, so the cells after it were not run (as "
                  "Jupyter's Run All stops there)."), fb
    assert "before the exit" in r.parts[0].output


def test_os_exit_is_caught_only_while_the_cells_run():
    """After the load, os._exit is the real one again: a graded function that calls it ends
    its worker (reported as such, tests/grader/test_crashes.py), as in a .py file."""
    import os

    from grader import nbexec, worker

    real = os._exit
    namespace: dict = {}
    cells = [[2, 2, "import os\ndef f():\n    os._exit(3)"], [3, 6, "os._exit(0)"], [4, 8, "x = 1"]]
    errors = nbexec.run_cells(cells, namespace, "nb.ipynb", keep_going=False, error=worker._error)
    assert [(e["cell"], e["type"], e["message"]) for e in errors] == [
        (3, "KernelDied", "os._exit(0) ends the Jupyter kernel")]
    assert "f" in namespace and "x" not in namespace
    assert os._exit is real and __import__("posix")._exit is real


def test_top_level_await_runs_as_in_ipython(init, tmp_path):
    imports = CELLS["imports"] + ("\nimport asyncio\nawait asyncio.sleep(0)\n\n\n"
                                  "async def twice(x):\n    await asyncio.sleep(0.001)\n"
                                  "    return 2 * x\n\nSCALE = await twice(5.0)")
    random = CELLS["random"].replace("* 10", "* SCALE")
    assert random != CELLS["random"]
    r = grade(only(init, "random"), tmp_path, notebook(
        "async with asyncio.timeout(5):\n    v = await twice(10)\nawait twice(v + 1)",
        change={"imports": imports, "random": random}))
    assert scores(r) == {"random": 10}, [p.feedback for p in r.parts]
    assert r.parts[0].output.strip() == "42", r.parts[0].output  # shown as Out[n]


# ---------------------------------------------------------------- text at the boundary


def test_valid_text():
    assert valid_text("plain é") == "plain é"
    latin1 = b"caf\xe9.py".decode("utf-8", "surrogateescape")
    assert valid_text(latin1) == "caf\\xe9.py"
    assert valid_text("a\ud800b") == "a\\ud800b"
    for s in (latin1, "a\ud800b"):
        valid_text(s).encode("utf-8", "strict")


def test_latin1_file_name_and_undecodable_message_give_valid_reports(init, tmp_path):
    import os

    from grader import report

    body = "\n".join([CELLS["imports"], CELLS["zeros"], CELLS["random"],
                      CELLS["he"].replace("parameters = {}", "parameters = {}\n    raise ValueError("
                                          "b'bad \\xff byte'.decode('utf-8', 'surrogateescape'))", 1),
                      "print(b'out \\xfe'.decode('latin-1'))",
                      "import sys; sys.stdout.buffer.write(b'raw \\xff\\n'); sys.stdout.flush()"])
    name = os.fsdecode(b"caf\xe9.py")
    (tmp_path / name).write_text(body, encoding="utf-8")
    r = engine.grade(init, tmp_path / name, seed=SEED, hidden=False, overrides=LIMITS)
    assert scores(r) == {"zeros": 10, "random": 10, "he": 0}, [p.feedback for p in r.parts]
    assert "\\xe9" in r.file
    assert "bad \\udcff byte" in r.parts[2].feedback or "bad \\xff byte" in r.parts[2].feedback
    assert "raw \\xff" in r.parts[0].output
    text = report.to_json(r)
    json.loads(text)
    text.encode("utf-8", "strict")
    from io import StringIO

    from rich.console import Console

    buf = StringIO()
    report.render(r, Console(file=buf, width=120))
    buf.getvalue().encode("utf-8", "strict")


def test_grade_folder_with_latin1_names_writes_strict_csv_and_json(tmp_path):
    import os

    from grader import cli

    subs = tmp_path / "subs"
    subs.mkdir()
    src = (engine.PROJECT_ROOT / "grader" / "course" / "selftest" / "basics" / "solution.py").read_bytes()
    (subs / os.fsdecode(b"ren\xe9.py")).write_bytes(src)
    (subs / "nb.ipynb").write_text(json.dumps(nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(src.decode() + "\nraise ValueError(b'\\xff'.decode("
                                         "'utf-8', 'surrogateescape'))")])), encoding="utf-8")
    out = tmp_path / "grades.csv"
    assert cli.main(["grade", "selftest/basics", str(subs), "--out", str(out), "--seed", "3"]) == 0
    csv_text = out.read_bytes().decode("utf-8", "strict")
    assert "ren\\xe9" in csv_text
    for path in tmp_path.rglob("*.json"):
        data = path.read_bytes().decode("utf-8", "strict")
        json.loads(data)


# ---------------------------------------------------------------- reading notebooks


def test_code_cells_numbered_from_the_top_and_stored_outputs_ignored():
    nb = notebook("print('x')")
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="OUTPUT TEXT")]
    text = json.dumps(nb)
    sub = load_submission_text(text)
    assert [c.number for c in sub.cells] == [2, 4, 5, 6, 7]
    assert "OUTPUT TEXT" not in sub.text and "# Initialization" not in sub.text
    assert notebook_to_source(text) == sub.text
    line = sub.cells[4].start
    assert sub.where(line) == "cell 7, line 1" and sub.line_text(line) == "print('x')"
    assert from_cells([(3, "a\nb")], label="In [{}]").where(3) == "In [3], line 2"


def load_submission_text(text):
    from grader.notebook import read_notebook

    return read_notebook(text)


def test_bad_notebooks(tmp_path):
    with pytest.raises(SourceError, match="not valid JSON"):
        notebook_to_source("{")
    with pytest.raises(SourceError, match="no list of cells"):
        notebook_to_source('{"cells": 3, "nbformat": 4}')
    with pytest.raises(SourceError, match="nbformat 7"):
        notebook_to_source('{"nbformat": 7}')
    p = tmp_path / "x.py"
    p.write_bytes(b"\xff\xfe")
    with pytest.raises(SourceError, match="not UTF-8"):
        read_submission(p)
    p.write_bytes(b"# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n")
    assert "café" in read_submission(p)


# ---------------------------------------------------------------- set-up checked before grading


@pytest.mark.parametrize("argv, needle", [
    (["submit", "selftest/basics", "--json", "results/out.json"],
     "--json results/out.json: the folder results does not exist"),
    (["grade", "selftest/basics", "SUBS", "--out", "reports/grades.csv"],
     "--out reports/grades.csv: the folder reports does not exist"),
])
def test_output_paths_in_missing_folders_are_usage_errors_before_grading(
        argv, needle, tmp_path, monkeypatch, capsys):
    from grader import cli

    subs = tmp_path / "subs"
    subs.mkdir()
    solution = engine.PROJECT_ROOT / "grader" / "course" / "selftest" / "basics" / "solution.py"
    (subs / "a.py").write_bytes(solution.read_bytes())
    monkeypatch.chdir(tmp_path)
    argv = [str(subs) if a == "SUBS" else a for a in argv]
    if argv[0] == "submit":
        argv += ["--file", str(solution)]
    assert cli.main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert needle in err, err
    assert not (tmp_path / "subs" / "grades").exists()


def test_a_read_only_cache_folder_means_grading_without_a_cache(tmp_path):
    import shutil
    import subprocess
    import sys

    if shutil.which("bwrap") is None:
        pytest.skip("needs bubblewrap to mount a read-only folder")
    home = tmp_path / "home"
    (home / ".cache" / "jaxdl-grader").mkdir(parents=True)
    solution = engine.PROJECT_ROOT / "grader" / "course" / "selftest" / "basics" / "solution.py"
    env = {k: v for k, v in __import__("os").environ.items() if k != "JAXDL_GRADER_CACHE"}
    env["HOME"] = str(home)
    proc = subprocess.run(
        ["bwrap", "--dev-bind", "/", "/", "--ro-bind", str(home), str(home), sys.executable,
         "-m", "grader.cli", "test", "selftest/basics", "--file", str(solution)],
        capture_output=True, text=True, env=env, timeout=300)
    if "bwrap:" in proc.stderr and proc.returncode != 0:
        pytest.skip(f"bubblewrap cannot mount here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if line.startswith("note: ")]
    assert notes == [f"note: grading without a compilation cache: {home}/.cache/jaxdl-grader "
                     "is not writable (Read-only file system)"], proc.stderr
    assert "Total: 7 / 7" in proc.stdout
