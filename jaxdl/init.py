"""Parameter initializers (course week 1, "Initialization").

Every initializer takes an explicit PRNG key first (typed ``jax.random.key(seed)`` or raw
``jax.random.PRNGKey(seed)``) and returns a float32 array. Dense weights are batch-first,
``W`` of shape ``(n_in, n_out)``, so ``fan_in = shape[0]`` and ``fan_out = shape[1]``.

All random initializers here draw a *plain* (untruncated) normal,
``jax.random.normal(key, shape, float32) * std``, exactly as the course's NumPy code does
with ``np.random.randn(...) * std``. This differs from ``jax.nn.initializers.he_normal`` /
``glorot_normal`` (and Keras' ``HeNormal`` / ``GlorotNormal``), which draw a normal truncated
at two standard deviations and rescaled; same target std, different samples and tails.

Example::

    >>> import jax
    >>> from jaxdl import init
    >>> params = init.init_mlp(jax.random.key(0), [2, 10, 5, 1], method="he")
    >>> sorted(params), params["W1"].shape, params["b3"].shape
    (['W1', 'W2', 'W3', 'b1', 'b2', 'b3'], (2, 10), (1,))
"""

from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import _validate as v

__all__ = ["zeros", "normal", "he_normal", "glorot_normal", "init_mlp", "METHODS"]

#: Methods accepted by :func:`init_mlp`.
METHODS = ("zeros", "random", "he", "xavier", "glorot")

_DEFAULT_RANDOM_SCALE = 10.0


def _check_shape_arg(name: str, shape: Any, *, ndim: int | None = None) -> tuple[int, ...]:
    """``shape`` must be a tuple/list of non-negative Python ints (of rank ``ndim`` if given)."""
    if isinstance(shape, (int,)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of ints, got {type(shape).__name__} {shape!r}")
    for i, s in enumerate(shape):
        try:
            v.check_positive_int(f"{name}[{i}]", s, allow_zero=True)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{e} (in {name}={tuple(shape)!r})") from None
    shape = tuple(int(s) for s in shape)
    if ndim is not None and len(shape) != ndim:
        raise ValueError(
            f"{name} must have {ndim} entries (n_in, n_out) for a dense weight, got {shape}"
        )
    return shape


def zeros(key: Any, shape: Sequence[int]) -> jax.Array:
    """All-zeros float32 array of ``shape``; ``key`` is checked but unused.

    Takes a key only so every initializer has the same signature ``f(key, shape)``.

    >>> zeros(jax.random.key(0), (2, 3)).sum()
    Array(0., dtype=float32)
    """
    v.check_key("key", key)
    shape = _check_shape_arg("shape", shape)
    return jnp.zeros(shape, jnp.float32)


def normal(key: Any, shape: Sequence[int], scale: float = 0.01) -> jax.Array:
    """Plain normal ``scale * N(0, 1)``, float32 (course: ``np.random.randn(*shape) * 0.01``).

    >>> normal(jax.random.key(0), (3, 2), scale=10.0).shape
    (3, 2)
    """
    v.check_key("key", key)
    shape = _check_shape_arg("shape", shape)
    v.check_range("scale", scale, 0.0)
    return jax.random.normal(key, shape, jnp.float32) * scale


def he_normal(key: Any, shape: Sequence[int]) -> jax.Array:
    """He initialization: ``N(0, 1) * sqrt(2 / fan_in)`` with ``fan_in = shape[0]``, float32.

    ``shape`` is ``(n_in, n_out)`` (batch-first dense weight). This is a *plain* normal, as in
    the course (``np.random.randn(n_in, n_out) * np.sqrt(2 / n_in)``). Note that
    ``jax.nn.initializers.he_normal()`` is a *truncated* normal (cut at 2 std, rescaled to the
    same variance), so it gives different numbers from the same key and has no tails.

    Sizes of 0 are allowed, as in ``jax.nn.initializers`` (which divides by
    ``max(1, fan_in)``): ``(0, 5)`` and ``(5, 0)`` give empty float32 arrays.

    Args:
      key: PRNG key.
      shape: ``(n_in, n_out)``, non-negative ints.

    Returns:
      float32 array of ``shape``.

    Raises:
      TypeError: ``key`` not a PRNG key; ``shape`` not a tuple/list of ints.
      ValueError: ``shape`` not of length 2, or with a negative entry.

    >>> W = he_normal(jax.random.key(0), (400, 300))
    >>> bool(abs(float(W.std()) - (2 / 400) ** 0.5) < 0.002)
    True
    >>> he_normal(jax.random.key(0), (0, 5)).shape
    (0, 5)
    """
    v.check_key("key", key)
    shape = _check_shape_arg("shape", shape, ndim=2)
    return jax.random.normal(key, shape, jnp.float32) * math.sqrt(2.0 / max(1, shape[0]))


def glorot_normal(key: Any, shape: Sequence[int]) -> jax.Array:
    """Glorot (Xavier) normal: ``N(0, 1) * sqrt(2 / (fan_in + fan_out))``, float32.

    ``shape`` is ``(fan_in, fan_out)``. A *plain* normal: same standard deviation as
    ``tf.keras.initializers.GlorotNormal`` / ``jax.nn.initializers.glorot_normal``, but those
    draw a truncated normal, so the samples do not match them. Sizes of 0 are allowed, as in
    ``jax.nn.initializers`` (an empty float32 array).

    Args:
      key: PRNG key.
      shape: ``(fan_in, fan_out)``, non-negative ints.

    Returns:
      float32 array of ``shape``.

    Raises:
      TypeError: ``key`` not a PRNG key; ``shape`` not a tuple/list of ints.
      ValueError: ``shape`` not of length 2, or with a negative entry.

    >>> glorot_normal(jax.random.key(0), (4, 3)).dtype
    dtype('float32')
    """
    v.check_key("key", key)
    shape = _check_shape_arg("shape", shape, ndim=2)
    return jax.random.normal(key, shape, jnp.float32) * math.sqrt(2.0 / max(1, shape[0] + shape[1]))


def _weight_std(method: str, n_in: int, n_out: int, scale: float) -> float:
    if method == "random":
        return scale
    if method == "he":
        return math.sqrt(2.0 / n_in)
    if method == "xavier":
        return math.sqrt(1.0 / n_in)
    if method == "glorot":
        return math.sqrt(2.0 / (n_in + n_out))
    raise AssertionError(method)  # pragma: no cover


def init_mlp(
    key: Any,
    layer_sizes: Sequence[int],
    method: str = "he",
    scale: float | None = None,
) -> dict[str, jax.Array]:
    """Initialize an MLP: ``{"W1", "b1", ..., "WL", "bL"}`` (float32, biases zero).

    ``layer_sizes = [n_0, n_1, ..., n_L]`` (``n_0`` = input features); ``W_l`` has shape
    ``(n_{l-1}, n_l)`` and ``b_l`` shape ``(n_l,)``. Weight std per ``method``:

    ========  ===============================================================
    zeros     all weights 0 (breaks symmetry: don't)
    random    ``N(0,1) * 10`` (the course's "large random"); ``scale`` overrides 10
    he        ``N(0,1) * sqrt(2 / n_{l-1})``  (same draw as :func:`he_normal`)
    xavier    ``N(0,1) * sqrt(1 / n_{l-1})``  (the course's Xavier)
    glorot    ``N(0,1) * sqrt(2 / (n_{l-1} + n_l))``  (same draw as :func:`glorot_normal`)
    ========  ===============================================================

    ``scale`` is only meaningful for ``"random"``; passing it with another method raises.

    Key convention: ``keys = jax.random.split(key, L)``; layer ``l`` (1-based) draws
    ``W_l = jax.random.normal(keys[l-1], (n_{l-1}, n_l), float32) * std``. Hence
    ``init_mlp(key, sizes, "he")["W2"] == he_normal(jax.random.split(key, L)[1], sizes[1:3])``.

    Compiled programs (called eagerly with a threefry key, jax's default): one, shared by
    every key, method and network whose layer count and largest ``n_{l-1} * n_l`` round up
    to the same powers of two (up to 2**20 entries drawn; a fresh process's first
    ``[2, 5, 2, 1]`` compiled four before, one per layer shape plus the keys); none for
    ``"zeros"``. Traced (under ``jit``/``vmap``), with another PRNG implementation or for
    larger networks: one program per layer shape plus one for the keys, as before. The
    arrays are the same either way.

    >>> p = init_mlp(jax.random.key(0), [2, 4, 1], method="random", scale=5.0)
    >>> p["W1"].shape, p["b1"].shape, p["W2"].shape, float(p["b2"][0])
    ((2, 4), (4,), (4, 1), 0.0)
    """
    v.check_key("key", key)
    if not isinstance(layer_sizes, (list, tuple)):
        raise TypeError(
            f"layer_sizes must be a list of ints [n_x, n_1, ..., n_L], got {type(layer_sizes).__name__}"
        )
    if len(layer_sizes) < 2:
        raise ValueError(
            f"layer_sizes must have at least 2 entries [n_x, ..., n_L], got {list(layer_sizes)!r}"
        )
    for i, n in enumerate(layer_sizes):
        try:
            v.check_positive_int(f"layer_sizes[{i}]", n)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{e} (in layer_sizes={list(layer_sizes)!r})") from None
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if scale is not None:
        if method != "random":
            raise ValueError(f"scale only applies to method='random', got scale={scale!r} with method={method!r}")
        v.check_range("scale", scale, 0.0)
        scale = float(scale)
    else:
        scale = _DEFAULT_RANDOM_SCALE

    sizes = [int(n) for n in layer_sizes]
    shapes = list(zip(sizes[:-1], sizes[1:]))
    stds = [0.0 if method == "zeros" else _weight_std(method, n_in, n_out, scale) for n_in, n_out in shapes]
    weights = _weights_in_one_program(key, shapes, stds, method == "zeros")
    params: dict[str, jax.Array] = {}
    if weights is not None:
        for l, (W, (n_in, n_out)) in enumerate(zip(weights, shapes), start=1):
            params[f"W{l}"], params[f"b{l}"] = W, jax.device_put(np.zeros((n_out,), np.float32))
        return params
    keys = _layer_keys(key, len(shapes))
    for l, (n_in, n_out) in enumerate(shapes, start=1):
        params[f"W{l}"], params[f"b{l}"] = _dense_layer(keys[l - 1], np.float32(stds[l - 1]),
                                                        (n_in, n_out), method == "zeros")
    return params


#: Most entries (layers x widest layer, both rounded up to powers of two) drawn by
#: :func:`_weight_table`; larger networks take one program per layer shape.
_TABLE_MAX_ENTRIES = 1 << 20


def _next_power_of_two(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def _is_threefry_key(key: Any) -> bool:
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return str(jax.random.key_impl(key)) == "threefry2x32"
    return jax.config.jax_default_prng_impl == "threefry2x32"


def _weights_in_one_program(key: Any, shapes: list[tuple[int, int]], stds: list[float],
                            zeros: bool) -> list[jax.Array] | None:
    """The weights of :func:`init_mlp` from at most one compiled program, or None (then one per layer shape).

    A threefry key with ``jax_threefry_partitionable`` (jax's default) draws entry ``i`` of
    ``jax.random.normal(k, shape)`` from ``k`` and ``i`` alone, and ``split(key, L)`` is the
    first ``L`` rows of ``split(key, L')`` for ``L' >= L``; so ``normal(keys[l], (n_in, n_out))``
    is the first ``n_in * n_out`` entries of row ``l`` of :func:`_weight_table`'s draw with
    the layer count and the widest layer's size rounded up to powers of two, reshaped. One
    program then serves every network in the same size class, every key and method. The
    rows are cut on the host (cutting them on the device compiled a program per slice).
    Inside a transformation (a traced key), with another PRNG implementation or for large
    networks, returns None.
    """
    if zeros and not isinstance(key, jax.core.Tracer):
        return [jax.device_put(np.zeros(shape, np.float32)) for shape in shapes]
    if isinstance(key, jax.core.Tracer) or not jax.config.jax_threefry_partitionable or not _is_threefry_key(key):
        return None
    rows = _next_power_of_two(len(shapes))
    width = _next_power_of_two(max(n_in * n_out for n_in, n_out in shapes))
    if rows * width > _TABLE_MAX_ENTRIES:
        return None
    row_stds = np.zeros((rows,), np.float32)
    row_stds[: len(stds)] = stds
    table = np.asarray(_weight_table(key, row_stds, rows, width))
    return [jax.device_put(np.ascontiguousarray(table[l, : n_in * n_out].reshape(n_in, n_out)))
            for l, (n_in, n_out) in enumerate(shapes)]


@functools.partial(jax.jit, static_argnums=(2, 3))
def _weight_table(key: Any, stds: jax.Array, rows: int, width: int) -> jax.Array:
    # Row l: normal(split(key, rows)[l], (width,)) * stds[l]; the barrier as in _dense_layer.
    keys = jax.random.split(key, rows)
    normals = jax.vmap(lambda k: jax.random.normal(k, (width,), jnp.float32))(keys)
    return jax.lax.optimization_barrier(normals) * stds[:, None]


@functools.partial(jax.jit, static_argnums=1)
def _layer_keys(key: Any, num_layers: int) -> tuple[jax.Array, ...]:
    # split(key, L) as L separate keys in one program (indexing the split array eagerly
    # compiled a slicing program per index).
    keys = jax.random.split(key, num_layers)
    return tuple(keys[i] for i in range(num_layers))


@functools.partial(jax.jit, static_argnames=("shape", "zeros"))
def _dense_layer(key: Any, std: jax.Array, shape: tuple[int, int],
                 zeros: bool) -> tuple[jax.Array, jax.Array]:
    # The path of traced keys, other PRNG implementations and large networks: one compiled
    # program per layer shape (and key type), shared by every method, scale, depth and
    # network with that shape: std is an argument, not a constant. Same draws as eager: the
    # barrier keeps XLA from merging `* std` into normal's own last multiply (1 ulp off the
    # normal(key) * std that he_normal and a student compute).
    if zeros:
        W = jnp.zeros(shape, jnp.float32)
    else:
        W = jax.lax.optimization_barrier(jax.random.normal(key, shape, jnp.float32)) * std
    return W, jnp.zeros((shape[1],), jnp.float32)
