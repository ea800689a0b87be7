"""The stubs students edit are generated from the course folders' reference solutions
(grader.handout, run by tools/make_stubs.py), with the import policy rendered from the
assignment's declaration."""

from __future__ import annotations

import ast

import pytest

from grader import handout, registry
from grader.handout import make_stub
from tools.make_stubs import ROOT, generated

FILES = generated()


def test_make_stub_replaces_marked_blocks_at_their_indentation():
    solution = (
        "def f(x):\n"
        '    """Doc."""\n'
        "    ### BEGIN SOLUTION\n"
        "    y = x + 1\n"
        "    return y\n"
        "    ### END SOLUTION\n"
        "SECRET = 1  # SOLUTION ONLY\n"
    )
    assert make_stub(solution) == (
        "def f(x):\n"
        '    """Doc."""\n'
        "    # YOUR CODE HERE\n"
        "    raise NotImplementedError\n"
    )


@pytest.mark.parametrize("text", ["### END SOLUTION\n", "### BEGIN SOLUTION\n", "  ### BEGIN SOLUTION\n  ### BEGIN SOLUTION\n"])
def test_make_stub_rejects_unbalanced_markers(text):
    with pytest.raises(ValueError, match="SOLUTION"):
        make_stub(text)


@pytest.mark.parametrize("path,text", FILES, ids=[str(p.relative_to(ROOT)) for p, _ in FILES])
def test_committed_file_is_generated_from_its_solution_and_policy(path, text):
    assert path.exists(), f"{path} missing: run python tools/make_stubs.py"
    assert path.read_text() == text, f"{path} stale: run python tools/make_stubs.py"
    ast.parse(text)  # valid Python


@pytest.mark.parametrize("assignment_id", [i for i in registry.ids() if registry.load(i).handout])
def test_stub_states_the_graders_import_policy(assignment_id):
    a = registry.load(assignment_id)
    stub = (ROOT / "assignments" / f"{assignment_id}.py").read_text()
    paragraph = " ".join(line[2:].strip() for line in handout.policy_lines(a))
    flat = " ".join(line[2:].strip() for line in stub.splitlines() if line.startswith("# "))
    assert paragraph in flat
    for module in a.forbidden_imports:
        assert f"`{module}`" in paragraph


def test_policy_paragraph_is_replaced_or_inserted():
    a = registry.load("week1/initialization")
    with_one = "# %% [markdown]\n# Title\n#\n# **Allowed imports:** OLDTEXT\n# text.\n\n# %%\nx = 1\n"
    out = handout.with_policy(with_one, a)
    assert "OLDTEXT" not in out and out.count("**Allowed imports:**") == 1 and out.endswith("# %%\nx = 1\n")
    without = "# %% [markdown]\n# Title\n\n# %%\nx = 1\n"
    out = handout.with_policy(without, a)
    assert out.startswith("# %% [markdown]\n# Title\n#\n# **Allowed imports:**")
    assert handout.with_policy(out, a) == out  # idempotent
    with pytest.raises(handout.HandoutError, match="markdown"):
        handout.with_policy("x = 1\n", a)
