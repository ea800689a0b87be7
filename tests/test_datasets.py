"""jaxdl.datasets: shapes, dtypes, seeds, and agreement with the course's generators."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import sklearn.datasets
from sklearn.neighbors import KNeighborsClassifier

from jaxdl import datasets


def _check_layout(ds, n_train, n_test, n_x):
    X, y, Xt, yt = ds
    assert X.shape == (n_train, n_x) and Xt.shape == (n_test, n_x)
    assert y.shape == (n_train,) and yt.shape == (n_test,)
    assert X.dtype == Xt.dtype == np.float32
    assert y.dtype == yt.dtype == np.int32
    assert np.all(np.isfinite(np.asarray(X))) and np.all(np.isfinite(np.asarray(Xt)))


@pytest.fixture
def global_numpy_rng():
    """The course seeds NumPy's global RNG; restore it afterwards for the other tests."""
    state = np.random.get_state()
    yield
    np.random.set_state(state)


def _same(a, b):
    return all(np.array_equal(np.asarray(u), np.asarray(w)) for u, w in zip(a, b))


def test_circles_is_the_course_data(global_numpy_rng):
    ds = datasets.circles()
    _check_layout(ds, 300, 100, 2)
    X, y, Xt, yt = (np.asarray(a) for a in ds)
    # the course: np.random.seed(1); make_circles(n_samples=300, noise=.05), seed 2 for test
    np.random.seed(1)
    X_ref, y_ref = sklearn.datasets.make_circles(n_samples=300, noise=0.05)
    np.random.seed(2)
    Xt_ref, yt_ref = sklearn.datasets.make_circles(n_samples=100, noise=0.05)
    np.testing.assert_array_equal(X, X_ref.astype(np.float32))  # course's train_X is X_ref.T
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(Xt, Xt_ref.astype(np.float32))
    np.testing.assert_array_equal(yt, yt_ref)
    assert y.mean() == 0.5
    radius = np.linalg.norm(X, axis=1)
    assert radius[y == 1].mean() < radius[y == 0].mean()  # inner circle is label 1


def test_moons_is_the_course_data_and_seeded(global_numpy_rng):
    ds = datasets.moons()
    _check_layout(ds, 300, 100, 2)
    np.random.seed(3)
    X_ref, y_ref = sklearn.datasets.make_moons(n_samples=300, noise=0.2)
    np.testing.assert_array_equal(np.asarray(ds[0]), X_ref.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(ds[1]), y_ref)
    Xt_ref, _ = sklearn.datasets.make_moons(n_samples=100, noise=0.2, random_state=4)
    np.testing.assert_array_equal(np.asarray(ds[2]), Xt_ref.astype(np.float32))
    other = datasets.moons(n_train=50, n_test=20, noise=0.1, seed=7)
    _check_layout(other, 50, 20, 2)
    assert _same(other, datasets.moons(n_train=50, n_test=20, noise=0.1, seed=7))
    assert not np.array_equal(other[0], datasets.moons(n_train=50, n_test=20, noise=0.1, seed=8)[0])


def test_football_layout_determinism_balance():
    ds = datasets.football()
    _check_layout(ds, 211, 200, 2)
    assert _same(ds, datasets.football())
    assert not np.array_equal(ds[0], datasets.football(seed=1)[0])
    X, y, Xt, yt = (np.asarray(a) for a in ds)
    for A in (X, Xt):  # the course's field
        assert A[:, 0].min() >= -0.6 and A[:, 0].max() <= 0.3
        assert A[:, 1].min() >= -0.8 and A[:, 1].max() <= 0.6
    for labels in (y, yt):
        assert set(np.unique(labels).tolist()) == {0, 1}
        assert 0.35 < labels.mean() < 0.65
    # the test set does not depend on n_train
    small = datasets.football(n_train=20, n_test=200)
    _check_layout(small, 20, 200, 2)
    np.testing.assert_array_equal(np.asarray(small[2]), Xt)


def test_football_has_noise_a_memorizer_pays_for():
    X, y, Xt, yt = (np.asarray(a) for a in datasets.football())
    clean_train = (datasets._football_score(X[:, 0], X[:, 1]) > 0).astype(np.int32)
    clean_test = (datasets._football_score(Xt[:, 0], Xt[:, 1]) > 0).astype(np.int32)
    assert 0.08 < np.mean(clean_train != y) < 0.2  # noisy training labels (pockets + frontier)
    rule_acc = np.mean(clean_test == yt)
    assert 0.93 < rule_acc < 0.99  # the smooth frontier generalizes
    memorizer = KNeighborsClassifier(n_neighbors=1).fit(X, y)
    assert memorizer.score(X, y) == 1.0
    assert memorizer.score(Xt, yt) < rule_acc - 0.04  # fitting the noise costs test accuracy


def test_digits():
    ds = datasets.digits()
    _check_layout(ds, 1437, 360, 64)
    X, y, Xt, yt = (np.asarray(a) for a in ds)
    assert X.min() >= 0.0 and X.max() <= 1.0 and X.max() == 1.0
    full_X, full_y = sklearn.datasets.load_digits(return_X_y=True)
    assert np.array_equal(np.sort(np.concatenate([y, yt])), np.sort(full_y))
    # stratified: each digit's test count is its share of 360, give or take one
    counts = np.bincount(yt, minlength=10)
    expected = np.bincount(full_y, minlength=10) * 360 / 1797
    assert np.all(np.abs(counts - expected) <= 1)
    # rows are the /16-scaled originals
    row = X[0] * 16
    assert np.any(np.all(np.isclose(full_X, row), axis=1))
    assert _same(ds, datasets.digits())
    other = datasets.digits(test_fraction=0.5, seed=3)
    _check_layout(other, 898, 899, 64)
    assert not np.array_equal(np.asarray(datasets.digits(seed=1)[1]), y)


@pytest.mark.parametrize("test_fraction, seed", [(0.2, 0), (0.2, 1), (0.5, 3), (0.13, 42), (0.9, 7), (0.01, 5)])
def test_digits_are_scikit_learns_split_draw_for_draw(test_fraction, seed):
    """digits reads scikit-learn's file and splits it with NumPy: the arrays
    ``train_test_split(..., stratify=y)`` gives, element for element."""
    from sklearn.model_selection import train_test_split

    X, y = sklearn.datasets.load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=test_fraction, random_state=seed,
                                                        stratify=y)
    ours = [np.asarray(a) for a in datasets.digits(test_fraction=test_fraction, seed=seed)]
    for got, want, dtype in zip(ours, (X_train, y_train, X_test, y_test), (np.float32, np.int32) * 2):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want.astype(dtype))


def test_digits_does_not_import_scikit_learn():
    """Importing scikit-learn costs a fresh process about 0.9 s of processor time (each grading)."""
    code = ("import sys, jaxdl.datasets as d; d.digits(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert out.stdout.strip() == "[]", out.stdout


def test_bad_input():
    with pytest.raises(ValueError, match="n_train must be > 0, got 0"):
        datasets.circles(n_train=0)
    with pytest.raises(TypeError, match="n_test must be an int, got float"):
        datasets.moons(n_test=10.0)
    with pytest.raises(ValueError, match=r"noise must be in \[0, inf\), got -0.1"):
        datasets.moons(noise=-0.1)
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        datasets.football(seed=-1)
    with pytest.raises(TypeError, match="seed must be an int, got str"):
        datasets.football(seed="0")
    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\), got 1.5"):
        datasets.digits(test_fraction=1.5)
    with pytest.raises(TypeError, match="test_fraction must be a number"):
        datasets.digits(test_fraction=None)


@pytest.mark.parametrize("shape", ["circles", "moons"])
def test_arcs_are_scikit_learns_draw_for_draw(shape):
    """circles and moons are computed with NumPy; they are scikit-learn's generators'
    arrays exactly, for any size (odd, tiny), noise (zero included) and seed."""
    make = getattr(sklearn.datasets, f"make_{shape}")
    ours = getattr(datasets, shape)
    for n, noise, seed in [(1, 0.1, 0), (2, 0.0, 5), (7, 0.3, 1), (300, 0.05, 123), (301, 0.2, 9)]:
        X_ref, y_ref = make(n_samples=n, noise=noise, random_state=seed)
        Xt_ref, yt_ref = make(n_samples=n + 1, noise=noise, random_state=seed + 1)
        X, y, Xt, yt = (np.asarray(a) for a in ours(n_train=n, n_test=n + 1, noise=noise, seed=seed))
        np.testing.assert_array_equal(X, X_ref.astype(np.float32))
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(Xt, Xt_ref.astype(np.float32))
        np.testing.assert_array_equal(yt, yt_ref)


def test_circles_and_moons_do_not_import_scikit_learn():
    code = ("import sys\nfrom jaxdl import datasets\ndatasets.circles()\ndatasets.moons()\n"
            "print('sklearn' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         check=False, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
