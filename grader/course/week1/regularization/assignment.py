"""``week1/regularization``: the L2-regularized cost and its gradients, inverted dropout.

The network is the course's 3-layer LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID,
batch-first (``X`` (m, n_x), ``W_l`` (n_{l-1}, n_l), ``b_l`` (n_l,), ``Y`` (m, 1) float32).
Expected values are computed in the parent (NumPy float64 transcriptions of the course's
formulas, cast to float32, so building cases compiles nothing; ``jax`` for the random numbers
and for the gradients):

- the cost: the course's cross-entropy (``nansum`` / m) plus ``lambd / (2 m) * sum ||W_l||^2``;
- the backward passes: ``dW_l``, ``db_l`` are ``jax.grad`` of the same cost (L2-regularized,
  or the plain cost through the dropout forward pass with the same masks), and the course's
  intermediate entries ``dZ3 = A3 - Y``, ``dA2``, ``dZ2``, ``dA1``, ``dZ1`` come from the
  course's formulas (they are ``m`` times a gradient, so ``jax.grad`` is not their
  reference); hand-written float32 vs ``jax.grad`` is judged with rtol 1e-4, atol 1e-5;
- dropout: ``key1, key2 = jax.random.split(key)``, ``D_l = uniform(key_l, A_l.shape) <
  keep_prob`` as float32 (the uniform draws come from ``jax.random``, so the masks are
  bit-exact), ``A_l = A_l * D_l / keep_prob`` (the stub's convention); the whole cache is
  compared, masks included. The backward cases use keys whose masks drop at least one unit
  of each layer, so forgetting the masks shows (only in ``dA1``/``dA2``: ``dW`` and ``db``
  are unchanged by that mistake, since the cached ``A1``, ``A2`` are already zero there).

Known mistakes are computed the same way (L2 over m, biases penalized, gradient term missing
or not over m, no 1/keep_prob, mask with >, dropout on the output, one key for both masks,
backward without the masks or without 1/keep_prob). Dropping the output layer is also
recognised whatever its key handling: the returned ``A3`` is then not ``sigmoid(Z3)``.

Hidden cases: other n_x, n_1, n_2 and m, the same for every seed (:data:`HIDDEN_SIZES`: the
shape rule of :mod:`grader.case_tools`; all sizes distinct, m odd, so a transposed matrix or a
mean over the wrong axis shows), values and keys drawn per seed; ``lambd``/``keep_prob`` drawn
per seed, except in the ``jax.jit`` cases, where they are static (compiled in) and fixed
(:data:`JIT_LAMBD`, :data:`JIT_KEEP_PROB`, other than the visible ones); same key -> same dropout, another key -> other masks; a raw
``PRNGKey``; float32 in, float32 out. Parameters have non-zero biases (so penalizing them
shows) and moderate scale (so ``A3`` is not saturated and ``jax.grad`` is accurate in float32).

Import policy: ``jaxdl.losses`` (``l2_penalty``) and ``jaxdl.nn`` (``dropout``) would be the
answer; ``optax`` and ``flax`` are refused too.
"""

from __future__ import annotations

import functools

import numpy as np

from grader.judge import Symptom
from grader import case_tools
from grader.case_tools import rng as _rng
from grader.spec import Assignment, Case, Part

from .mistakes import MISTAKES

F32 = np.float32

HINTS = {slug: mistake.message for slug, mistake in MISTAKES.items()}

BACKWARD_KEYS = ("dZ3", "dW3", "db3", "dA2", "dZ2", "dW2", "db2", "dA1", "dZ1", "dW1", "db1")
GRAD_TOL = {"rtol": 1e-4, "atol": 1e-5}  # hand-written float32 backward vs jax.grad


# ------------------------------------------------------------------ inputs


def make_problem(r: np.random.Generator, dims, m: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """``X`` (m, n_x), ``Y`` (m, 1) 0/1 float32 with both labels, parameters with non-zero biases."""
    X = r.normal(size=(m, dims[0])).astype(F32)
    Y = (r.random((m, 1)) < 0.5).astype(F32)
    Y[0, 0], Y[1, 0] = 1.0, 0.0
    params = {}
    for l in range(1, len(dims)):
        params[f"W{l}"] = (r.normal(size=(dims[l - 1], dims[l])) * np.sqrt(1.0 / dims[l - 1])).astype(F32)
        params[f"b{l}"] = (0.1 * r.normal(size=(dims[l],))).astype(F32)
    return X, Y, params


# Hidden sizes ([n_x, n_1, n_2, 1], m), fixed (the shape rule of grader.case_tools) and other
# than the visible ([3, 2, 3, 1], 5): n_x, n_1, n_2 and m all distinct, m odd.
HIDDEN_SIZES = (((4, 7, 3, 1), 9), ((5, 3, 6, 1), 11))
# The static ``lambd`` / ``keep_prob`` of the jit cases: compiled into the student's program.
JIT_LAMBD, JIT_KEEP_PROB = 1.3, 0.8


def random_problem(r: np.random.Generator, sizes=HIDDEN_SIZES[0]):
    """``(X, Y, params, dims)`` of the hidden ``sizes`` (``(dims, m)``), values drawn from ``r``."""
    dims, m = sizes
    return (*make_problem(r, list(dims), m), list(dims))


def _dims_label(name: str, X, params) -> str:
    dims = [X.shape[1]] + [params[f"W{l}"].shape[1] for l in (1, 2, 3)]
    return f"{name} on m={X.shape[0]} examples, layers {dims}"


# ------------------------------------------------------------------ the course's network, parent side
#
# Forward passes, costs and the course's backward formulas are NumPy float64 transcriptions
# (results cast to float32), so building cases needs no JAX compilation; JAX provides the
# dropout masks' random numbers and, for the backward parts, jax.grad of the cost.


def _relu(z):
    return np.maximum(z, 0.0)


def _sigmoid(z):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def _f32(tree):
    if isinstance(tree, dict):
        return {k: np.asarray(v, F32) for k, v in tree.items()}
    return tuple(np.asarray(v, F32) for v in tree)


def _p64(params) -> dict:
    return {k: np.asarray(v, np.float64) for k, v in params.items()}


def forward(X, params):
    """The course's forward pass without dropout; returns float32 (A3, cache)."""
    p = _p64(params)
    Z1 = np.asarray(X, np.float64) @ p["W1"] + p["b1"]
    A1 = _relu(Z1)
    Z2 = A1 @ p["W2"] + p["b2"]
    A2 = _relu(Z2)
    Z3 = A2 @ p["W3"] + p["b3"]
    A3 = _sigmoid(Z3)
    cache = _f32((Z1, A1, p["W1"], p["b1"], Z2, A2, p["W2"], p["b2"], Z3, A3, p["W3"], p["b3"]))
    return cache[9], cache


def uniforms(key, m: int, n1: int, n2: int, variant: str | None = None) -> tuple:
    """The uniform draws behind the masks: (u1 (m, n1), u2 (m, n2)[, u3 (m, 1)]), float32."""
    import jax
    import jax.numpy as jnp

    if variant == "dropout_on_output_layer":
        keys = jax.random.split(key, 3)
        shapes = ((m, n1), (m, n2), (m, 1))
    elif variant == "dropout_same_key_both_layers":
        keys, shapes = (key, key), ((m, n1), (m, n2))
    else:
        keys, shapes = jax.random.split(key), ((m, n1), (m, n2))
    return tuple(np.asarray(jax.random.uniform(k, s, dtype=jnp.float32)) for k, s in zip(keys, shapes))


def forward_dropout(key, X, params, keep_prob, variant: str | None = None):
    """The stub's dropout forward pass (``variant`` = a known mistake); float32 (A3, cache)."""
    p = _p64(params)
    m = X.shape[0]
    u = uniforms(key, m, p["W1"].shape[1], p["W2"].shape[1], variant)

    def drop(ui, A):
        D = ((ui > F32(keep_prob)) if variant == "dropout_mask_greater" else (ui < F32(keep_prob))).astype(np.float64)
        A = A * D
        return D, (A if variant == "dropout_not_scaled" else A / keep_prob)

    Z1 = np.asarray(X, np.float64) @ p["W1"] + p["b1"]
    D1, A1 = drop(u[0], _relu(Z1))
    Z2 = A1 @ p["W2"] + p["b2"]
    D2, A2 = drop(u[1], _relu(Z2))
    Z3 = A2 @ p["W3"] + p["b3"]
    A3 = _sigmoid(Z3)
    if variant == "dropout_on_output_layer":
        A3 = A3 * (u[2] < F32(keep_prob)) / keep_prob
    cache = _f32((Z1, D1, A1, p["W1"], p["b1"], Z2, D2, A2, p["W2"], p["b2"], Z3, A3, p["W3"], p["b3"]))
    return cache[11], cache


def cross_entropy(A3, Y) -> float:
    A3, Y = np.asarray(A3, np.float64), np.asarray(Y, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        logprobs = -(Y * np.log(A3) + (1.0 - Y) * np.log(1.0 - A3))
    return float(np.nansum(logprobs) / Y.shape[0])


def l2_cost(A3, Y, params, lambd, variant: str | None = None) -> np.ndarray:
    """The regularized cost (or a known mistake's), a float32 0-d array."""
    m = Y.shape[0]
    names = list(params) if variant == "l2_cost_includes_biases" else ["W1", "W2", "W3"]
    factor = lambd / m if variant == "l2_cost_over_m" else lambd / (2 * m)
    penalty = sum(float(np.sum(np.square(np.asarray(params[n], np.float64)))) for n in names)
    return np.asarray(cross_entropy(A3, Y) + factor * penalty, F32)


def _backward(X, Y, cache, *, lambd: float = 0.0, l2_variant: str | None = None,
              masks=None, keep_prob: float = 1.0, drop_variant: str | None = None) -> dict:
    """The course's backward pass (L2 term and/or dropout masks), with a known mistake; float32."""
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    m = X.shape[0]
    Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3 = (np.asarray(c, np.float64) for c in cache)

    def reg(W):
        if lambd == 0 or l2_variant == "l2_gradient_missing":
            return 0.0
        return (lambd if l2_variant == "l2_gradient_not_over_m" else lambd / m) * W

    def drop(dA, D):
        if masks is None:
            return dA
        if drop_variant != "backward_dropout_masks_not_reapplied":
            dA = dA * D
        if drop_variant != "backward_dropout_not_scaled":
            dA = dA / keep_prob
        return dA

    D1, D2 = masks if masks is not None else (None, None)
    dZ3 = A3 - Y
    dW3 = 1.0 / m * (A2.T @ dZ3) + reg(W3)
    db3 = 1.0 / m * np.sum(dZ3, axis=0)
    dA2 = drop(dZ3 @ W3.T, D2)
    dZ2 = np.where(A2 > 0, dA2, 0.0)
    dW2 = 1.0 / m * (A1.T @ dZ2) + reg(W2)
    db2 = 1.0 / m * np.sum(dZ2, axis=0)
    dA1 = drop(dZ2 @ W2.T, D1)
    dZ1 = np.where(A1 > 0, dA1, 0.0)
    dW1 = 1.0 / m * (X.T @ dZ1) + reg(W1)
    db1 = 1.0 / m * np.sum(dZ1, axis=0)
    out = {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2,
           "db2": db2, "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}
    return {k: np.asarray(out[k], F32) for k in BACKWARD_KEYS}


def _course_cost(p, X, Y, D1, D2, lambd, keep_prob, dropout: bool):
    """The course's cost (float32): L2-regularized, or with ``dropout`` through the masks."""
    import jax
    import jax.numpy as jnp

    m = X.shape[0]
    A = X
    for l, D in ((1, D1), (2, D2)):
        A = jax.nn.relu(A @ p[f"W{l}"] + p[f"b{l}"][None, :])
        if dropout:
            A = A * D / keep_prob
    A3 = jax.nn.sigmoid(A @ p["W3"] + p["b3"][None, :])
    ce = jnp.nansum(-(Y * jnp.log(A3) + (1.0 - Y) * jnp.log(1.0 - A3))) / m
    l2 = sum(jnp.sum(jnp.square(p[f"W{l}"])) for l in (1, 2, 3))
    return ce + lambd / (2 * m) * l2


@functools.lru_cache(maxsize=1)
def _course_grad():
    """``jax.grad`` of :func:`_course_cost`, compiled once per shape: ``lambd`` and
    ``keep_prob`` are traced arguments, so a new value compiles nothing."""
    import jax

    return jax.jit(jax.grad(_course_cost), static_argnames="dropout")


def jax_gradients(X, Y, params, *, lambd: float = 0.0, masks=None, keep_prob: float = 1.0) -> dict:
    """``jax.grad`` (float32, compiled) of the course's cost: L2-regularized, or through the
    dropout forward pass with the given masks; keyed ``dW1, db1, ...``."""
    D1, D2 = masks if masks is not None else (np.zeros((), F32), np.zeros((), F32))
    grads = _course_grad()(*case_tools.as_jax((dict(params), X, Y, D1, D2)), F32(lambd), F32(keep_prob),
                           dropout=masks is not None)
    return {"d" + k: np.asarray(v) for k, v in grads.items()}


def _with_autodiff(course: dict, grads: dict) -> dict:
    """The course's dict with dW_l, db_l replaced by ``jax.grad`` of the cost."""
    return {k: grads.get(k, course[k]) for k in course}


# ------------------------------------------------------------------ compute_cost_with_regularization


def _cost_case(A3, Y, params, lambd, label, jit: bool = False) -> Case:
    return Case(args=(A3, Y, params, lambd), expected=lambda: l2_cost(A3, Y, params, lambd),
                label=label + f", lambd={lambd:g}", jit=jit, static_argnums=(3,) if jit else (),
                rtol=1e-5, atol=1e-6,
                mistakes=tuple((HINTS[v], lambda v=v: l2_cost(A3, Y, params, lambd, v))
                               for v in ("l2_cost_over_m", "l2_cost_includes_biases")))




def cost_visible():
    r = _rng(11)
    X, Y, params = make_problem(r, [3, 2, 3, 1], 5)
    return [_cost_case(forward(X, params)[0], Y, params, 0.1,
                       _dims_label("the cost", X, params))]


def cost_hidden(seed: int):
    r = _rng(seed)
    out = []
    for jit, sizes in zip((False, False, True), (*HIDDEN_SIZES, HIDDEN_SIZES[0])):
        X, Y, params, _ = random_problem(r, sizes)
        lambd = JIT_LAMBD if jit else float(r.uniform(0.05, 2.0))
        out.append(_cost_case(forward(X, params)[0], Y, params, lambd, _dims_label("the cost", X, params), jit=jit))
    return out


# ------------------------------------------------------------------ backward_propagation_with_regularization


def _l2_backward_case(X, Y, params, lambd, jit: bool = False) -> Case:
    _, cache = forward(X, params)

    def expected():
        return _with_autodiff(_backward(X, Y, cache, lambd=lambd), jax_gradients(X, Y, params, lambd=lambd))

    mistakes = tuple((HINTS[v], lambda v=v: _backward(X, Y, cache, lambd=lambd, l2_variant=v))
                     for v in ("l2_gradient_missing", "l2_gradient_not_over_m"))
    return Case(args=(X, Y, cache, lambd), expected=expected, jit=jit,
                static_argnums=(3,) if jit else (), mistakes=mistakes, **GRAD_TOL,
                label=_dims_label("the L2 backward pass", X, params) + f", lambd={lambd:g}")


def l2_backward_visible():
    X, Y, params = make_problem(_rng(12), [3, 2, 3, 1], 5)
    return [_l2_backward_case(X, Y, params, 0.7)]


def l2_backward_hidden(seed: int):
    r = _rng(seed)
    out = []
    for jit, sizes in zip((False, False, True), (*HIDDEN_SIZES, HIDDEN_SIZES[0])):
        X, Y, params, _ = random_problem(r, sizes)
        out.append(_l2_backward_case(X, Y, params, JIT_LAMBD if jit else float(r.uniform(0.1, 2.0)), jit=jit))
    return out


# ------------------------------------------------------------------ forward_propagation_with_dropout


def _sigmoid_mismatch(out) -> bool:
    """The returned A3 is not sigmoid(Z3) of the returned cache's Z3 (dropout on the output)."""
    A3, cache = out
    Z3 = np.asarray(cache[10], np.float64)
    return A3.shape == Z3.shape and not np.allclose(A3, _sigmoid(Z3), rtol=1e-4, atol=1e-6)


def _dropout_case(key, X, params, keep_prob, label, *, other=None, jit: bool = False) -> Case:
    def run(variant=None):
        return lambda: forward_dropout(key, X, params, keep_prob, variant)

    mistakes = tuple((HINTS[v], run(v)) for v in ("dropout_not_scaled", "dropout_mask_greater",
                                                   "dropout_on_output_layer",
                                                   "dropout_same_key_both_layers"))
    mistakes += ((HINTS["dropout_on_output_layer"], Symptom(_sigmoid_mismatch)),)
    return Case(args=(key, X, params, keep_prob), expected=run(), jit=jit,
                static_argnums=(3,) if jit else (), rtol=1e-5, atol=1e-6, mistakes=mistakes,
                key_args=None if other is None else (other, X, params, keep_prob),
                label=label + f", keep_prob={keep_prob:g}")


def dropout_visible():
    import jax

    X, Y, params = make_problem(_rng(13), [3, 2, 3, 1], 5)
    return [_dropout_case(jax.random.key(1), X, params, 0.7,
                          _dims_label("dropout with jax.random.key(1)", X, params))]


def dropout_hidden(seed: int):
    import jax

    r = _rng(seed)
    s = [int(x) for x in r.integers(0, 2**31 - 1, size=3)]
    out = []
    for i, (raw, jit) in enumerate(((False, False), (True, False), (False, True))):
        X, Y, params, _ = random_problem(r, HIDDEN_SIZES[i % 2])
        make = jax.random.PRNGKey if raw else jax.random.key
        kp = JIT_KEEP_PROB if jit else float(np.round(r.uniform(0.5, 0.9), 2))
        name = f"dropout with jax.random.{'PRNGKey' if raw else 'key'}({s[i]})"
        out.append(_dropout_case(make(s[i]), X, params, kp, _dims_label(name, X, params),
                                 other=None if jit else make(s[i] ^ 1), jit=jit))
    return out


# ------------------------------------------------------------------ backward_propagation_with_dropout


def _dropout_backward_case(key, X, Y, params, keep_prob, label, jit: bool = False) -> Case:
    _, cache = forward_dropout(key, X, params, keep_prob)
    masks = (cache[1], cache[6])
    plain = tuple(cache[i] for i in (0, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13))

    def expected():
        return _with_autodiff(_backward(X, Y, plain, masks=masks, keep_prob=keep_prob),
                              jax_gradients(X, Y, params, masks=masks, keep_prob=keep_prob))

    mistakes = tuple((HINTS[v], lambda v=v: _backward(X, Y, plain, masks=masks, keep_prob=keep_prob,
                                                      drop_variant=v))
                     for v in ("backward_dropout_masks_not_reapplied", "backward_dropout_not_scaled"))
    return Case(args=(X, Y, cache, keep_prob), expected=expected, jit=jit,
                static_argnums=(3,) if jit else (), mistakes=mistakes, **GRAD_TOL,
                label=label + f", keep_prob={keep_prob:g}")


def _masked_key(seed: int, X, params, keep_prob):
    """The first key from ``seed`` whose two masks both drop some unit (so the masks matter)."""
    import jax

    m, n1, n2 = X.shape[0], params["W1"].shape[1], params["W2"].shape[1]
    while True:
        key = jax.random.key(seed)
        u1, u2 = uniforms(key, m, n1, n2)
        if (u1 >= F32(keep_prob)).any() and (u2 >= F32(keep_prob)).any():
            return key, seed
        seed += 1


def dropout_backward_visible():
    X, Y, params = make_problem(_rng(14), [3, 2, 3, 1], 5)
    key, s = _masked_key(1, X, params, 0.7)
    return [_dropout_backward_case(key, X, Y, params, 0.7,
                                   _dims_label(f"the dropout backward pass (masks of jax.random.key({s}))",
                                               X, params))]


def dropout_backward_hidden(seed: int):
    r = _rng(seed)
    out = []
    for jit, sizes in zip((False, False, True), (*HIDDEN_SIZES, HIDDEN_SIZES[0])):
        X, Y, params, _ = random_problem(r, sizes)
        kp = JIT_KEEP_PROB if jit else float(np.round(r.uniform(0.5, 0.9), 2))
        key, s = _masked_key(int(r.integers(0, 2**31 - 1)), X, params, kp)
        name = f"the dropout backward pass (masks of jax.random.key({s}))"
        out.append(_dropout_backward_case(key, X, Y, params, kp, _dims_label(name, X, params), jit=jit))
    return out


ASSIGNMENT = Assignment(
    id="week1/regularization",
    title="Regularization: L2 cost and gradients, inverted dropout",
    parts=(
        Part("compute_cost_with_regularization", 10, "cross-entropy + lambd / (2 m) * sum ||W_l||^2",
             cost_visible, cost_hidden),
        Part("backward_propagation_with_regularization", 10, "dW_l + lambd / m * W_l, checked against jax.grad",
             l2_backward_visible, l2_backward_hidden),
        Part("forward_propagation_with_dropout", 20, "masks from split(key), A * D / keep_prob on A1, A2",
             dropout_visible, dropout_hidden),
        Part("backward_propagation_with_dropout", 10, "dA * D / keep_prob, checked against jax.grad",
             dropout_backward_visible, dropout_backward_hidden),
    ),
    forbidden_imports=("jaxdl.losses", "jaxdl.nn", "optax", "flax"),
    allowed_imports="`jax` (with `jax.numpy`, `jax.random`), `numpy`, `math`",
)
