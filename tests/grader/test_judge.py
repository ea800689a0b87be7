"""Judging decoded results: type, structure, shape, dtype, values, with clear messages."""

from __future__ import annotations

import numpy as np
import pytest

from grader import judge
from grader.protocol import Unsupported

F32 = np.float32


def test_match():
    e = {"W": np.ones((2, 3), F32), "b": np.zeros(3, F32)}
    assert judge.compare({"W": np.ones((2, 3), F32), "b": np.full(3, 1e-7, F32)}, e) is None


@pytest.mark.parametrize("out, expected, needle", [
    (np.ones((3, 2), F32), np.ones((2, 3), F32), "shape (3, 2), expected (2, 3) (transposed?)"),
    (np.ones((4, 1), F32), np.ones(4, F32), "extra or missing axis of size 1"),
    (np.ones(3, np.float64), np.ones(3, F32), "dtype float64, expected float32 (float32 inputs"),
    (np.array([1, np.nan], F32), np.ones(2, F32), "contains NaN at index (1,)"),
    (np.array([1, np.inf], F32), np.ones(2, F32), "contains an infinity"),
    (np.array([1, 2.5], F32), np.ones(2, F32), "1 of 2 entries differ"),
    (np.array([1, 2], np.int32), np.array([1, 3], np.int32), "first at index (1,): got 2, expected 3"),
    ([np.ones(2, F32)], np.ones(2, F32), "is a list of 1 items, expected an array"),
    (Unsupported("AlwaysEqual"), np.ones(2, F32), "an object of type AlwaysEqual"),
    ({"W": 1}, {"W": 1, "b": 2}, "missing the key 'b'"),
    ({"W": 1, "x": 2}, {"W": 1}, "unexpected key 'x'"),
    ((1, 2, 3), (1, 2), "has 3 items, expected 2"),
    (2.0, 1.0, "is 2, expected 1"),
    ("a", None, "expected None"),
    (1.5, True, "expected a bool"),
])
def test_mismatch_messages(out, expected, needle):
    msg = judge.compare(out, expected)
    assert msg is not None and needle in msg, msg


def test_scalars_are_lenient_about_python_numbers():
    assert judge.compare(0.5, np.array(0.5, F32)) is None
    assert judge.compare(np.array(3, np.int32), 3) is None
    assert judge.compare(np.array(0.5, F32), 0.5) is None


def test_dtype_check_can_be_relaxed():
    assert judge.compare(np.ones(2), np.ones(2, F32), check_dtype=False) is None
    assert judge.compare(np.ones(2), np.ones(2, F32), values=False, check_dtype=False) is None


def test_tolerances():
    e = np.array([1.0, 100.0], F32)
    assert judge.compare(e * (1 + 5e-6), e, rtol=1e-5) is None
    assert judge.compare(e * (1 + 5e-4), e, rtol=1e-5) is not None


def test_identical_and_diagnose():
    a = {"x": np.array([1.0, np.nan])}
    assert judge.identical(a, {"x": np.array([1.0, np.nan])})
    assert not judge.identical(a, {"x": np.array([1.0, 2.0])})
    assert not judge.identical(Unsupported("X"), Unsupported("X"))
    out = np.array([0.0, 1.0], F32)
    mistakes = (("wrong sign", lambda: np.array([1.0, 0.0], F32)), ("the mask", out.copy()))
    assert judge.diagnose(out, mistakes, rtol=1e-5, atol=1e-6, check_dtype=True) == "the mask"


def test_expected_values_from_jax_are_converted():
    import jax
    import jax.numpy as jnp

    exp = judge.resolve(lambda: {"a": jnp.ones(2), "k": jax.random.key(0)})
    assert type(exp["a"]) is np.ndarray
    assert judge.compare({"a": np.ones(2, F32), "k": exp["k"]}, exp) is None


def test_symptom_mistakes():
    out = np.array([3.0, 1.0, 2.0], F32)
    mistakes = (("not sorted", judge.Symptom(lambda o: not np.all(np.diff(o) >= 0))),)
    assert judge.diagnose(out, mistakes, rtol=1e-5, atol=1e-6, check_dtype=True) == "not sorted"
    boom = (("never", judge.Symptom(lambda o: 1 / 0)),)
    assert judge.diagnose(out, boom, rtol=1e-5, atol=1e-6, check_dtype=True) is None
