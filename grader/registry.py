"""Assignment id -> the module under ``grader/assignments/`` that declares it.

Each module exposes ``ASSIGNMENT`` (a :class:`grader.spec.Assignment`). Adding an assignment
is one new module plus one line here. The seven course ids are registered up front; an id
whose module does not exist yet is reported as "not available yet" (``grader list`` shows it
as such) instead of being an unknown id.
"""

from __future__ import annotations

import importlib
import importlib.util

from grader.spec import Assignment

MODULES: dict[str, str] = {
    "selftest/basics": "grader.assignments.selftest",
    "week1/initialization": "grader.assignments.week1_initialization",
    "week1/regularization": "grader.assignments.week1_regularization",
    "week1/gradient_checking": "grader.assignments.week1_gradient_checking",
    "week2/optimization": "grader.assignments.week2_optimization",
    "week3/jax_intro": "grader.assignments.week3_jax_intro",
    "week3/batch_norm": "grader.assignments.week3_batch_norm",
    "week3/hyperparameter_tuning": "grader.assignments.week3_hyperparameter_tuning",
}


class UnknownAssignment(LookupError):
    """No such assignment id (the message lists the valid ones)."""


def ids() -> list[str]:
    return list(MODULES)


def is_available(assignment_id: str) -> bool:
    name = MODULES.get(assignment_id)
    if name is None:
        return False
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def available() -> list[str]:
    return [i for i in MODULES if is_available(i)]


def load(assignment_id: str) -> Assignment:
    if assignment_id not in MODULES:
        raise UnknownAssignment(
            f"unknown assignment id {assignment_id!r}. Valid ids: " + ", ".join(available())
            + ". Run `grader list` to see them with their parts.")
    if not is_available(assignment_id):
        raise UnknownAssignment(
            f"assignment {assignment_id!r} is not available in this version of the grader yet. "
            "Available: " + ", ".join(available()) + ".")
    module = importlib.import_module(MODULES[assignment_id])
    assignment = module.ASSIGNMENT
    if assignment.id != assignment_id:  # pragma: no cover - a registry typo
        raise RuntimeError(f"{MODULES[assignment_id]} declares id {assignment.id!r}")
    return assignment
