"""``grader release student``: the handout holds stubs, notebooks and visible cases as data,
and nothing of the answers; its own grader runs the visible cases from that data."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader import cli, handout, registry, released

ROOT = Path(__file__).resolve().parents[2]
SERVER = "https://grading.example.edu"
IDS = [i for i in registry.ids() if registry.load(i).handout]


@pytest.fixture(scope="module")
def handout_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "handout"
    assert cli.main(["release", "student", str(out), "--server", SERVER]) == 0
    return out


def _solution_blocks(source: str) -> list[str]:
    """The code between each ``### BEGIN SOLUTION`` / ``### END SOLUTION`` pair."""
    return [m.group(1) for m in re.finditer(r"### BEGIN SOLUTION\n(.*?)\n\s*### END SOLUTION", source, re.S)]


def _handout_texts(folder: Path) -> dict[Path, str]:
    texts = {}
    for path in folder.rglob("*"):
        if path.is_file():
            texts[path] = path.read_bytes().decode("utf-8", errors="replace")
    return texts


def _normalized(text: str) -> str:
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def test_handout_has_stubs_notebooks_and_no_answers(handout_dir):
    texts = _handout_texts(handout_dir)
    names = {p.name for p in texts}
    assert not names & {"assignment.py", "mistakes.py", "trusted.py", "solution.py"}
    assert not list((handout_dir / "grader" / "course").rglob("*.py")), "no course code"
    flat = {p: _normalized(t) for p, t in texts.items()}
    for aid in IDS:
        a = registry.load(aid)
        stub = handout_dir / "assignments" / f"{aid}.py"
        assert stub.read_text() == handout.stub_source(a)
        nb = nbformat.read(stub.with_suffix(".ipynb"), as_version=4)
        nbformat.validate(nb)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "raise NotImplementedError" in code and "### BEGIN SOLUTION" not in code
        # The body of every graded reference function: found nowhere in the handout.
        blocks = _solution_blocks(a.solution_path.read_text())
        assert blocks, aid
        for block in blocks:
            body = _normalized(block)
            if len(body) < 25:  # a one-word answer ("return x") proves nothing either way
                continue
            hits = [str(p.relative_to(handout_dir)) for p, t in flat.items() if body in t]
            assert not hits, f"{aid}: a reference body is in {hits}:\n{body}"
        # Every hidden builder's name: found nowhere either.
        for part in a.parts:
            # The builder's own name, or the function that made it (``_random_parts`` for a
            # closure ``_random_parts.<locals>.hidden``).
            name = part.hidden.__qualname__.split(".")[0]
            assert name != "<lambda>" and len(name) > 6, (aid, part.function, name)
            hits = [str(p.relative_to(handout_dir)) for p, t in texts.items()
                    if re.search(rf"\b{re.escape(name)}\b", t)]
            assert not hits, f"{aid}: hidden builder {name} is named in {hits}"


def test_handout_readme_has_two_quickstart_blocks_and_says_where_to_submit(handout_dir):
    readme = (handout_dir / "README.md").read_text()
    quick = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", quick, re.S)
    assert len(blocks) == 2
    assert "pip install" in blocks[0] and "grader test week1/initialization" in blocks[1]
    assert SERVER in readme


def _run_handout(handout_dir: Path, *argv: str) -> subprocess.CompletedProcess:
    """The handout's own grader (its copy of the code, first on the path), from its root."""
    env = dict(os.environ, PYTHONPATH=str(handout_dir), JAXDL_GRADER_CACHE="off", COLUMNS="200")
    code = "import sys; from grader.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=handout_dir, env=env,
                          capture_output=True, text=True, timeout=300)


def test_handout_grader_runs_visible_cases_from_data(handout_dir, tmp_path):
    proc = _run_handout(handout_dir, "test", "week1/initialization")
    assert proc.returncode == 0, proc.stderr
    assert "Total: 0 / 30" in proc.stdout and proc.stdout.count("Not implemented yet") == 3
    assert "9 hidden cases" in proc.stdout  # counted at release, not built here
    mine = tmp_path / "mine.py"
    shutil.copy(registry.load("week1/initialization").solution_path, mine)
    proc = _run_handout(handout_dir, "test", "week1/initialization", "--file", str(mine))
    assert proc.returncode == 0 and "Total: 30 / 30" in proc.stdout, proc.stdout + proc.stderr
    # A known mistake recognised by its wrong answer is still named from the released data.
    m = registry.mistakes("week1/initialization")["he_xavier_scale"]
    mine.write_text(mine.read_text() + "\n" + m.source)
    proc = _run_handout(handout_dir, "test", "week1/initialization", "--file", str(mine))
    assert "Total: 20 / 30" in proc.stdout and "Xavier" in proc.stdout, proc.stdout


def test_handout_submit_explains_where_submissions_go(handout_dir):
    proc = _run_handout(handout_dir, "submit", "week1/initialization")
    assert proc.returncode == 2
    err = " ".join(proc.stderr.split())
    assert "visible cases only" in err and SERVER in err


def test_released_cases_round_trip(handout_dir):
    """The data the handout's grader reads gives the same visible cases as the builders."""
    from grader import judge

    for aid in ("week1/gradient_checking", "week3/jax_intro"):
        a = registry.load(aid)
        r = released.load(handout_dir / "grader" / "course" / aid)
        assert r.released and [p.function for p in r.parts] == [p.function for p in a.parts]
        for pa, pr in zip(a.parts, r.parts):
            for ca, cr in zip(pa.visible(), pr.visible()):
                if ca.expected is not released.UNSET:
                    assert judge.compare(cr.expected, judge.resolve(ca.expected), rtol=0, atol=0) is None
                assert cr.jit == ca.jit and cr.rtol == ca.rtol and cr.replace == {}
                assert (cr.validate is None) and (ca.validate is None or released.VALIDATED_NOTE in cr.label)


def test_release_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "x").write_text("keep me")
    assert cli.main(["release", "student", str(tmp_path)]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "x").read_text() == "keep me"


def test_released_data_that_is_damaged_is_a_clear_error(tmp_path):
    data = released.export(registry.load("selftest/basics"))
    (tmp_path / released.CASES_FILE).write_bytes(data[:-10])
    with pytest.raises(released.ReleasedDataError, match="visible_cases.bin"):
        released.load(tmp_path)


def test_gradescope_visibility_hides_only_results_that_show_a_hidden_case():
    from grader import engine, report

    P = engine.PartResult
    parts = [P("f", "", 1.0, 1.0, "Passed all 3 cases (1 visible, 2 hidden).", hidden_cases=2),
             P("g", "", 1.0, 0.0, "Wrong result on visible case 1 (g(x)).", failed_case="visible case 1"),
             P("h", "", 1.0, 0.0, "E" * 2000 + " hidden case 2", failed_case="hidden case 2"),
             P("k", "", 1.0, 0.0, "Grading error: ...", status=engine.ERROR),
             P("p", "", 1.0, 1.0, "Passed.", output="x = 0.123 (a hidden input)\n", hidden_cases=1)]
    result = engine.Result("x/y", "t", "f.py", 7, "submit", parts)
    tests = report.gradescope(result, hidden_visibility="after_published")["tests"]
    assert [(t["name"], t["visibility"]) for t in tests] == [
        ("f", "visible"), ("g", "visible"), ("h", "after_published"), ("k", "visible"),
        ("p", "visible"), ("p: printed output", "after_published")]
    assert "a hidden input" not in tests[4]["output"] and "a hidden input" in tests[5]["output"]
    assert tests[5]["max_score"] == 0 and "score" not in tests[3] and tests[3]["tags"] == ["grading-error"]
    assert all(t["visibility"] == "visible" for t in report.gradescope(result)["tests"])
    assert "printed output" not in json.dumps(report.gradescope(result)["tests"])


def test_results_json_is_valid_utf8_whatever_the_student_text():
    from grader import engine, report

    parts = [engine.PartResult("f", "", 1.0, 0.0, "boom \ud800 \udcff", output="\ud83d!")]
    text = report.to_json(engine.Result("x/y", "t", "a\udcff.py", 1, "submit", parts),
                          file="a\udcff.py")
    text.encode("utf-8", "strict")  # no lone surrogate survives
    data = json.loads(text)
    assert data["extra_data"]["file"] == "a\\xff.py"
    assert "\u202e" not in engine.clean("evil\u202etxt.py") and "\u202a" not in engine.clean("\u202ax")


def test_terminal_escapes_and_carriage_returns_leave_what_a_terminal_shows():
    """A progress bar's colours, "erase line" and carriage returns (tqdm, clear_output outside
    a kernel) are removed whole, not left as ``[31m`` or ``[2K`` in the report."""
    from grader import engine

    assert engine.clean("\x1b[31mred\x1b[0m and \x1b[1;32mgreen\x1b[0m") == "red and green"
    assert engine.clean("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ \x1b]0;title\x07done") == "link done"
    assert engine.clean("\x1b[2K\repoch 1: 0.7\r\x1b[2K\repoch 2: 0.5\nnext line\r\n") == (
        "epoch 2: 0.5\nnext line\n")
    assert engine.clean("50%|#####     |\r100%|##########|\r") == "100%|##########|"
    assert "\x1b" not in engine.clean("\x1b7saved\x1b8 \x1b[?25l") and "[" not in engine.clean("\x1b[?25lx")
