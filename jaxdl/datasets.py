"""Small seeded data sets of the course, generated locally (nothing is downloaded).

Every loader returns ``(X_train, y_train, X_test, y_test)``:

- ``X_*``: float32 ``jax.Array`` of shape ``(m, n_x)``, batch-first (the course used
  ``(n_x, m)``; ours is its transpose).
- ``y_*``: int32 ``jax.Array`` of shape ``(m,)`` holding class ids, for binary sets too
  (0/1). For a binary loss on logits of shape ``(m,)`` use ``y.astype(jnp.float32)``; for
  softmax use ``jaxdl.data.one_hot(y, C)``.

The same arguments give the same arrays on every run and machine.

============  ========  =======  ========  ==============================================
loader        n_x       classes  default   source
============  ========  =======  ========  ==============================================
circles       2         2        300/100   ``sklearn.datasets.make_circles``'s draws (Initialization)
moons         2         2        300/100   ``sklearn.datasets.make_moons``'s draws (Optimization)
football      2         2        211/200   generated here (Regularization, see football)
digits        64        10       1437/360  ``sklearn.datasets.load_digits`` (bundled)
============  ========  =======  ========  ==============================================

``circles``, ``moons`` and ``digits``' split draw exactly what scikit-learn's generators and
``train_test_split`` draw for the same ``random_state``, computed here with NumPy (importing
scikit-learn takes about 0.9 s of processor time, paid by every fresh process: a student's
first run, each ``grader submit``). scikit-learn is needed only for the file of digits it
ships, which ``digits`` reads without importing it.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import numbers
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxdl import _validate as v

__all__ = ["circles", "moons", "football", "digits"]

Dataset = tuple[jax.Array, jax.Array, jax.Array, jax.Array]


def _digits_file() -> Path:
    """scikit-learn's bundled ``digits.csv.gz``, found without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "jaxdl.datasets.digits reads the digits bundled with scikit-learn; install it with "
            "`pip install scikit-learn` (or `pip install jaxdl[datasets]`)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise ImportError(f"scikit-learn is installed but its bundled digits are missing ({path})")
    return path


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return int(seed)


def _check_noise(noise: Any) -> float:
    if isinstance(noise, bool) or not isinstance(noise, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"noise must be a number, got {type(noise).__name__} {noise!r}")
    v.check_range("noise", noise, 0.0)
    return float(noise)


def _pack(X_train, y_train, X_test, y_test) -> Dataset:
    # device_put, not jnp.asarray: eagerly, jnp.asarray of a NumPy array compiles an identity
    # program per shape (jax's `stage`), four of them per dataset.
    return tuple(jax.device_put(np.asarray(a, dtype=t)) for a, t in (
        (X_train, np.float32), (y_train, np.int32), (X_test, np.float32), (y_test, np.int32)))


def _two_arcs(shape: str, n_samples: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``sklearn.datasets.make_circles(n_samples, noise=noise, random_state=seed)`` (factor
    0.8) or ``make_moons(...)``, in NumPy, draw for draw (scikit-learn 1.x's
    ``_samples_generator``: the points on the two curves, then ``sklearn.utils.shuffle``, one
    ``RandomState.shuffle`` of the indices, then Gaussian noise from the same generator), so
    the arrays are bit for bit scikit-learn's (tests/test_datasets.py compares them) without
    its 0.7 s import. Label 0 is the outer circle / upper moon."""
    n_out = n_samples // 2
    n_in = n_samples - n_out
    rng = np.random.RandomState(seed)
    if shape == "circles":
        # endpoint=False: the first point is not also the last
        t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
        t_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
        x = np.append(np.cos(t_out), np.cos(t_in) * 0.8)
        y = np.append(np.sin(t_out), np.sin(t_in) * 0.8)
    else:
        t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
        x = np.append(np.cos(t_out), 1 - np.cos(t_in))
        y = np.append(np.sin(t_out), 1 - np.sin(t_in) - 0.5)
    X = np.vstack([x, y]).T
    labels = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    order = np.arange(n_samples)
    rng.shuffle(order)
    X, labels = X[order], labels[order]
    X += rng.normal(scale=noise, size=X.shape)
    return X, labels


def _arcs_pair(shape: str, n_train: int, n_test: int, noise: float, seed: int) -> Dataset:
    """Train from ``random_state=seed``, test from ``seed + 1``."""
    v.check_positive_int("n_train", n_train)
    v.check_positive_int("n_test", n_test)
    noise = _check_noise(noise)
    seed = _check_seed(seed)
    return _pack(*_two_arcs(shape, n_train, noise, seed), *_two_arcs(shape, n_test, noise, seed + 1))


def circles(n_train: int = 300, n_test: int = 100, noise: float = 0.05, seed: int = 1) -> Dataset:
    """Two noisy concentric circles (the Initialization assignment's data).

    Train is ``sklearn.datasets.make_circles(n_train, noise=noise, random_state=seed)``,
    test is ``make_circles(n_test, noise=noise, random_state=seed + 1)``, cast to
    float32/int32. The defaults reproduce the course exactly: it called
    ``np.random.seed(1); make_circles(n_samples=300, noise=.05)`` for train and
    ``np.random.seed(2); make_circles(n_samples=100, noise=.05)`` for test, and
    ``random_state=s`` draws the same numbers as ``np.random.seed(s)``. The outer circle
    has radius 1 (label 0), the inner one radius 0.8 (label 1); classes are balanced.

    Returns:
      ``(X_train (n_train, 2), y_train (n_train,), X_test (n_test, 2), y_test (n_test,))``.

    Example::

        >>> X, y, Xt, yt = circles()
        >>> X.shape, y.dtype
        ((300, 2), dtype('int32'))
    """
    return _arcs_pair("circles", n_train, n_test, noise, seed)


def moons(n_train: int = 300, n_test: int = 100, noise: float = 0.2, seed: int = 3) -> Dataset:
    """Two interleaving half-moons (the Optimization Methods assignment's data).

    Train is ``sklearn.datasets.make_moons(n_train, noise=noise, random_state=seed)``,
    test is ``make_moons(n_test, noise=noise, random_state=seed + 1)``. The default train
    set is exactly the course's (``np.random.seed(3); make_moons(n_samples=300,
    noise=.2)``); the course had no test set, ours is an extra held-out draw.

    Returns:
      ``(X_train (n_train, 2), y_train (n_train,), X_test (n_test, 2), y_test (n_test,))``,
      float32 / int32, classes balanced (label 0 is the upper moon).
    """
    return _arcs_pair("moons", n_train, n_test, noise, seed)


# --- football -----------------------------------------------------------------------------
# The field: the course's points lie in roughly x in [-0.6, 0.3], y in [-0.8, 0.6].
_FIELD_X = (-0.6, 0.3)
_FIELD_Y = (-0.8, 0.6)
# Label noise of two kinds. (a) Frontier noise: a label is flipped with probability
# 0.5 exp(-|score| / width) + far, a coin toss right at the frontier. (b) Train only:
# "pockets", small clumps of points carrying the wrong team's colour just off the frontier.
# A big unregularized network bends its boundary to swallow the pockets; the test set has
# none, so it pays for that.
_FOOTBALL_NEAR_FLIP = 0.5
_FOOTBALL_NEAR_WIDTH = 0.02
_FOOTBALL_FAR_FLIP = 0.02
_FOOTBALL_POCKETS = 4
_FOOTBALL_POCKET_FRACTION = 0.1
_FOOTBALL_POCKET_RADIUS = 0.03
_FOOTBALL_POCKET_OFFSET = (0.05, 0.15)


def _football_score(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Signed score of the true frontier: > 0 on the blue (France, label 1) side.

    Blue owns the left flank, whose edge ``x = c(y)`` bends from ``x ~ -0.32`` deep in
    the own half to ``x ~ 0.02`` near the top, and the strip ``y > t(x)`` along the top.
    """
    c = -0.12 + 0.22 * np.tanh(2.5 * (y - 0.05))
    t = 0.42 + 0.1 * x
    return np.maximum(c - x, y - t)


def _football_uniform(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(*_FIELD_X, size=n)
    y = rng.uniform(*_FIELD_Y, size=n)
    score = _football_score(x, y)
    clean = (score > 0).astype(np.int32)
    p_flip = _FOOTBALL_NEAR_FLIP * np.exp(-np.abs(score) / _FOOTBALL_NEAR_WIDTH) + _FOOTBALL_FAR_FLIP
    flip = rng.uniform(size=n) < p_flip
    return np.stack([x, y], axis=1), np.where(flip, 1 - clean, clean).astype(np.int32)


def _football_pockets(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    k = min(_FOOTBALL_POCKETS, n)
    sizes = np.full(k, n // k) + (np.arange(k) < n % k)
    lo, hi = _FOOTBALL_POCKET_OFFSET
    points, labels = [], []
    for size in sizes:
        while True:  # a centre on the field, a little off the frontier
            cx, cy = rng.uniform(*_FIELD_X), rng.uniform(*_FIELD_Y)
            s = float(_football_score(np.asarray(cx), np.asarray(cy)))
            if lo <= abs(s) <= hi:
                break
        xy = np.array([cx, cy]) + _FOOTBALL_POCKET_RADIUS * rng.standard_normal((size, 2))
        xy[:, 0] = np.clip(xy[:, 0], *_FIELD_X)
        xy[:, 1] = np.clip(xy[:, 1], *_FIELD_Y)
        points.append(xy)
        labels.append(np.full(size, 0 if s > 0 else 1, dtype=np.int32))
    return np.concatenate(points), np.concatenate(labels)


def _football_train(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    n_pocket = int(round(_FOOTBALL_POCKET_FRACTION * n))
    X, y = _football_uniform(rng, n - n_pocket)
    if n_pocket:
        Xp, yp = _football_pockets(rng, n_pocket)
        X, y = np.concatenate([X, Xp]), np.concatenate([y, yp])
    order = rng.permutation(n)
    return X[order], y[order]


def football(n_train: int = 211, n_test: int = 200, seed: int = 0) -> Dataset:
    """A generated stand-in for the Regularization assignment's "French football" data.

    The course's goalkeeper kicks the ball; each point is where a player headed it, blue
    (label 1) if a French player won the header, red (label 0) otherwise. The original
    ``data.mat`` (211 train / 200 test points, x in [-0.6, 0.3], y in [-0.8, 0.6]) is not
    redistributed; this generator draws a set of the same kind:

    1. positions uniform on the field ``x ~ U(-0.6, 0.3)``, ``y ~ U(-0.8, 0.6)``;
    2. a smooth true frontier: with ``c(y) = -0.12 + 0.22 tanh(2.5 (y - 0.05))`` and
       ``t(x) = 0.42 + 0.1 x``, the clean label is blue iff ``score = max(c(y) - x,
       y - t(x)) > 0`` (France holds the left flank and the top strip, about half the field);
    3. frontier noise (train and test): each label is flipped with probability
       ``0.5 exp(-|score| / 0.02) + 0.02``, a coin toss right at the frontier;
    4. pockets (train only): 10% of the training points (``round(0.1 n_train)``) come in 4
       clumps (Gaussian, std 0.03) centred 0.05..0.15 off the frontier and carry the colour
       of the *other* side. They are the noise a big unregularized network bends its
       boundary to fit; the test set has none, so that fit costs test accuracy.

    About 12-15% of training labels disagree with the frontier, about 3-5% of test labels.
    Train and test come from independent streams of ``numpy.random.default_rng``
    (``SeedSequence(seed).spawn(2)``), so ``n_train`` does not change the test set.

    With the default ``seed=0`` and the course's model (``[2, 20, 3, 1]`` ReLU network,
    full-batch gradient descent, learning rate 0.3, 30000 iterations), our runs gave
    train/test accuracy of about 93%/91.5% without regularization, 91.5%/93% with L2
    (``lambd=0.7``) and 95%/92% with dropout (``keep_prob=0.86``), close to the course's
    95%/91.5%, 94%/93% and 93%/95%. Across seeds L2 helped every time (by 0.5 to 6.5
    points); dropout's effect depends on the seed and the masks. The frontier rule itself
    scores 96% on the default test set.

    Returns:
      ``(X_train (n_train, 2), y_train (n_train,), X_test (n_test, 2), y_test (n_test,))``,
      float32 / int32; both classes take roughly half of each set.
    """
    v.check_positive_int("n_train", n_train)
    v.check_positive_int("n_test", n_test)
    seed = _check_seed(seed)
    rng_train, rng_test = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    X_train, y_train = _football_train(rng_train, n_train)
    X_test, y_test = _football_uniform(rng_test, n_test)
    return _pack(X_train, y_train, X_test, y_test)


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """scikit-learn 1.x's ``sklearn.utils.extmath._approximate_mode``: examples per class in a
    draw of ``n_draws`` (each class its share, floored, then one more to the largest
    remainders, ties broken by ``rng``)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def _stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``(train, test)`` indices of ``sklearn.model_selection.train_test_split(...,
    test_size=test_fraction, random_state=seed, stratify=y)`` (scikit-learn 1.x: the test set
    is ``ceil(test_fraction * m)`` examples, each class's share drawn by ``_approximate_mode``,
    then ``StratifiedShuffleSplit``'s per-class permutations from one ``RandomState(seed)``)."""
    m = y.shape[0]
    n_test = math.ceil(test_fraction * m)
    n_train = m - n_test
    _, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    rng = np.random.RandomState(seed)
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train: list = []
    test: list = []
    for i, count in enumerate(class_counts):
        perm = class_indices[i].take(rng.permutation(count), mode="clip")
        train.extend(perm[: n_i[i]])
        test.extend(perm[n_i[i]: n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(test)


def digits(test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """The 8x8 handwritten digits bundled with scikit-learn (1797 images, 10 classes).

    ``X`` is the 64 pixel intensities (0..16) divided by 16, so in ``[0, 1]``; ``y`` the
    digit 0..9. The split is ``sklearn.model_selection.train_test_split(X, y,
    test_size=test_fraction, random_state=seed, stratify=y)``: stratified (each digit
    keeps its share in both parts) and seeded. The default gives 1437 train / 360 test.
    Both are computed here with NumPy, draw for draw (the data read from scikit-learn's
    ``digits.csv.gz`` as ``load_digits`` reads it; scikit-learn itself is not imported).

    Raises:
      TypeError, ValueError: ``test_fraction`` not a number in (0, 1), ``seed`` not an int >= 0.
      ImportError: scikit-learn (which ships the data) is not installed.

    Returns:
      ``(X_train (m_train, 64), y_train (m_train,), X_test (m_test, 64), y_test (m_test,))``,
      float32 / int32.
    """
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (numbers.Real, np.floating)):
        raise TypeError(f"test_fraction must be a number, got {type(test_fraction).__name__} {test_fraction!r}")
    v.check_range("test_fraction", test_fraction, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    seed = _check_seed(seed)
    with gzip.open(_digits_file(), mode="rt", encoding="utf-8") as f:
        data = np.loadtxt(f, delimiter=",")  # as load_digits reads it: 64 pixels, then the digit
    X, y = data[:, :-1] / 16.0, data[:, -1].astype(int)
    train, test = _stratified_split(y, test_fraction, seed)
    X_train, X_test, y_train, y_test = X[train], X[test], y[train], y[test]
    return _pack(X_train, y_train, X_test, y_test)
