"""Layers as pure functions: activations, dense, dropout, batch norm and the course MLP.

Conventions: batch-first ``x`` of shape ``(m, n)``; dense weights ``W`` ``(n_in, n_out)``,
biases ``(n_out,)``; MLP parameters a flat dict ``{"W1", "b1", ..., "WL", "bL"}``.
Randomness only from an explicit ``key``; batch-norm running statistics are passed in and
returned (``(y, new_state)``), never stored. Everything is ``jax.jit``-able; arguments that
change the computation's structure (``train``, ``axis_name``) are plain Python values.

Example::

    >>> import jax, jax.numpy as jnp
    >>> from jaxdl import init, nn
    >>> params = init.init_mlp(jax.random.key(0), [3, 8, 2])
    >>> x = jnp.ones((5, 3))
    >>> nn.mlp_apply(params, x).shape
    (5, 2)
    >>> nn.mlp_apply(params, x, key=jax.random.key(1), dropout_rate=0.5, train=True).shape
    (5, 2)
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator
from typing import Any, Hashable

import jax
import jax.numpy as jnp
from jax import lax

from jaxdl import _validate as v

__all__ = [
    "relu",
    "sigmoid",
    "softmax",
    "log_softmax",
    "dense",
    "small_products_as_dots",
    "dropout",
    "mlp_apply",
    "mlp_num_layers",
    "batchnorm_init",
    "batchnorm",
    "mlp_batchnorm_init",
]


# --------------------------------------------------------------------------- activations


def _check_float_array(name: str, x: Any, *, min_ndim: int = 0) -> None:
    v.check_array(name, x)
    v.check_floating(name, x)
    if jnp.ndim(x) < min_ndim:
        raise ValueError(f"{name} must have rank >= {min_ndim}, got shape {v.shape_of(x)}")


def relu(x: jax.Array) -> jax.Array:
    """``max(x, 0)`` elementwise; gradient 0 at ``x == 0`` (as ``jax.nn.relu``).

    >>> relu(jnp.array([-1.0, 0.0, 2.0]))
    Array([0., 0., 2.], dtype=float32)
    """
    _check_float_array("x", x)
    x = jnp.asarray(x)
    return jnp.where(x > 0, x, jnp.zeros_like(x))


def sigmoid(x: jax.Array) -> jax.Array:
    """``1 / (1 + exp(-x))`` elementwise, without overflow for large ``|x|``.

    >>> sigmoid(jnp.array([0.0, 1000.0, -1000.0]))
    Array([0.5, 1. , 0. ], dtype=float32)
    """
    _check_float_array("x", x)
    return lax.logistic(jnp.asarray(x))


def _safe_shift(x: jax.Array, axis: int) -> tuple[jax.Array, jax.Array]:
    """``(x', m)`` with ``softmax(x) == softmax(x')`` and ``x' - m <= 0`` never ``inf - inf``.

    ``m`` is the row maximum (held constant for the gradient, as usual). Rows whose
    maximum is infinite are replaced by their limit: an all ``-inf`` row by zeros (it is
    ``0 + (-inf)``, and softmax is shift invariant: uniform), a row with ``+inf`` entries by
    ``0`` there and ``-inf`` elsewhere (the ``+inf`` entries share the mass). Finite rows
    are untouched, bit for bit; the replaced entries get zero gradient. An empty class axis
    (size 0) gives an empty result, as ``jax.nn.softmax`` does (``initial=-inf``: the
    maximum of no logits).
    """
    m = jnp.max(x, axis=axis, keepdims=True, initial=-jnp.inf)
    zero = jnp.zeros_like(x)
    neg_inf = jnp.full_like(x, -jnp.inf)
    x = jnp.where(m == jnp.inf, jnp.where(x == jnp.inf, zero, neg_inf), jnp.where(m == -jnp.inf, zero, x))
    m = jnp.where(jnp.isfinite(m), m, jnp.zeros_like(m))
    return x, lax.stop_gradient(m)


def log_softmax(x: jax.Array, axis: int = -1) -> jax.Array:
    """``x - logsumexp(x, axis)``, computed stably (the max is subtracted first).

    Finite for logits of any finite size (e.g. ``[1000, -1000]`` gives ``[0, -2000]``).
    Infinite logits get their limits instead of NaN: a ``-inf`` entry gives ``-inf``
    (probability 0) and its gradient is finite; a row of all ``-inf`` is treated as the
    equal-logits row it is a shift of (``log(1/C)`` everywhere, zero gradient); ``+inf``
    entries share the probability (``[inf, 0]`` gives ``[0, -inf]``). NaN stays NaN.

    Args:
      x: floating array, rank >= 1.
      axis: the class axis (an int in ``[-x.ndim, x.ndim)``).

    Returns:
      An array of ``x``'s shape and dtype.

    Raises:
      TypeError: ``x`` not floating, ``axis`` not an int.
      ValueError: ``x`` a scalar, ``axis`` out of range.

    >>> log_softmax(jnp.array([[1000.0, -1000.0]]))
    Array([[    0., -2000.]], dtype=float32)
    >>> log_softmax(jnp.array([[0.0, -jnp.inf], [-jnp.inf, -jnp.inf]]))
    Array([[ 0.       ,       -inf],
           [-0.6931472, -0.6931472]], dtype=float32)
    """
    _check_float_array("x", x, min_ndim=1)
    x = jnp.asarray(x)
    _check_axis("axis", axis, x)
    x, m = _safe_shift(x, axis)
    shifted = x - m
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=axis, keepdims=True))


def softmax(x: jax.Array, axis: int = -1) -> jax.Array:
    """``exp(x) / sum(exp(x), axis)``, computed stably (the max is subtracted first).

    Infinite logits as in :func:`log_softmax`: ``-inf`` gives probability 0, an all
    ``-inf`` row the uniform distribution, ``+inf`` entries share the probability.

    Args:
      x: floating array, rank >= 1.
      axis: the class axis.

    Returns:
      An array of ``x``'s shape and dtype whose slices along ``axis`` sum to 1.

    Raises:
      TypeError: ``x`` not floating, ``axis`` not an int.
      ValueError: ``x`` a scalar, ``axis`` out of range.

    >>> softmax(jnp.array([[0.0, 0.0]]))
    Array([[0.5, 0.5]], dtype=float32)
    >>> softmax(jnp.array([[jnp.inf, 0.0], [-jnp.inf, -jnp.inf]]))
    Array([[1. , 0. ],
           [0.5, 0.5]], dtype=float32)
    """
    _check_float_array("x", x, min_ndim=1)
    x = jnp.asarray(x)
    _check_axis("axis", axis, x)
    x, m = _safe_shift(x, axis)
    e = jnp.exp(x - m)
    return e / jnp.sum(e, axis=axis, keepdims=True)


def _check_axis(name: str, axis: Any, x: jax.Array) -> None:
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"{name} must be an int, got {type(axis).__name__} {axis!r}")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{name}={axis} is out of range for x of shape {x.shape}")


# --------------------------------------------------------------------------- dense


# Below this many multiply-adds (m * n_in * n_out) a product is computed as a fused
# multiply-and-sum instead of a dot: see :func:`dense`.
_SMALL_PRODUCT = 2048


_FUSE_SMALL_PRODUCTS: contextvars.ContextVar[bool] = contextvars.ContextVar("fuse_small_products", default=True)


@contextlib.contextmanager
def small_products_as_dots() -> Iterator[None]:
    """Within this block, :func:`dense` traces every product as a dot (no fused small path).

    For many tiny models trained side by side under ``jax.vmap``: there each tiny product
    becomes a batched one, and XLA:CPU runs a batched dot faster than the fused
    multiply-and-sum over a leading trial axis (64 moons trials: 0.54 s against 1.2 s).
    :func:`jaxdl.tune.random_search` uses it while tracing vmapped trials. It is read when a
    function is *traced*: wrap the first call of a ``jax.jit`` function (the one that
    traces), and note that jit reuses a trace made outside the block, and vice versa.
    """
    token = _FUSE_SMALL_PRODUCTS.set(False)
    try:
        yield
    finally:
        _FUSE_SMALL_PRODUCTS.reset(token)


def _matmul(x: jax.Array, W: jax.Array) -> jax.Array:
    """``x @ W`` for ``x (m, n_in)``, ``W (n_in, n_out)``; tiny float32/64 products without a dot."""
    m, n_in = x.shape
    n_out = W.shape[1]
    tiny = m * n_in * n_out <= _SMALL_PRODUCT and _FUSE_SMALL_PRODUCTS.get()
    if tiny and x.dtype in (jnp.float32, jnp.float64) and x.dtype == W.dtype:
        return jnp.sum(x[:, :, None] * W[None, :, :], axis=1)
    return x @ W


def dense(W: jax.Array, b: jax.Array, x: jax.Array) -> jax.Array:
    """Affine layer ``x @ W + b``.

    Shapes: ``W (n_in, n_out)``, ``b (n_out,)``, ``x (m, n_in)`` -> ``(m, n_out)``.

    Tiny products (``m * n_in * n_out <= 2048`` multiply-adds, float32/float64) are computed
    as ``sum(x[:, :, None] * W[None], axis=1)``, which XLA fuses with the bias and the
    activation, instead of a dot, which XLA:CPU runs as a separate library call costing
    ~1-2 us whatever its size. For the course's [2, 5, 2, 1] network at batch 64 this makes a
    training step about twice as fast; results equal ``x @ W`` up to float rounding. Under
    ``jax.vmap`` over many models, trace inside :func:`small_products_as_dots` instead.

    >>> dense(jnp.ones((3, 2)), jnp.zeros(2), jnp.ones((4, 3)))
    Array([[3., 3.],
           [3., 3.],
           [3., 3.],
           [3., 3.]], dtype=float32)
    """
    _check_dense_args(W, b, x)
    W, b, x = jnp.asarray(W), jnp.asarray(b), jnp.asarray(x)
    return _matmul(x, W) + b[None, :]


def _check_dense_args(W: Any, b: Any, x: Any, *, wname: str = "W", bname: str = "b", xname: str = "x") -> None:
    for name, a, nd in ((wname, W, 2), (bname, b, 1), (xname, x, 2)):
        v.check_ndim(name, a, nd)
        v.check_floating(name, a)
    sw, sb, sx = v.shape_of(W), v.shape_of(b), v.shape_of(x)
    if sx[1] != sw[0]:
        raise ValueError(
            f"{xname} has shape {sx} but {wname} has shape {sw}: need {xname}.shape[1] == "
            f"{wname}.shape[0] (x is (m, n_in), W is (n_in, n_out))"
        )
    if sb[0] != sw[1]:
        raise ValueError(
            f"{bname} has shape {sb} but {wname} has shape {sw}: need {bname}.shape == "
            f"({wname}.shape[1],) (b is (n_out,))"
        )


# --------------------------------------------------------------------------- dropout


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(
            f"{name} must be a Python bool (it is static: it changes the computation), "
            f"got {type(value).__name__} {value!r}"
        )


def dropout(key: Any, x: jax.Array, rate: float, *, train: bool = True) -> jax.Array:
    """Inverted dropout: zero each entry with probability ``rate``, scale survivors by ``1/(1-rate)``.

    ``rate`` is the DROP probability (``keep_prob = 1 - rate`` in the course). Mask convention
    (fixed, so results are reproducible from the key)::

        keep = jax.random.uniform(key, x.shape, jnp.float32) < 1 - rate
        out  = jnp.where(keep, x * (1 / (1 - rate)), 0)

    (with x64 off this is the same mask as ``jax.random.bernoulli(key, 1 - rate, x.shape)``;
    the uniform draw is always float32 so x64 mode does not change the mask).
    ``E[out] = x``. ``train=False`` or ``rate == 0`` returns ``x`` unchanged; ``rate == 1``
    returns zeros with zero (not NaN) gradients. ``rate`` must lie in ``[0, 1]``; it may be a
    traced scalar (the ``[0, 1]`` check then cannot run).

    >>> y = dropout(jax.random.key(0), jnp.ones((2, 4)), 0.5)
    >>> sorted(set(y.ravel().tolist())) in ([0.0, 2.0], [2.0], [0.0])
    True
    >>> dropout(jax.random.key(0), jnp.ones(3), 0.5, train=False)
    Array([1., 1., 1.], dtype=float32)
    """
    v.check_key("key", key)
    _check_float_array("x", x)
    v.check_range("rate", rate, 0.0, 1.0)
    _check_bool("train", train)
    x = jnp.asarray(x)
    if not train:
        return x
    if v.is_concrete_number(rate):
        rate = float(rate)
        if rate == 0.0:
            return x
        if rate == 1.0:
            return jnp.zeros_like(x)
        keep_prob = 1.0 - rate
        keep = jax.random.uniform(key, x.shape, jnp.float32) < keep_prob
        return jnp.where(keep, x * (1.0 / keep_prob), jnp.zeros_like(x))
    # Traced rate: same formula; guard the division so rate == 1 gives no inf/NaN gradients.
    rate = jnp.asarray(rate)
    v.check_floating("rate", rate)
    if rate.ndim != 0:
        raise ValueError(f"rate must be a scalar, got shape {rate.shape}")
    keep_prob = 1.0 - rate
    keep = jax.random.uniform(key, x.shape, jnp.float32) < keep_prob.astype(jnp.float32)
    safe = jnp.where(keep_prob > 0, keep_prob, jnp.ones_like(keep_prob)).astype(x.dtype)
    return jnp.where(keep, x * (1 / safe), jnp.zeros_like(x))


# --------------------------------------------------------------------------- batch norm


def batchnorm_init(num_features: int) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
    """Batch-norm parameters and running statistics for ``num_features`` features.

    Returns ``(params, state)``: ``params = {"gamma": ones, "beta": zeros}`` (trainable),
    ``state = {"mean": zeros, "var": ones}`` (running averages, not trained), all float32 of
    shape ``(num_features,)`` -- the same starting values as ``flax.linen.BatchNorm``.

    >>> p, s = batchnorm_init(3)
    >>> p["gamma"], s["var"].dtype
    (Array([1., 1., 1.], dtype=float32), dtype('float32'))
    """
    v.check_positive_int("num_features", num_features)
    n = int(num_features)
    params = {"gamma": jnp.ones((n,), jnp.float32), "beta": jnp.zeros((n,), jnp.float32)}
    state = {"mean": jnp.zeros((n,), jnp.float32), "var": jnp.ones((n,), jnp.float32)}
    return params, state


def _check_bn_dict(name: str, d: Any, keys: tuple[str, str], n: int, xshape: tuple[int, ...]) -> None:
    if not isinstance(d, dict) or set(d) != set(keys):
        got = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise ValueError(f"{name} must be a dict with keys {list(keys)} (see batchnorm_init), got {got}")
    for k in keys:
        v.check_array(f"{name}[{k!r}]", d[k])
        v.check_floating(f"{name}[{k!r}]", d[k])
        if v.shape_of(d[k]) != (n,):
            raise ValueError(
                f"{name}[{k!r}] must have shape ({n},) to match x of shape {xshape} "
                f"(features last), got shape {v.shape_of(d[k])}"
            )


def batchnorm(
    params: dict[str, jax.Array],
    state: dict[str, jax.Array],
    x: jax.Array,
    *,
    train: bool,
    momentum: float = 0.99,
    eps: float = 1e-5,
    axis_name: Hashable | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Batch normalization with explicit running statistics; same numbers as flax.

    ``x`` is ``(m, n)`` (or ``(..., n)``: features last, statistics over all other axes).
    ``params = {"gamma", "beta"}``, ``state = {"mean", "var"}``, each ``(n,)``
    (see :func:`batchnorm_init`). Returns ``(y, new_state)``.

    Train mode (``train=True``), exactly as ``flax.linen.BatchNorm(momentum, epsilon,
    use_fast_variance=False)`` computes it::

        mu  = mean(x, 0)                                  # pmean'd over axis_name if given
        var = mean((x - mu)**2, 0)                        # biased, two-pass; pmean'd likewise
        y   = (x - mu) * (rsqrt(var + eps) * gamma) + beta
        new_state = {"mean": momentum * state["mean"] + (1 - momentum) * mu,
                     "var":  momentum * state["var"]  + (1 - momentum) * var}

    The variance is computed from the centred batch (two passes over ``x``), never as
    ``E[x**2] - E[x]**2``: that one-pass form, flax's default (``use_fast_variance=True``),
    cancels catastrophically when ``|mean| >> std`` (float32 features with mean 1000 and
    std 0.1 come out with std 34 instead of 1, and the running variance is fed 0). Here
    the output has std 1 per feature to ``1e-3`` relative at ``mean/std = 1e4`` in float32.
    On well-conditioned inputs the two agree to float rounding. Gradients: ``mu`` is held
    constant inside ``var`` (``d var / d mu = -2 mean(x - mu)`` is exactly 0), so they equal
    flax's to float rounding and the backward pass costs what flax's fast variance costs.

    The biased batch variance is used both to normalize and for the running average
    (flax's choice; PyTorch would store the unbiased one). Eval mode (``train=False``)
    normalizes with ``state["mean"]``/``state["var"]`` and returns ``state`` unchanged.

    ``axis_name``: inside ``jax.shard_map``/``pmap`` over that axis, ``mu`` is averaged
    across devices (``lax.pmean``) and then the per-device means of ``(x - mu)**2`` around
    that global mean (a second ``pmean``), so every device uses the statistics of the
    global batch, as accurate as on one device (equal per-device batch sizes assumed).

    Args:
      params: ``{"gamma", "beta"}``, floating ``(n,)``.
      state: ``{"mean", "var"}``, floating ``(n,)``.
      x: floating ``(..., n)``, rank >= 2.
      train: a Python bool (static under ``jit``).
      momentum: running-average decay in ``[0, 1]``.
      eps: ``> 0``, added to the variance inside the square root.
      axis_name: the mapped axis to average the statistics over, or ``None``.

    Returns:
      ``(y, new_state)``: ``y`` of ``x``'s shape, computed in ``x``'s dtype (float32 for
      float16/bfloat16 inputs, and returned in float32); ``new_state`` keeps the dtypes
      of ``state``.

    Raises:
      TypeError: ``x`` not floating, ``train`` not a Python bool.
      ValueError: ``x`` of rank < 2; ``params``/``state`` without the right keys or with
        leaves not of shape ``(n,)``; ``momentum`` or ``eps`` out of range.

    References:
      Ioffe and Szegedy, "Batch Normalization", ICML 2015; ``flax.linen.BatchNorm``
      (``flax/linen/normalization.py``, ``_compute_stats``).

    >>> p, s = batchnorm_init(2)
    >>> y, s = batchnorm(p, s, jnp.array([[1.0, 2.0], [3.0, 6.0]]), train=True)
    >>> y.round(3), s["mean"].round(3)
    (Array([[-1., -1.],
           [ 1.,  1.]], dtype=float32), Array([0.02, 0.04], dtype=float32))
    """
    _check_float_array("x", x, min_ndim=2)
    xshape = v.shape_of(x)
    n = xshape[-1]
    _check_bn_dict("params", params, ("gamma", "beta"), n, xshape)
    _check_bn_dict("state", state, ("mean", "var"), n, xshape)
    _check_bool("train", train)
    v.check_range("momentum", momentum, 0.0, 1.0)
    v.check_range("eps", eps, 0.0, low_inclusive=False)

    x = jnp.asarray(x)
    # float16/bfloat16 compute in float32; float32/float64 in their own precision. (Written
    # out: promote_types(float64, float32) raises under strict dtype promotion.)
    dtype = x.dtype if jnp.finfo(x.dtype).bits >= 32 else jnp.dtype(jnp.float32)
    x = x.astype(dtype)
    red_axes = tuple(range(x.ndim - 1))

    if train:
        mu = _batch_mean(x, red_axes, axis_name)
        # d var / d mu = -2 mean(x - mu) = 0 exactly, so mu is held constant inside var: the
        # same gradient as flax's autodiff up to the rounding of that zero, one pass cheaper.
        centred = x - lax.stop_gradient(jnp.expand_dims(mu, red_axes))
        var = _batch_mean(lax.square(centred), red_axes, axis_name)
        old_mean = jnp.asarray(state["mean"])
        old_var = jnp.asarray(state["var"])
        new_state = {
            "mean": (momentum * old_mean.astype(dtype) + (1 - momentum) * mu).astype(old_mean.dtype),
            "var": (momentum * old_var.astype(dtype) + (1 - momentum) * var).astype(old_var.dtype),
        }
    else:
        mu = jnp.asarray(state["mean"]).astype(dtype)
        var = jnp.asarray(state["var"]).astype(dtype)
        new_state = state

    bshape = (1,) * (x.ndim - 1) + (n,)
    gamma = jnp.asarray(params["gamma"]).astype(dtype).reshape(bshape)
    beta = jnp.asarray(params["beta"]).astype(dtype).reshape(bshape)
    y = x - mu.reshape(bshape)
    mul = lax.rsqrt(var.reshape(bshape) + eps) * gamma
    y = y * mul + beta
    return y, new_state


def _batch_mean(x: jax.Array, axes: tuple[int, ...], axis_name: Hashable | None) -> jax.Array:
    """Mean over ``axes``, and across devices over ``axis_name`` when given."""
    mu = jnp.mean(x, axis=axes)
    return mu if axis_name is None else lax.pmean(mu, axis_name)


_batchnorm = batchnorm  # mlp_apply's ``batchnorm`` argument shadows the function name


# --------------------------------------------------------------------------- MLP

_PARAM_RE = re.compile(r"^([Wb])([1-9][0-9]*)$")


def mlp_num_layers(params: Any) -> int:
    """Number of layers ``L`` of an MLP parameter dict ``{"W1", "b1", ..., "WL", "bL"}``.

    Checks the dict: keys exactly ``W1..WL``/``b1..bL``, ``W_l`` rank 2, ``b_l`` of shape
    ``(W_l.shape[1],)`` and consecutive layers chaining (``W_{l+1}.shape[0] == W_l.shape[1]``).

    >>> mlp_num_layers({"W1": jnp.ones((2, 3)), "b1": jnp.zeros(3)})
    1
    """
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict {{'W1', 'b1', ..., 'WL', 'bL'}}, got {type(params).__name__}")
    layers: dict[str, set[int]] = {"W": set(), "b": set()}
    for k in params:
        m = _PARAM_RE.match(k) if isinstance(k, str) else None
        if m is None:
            raise ValueError(
                f"params has unexpected key {k!r}; expected only 'W1', 'b1', ..., 'WL', 'bL' "
                f"(got keys {sorted(map(str, params))})"
            )
        layers[m.group(1)].add(int(m.group(2)))
    L = len(layers["W"])
    if L == 0 or layers["W"] != set(range(1, L + 1)) or layers["b"] != layers["W"]:
        raise ValueError(
            f"params must have keys W1..WL and b1..bL for consecutive layers, got keys "
            f"{sorted(map(str, params))}"
        )
    for l in range(1, L + 1):
        W, b = params[f"W{l}"], params[f"b{l}"]
        v.check_ndim(f"params['W{l}']", W, 2)
        v.check_ndim(f"params['b{l}']", b, 1)
        if v.shape_of(b)[0] != v.shape_of(W)[1]:
            raise ValueError(
                f"params['b{l}'] has shape {v.shape_of(b)} but params['W{l}'] has shape "
                f"{v.shape_of(W)}: need b{l}.shape == (W{l}.shape[1],)"
            )
        if l > 1 and v.shape_of(W)[0] != v.shape_of(params[f"W{l - 1}"])[1]:
            raise ValueError(
                f"params['W{l}'] has shape {v.shape_of(W)} but params['W{l - 1}'] has shape "
                f"{v.shape_of(params[f'W{l - 1}'])}: need W{l}.shape[0] == W{l - 1}.shape[1]"
            )
    return L


def mlp_batchnorm_init(layer_sizes: Any) -> tuple[list[dict], list[dict]]:
    """Batch-norm ``(bn_params, bn_state)`` for :func:`mlp_apply`, one entry per hidden layer.

    ``layer_sizes = [n_0, n_1, ..., n_L]`` as for ``init.init_mlp``; returns two lists of
    length ``L - 1``: entry ``l-1`` is :func:`batchnorm_init(n_l) <batchnorm_init>`.

    >>> bn_params, bn_state = mlp_batchnorm_init([3, 8, 4, 1])
    >>> len(bn_params), bn_state[1]["mean"].shape
    (2, (4,))
    """
    if not isinstance(layer_sizes, (list, tuple)) or len(layer_sizes) < 2:
        raise ValueError(f"layer_sizes must be a list [n_x, n_1, ..., n_L], got {layer_sizes!r}")
    pairs = [batchnorm_init(n) for n in layer_sizes[1:-1]]
    return [p for p, _ in pairs], [s for _, s in pairs]


def _check_mlp_batchnorm(batchnorm_arg: Any, params: dict, L: int) -> tuple[list, list]:
    if not (isinstance(batchnorm_arg, (tuple, list)) and len(batchnorm_arg) == 2):
        raise TypeError(
            "batchnorm must be a pair (bn_params, bn_state) of lists with one entry per hidden "
            f"layer (see mlp_batchnorm_init), got {type(batchnorm_arg).__name__}"
        )
    bn_params, bn_state = batchnorm_arg
    for name, seq in (("bn_params", bn_params), ("bn_state", bn_state)):
        if not isinstance(seq, (list, tuple)) or len(seq) != L - 1:
            got = f"length {len(seq)}" if isinstance(seq, (list, tuple)) else type(seq).__name__
            raise ValueError(
                f"batchnorm: {name} must be a list with one entry per hidden layer "
                f"(L - 1 = {L - 1} for params with L = {L} layers), got {got}"
            )
    for l in range(1, L):
        n = v.shape_of(params[f"W{l}"])[1]
        shape = ("m", n)
        _check_bn_dict(f"bn_params[{l - 1}] (hidden layer {l})", bn_params[l - 1], ("gamma", "beta"), n, shape)
        _check_bn_dict(f"bn_state[{l - 1}] (hidden layer {l})", bn_state[l - 1], ("mean", "var"), n, shape)
    return list(bn_params), list(bn_state)


def mlp_apply(
    params: dict[str, jax.Array],
    x: jax.Array,
    *,
    key: Any = None,
    dropout_rate: float = 0.0,
    train: bool = False,
    batchnorm: Any = None,
    bn_momentum: float = 0.99,
    bn_eps: float = 1e-5,
    axis_name: Hashable | None = None,
) -> jax.Array | tuple[jax.Array, list[dict]]:
    """Forward pass of the course MLP; returns logits ``(m, n_L)`` (no final activation).

    For ``l = 1..L-1``: ``Z_l = A_{l-1} @ W_l + b_l``, ``A_l = relu(Z_l)`` (``A_0 = x``), and
    the output is ``Z_L = A_{L-1} @ W_L + b_L``. ``x`` is ``(m, n_0)``.

    Dropout: when ``train=True`` and ``dropout_rate > 0``, each hidden activation ``A_l``
    (never the input, never the logits) goes through :func:`dropout` with
    ``keys = jax.random.split(key, L - 1)`` and layer ``l`` using ``keys[l-1]``. ``key`` is
    then required. With ``train=False`` no dropout happens and ``key`` is ignored.

    Batch norm (optional): ``batchnorm=(bn_params, bn_state)``, two lists with one entry
    per hidden layer (``bn_params[l-1] = {"gamma","beta"}``, ``bn_state[l-1] = {"mean","var"}``,
    each ``(n_l,)``; build them with :func:`mlp_batchnorm_init`). Hidden layer ``l`` becomes
    ``A_l = relu(batchnorm(Z_l))`` (BN on ``Z`` before the activation, after the bias; the bias
    is then redundant but harmless), using batch statistics when ``train=True`` and running
    statistics otherwise, with ``bn_momentum``, ``bn_eps`` and ``axis_name`` passed to
    :func:`batchnorm`. The return value is then ``(logits, new_bn_state)`` (a list like
    ``bn_state``; unchanged when ``train=False``). To train, differentiate w.r.t.
    ``(params, bn_params)`` and carry ``bn_state`` as the auxiliary output.

    >>> from jaxdl import init
    >>> p = init.init_mlp(jax.random.key(0), [3, 4, 2])
    >>> bn = mlp_batchnorm_init([3, 4, 2])
    >>> logits, bn_state = mlp_apply(p, jnp.ones((5, 3)), batchnorm=bn, train=True)
    >>> logits.shape, len(bn_state)
    ((5, 2), 1)
    """
    L = mlp_num_layers(params)
    v.check_ndim("x", x, 2)
    v.check_floating("x", x)
    if v.shape_of(x)[1] != v.shape_of(params["W1"])[0]:
        raise ValueError(
            f"x has shape {v.shape_of(x)} but params['W1'] has shape {v.shape_of(params['W1'])}: "
            "need x.shape[1] == W1.shape[0] (x is (m, n_x))"
        )
    _check_bool("train", train)
    v.check_range("dropout_rate", dropout_rate, 0.0, 1.0)
    if key is not None:
        v.check_key("key", key)
    use_dropout = train and not (v.is_concrete_number(dropout_rate) and float(dropout_rate) == 0.0)
    if use_dropout and key is None:
        raise ValueError(
            f"mlp_apply with train=True and dropout_rate={dropout_rate!r} needs a PRNG key: "
            "pass key=jax.random.key(...)"
        )
    if batchnorm is not None:
        bn_params, bn_state = _check_mlp_batchnorm(batchnorm, params, L)

    keys = jax.random.split(key, max(L - 1, 1)) if use_dropout else None
    new_bn_state = []
    a = jnp.asarray(x)
    for l in range(1, L):
        z = dense(params[f"W{l}"], params[f"b{l}"], a)
        if batchnorm is not None:
            z, s = _batchnorm(
                bn_params[l - 1], bn_state[l - 1], z,
                train=train, momentum=bn_momentum, eps=bn_eps, axis_name=axis_name,
            )
            new_bn_state.append(s)
        a = relu(z)
        if use_dropout:
            a = dropout(keys[l - 1], a, dropout_rate, train=True)
    logits = dense(params[f"W{L}"], params[f"b{L}"], a)
    if batchnorm is not None:
        return logits, new_bn_state
    return logits
