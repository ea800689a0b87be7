"""Correct answers must never score 0: every correct alternative formulation scores full marks.

The corpus lives in ``tests/grader/alternatives/<week>_<name>.py`` (one file per assignment,
the id with ``/`` as ``_``), as test data next to the tests rather than in the course folder,
so no release (student handout, Gradescope bundle) can ever carry correct answers. Each file
states ``ALTERNATIVES = {slug: (function, source)}``, like a folder's ``mistakes.py`` states
its mistakes: ``source`` is a complete ``def`` of the graded function written another *right*
way (a stable form, another order of operations, float64 intermediates, NumPy where no case
of the part is jitted, another way to loop or to index).

As for mistakes, alternatives are applied in rounds to keep this fast: a round holds at most
one alternative per graded function (a later ``def`` appended to the reference solution
overrides the original). Only the parts of the round's functions are graded (the others are
the reference's, whose full marks tests/grader/test_assignments.py checks), and the rounds of
an assignment alternate between two seeds, so each assignment's corpus meets both.
The tolerance every case uses is :func:`grader.case_tools.tolerance` (the rule is stated in
:mod:`grader.case_tools`).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from grader import engine, registry

CORPUS = Path(__file__).parent / "alternatives"
SEEDS = (11, 23)


def _corpus(assignment_id: str) -> dict:
    path = CORPUS / (assignment_id.replace("/", "_") + ".py")
    if not path.is_file():
        return {}
    spec = importlib.util.spec_from_file_location(f"_alternatives_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.ALTERNATIVES)


def _ids() -> list[str]:
    return [i for i in registry.ids() if registry.load(i).handout]


def _rounds(alternatives: dict) -> list[dict[str, tuple[str, str]]]:
    by_function: dict[str, list[tuple[str, str]]] = {}
    for slug, (function, source) in alternatives.items():
        by_function.setdefault(function, []).append((slug, source))
    depth = max((len(v) for v in by_function.values()), default=0)
    return [{f: alts[k] for f, alts in by_function.items() if k < len(alts)} for k in range(depth)]


def _params():
    out = []
    for assignment_id in _ids():
        rounds = _rounds(_corpus(assignment_id))
        for k, round_ in enumerate(rounds):
            # one seed per round, alternating; a single round runs under both
            for seed in (SEEDS if len(rounds) == 1 else (SEEDS[k % 2],)):
                out.append(pytest.param(assignment_id, round_, seed,
                                        id=f"{assignment_id}-round{k + 1}-seed{seed}"))
    return out


@pytest.fixture(scope="session")
def worker_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("grader-cache-alternatives"))


def test_every_alternative_names_a_graded_function():
    for assignment_id in _ids():
        graded = {p.function for p in registry.load(assignment_id).parts}
        for slug, (function, source) in _corpus(assignment_id).items():
            assert function in graded, (assignment_id, slug)
            assert f"def {function}(" in source, (assignment_id, slug)
            compile(source, slug, "exec")


def test_every_assignment_with_a_numerical_part_has_alternatives():
    for assignment_id in _ids():
        assert _corpus(assignment_id), f"{assignment_id}: no alternatives in {CORPUS}"


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id,round_,seed", _params())
def test_each_correct_alternative_scores_full_marks(assignment_id, round_, seed, tmp_path, worker_cache):
    full = registry.load(assignment_id)
    solution = full.solution_path.read_text()
    a = dataclasses.replace(full, parts=tuple(p for p in full.parts if p.function in round_))
    mutated = solution + "".join(f"\n\n# alternative: {slug}\n{source}\n" for slug, source in round_.values())
    path = tmp_path / (Path(assignment_id).name + ".py")
    path.write_text(mutated)
    result = engine.grade(a, path, seed=seed, cache_root=worker_cache, trusted_cache=True)
    summary = "\n".join(f"  {p.function}: {p.score:g}/{p.points:g} {p.feedback}" for p in result.parts)
    for part in result.parts:
        slug = round_.get(part.function, ("(reference)",))[0]
        assert part.score == part.points, f"correct alternative {slug} lost points:\n{summary}"
