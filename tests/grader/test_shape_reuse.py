"""Hidden cases keep their shapes across seeds and draw new values (the shape rule of
:mod:`grader.case_tools`), so a resubmission under a new seed reuses every compiled program.

- For each assignment that follows the rule: the hidden cases of two seeds have the same
  structure (array shapes and dtypes, the values of static arguments and of Python integers,
  sizes unless ``INTS_ARE_VALUES`` says otherwise, the names of their known mistakes) and
  different values (issue 16; what the hidden cases catch is issue 17's).
- For ``week1/initialization``, the ``grader_speed`` benchmark's assignment: grading the
  reference solution under a second seed compiles (or loads from the persistent cache) no new
  program in the parent (the expected values, the He training validator), nor in a process
  that runs the reference solution as the worker does (eagerly and, for the jit cases, under
  ``jax.jit`` with the case's static arguments).
"""

from __future__ import annotations

import importlib.util

import jax
import numpy as np
import pytest

from grader import judge, registry
from grader.engine import part_seed
from tests.compile_count import compiles

SEEDS = (11, 12)  # tests/grader/test_assignments.py's
FOLLOWING_THE_RULE = ("week1/initialization", "week1/regularization", "week1/gradient_checking",
                      "week2/optimization", "week3/hyperparameter_tuning", "week3/jax_intro", "week3/batch_norm",
                      "selftest/basics")

_programs_loaded: list[list[str]] = []


def _on_event(event: str, **kwargs) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        for seen in _programs_loaded:
            seen.append(event)


jax.monitoring.register_event_listener(_on_event)


class _NewPrograms:
    """Programs a block needed that this process did not hold yet: compiled, or read from the
    persistent compilation cache the test run shares (tests/conftest.py)."""

    def __enter__(self):
        self._compiles = compiles()
        self.compiled = self._compiles.__enter__()
        self.loaded: list[str] = []
        _programs_loaded.append(self.loaded)
        return self

    def __exit__(self, *exc):
        _programs_loaded.remove(self.loaded)
        return self._compiles.__exit__(*exc)

    @property
    def count(self) -> int:
        return len(self.compiled) + len(self.loaded)


def _hidden(assignment_id: str, seed: int) -> list[list]:
    parts = registry.load(assignment_id).parts
    return [list(part.hidden(part_seed(seed, i))) for i, part in enumerate(parts)]


# Parts whose Python ints are values of a formula, not sizes (``update_lr(lr0, epoch_num,
# decay_rate)``, ``sigmoid(3)``): drawn per seed, compared by type.
INTS_ARE_VALUES = {("week2/optimization", "update_lr"), ("week2/optimization", "schedule_lr_decay"),
                   ("week3/jax_intro", "sigmoid")}


def _structure(value, static: bool = False, ints: bool = True):
    """What a compiled program depends on: shapes and dtypes of arrays (and keys), the value
    of anything static, of strings and of Python ints (sizes such as ``n`` or ``layers_dims``;
    unless ``ints`` is false); a Python float (a learning rate: a traced or weakly typed
    argument) only by its type."""
    if isinstance(value, dict):
        return {k: _structure(v, static, ints) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_structure(v, static, ints) for v in value])
    if isinstance(value, (jax.Array, np.ndarray)):
        return ("array", tuple(value.shape), str(value.dtype))
    if static or isinstance(value, (str, bool)) or value is None or (ints and isinstance(value, int)):
        return ("static", value)
    return type(value).__name__


def _case_structure(case, ints: bool = True) -> tuple:
    compiled = case.jit or case.vjp is not None  # static arguments only matter there
    args = tuple(_structure(a, compiled and i in case.static_argnums, ints) for i, a in enumerate(case.args))
    kwargs = {k: _structure(v, compiled and k in case.static_argnames, ints)
              for k, v in sorted(dict(case.kwargs).items())}
    return (args, kwargs, case.jit, case.static_argnums, case.static_argnames, case.x64,
            tuple(m for m, _ in case.mistakes), case.key_args is not None)


def _arrays(value) -> list[np.ndarray]:
    leaves = jax.tree_util.tree_leaves(value)
    return [np.asarray(jax.random.key_data(v) if jax.dtypes.issubdtype(getattr(v, "dtype", None),
                                                                       jax.dtypes.prng_key) else v)
            for v in leaves if isinstance(v, (jax.Array, np.ndarray))]


@pytest.mark.parametrize("assignment_id", FOLLOWING_THE_RULE)
def test_hidden_shapes_are_the_same_for_two_seeds_and_the_values_are_not(assignment_id):
    first, second = (_hidden(assignment_id, seed) for seed in SEEDS)
    for part, a_cases, b_cases in zip(registry.load(assignment_id).parts, first, second):
        ints = (assignment_id, part.function) not in INTS_ARE_VALUES
        assert [_case_structure(c, ints) for c in a_cases] == [_case_structure(c, ints) for c in b_cases], \
            part.function
        a_values = [x for c in a_cases for x in _arrays(c.args)]
        b_values = [x for c in b_cases for x in _arrays(c.args)]
        differ = [not np.array_equal(x, y) for x, y in zip(a_values, b_values)]
        if a_values:  # parts whose inputs hold arrays: the seed draws them
            assert any(differ), [c.label for c in a_cases]


def _solution(assignment_id: str):
    path = registry.load(assignment_id).solution_path
    spec = importlib.util.spec_from_file_location("_shape_reuse_solution", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _grade_in_process(solution, parts, cases_by_part) -> None:
    """What grading a correct file computes: in the parent the expected values and the
    validators (the known mistakes' wrong answers only when a case fails); in the worker the
    reference solution's calls."""
    for part, cases in zip(parts, cases_by_part):
        fn = getattr(solution, part.function)
        for case in cases:
            expected = judge.resolve(case.expected)
            call = jax.jit(fn, static_argnums=case.static_argnums) if case.jit else fn
            out = judge.to_numpy(call(*case.args, **dict(case.kwargs)))
            assert judge.compare(out, expected, rtol=case.rtol, atol=case.atol) is None, case.label
            if case.key_args is not None:
                call(*case.key_args, **dict(case.kwargs))
            if case.validate is not None:
                assert case.validate(out) is None, case.label


def test_initialization_under_a_new_seed_needs_no_new_program():
    assignment_id = "week1/initialization"
    parts = registry.load(assignment_id).parts
    solution = _solution(assignment_id)
    _grade_in_process(solution, parts, _hidden(assignment_id, SEEDS[0]))
    with _NewPrograms() as new:
        _grade_in_process(solution, parts, _hidden(assignment_id, SEEDS[1]))
    assert new.count == 0, f"{len(new.compiled)} compiled and {len(new.loaded)} loaded for the second seed"
