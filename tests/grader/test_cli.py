"""The `grader` command: list, usage errors (exit 2), test and submit (exit 0), JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from grader import cli

from .conftest import SOLUTION


@pytest.fixture(autouse=True)
def no_cache(monkeypatch):
    monkeypatch.setenv("JAXDL_GRADER_CACHE", "off")


def test_list(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "selftest/basics" in out and "train_logistic (2)" in out
    assert out.index("week1/initialization") < out.index("week1/gradient_checking")  # course.toml


def test_a_course_folder_without_assignments_is_a_usage_error(capsys, tmp_path, monkeypatch):
    assert cli.main(["list", "--course", str(tmp_path)]) == 2
    assert "holds no assignment folder" in " ".join(capsys.readouterr().err.split())
    monkeypatch.setenv("GRADER_COURSE", str(tmp_path / "missing"))
    assert cli.main(["list"]) == 2
    assert "GRADER_COURSE" in capsys.readouterr().err


def test_list_shows_a_broken_course_folder_without_hiding_the_others(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # no wrapping inside the table's cells
    (tmp_path / "hw" / "broken").mkdir(parents=True)
    (tmp_path / "hw" / "broken" / "assignment.py").write_text("raise RuntimeError('oops')\n")
    assert cli.main(["list", "--course", str(tmp_path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "hw/broken" in out and "RuntimeError: oops" in out and "selftest/basics" in out
    assert cli.main(["test", "hw/broken", "--course", str(tmp_path)]) == 1
    assert "could not be loaded: RuntimeError: oops" in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize("argv, needle", [
    (["submit", "no/such"], "unknown assignment id 'no/such'. Valid ids: week1/initialization"),
    (["list", "--course", "/nonexistent/course"], "--course: '/nonexistent/course' is not a folder"),
    (["release", "gradescope", "no/such", "x.zip"], "unknown assignment id 'no/such'"),
    (["release", "gradescope", "selftest/basics", "/nonexistent/x.zip"], "OUT.zip: the folder '/nonexistent' does not exist"),
    (["release", "gradescope", "selftest/basics", "x.tar"], "does not end in .zip"),
    (["release", "student", "/nonexistent/dir/out"], "OUT_DIR: the folder '/nonexistent/dir' does not exist"),
    (["submit", "selftest/basics", "--file", "/nonexistent/x.py"], "file not found: /nonexistent/x.py - pass your file with --file PATH"),
    (["test", "selftest/basics"], "pass your file with --file PATH"),
    (["grade", "selftest/basics", "/nonexistent", "--out", "x.csv"], "folder not found"),
])
def test_usage_errors_exit_2(capsys, argv, needle):
    assert cli.main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert needle in err


def test_argparse_errors_and_no_command_exit_2(capsys):
    assert cli.main([]) == 2
    assert cli.main(["submit"]) == 2
    assert cli.main(["--help"]) == 0


def test_test_command_reports_hidden_count_and_exits_0(capsys, submissions, selftest):
    path = submissions("hardcoded", "untrained")
    assert cli.main(["test", "selftest/basics", "--file", str(path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    n_hidden = sum(len(p.hidden(0)) for p in selftest.parts)
    assert f"also runs {n_hidden} hidden cases" in out
    assert "Total: 5 / 7" in out  # hard-coded sigmoid passes visibly; untrained does not


def test_submit_notebook_with_json_end_to_end(tmp_path):
    cells = [{"cell_type": "markdown", "source": "# My work"},
             {"cell_type": "code", "source": "%load_ext autoreload\n!echo hi\n"},
             {"cell_type": "code", "source": SOLUTION.read_text()}]
    notebook = tmp_path / "work.ipynb"
    notebook.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5}))
    out_json = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XLA")}
    env["JAXDL_GRADER_CACHE"] = str(tmp_path / "cache")
    proc = subprocess.run(
        [sys.executable, "-m", "grader.cli", "submit", "selftest/basics", "--file", str(notebook),
         "--json", str(out_json), "--seed", "11"],
        capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Total: 7 / 7" in proc.stdout
    assert "--seed 11" in proc.stdout
    data = json.loads(out_json.read_text())
    assert data["score"] == data["max_score"] == 7
    assert data["extra_data"]["seed"] == 11
    assert [t["name"] for t in data["tests"]] == ["relu", "relu_backward", "sigmoid",
                                                  "sample_normal", "standardize", "train_logistic"]
    for t in data["tests"]:
        assert set(t) == {"name", "score", "max_score", "status", "output", "visibility",
                          "extra_data"}
        assert t["status"] == "passed" and t["visibility"] == "visible"
        assert t["extra_data"] == {"mistake": ""}  # a passed part names no mistake
    assert (tmp_path / "cache" / "parent").is_dir()
    assert any((tmp_path / "cache" / "worker").iterdir())


def test_without_the_sandbox_submit_says_so_and_grade_refuses(tmp_path, monkeypatch, capsys):
    """Where bubblewrap cannot run: a student's own grading goes on with one line saying it is
    not isolated; grading other people's files refuses unless --no-sandbox."""
    from grader import bubblewrap, cli, runner

    monkeypatch.setattr(bubblewrap, "probe", lambda: bubblewrap.Probe(False, "no bwrap here"))
    monkeypatch.setenv(runner.SANDBOX_ENV, "auto")
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "a.py").write_text("x = 1\n")
    assert cli.main(["grade", "selftest/basics", str(folder), "--out", str(tmp_path / "g.csv")]) == 2
    err = capsys.readouterr().err
    assert "refusing to grade submissions without the OS sandbox (no bwrap here)" in err
    assert not (tmp_path / "g.csv").exists()
    monkeypatch.setenv(runner.SANDBOX_ENV, "require")
    assert cli.main(["test", "selftest/basics", "--file", str(folder / "a.py")]) == 1
    assert "the grading sandbox is required but cannot run here: no bwrap here" in capsys.readouterr().err
    monkeypatch.setenv(runner.SANDBOX_ENV, "sometimes")
    assert cli.main(["test", "selftest/basics", "--file", str(folder / "a.py")]) == 2
    monkeypatch.setenv(runner.SANDBOX_ENV, "auto")
    assert cli._isolation(cli.Console(stderr=True), batch=False) is None
    assert "grading is not isolated on this machine (no bwrap here)" in capsys.readouterr().err
