"""The stubs students edit are generated from the reference solutions (tools/make_stubs.py)."""

from __future__ import annotations

import ast

import pytest

from tools.make_stubs import make_stub, stub_pairs

PAIRS = stub_pairs()


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


@pytest.mark.parametrize("solution,stub", PAIRS, ids=[str(s.relative_to(s.parents[1])) for s, _ in PAIRS])
def test_committed_stub_is_generated_from_its_solution(solution, stub):
    assert stub.exists(), f"{stub} missing: run python tools/make_stubs.py"
    assert stub.read_text() == make_stub(solution.read_text()), f"{stub} stale: run python tools/make_stubs.py"
    ast.parse(stub.read_text())  # the stub is valid Python
