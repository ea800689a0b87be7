"""Issue 16: a public jaxdl function used eagerly at the course's sizes costs at most one
compiled XLA program (run op by op, each jax.random call, each new shape and each slice
compiled a program of its own: most of a fresh process's first-call time), and the same
call again compiles nothing. Counted with JAX's own compile events (tests/compile_count.py),
on shapes no other test uses, so the jit caches are cold for them."""

from __future__ import annotations

import jax
import numpy as np

from jaxdl import data, datasets, init, losses, nn, train
from tests.compile_count import compiles


def test_init_mlp_costs_one_program_per_size_class():
    """init_mlp compiles one program, shared by every key, method, scale and network in the
    same size class (layer count and widest layer rounded up to powers of two), and
    method="zeros" none. It compiled 13 for [2, 5, 2, 1] op by op, then one per layer shape
    plus one for the keys (4 for [2, 5, 2, 1], 0.4 s of a fresh process's 0.75 s); one
    program per exact network recompiled every depth of a deep-net study."""
    # Depths and widths no other test uses: the programs are per process, shared by tests.
    sizes = [5] + [19] * 10 + [23, 2]  # 12 layers: (5, 19), (19, 19) x 9, (19, 23), (23, 2)
    key, other = jax.random.key(11), jax.random.key(12)
    with compiles() as seen:
        params = jax.block_until_ready(init.init_mlp(key, sizes, method="he"))
    assert len(seen) == 1, seen
    with compiles() as seen:  # another key, another method, one layer deeper: the same program
        init.init_mlp(other, sizes, method="xavier")
        init.init_mlp(other, [5] + [19] * 11 + [23, 2], method="glorot")
        init.init_mlp(other, [3] + [19] * 11 + [23, 2], method="random", scale=0.5)
    assert seen == []
    with compiles() as seen:
        zeros = jax.block_until_ready(init.init_mlp(key, [7, 29, 3], method="zeros"))
    assert seen == [] and zeros["W1"].shape == (7, 29) and not np.any(np.asarray(zeros["W1"]))
    # the same numbers as the documented per-layer draw
    keys = jax.random.split(key, 12)
    for l in (2, 12):
        np.testing.assert_array_equal(np.asarray(params[f"W{l}"]),
                                      np.asarray(init.he_normal(keys[l - 1], (sizes[l - 1], sizes[l]))))


def test_eager_entry_points_compile_a_fixed_number_of_programs():
    """Issue 16: an epoch's mini-batches compile two programs whatever their number (the
    shuffle, and one batch getter shared by every batch; 21 before: the shuffle's rounds, the
    gathers and every slice compiled one each; one program holding every batch as an output
    cost XLA a slice per batch, 1.06 s for the digits' 45), a three-way split one (5 before),
    a dataset none (four: jnp.asarray of a NumPy array compiles an identity program per
    shape), and the same call again compiles nothing."""
    X = np.arange(2 * 157, dtype=np.float32).reshape(157, 2)
    Y = np.arange(157, dtype=np.int32)
    with compiles() as seen:
        batches = data.random_minibatches(jax.random.key(3), X, Y, 61)
        jax.block_until_ready(batches)
    assert len(seen) == 2 and [b[0].shape[0] for b in batches] == [61, 61, 35], seen
    with compiles() as seen:
        batches = data.random_minibatches(jax.random.key(3), X, Y, 4)
        jax.block_until_ready(batches)
    assert len(seen) == 2 and len(batches) == 40 and batches[-1][0].shape == (1, 2), seen
    with compiles() as seen:
        parts = data.train_dev_test_split(jax.random.key(3), X, Y, (0.8, 0.1, 0.1))
        jax.block_until_ready(parts)
    assert len(seen) == 1 and [p[0].shape[0] for p in parts] == [125, 16, 16], seen
    with compiles() as seen:
        data.random_minibatches(jax.random.key(4), X, Y, 61)
        data.train_dev_test_split(jax.random.key(4), X, Y, (0.8, 0.1, 0.1))
    assert seen == []
    with compiles() as seen:
        jax.block_until_ready(datasets.circles(n_train=37, n_test=11))
    assert seen == []


def test_evaluate_costs_one_compiled_program_per_apply_fn():
    """37 programs on a first eager call before (the MLP's ops, the loss, the accuracy)."""
    params = init.init_mlp(jax.random.key(5), [2, 9, 1])
    X = np.linspace(-1, 1, 2 * 41, dtype=np.float32).reshape(41, 2)
    Y = (X[:, 0] > 0).astype(np.int32)

    def apply_fn(p, X):
        return nn.mlp_apply(p, X)[:, 0]

    with compiles() as seen:
        metrics = jax.block_until_ready(train.evaluate(apply_fn, params, X, Y))
    assert len(seen) == 1, seen
    with compiles() as seen:
        again = train.evaluate(apply_fn, params, X, Y)
    assert seen == []
    expected = losses.binary_cross_entropy(nn.mlp_apply(params, X)[:, 0], Y.astype(np.float32))
    np.testing.assert_allclose(float(metrics["loss"]), float(expected), rtol=1e-6)
    assert float(again["accuracy"]) == float(metrics["accuracy"])
