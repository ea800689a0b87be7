"""Assignments are discovered in course folders; an instructor's own course (``--course``,
``GRADER_COURSE``) works like the built-in one. The README's walk-through is
``examples/my_course`` and is graded here exactly as shown."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest

from grader import cli, engine, handout, registry

ROOT = Path(__file__).resolve().parents[2]
MY_COURSE = ROOT / "examples" / "my_course"
LIMITS = {"time_per_call": 60.0}


@pytest.fixture(autouse=True)
def fresh_courses(monkeypatch):
    monkeypatch.delenv("GRADER_COURSE", raising=False)
    registry.reset_courses()
    yield
    registry.reset_courses()


def test_readme_shows_the_example_files_verbatim():
    readme = (ROOT / "README.md").read_text()
    for name in ("solution.py", "mistakes.py", "assignment.py"):
        path = MY_COURSE / "hw1" / "sigmoid" / name
        m = re.search(rf"```python\n# examples/my_course/hw1/sigmoid/{name}\n(.*?)```", readme, re.S)
        assert m, name
        assert m.group(1) == path.read_text(), f"README's copy of {name} is stale"


def test_the_example_course_is_listed_and_graded(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert cli.main(["list", "--course", str(MY_COURSE)]) == 0
    out = capsys.readouterr().out
    assert "hw1/sigmoid" in out and "week1/initialization" in out
    registry.use_course(MY_COURSE)
    a = registry.load("hw1/sigmoid")
    assert a.folder == MY_COURSE / "hw1" / "sigmoid"
    full = engine.grade(a, a.solution_path, seed=3, overrides=LIMITS)
    assert full.score == full.max_score == 10, [p.feedback for p in full.parts]
    stub = tmp_path / "sigmoid.py"
    stub.write_text(handout.stub_source(a))
    assert "`jax.nn.sigmoid`" in stub.read_text()  # the policy, rendered into the stub
    zero = engine.grade(a, stub, seed=3, overrides=LIMITS)
    assert zero.score == 0 and "Not implemented yet" in zero.parts[0].feedback
    mistake = registry.mistakes("hw1/sigmoid")["sign_flipped"]
    wrong = tmp_path / "wrong.py"
    wrong.write_text(a.solution_path.read_text() + mistake.source)
    result = engine.grade(a, wrong, seed=3, overrides=LIMITS)
    assert result.score == 0 and mistake.message in result.parts[0].feedback


def test_an_instructor_folder_hides_the_builtin_assignment_of_the_same_id(tmp_path):
    folder = tmp_path / "selftest" / "basics"
    shutil.copytree(ROOT / "grader" / "course" / "selftest" / "basics", folder)
    text = (folder / "assignment.py").read_text()
    (folder / "assignment.py").write_text(text.replace('title="', 'title="Adapted: ', 1))
    registry.use_course(tmp_path)
    a = registry.load("selftest/basics")
    assert a.title.startswith("Adapted: ") and a.folder == folder
    assert registry.ids().count("selftest/basics") == 1


def test_a_folder_declaring_another_id_is_refused(tmp_path):
    folder = tmp_path / "hw9" / "x"
    folder.mkdir(parents=True)
    (folder / "assignment.py").write_text(textwrap.dedent('''
        from grader.spec import Assignment
        ASSIGNMENT = Assignment(id="hw9/y", title="t", parts=())
    '''))
    registry.use_course(tmp_path)
    with pytest.raises(registry.CourseError, match="declares id 'hw9/y', but its folder makes it 'hw9/x'"):
        registry.load("hw9/x")


def test_trusted_helpers_of_an_outside_course_are_bound_in_the_sandbox(tmp_path):
    """A course outside the project: its trusted.py is the only file of it the worker sees."""
    folder = tmp_path / "hw2" / "double"
    folder.mkdir(parents=True)
    (folder / "trusted.py").write_text("import jax.numpy as jnp\n\ndef relu(z):\n    return jnp.maximum(z, 0)\n")
    (folder / "assignment.py").write_text(textwrap.dedent('''
        import numpy as np
        from grader.spec import Assignment, Case, Part

        Z = np.array([-1.0, 0.5, 2.0], np.float32)

        def cases():
            return [Case(args=(Z,), expected=2 * np.maximum(Z, 0), replace={"relu": "trusted:relu"})]

        ASSIGNMENT = Assignment(id="hw2/double", title="double relu",
                                parts=(Part("double_relu", 1, "2 relu(z)", cases),))
    '''))
    (folder / "solution.py").write_text("SECRET = 1\n")
    sub = tmp_path / "sub.py"
    sub.write_text(textwrap.dedent(f'''
        import os

        def relu(z):
            return z  # wrong on purpose: the trusted relu is bound instead

        def double_relu(z):
            print("SEES", os.path.exists({str(folder / "solution.py")!r}),
                  os.path.exists({str(folder / "trusted.py")!r}))
            return 2 * relu(z)
    '''))
    registry.use_course(tmp_path)
    result = engine.grade(registry.load("hw2/double"), sub, seed=0, overrides=LIMITS)
    assert result.score == 1, result.parts[0].feedback
    assert "SEES False" in result.parts[0].output, result.parts[0].output
