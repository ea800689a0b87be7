"""Every course assignment, graded end to end through the sandboxed worker (ASSIGNMENTS.md):

- the untouched stub scores 0 of max, each part saying "not implemented yet";
- the reference solution scores max of max under two different seeds;
- each common mistake (the folder's ``mistakes.py``), applied to the reference solution,
  zeroes exactly its own part, with feedback naming the mistake (its ``message``).

Mistakes are applied in rounds to keep the suite fast: a round holds at most one mistake per
graded function (each a later ``def`` appended to the solution, which overrides the
original), so one grading run checks several mistakes, each on its own part; in an
assignment's first round every untouched part must keep full marks, later rounds grade only
their own parts (the suite's time budget). Graded functions are called by the worker with inputs
the parent built, and callers of other graded functions run with trusted helpers
(``Case.replace``), so one function's mistake cannot leak into another part.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from grader import engine, registry
from grader.spec import Mistake

ROOT = Path(__file__).resolve().parents[2]
SEEDS = (11, 12)


def _ids() -> list[str]:
    return [i for i in registry.ids() if registry.load(i).handout]


IDS = _ids()


def _mistakes(assignment_id: str) -> dict:
    return registry.mistakes(assignment_id)


def _rounds(mistakes: dict) -> list[dict[str, tuple[str, str]]]:
    """[{function: (slug, source)}, ...]: round k holds each function's k-th mistake."""
    by_function: dict[str, list[tuple[str, str]]] = {}
    for slug, (function, source, _description) in mistakes.items():
        by_function.setdefault(function, []).append((slug, source))
    depth = max((len(v) for v in by_function.values()), default=0)
    return [{f: ms[k] for f, ms in by_function.items() if k < len(ms)} for k in range(depth)]


@pytest.fixture(scope="session")
def worker_cache(tmp_path_factory) -> str:
    """One trusted compilation cache for every file graded here (they are all ours)."""
    return str(tmp_path_factory.mktemp("grader-cache"))


def _grade(assignment_id: str, path: Path, seed: int, cache: str) -> engine.Result:
    return engine.grade(registry.load(assignment_id), path, seed=seed, cache_root=cache, trusted_cache=True)


def _summary(result: engine.Result) -> str:
    return "\n".join(f"  {p.function}: {p.score:g}/{p.points:g} {p.feedback}" for p in result.parts)


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", IDS)
def test_untouched_stub_scores_zero_with_not_implemented(assignment_id, worker_cache):
    result = _grade(assignment_id, ROOT / "assignments" / f"{assignment_id}.py", SEEDS[0], worker_cache)
    assert result.score == 0, _summary(result)
    for part in result.parts:
        assert "not implemented yet" in part.feedback.lower(), _summary(result)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("assignment_id", IDS)
def test_reference_solution_scores_full_marks(assignment_id, seed, worker_cache):
    """Every case under the first seed; under the others only the hidden cases, the ones a
    seed changes (the visible cases are the same for every seed, and the costliest: the
    full-size training runs)."""
    a = registry.load(assignment_id)
    if seed != SEEDS[0]:
        a = dataclasses.replace(a, parts=tuple(dataclasses.replace(p, visible=lambda: ()) for p in a.parts))
    result = engine.grade(a, a.solution_path, seed=seed, cache_root=worker_cache, trusted_cache=True)
    assert result.score == result.max_score, _summary(result)
    if seed != SEEDS[0]:
        assert all(p.visible_cases == 0 and p.hidden_cases > 0 for p in result.parts), _summary(result)


def _round_params():
    params = []
    for assignment_id in IDS:
        for k, round_ in enumerate(_rounds(_mistakes(assignment_id))):
            params.append(pytest.param(assignment_id, round_, k == 0,
                                       id=f"{assignment_id}-round{k + 1}"))
    return params


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id,round_,every_part", _round_params())
def test_each_mistake_zeroes_exactly_its_own_part(assignment_id, round_, every_part, tmp_path,
                                                  worker_cache):
    """The first round of an assignment grades every part (no mistake leaks into another
    part); later rounds grade only their own parts, as test_alternatives does (the untouched
    parts are the reference's, graded in full under both seeds above)."""
    full = registry.load(assignment_id)
    assignment = full if every_part else dataclasses.replace(
        full, parts=tuple(p for p in full.parts if p.function in round_))
    solution = full.solution_path.read_text()
    mutated = solution + "".join(f"\n\n# mistake: {slug}\n{source}\n" for slug, source in round_.values())
    path = tmp_path / Path(assignment_id).name
    path = path.with_suffix(".py")
    path.write_text(mutated)
    messages = {slug: m.message for slug, m in _mistakes(assignment_id).items()}
    result = engine.grade(assignment, path, seed=SEEDS[0], cache_root=worker_cache,
                          trusted_cache=True)
    for part in result.parts:
        if part.function in round_:
            slug = round_[part.function][0]
            assert part.score == 0, f"mistake {slug} was not caught:\n{_summary(result)}"
            assert messages[slug] in part.feedback, f"feedback does not name mistake {slug}:\n{_summary(result)}"
        else:
            assert part.score == part.points, f"a mistake leaked into {part.function}:\n{_summary(result)}"


def test_every_assignment_states_its_mistakes_once():
    """Each folder's mistakes are Mistake records of its graded functions, and the assignment
    module's feedback for a slug is that record's message (no second copy to drift)."""
    for assignment_id in IDS:
        a = registry.load(assignment_id)
        graded = {p.function for p in a.parts}
        mistakes = _mistakes(assignment_id)
        assert mistakes, assignment_id
        for slug, m in mistakes.items():
            assert isinstance(m, Mistake) and m.function in graded and m.message, (assignment_id, slug)
        hints = getattr(registry.module(assignment_id), "HINTS", None)
        if hints is not None:
            assert hints == {slug: m.message for slug, m in mistakes.items()}, assignment_id


def test_no_part_receives_the_reference_of_its_own_function():
    """What a part's worker receives of trusted.py (grader.helper_source) never defines the
    function that part grades: helpers are references of *other* parts."""
    import ast

    from grader import helper_source

    for assignment_id in registry.ids():
        a = registry.load(assignment_id)
        for i, part in enumerate(a.parts):
            cases = list(part.visible()) + list(part.hidden(engine.part_seed(5, i)))
            names = sorted({spec.partition(":")[2] for c in cases for spec in c.replace.values()})
            if not names:
                continue
            source = helper_source.closure_source(a.trusted_path, names)
            defined = {n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)}
            assert part.function not in defined, (assignment_id, part.function, sorted(defined))


def test_helper_source_names_a_missing_helper(tmp_path):
    from grader import helper_source

    (tmp_path / "trusted.py").write_text("def f():\n    return 1\n")
    with pytest.raises(helper_source.HelperSourceError, match="no top-level definition of g"):
        helper_source.closure_source(tmp_path / "trusted.py", ["f", "g"])
