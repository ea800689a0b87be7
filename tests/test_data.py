"""jaxdl.data: one_hot, the mini-batch convention, minibatch_indices, splits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import data


def _rows(m: int, n: int = 3):
    """X whose row i is (i, i + 0.5, ...) and Y = 10 i, so rows are identifiable and pairs checkable."""
    X = jnp.arange(m, dtype=jnp.float32)[:, None] + jnp.linspace(0.0, 0.5, n, dtype=jnp.float32)[None, :]
    Y = 10 * jnp.arange(m, dtype=jnp.int32)
    return X, Y


# ---------------------------------------------------------------- one_hot


@pytest.mark.parametrize("C", [1, 4, 10])
def test_one_hot_matches_numpy_eye(C):
    labels = np.random.default_rng(0).integers(0, C, size=17).astype(np.int32)
    out = data.one_hot(jnp.asarray(labels), C)
    assert out.dtype == jnp.float32 and out.shape == (17, C)
    np.testing.assert_array_equal(np.asarray(out), np.eye(C, dtype=np.float32)[labels])


def test_one_hot_course_cases_and_jit():
    np.testing.assert_array_equal(data.one_hot(jnp.array(1), 4), [0, 1, 0, 0])  # scalar -> (C,)
    np.testing.assert_array_equal(data.one_hot(jnp.array([2]), 5), [[0, 0, 1, 0, 0]])
    np.testing.assert_array_equal(data.one_hot(np.array([0, 2], np.uint8), 3), [[1, 0, 0], [0, 0, 1]])
    jitted = jax.jit(data.one_hot, static_argnums=1)
    np.testing.assert_array_equal(jitted(jnp.array([0, 2, 1]), 3), np.eye(3)[[0, 2, 1]])
    # under jit the labels are unknown: out of range gives an all-zero row, not an error
    np.testing.assert_array_equal(jitted(jnp.array([3, 1]), 3), [[0, 0, 0], [0, 1, 0]])


def test_one_hot_bad_input():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, num_classes\) = \[0, 3\).*\[0, 3\]"):
        data.one_hot(jnp.array([0, 3]), 3)
    with pytest.raises(ValueError, match=r"labels must lie.*\[-1, 1\]"):
        data.one_hot(jnp.array([-1, 1]), 3)
    with pytest.raises(TypeError, match=r"labels must be an integer array.*float32.*\(2,\)"):
        data.one_hot(jnp.array([0.0, 1.0]), 3)
    with pytest.raises(ValueError, match="num_classes must be > 0, got 0"):
        data.one_hot(jnp.array([0]), 0)
    with pytest.raises(TypeError, match="num_classes must be an int"):
        data.one_hot(jnp.array([0]), 3.0)


# ---------------------------------------------------------------- permutation


_PERMUTE_MANY = jax.jit(jax.vmap(data.permutation, in_axes=(0, None)), static_argnums=1)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 300, 1024, 1025, 5000])
def test_permutation_is_a_permutation(n):
    keys = jax.random.split(jax.random.key(n), 64)
    perms = np.asarray(_PERMUTE_MANY(keys, n))
    assert perms.shape == (64, n) and perms.dtype == np.int32
    np.testing.assert_array_equal(np.sort(perms, axis=1), np.broadcast_to(np.arange(n), (64, n)))
    if n >= 300:  # different keys, different orders
        assert len({p.tobytes() for p in perms}) == 64
    # same key, same permutation, with or without jit/vmap
    np.testing.assert_array_equal(np.asarray(data.permutation(keys[3], n)), perms[3])


def test_permutation_beyond_the_packed_range_falls_back_to_jax():
    n = (1 << 20) + 3
    key = jax.random.key(0)
    np.testing.assert_array_equal(np.asarray(data.permutation(key, n)),
                                  np.asarray(jax.random.permutation(key, n)))


@pytest.mark.parametrize("n,draws", [(3, 6000), (4, 12000)])
def test_permutation_is_uniform(n, draws):
    """All n! orders equally likely: chi-square goodness of fit over many keys."""
    import itertools

    from scipy import stats

    perms = np.asarray(_PERMUTE_MANY(jax.random.split(jax.random.key(42), draws), n))
    index = {p: i for i, p in enumerate(itertools.permutations(range(n)))}
    counts = np.bincount([index[tuple(p)] for p in perms.tolist()], minlength=len(index))
    assert stats.chisquare(counts).pvalue > 1e-4, counts


def test_permutation_position_is_uniform_in_both_regimes():
    """Where element 0 lands: uniform for the redraw-on-tie (n=1024, ties in ~12% of draws)
    and the fixed-rounds (n=2048) regimes; checked over 8 bins of positions."""
    from scipy import stats

    for n in (1024, 2048):
        perms = np.asarray(_PERMUTE_MANY(jax.random.split(jax.random.key(n), 4000), n))
        where0 = np.argmax(perms == 0, axis=1)
        counts = np.bincount(where0 * 8 // n, minlength=8)
        assert stats.chisquare(counts).pvalue > 1e-4, (n, counts)


def test_permutation_redraws_after_a_tie():
    # n=1024 leaves 22 random bits: some of 400 draws tie and take a second round; the
    # tie-free first rounds must equal the one-round result.
    n = 1024
    keys = jax.random.split(jax.random.key(5), 400)
    firsts, tied = jax.vmap(lambda k: data._packed_round(k, n, 10))(keys)
    tied = np.asarray(tied)
    assert 10 <= tied.sum() <= 120, tied.sum()  # ~12% expected
    perms = np.asarray(_PERMUTE_MANY(keys, n))
    np.testing.assert_array_equal(perms[~tied], np.asarray(firsts)[~tied])
    assert not np.array_equal(perms[tied], np.asarray(firsts)[tied])


def test_permutation_bad_input():
    with pytest.raises(TypeError, match="n must be an int"):
        data.permutation(jax.random.key(0), 3.0)
    with pytest.raises(ValueError, match="n must be >= 0"):
        data.permutation(jax.random.key(0), -1)
    with pytest.raises(TypeError, match="key"):
        data.permutation(3, 5)


# ---------------------------------------------------------------- random_minibatches


def _reference_batches(key, X, Y, bs):
    """The documented convention, spelled out with NumPy slicing."""
    perm = np.asarray(data.permutation(key, X.shape[0]))
    Xp, Yp = np.asarray(X)[perm], np.asarray(Y)[perm]
    return [(Xp[s : s + bs], Yp[s : s + bs]) for s in range(0, X.shape[0], bs)]


def test_course_sanity_148_by_64():
    X, Y = _rows(148)
    batches = data.random_minibatches(jax.random.key(0), X, Y, 64)
    assert [b[0].shape for b in batches] == [(64, 3), (64, 3), (20, 3)]
    assert [b[1].shape for b in batches] == [(64,), (64,), (20,)]
    assert len(batches) == data.num_minibatches(148, 64) == int(np.ceil(148 / 64))


@pytest.mark.parametrize("m,bs", [(148, 64), (300, 64), (7, 2), (128, 64), (5, 8), (1, 1)])
def test_minibatches_follow_the_convention(m, bs):
    X, Y = _rows(m)
    key = jax.random.key(m + bs)
    batches = data.random_minibatches(key, X, Y, bs)
    ref = _reference_batches(key, X, Y, bs)
    assert len(batches) == len(ref)
    for (xb, yb), (xr, yr) in zip(batches, ref):
        np.testing.assert_array_equal(np.asarray(xb), xr)
        np.testing.assert_array_equal(np.asarray(yb), yr)
    sizes = [b[0].shape[0] for b in batches]
    assert sizes[:-1] == [bs] * (len(sizes) - 1)
    assert sizes[-1] == (m % bs or min(bs, m))
    # every example exactly once, and X/Y pairs intact
    ids = np.concatenate([np.asarray(xb[:, 0]) for xb, _ in batches]).astype(int)
    assert sorted(ids.tolist()) == list(range(m))
    for xb, yb in batches:
        np.testing.assert_array_equal(np.asarray(yb), 10 * np.asarray(xb[:, 0]).astype(int))


def test_minibatches_keys_and_2d_labels():
    X, _ = _rows(50)
    Y = jnp.stack([X[:, 0], -X[:, 0]], axis=1)  # (m, 2) targets stay paired too
    a = data.random_minibatches(jax.random.key(1), X, Y, 16)
    b = data.random_minibatches(jax.random.key(1), X, Y, 16)
    c = data.random_minibatches(jax.random.key(2), X, Y, 16)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a[0][0], c[0][0])
    for xb, yb in a:
        np.testing.assert_array_equal(yb[:, 0], xb[:, 0])
        np.testing.assert_array_equal(yb[:, 1], -xb[:, 0])
    # raw uint32[2] keys (jax.random.PRNGKey) follow the same convention
    raw = jax.random.PRNGKey(3)
    ref = _reference_batches(raw, X, Y, 16)
    np.testing.assert_array_equal(data.random_minibatches(raw, X, Y, 16)[1][0], ref[1][0])
    # NumPy inputs are accepted
    got = data.random_minibatches(jax.random.key(1), np.asarray(X), np.asarray(Y), 16)
    np.testing.assert_array_equal(got[2][0], a[2][0])


# ---------------------------------------------------------------- minibatch_indices


@pytest.mark.parametrize("m,bs", [(148, 64), (7, 2), (128, 64), (5, 8)])
def test_minibatch_indices_equal_random_minibatches(m, bs):
    X, Y = _rows(m)
    key = jax.random.key(11)
    idx, mask = data.minibatch_indices(key, m, bs)
    nb = data.num_minibatches(m, bs)
    assert idx.shape == mask.shape == (nb, bs)
    assert idx.dtype == jnp.int32 and mask.dtype == jnp.bool_
    assert int(mask.sum()) == m
    batches = data.random_minibatches(key, X, Y, bs)
    for k, (xb, yb) in enumerate(batches):
        rows = np.asarray(idx[k])[np.asarray(mask[k])]
        np.testing.assert_array_equal(np.asarray(X)[rows], xb)
        np.testing.assert_array_equal(np.asarray(Y)[rows], yb)
    # jit with a traced key gives the same arrays
    idx_j, mask_j = jax.jit(data.minibatch_indices, static_argnums=(1, 2))(key, m, bs)
    np.testing.assert_array_equal(idx_j, idx)
    np.testing.assert_array_equal(mask_j, mask)


def test_masked_mean_over_padded_batch_equals_plain_mean():
    X, _ = _rows(7)
    key = jax.random.key(5)
    idx, mask = data.minibatch_indices(key, 7, 3)
    last = data.random_minibatches(key, X, X, 3)[-1][0]
    padded = X[idx[-1]]
    masked = jnp.sum(jnp.where(mask[-1], jnp.sum(padded, axis=1), 0.0)) / jnp.sum(mask[-1], dtype=jnp.float32)
    np.testing.assert_allclose(masked, jnp.mean(jnp.sum(last, axis=1)), rtol=1e-6)
    np.testing.assert_array_equal(mask[-1], [True, False, False])


# ---------------------------------------------------------------- bad input


def test_minibatch_bad_input():
    X, Y = _rows(148)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"X and Y must have the same number of examples.*\(148, 3\) and \(100,\)"):
        data.random_minibatches(key, X, Y[:100])
    with pytest.raises(ValueError, match="batch_size must be > 0, got 0"):
        data.random_minibatches(key, X, Y, 0)
    with pytest.raises(TypeError, match="batch_size must be an int, got float"):
        data.random_minibatches(key, X, Y, 64.0)
    with pytest.raises(TypeError, match="key must be a PRNG key"):
        data.random_minibatches(0, X, Y)
    with pytest.raises(TypeError, match="X must be an array, got list"):
        data.random_minibatches(key, [[1.0]], Y)
    with pytest.raises(ValueError, match="m must be > 0"):
        data.minibatch_indices(key, 0, 4)
    with pytest.raises(ValueError, match="batch_size must be > 0, got -1"):
        data.minibatch_indices(key, 10, -1)


# ---------------------------------------------------------------- train_dev_test_split


@pytest.mark.parametrize(
    "m,fractions,sizes",
    [
        (100, (0.6, 0.2, 0.2), (60, 20, 20)),
        (1000, (0.98, 0.01, 0.01), (980, 10, 10)),
        (101, (0.6, 0.2, 0.2), (59, 21, 21)),  # held-out sets round up, train the rest
        (100, (0.42, 0.29, 0.29), (42, 29, 29)),  # 0.29 * 100 is 28.999999999999996
        (100, (0.86, 0.07, 0.07), (86, 7, 7)),  # 0.07 * 100 is 7.000000000000001
        (7, (0.5, 0.25, 0.25), (3, 2, 2)),
        (50, (0.98, 0.01, 0.01), (48, 1, 1)),  # issue 15: was (50, 0, 0), silently
        (3, (0.98, 0.01, 0.01), (1, 1, 1)),
    ],
)
def test_split_sizes_disjoint_cover(m, fractions, sizes):
    X, Y = _rows(m)
    key = jax.random.key(7)
    parts = data.train_dev_test_split(key, X, Y, fractions)
    assert tuple(p[0].shape[0] for p in parts) == sizes
    ids = [set(np.asarray(p[0][:, 0]).astype(int).tolist()) for p in parts]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert ids[0] | ids[1] | ids[2] == set(range(m))
    for xp, yp in parts:
        np.testing.assert_array_equal(np.asarray(yp), 10 * np.asarray(xp[:, 0]).astype(int))
    # documented order: train = perm[:n_train], dev next, test last
    perm = np.asarray(data.permutation(key, m))
    np.testing.assert_array_equal(np.asarray(parts[2][0][:, 0]).astype(int), perm[m - sizes[2] :])
    again = data.train_dev_test_split(key, X, Y, fractions)
    np.testing.assert_array_equal(again[1][0], parts[1][0])


def test_split_bad_input():
    X, Y = _rows(10)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"fractions must sum to 1, got \(0.6, 0.2, 0.3\)"):
        data.train_dev_test_split(key, X, Y, (0.6, 0.2, 0.3))
    with pytest.raises(ValueError, match="fractions must all be > 0, got dev = -0.2"):
        data.train_dev_test_split(key, X, Y, (1.2, -0.2, 0.0))
    with pytest.raises(ValueError, match="fractions must be a sequence of three numbers"):
        data.train_dev_test_split(key, X, Y, (0.8, 0.2))
    with pytest.raises(TypeError, match=r"fractions \(test\) must be a number"):
        data.train_dev_test_split(key, X, Y, (0.8, 0.1, "0.1"))
    with pytest.raises(ValueError, match=r"X and Y must have the same number of examples.*\(10, 3\) and \(9,\)"):
        data.train_dev_test_split(key, X, Y[:9], (0.6, 0.2, 0.2))


@pytest.mark.parametrize("m", [1, 2])
def test_split_too_few_examples_raises(m):
    """Issue 15: m = 1 gave an empty dev and test set silently; now a ValueError naming fractions."""
    X, Y = _rows(m)
    with pytest.raises(ValueError, match=rf"fractions=\(0.98, 0.01, 0.01\) with m={m} examples .*train set empty"):
        data.train_dev_test_split(jax.random.key(0), X, Y, (0.98, 0.01, 0.01))


def test_split_sizes_follow_scikit_learn():
    """Each held-out size is what sklearn.model_selection.train_test_split gives for that
    fraction as test_size (ceil), train the complement; sklearn raises where we raise."""
    from sklearn.model_selection import train_test_split

    fracs = [(0.6, 0.2, 0.2), (0.98, 0.01, 0.01), (0.5, 0.3, 0.2), (0.8, 0.15, 0.05), (0.34, 0.33, 0.33)]
    for m in (2, 3, 7, 50):  # few sizes: each m is a new compile
        for f in fracs:
            sk = []
            for frac in f[1:]:
                try:
                    sk.append(len(train_test_split(np.arange(m), test_size=frac, random_state=0)[1]))
                except ValueError:  # sklearn: "the resulting train set will be empty"
                    sk.append(m)
            n_train = m - sk[0] - sk[1]
            X, Y = np.arange(m, dtype=np.float32)[:, None], np.arange(m)
            if n_train < 1:
                with pytest.raises(ValueError, match="train set empty"):
                    data.train_dev_test_split(jax.random.key(0), X, Y, f)
                continue
            parts = data.train_dev_test_split(jax.random.key(0), X, Y, f)
            assert tuple(p[0].shape[0] for p in parts) == (n_train, sk[0], sk[1]), (m, f)


# -- random_minibatches: the same batches as the one-program-per-cut version it replaced (issue 16)


def _before(key, X, Y, batch_size):
    """``random_minibatches`` as of 01e67db: one program returning every cut."""
    m = X.shape[0]
    if m == 0:
        return []
    cuts = tuple((start, min(start + batch_size, m)) for start in range(0, m, batch_size))
    return list(data._shuffle_and_cut(key, X, Y, cuts))


def _assert_same(got, want):
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert (g.shape, g.dtype, g.weak_type) == (w.shape, w.dtype, w.weak_type)
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


@pytest.mark.parametrize("m,batch_size", [(1, 1), (3, 5), (5, 5), (10, 5), (11, 5), (13, 1), (2, 2**40)])
@pytest.mark.parametrize("x_tail,x_dtype,y_tail,y_dtype", [((2, 3), jnp.int8, (), jnp.int32),
                                                          ((), jnp.bfloat16, (1,), jnp.bool_)])
def test_random_minibatches_are_the_cuts_of_before(m, batch_size, x_tail, x_dtype, y_tail, y_dtype):
    X = jnp.arange(m * int(np.prod(x_tail))).reshape(m, *x_tail).astype(x_dtype)
    Y = (jnp.arange(m * int(np.prod(y_tail))).reshape(m, *y_tail) % 3).astype(y_dtype)
    for key in (jax.random.key(3), jax.random.PRNGKey(4)):
        _assert_same(data.random_minibatches(key, X, Y, batch_size), _before(key, X, Y, batch_size))


def test_random_minibatches_under_jit_and_vmap_are_the_cuts_of_before():
    X, Y = jnp.arange(22.0).reshape(11, 2), jnp.arange(11)
    keys = jax.random.split(jax.random.key(5), 3)
    for batch_size in (3, 12):
        def epoch(fn, key, batch_size=batch_size):
            return fn(key, X, Y, batch_size)
        _assert_same(jax.jit(lambda k: epoch(data.random_minibatches, k))(keys[0]),
                     jax.jit(lambda k: epoch(_before, k))(keys[0]))
        _assert_same(jax.vmap(lambda k: epoch(data.random_minibatches, k))(keys),
                     jax.vmap(lambda k: epoch(_before, k))(keys))


def test_random_minibatches_with_a_batch_size_past_int64_is_one_batch_as_before():
    """Any Python int > 0 is a valid batch size (``check_positive_int``): one batch, as the
    cut version gave, not an XLA shape error about ``get(): incompatible function arguments``."""
    X, Y = jnp.arange(6.0).reshape(3, 2), jnp.arange(3)
    key = jax.random.key(0)
    _assert_same(data.random_minibatches(key, X, Y, 2**64), _before(key, X, Y, 2**64))
