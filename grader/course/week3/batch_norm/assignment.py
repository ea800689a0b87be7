"""``week3/batch_norm``: a stable softmax, batch norm forward and backward, a batch-norm MLP.

Expected values are computed in the parent: ``softmax`` and ``batchnorm_forward`` from a
float64 NumPy version of the formulas in the stub's docstrings (two-pass biased variance,
``eps`` inside the square root; the result cast to float32), ``batchnorm_backward`` from
``jax.vjp`` of the training-mode forward pass in float64 (``jax.enable_x64``), the composed
parts from the plain-jax helpers in ``trusted.py`` (this folder) (the project's tests check
those against ``jaxdl.nn.batchnorm``/``mlp_apply`` and the reference solution).

What shows each known mistake (``tests/mistakes/week3_batch_norm.py``):

- softmax without the max shift: logits of +-1000 (overflow: ``nan``); the tolerance there
  follows ``case_tools.tolerance`` (cond = max |z|), so every stable form passes;
- eval mode without ``eps``: a hidden case whose running variance is exactly 0 for a feature
  (``1 / sqrt(0)``: inf or nan);
- ``forward_propagation_with_batchnorm`` writing into its input ``state`` dict: a hidden case
  calls it twice on the same objects (``trusted.twice_on_the_same_inputs``) and judges the
  second result, which is then updated twice;
- unbiased variance: small batches (m <= 16, a factor sqrt((m - 1) / m) on the output);
- ``eps`` outside the square root: features whose batch variance is ~1e-5 (scale 3e-3, mean
  0, so the float32 rounding of ``Z - mu`` stays far below the tolerance);
- running statistics updated in eval mode / eval with batch statistics: ``train=False`` with
  running statistics unlike the batch's; never updated / momentum swapped: ``train=True``;
- the backward mistakes: any ``dout`` not constant over the batch.

Hidden sizes are the same for every seed (the shape rule of :mod:`grader.case_tools`):
the arrays' shapes, the layer sizes, and the trajectory case's numbers of examples and
mini-batches and its learning rate (which a jitted step compiles in); all other than the
visible cases'. Values, digits and keys are drawn per seed, so a resubmission compiles no new
program in the parent, the worker or the executor.

Most are recognised by a :class:`~grader.judge.Symptom` on the piece of the result they change
(the output, the new running mean, dZ, ...), so the hint also appears when something else is
off too.

``forward_propagation_with_batchnorm`` runs with the grader's ``batchnorm_forward`` bound in
the student's namespace, and ``model_with_batchnorm`` with the grader's
``batchnorm_forward``, ``forward_propagation_with_batchnorm``,
``initialize_parameters_with_batchnorm`` and ``compute_cost`` (``Case.replace``), so each
part is judged on its own code. ``model_with_batchnorm`` is judged on its result: the parent
measures, in the visible case, the eval-mode accuracy (running statistics, ``train=False``) of
the returned parameters and state on held-out digits (>= 0.9; the reference reaches 0.95-0.97,
about 1.5 to 4.5 s a run on one CPU core, mostly compilation) within a 30 s limit. A
returned state equal to the initial one (mean 0, variance 1), in either case, is one of two
known mistakes: the loss calling the network with ``train=False`` (every batch normalized
with the initial statistics, which are never updated) when the run follows the parent's
float32 replay of that loop, else the new state thrown away at every step (the parameters
those of the documented loop). In the hidden case it replays the documented loop with the
same key in float64 (``trusted.train_with_batchnorm``) on 231 digits for 4 epochs,
and compares the returned cost history, parameters and running statistics with it
(``case_tools.trajectory_verdict``, the trajectory rule of ``case_tools``); the training set
ends in a mini-batch of 7 examples, so a cost averaged per mini-batch is far from the
per-example one. A run that follows the replay with Keras's Adam ``eps`` (1e-7) passes too
(``grader.training_replay.ACCEPTED``). A run that leaves the replays is compared with the
replays of the known loop mistakes (Adam's state not carried, one shuffle for every epoch,
the cost averaged per mini-batch), and the one it matches is named.

Import policy (``ASSIGNMENT`` states it; the stub's paragraph is rendered from it):
``jaxdl.nn`` (its ``batchnorm``), ``jaxdl.losses`` (``compute_cost``), ``jaxdl.train`` (the
training loop), ``flax``, ``haiku`` and ``optax`` are refused;
``jaxdl.optim``, ``jaxdl.init`` and ``jaxdl.data`` are allowed (``jaxdl.optim`` imports optax
internally, so it is preloaded). ``jax.nn.softmax`` inside ``softmax`` cannot be refused by an
import policy (``jax.nn.relu`` is allowed); the stub asks students not to use it
(``discouraged``).
"""

from __future__ import annotations

import functools

import numpy as np

from grader.judge import Symptom
from grader import case_tools, training_replay
from grader.case_tools import rng as _rng
from grader.spec import Assignment, Case, Part

from .mistakes import MISTAKES

F32 = np.float32
TRUSTED = "trusted"  # this folder's trusted.py (spec.Case.replace)

HINTS = {slug: mistake.message for slug, mistake in MISTAKES.items()}

MODEL_HELPERS = {name: f"{TRUSTED}:{name}" for name in (
    "batchnorm_forward", "forward_propagation_with_batchnorm", "initialize_parameters_with_batchnorm",
    "compute_cost")}


def _close(a, b, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _not_finite(out) -> bool:
    return isinstance(out, np.ndarray) and out.dtype.kind == "f" and not bool(np.all(np.isfinite(out)))


# ------------------------------------------------------------------ softmax


def _softmax_np(Z, axis: int = -1) -> np.ndarray:
    z = np.asarray(Z, np.float64)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(F32)


def _softmax_case(Z: np.ndarray, label: str, **kw) -> Case:
    mistakes = [(HINTS["softmax_no_max_shift"], Symptom(_not_finite))]
    if Z.ndim >= 2 and Z.shape[0] > 1:
        mistakes.append((HINTS["softmax_wrong_axis"], _softmax_np(Z, axis=0)))
    # z - logsumexp(z) rounds at the scale of |z| (case_tools.tolerance): at logits of +-1000 a
    # float32 probability is good to ~1e-4, whichever stable form computes it.
    tol = case_tools.tolerance(Z.dtype, cond=float(np.max(np.abs(Z))), scale=1e-2)
    return Case(args=(Z,), expected=_softmax_np(Z), mistakes=tuple(mistakes), **tol, label=label, **kw)


def softmax_visible():
    Z = np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 0.0, 2.0], [3.0, -2.0, 1.0, 0.0]], F32)
    big = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1002.0, -1001.0]], F32)
    return [_softmax_case(Z, "softmax of (3, 4) logits"),
            _softmax_case(big, "softmax of (2, 3) logits around +1000 and -1000")]


# Hidden sizes and static values, fixed for every seed (the shape rule of grader.case_tools),
# other than the visible cases' (softmax of (3, 4) and (2, 3); batchnorm_forward on (6, 4) and
# (5, 4); batchnorm_backward on (5, 3); forward_propagation_with_batchnorm of 6 examples through
# [5, 4, 3, 2]); rows and columns differ, and so do consecutive layer sizes. Values are drawn
# per seed.
SOFTMAX_SIZE = (7, 5)  # (m, C); the jitted case (m + 2, C + 1), the 3-d one (2, m, C)
# (m, n) of the hidden batchnorm_forward cases, in the order of bn_forward_hidden: m <= 16 (the
# unbiased variance shows), n >= 3 (two features of variance ~1e-5, where eps outside the
# square root shows, and at least one ordinary one).
BN_FORWARD_SIZES = ((7, 5), (9, 3), (11, 6), (5, 7), (13, 4), (1, 5), (3, 6))
BN_BACKWARD_SIZES = ((13, 4), (8, 5), (10, 3))  # float32, jitted, float64
# (m, layers) of the hidden forward_propagation_with_batchnorm cases: two, four and three layers.
NET_SIZES = ((9, (4, 7, 3)), (11, (6, 3, 7, 4, 2)), (7, (5, 3, 6, 2)), (13, (5, 3, 6, 2)))


def softmax_hidden(seed: int):
    r = _rng(seed)
    m, C = SOFTMAX_SIZE
    Z1 = (4 * r.normal(size=(m, C))).astype(F32)
    Z2 = (3 * r.normal(size=(m + 2, C + 1))).astype(F32)
    shifts = r.choice([-1.0, 1.0], size=(m, 1)) * r.uniform(200.0, 1000.0, size=(m, 1))
    Z3 = (shifts + 5 * r.normal(size=(m, C))).astype(F32)
    Z4 = (2 * r.normal(size=(2, m, C))).astype(F32)
    return [_softmax_case(Z1, f"softmax of ({m}, {C}) logits"),
            _softmax_case(Z2, f"softmax of ({m + 2}, {C + 1}) logits", jit=True),
            _softmax_case(Z3, f"softmax of ({m}, {C}) logits with rows shifted by up to +-1000"),
            _softmax_case(Z4, f"softmax of (2, {m}, {C}) logits (classes on the last axis)")]


# ------------------------------------------------------------------ batchnorm_forward


def _bn_np(gamma, beta, Z, rm, rv, train, momentum=0.99, eps=1e-5, *, ddof=0, eps_outside=False,
           eval_batch=False, cast=True):
    """The forward pass in float64 (``ddof``/``eps_outside``/``eval_batch`` model mistakes)."""
    g, b, z, rm, rv = (np.asarray(a, np.float64) for a in (gamma, beta, Z, rm, rv))
    if train or eval_batch:
        mu = z.mean(axis=0)
        var = ((z - mu) ** 2).sum(axis=0) / (z.shape[0] - ddof)
    else:
        mu, var = rm, rv
    if train:
        new_mean, new_var = momentum * rm + (1 - momentum) * mu, momentum * rv + (1 - momentum) * var
    else:
        new_mean, new_var = rm, rv
    inv_std = 1.0 / (np.sqrt(var) + eps) if eps_outside else 1.0 / np.sqrt(var + eps)
    zc = z - mu
    zn = zc * inv_std
    cache = {"Z_centered": zc, "inv_std": inv_std, "Z_norm": zn, "gamma": g}
    if not cast:
        return g * zn + b, new_mean, new_var, cache
    return tuple(a.astype(F32) for a in (g * zn + b, new_mean, new_var)) + (
        {k: v.astype(F32) for k, v in cache.items()},)


def _bn_inputs(r: np.random.Generator, m: int, n: int, tiny: int = 2, zero_var: int = 0):
    """float32 (gamma, beta, Z, running_mean, running_var); the last ``tiny`` features of Z have
    mean 0 and variance ~1e-5 (where eps outside the square root shows)."""
    scale = r.uniform(0.5, 3.0, size=n)
    shift = r.uniform(-2.0, 2.0, size=n)
    scale[n - tiny:] = r.uniform(2e-3, 4e-3, size=tiny)
    shift[n - tiny:] = 0.0
    Z = (shift + scale * r.normal(size=(m, n))).astype(F32)
    gamma = (1.0 + 0.5 * r.normal(size=n)).astype(F32)
    beta = (0.5 * r.normal(size=n)).astype(F32)
    rm = (0.5 * r.normal(size=n)).astype(F32)
    rv = r.uniform(0.5, 2.0, size=n).astype(F32)
    if zero_var:  # running variance exactly 0: eval mode divides by sqrt(eps) there
        rv[:zero_var] = 0.0
    return gamma, beta, Z, rm, rv


def _bn_mistakes(gamma, beta, Z, rm, rv, train, momentum, eps):
    args = (gamma, beta, Z, rm, rv)
    z = np.asarray(Z, np.float64)
    mu = z.mean(axis=0)
    var = ((z - mu) ** 2).mean(axis=0)

    def part(index, value):
        return lambda out: _close(out[index], value)

    if train:
        return (
            (HINTS["bn_unbiased_variance"], Symptom(part(0, _bn_np(*args, True, momentum, eps, ddof=1)[0]))),
            (HINTS["bn_eps_outside_sqrt"], Symptom(part(0, _bn_np(*args, True, momentum, eps, eps_outside=True)[0]))),
            (HINTS["bn_running_never_updated"], Symptom(lambda out: _close(out[1], rm) and _close(out[2], rv))),
            (HINTS["bn_momentum_swapped"],
             Symptom(part(1, (1 - momentum) * np.asarray(rm, np.float64) + momentum * mu))),
        )
    return (
        (HINTS["bn_eval_without_eps"], Symptom(lambda out: _not_finite(out[0]))),
        (HINTS["bn_eval_uses_batch_stats"], Symptom(part(0, _bn_np(*args, False, momentum, eps, eval_batch=True)[0]))),
        (HINTS["bn_running_updated_in_eval"],
         Symptom(lambda out: _close(out[1], momentum * np.asarray(rm, np.float64) + (1 - momentum) * mu)
                 or _close(out[2], momentum * np.asarray(rv, np.float64) + (1 - momentum) * var))),
    )


def _bn_case(r: np.random.Generator, m: int, n: int, train: bool, *, momentum=None, eps=None, tiny: int = 2,
             jit: bool = False, zero_var: int = 0) -> Case:
    gamma, beta, Z, rm, rv = _bn_inputs(r, m, n, tiny, zero_var)
    kwargs = {}
    if momentum is not None:
        kwargs["momentum"] = momentum
    if eps is not None:
        kwargs["eps"] = eps
    mom = 0.99 if momentum is None else momentum
    e = 1e-5 if eps is None else eps
    extra = "".join(f", {k}={v:g}" for k, v in kwargs.items())
    if zero_var:
        extra += f", running variance 0 for {zero_var} feature{'s' if zero_var > 1 else ''}"
    return Case(args=(gamma, beta, Z, rm, rv, train), kwargs=kwargs,
                expected=_bn_np(gamma, beta, Z, rm, rv, train, mom, e),
                mistakes=_bn_mistakes(gamma, beta, Z, rm, rv, train, mom, e), rtol=1e-5, atol=1e-5,
                jit=jit, static_argnums=(5,), static_argnames=("train",),
                label=f"batchnorm_forward on Z of shape ({m}, {n}), train={train}{extra}")


def bn_forward_visible():
    return [_bn_case(_rng(10), 6, 4, True), _bn_case(_rng(11), 5, 4, False)]


def bn_forward_hidden(seed: int):
    r = _rng(seed)
    size = iter(BN_FORWARD_SIZES)
    # momentum: a keyword of an eager (not jitted) case, an array operand in the worker's
    # program and NumPy in the parent's, so it is drawn per seed.
    return [_bn_case(r, *next(size), True),
            _bn_case(r, *next(size), False),
            _bn_case(r, *next(size), True, jit=True),
            _bn_case(r, *next(size), False, jit=True),
            _bn_case(r, *next(size), True, momentum=round(float(r.uniform(0.6, 0.95)), 3), eps=1e-3),
            _bn_case(r, *next(size), False, tiny=0),
            _bn_case(r, *next(size), False, tiny=0, zero_var=1)]


# ------------------------------------------------------------------ batchnorm_backward


@functools.lru_cache(maxsize=1)
def _vjp64():
    """``(Z, gamma, beta, dout) -> (dZ, dgamma, dbeta)``: jax.vjp of the training-mode output,
    jitted (one small compilation per shape instead of one per operation)."""
    import jax
    import jax.numpy as jnp

    def f(z, g, b):
        mu = jnp.mean(z, axis=0)
        var = jnp.mean((z - mu[None, :]) ** 2, axis=0)
        return g[None, :] * (z - mu[None, :]) / jnp.sqrt(var + 1e-5)[None, :] + b[None, :]

    return jax.jit(lambda z, g, b, ct: jax.vjp(f, z, g, b)[1](ct))


def _bn_vjp(Z, gamma, beta, dout):
    """Gradients of the training-mode output w.r.t. (Z, gamma, beta), jax.vjp in float64."""
    import jax

    with jax.enable_x64(True):
        grads = _vjp64()(*(np.asarray(a, np.float64) for a in (Z, gamma, beta, dout)))
        return tuple(np.asarray(g) for g in grads)


def _backward_case(r: np.random.Generator, m: int, n: int, *, dtype=F32, **kw) -> Case:
    gamma, beta, Z, rm, rv = _bn_inputs(r, m, n, tiny=0)
    dout = r.normal(size=(m, n)).astype(F32)
    cache = _bn_np(gamma, beta, Z, rm, rv, True)[3]
    if dtype != F32:  # the same numbers in float64: a tight check of the formula
        Z, gamma, beta, dout = (np.asarray(a, dtype) for a in (Z, gamma, beta, dout))
        z = Z.astype(np.float64)
        mu, var = z.mean(axis=0), ((z - z.mean(axis=0)) ** 2).mean(axis=0)
        inv_std = 1.0 / np.sqrt(var + 1e-5)
        cache = {"Z_centered": z - mu, "inv_std": inv_std, "Z_norm": (z - mu) * inv_std, "gamma": gamma}
    @functools.lru_cache(maxsize=1)
    def expected():
        return tuple(a.astype(dtype) for a in _bn_vjp(Z, gamma, beta, dout))

    g, s = np.asarray(gamma, np.float64), np.asarray(cache["inv_std"], np.float64)
    constant_stats = np.asarray(dout, np.float64) * (g * s)[None, :]
    mistakes = (
        (HINTS["backward_ignores_batch_statistics"], Symptom(lambda out: _close(out[0], constant_stats))),
        (HINTS["backward_means_instead_of_sums"],
         Symptom(lambda out: _close(out[1], expected()[1] / m) and _close(out[2], expected()[2] / m))),
    )
    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == F32 else {"rtol": 1e-9, "atol": 1e-10}
    what = "float32" if dtype == F32 else "float64 (x64 enabled)"
    return Case(args=(dout, cache), expected=expected, mistakes=mistakes, x64=dtype != F32, **tol,
                label=f"batchnorm_backward on a ({m}, {n}) {what} batch; expected from jax.vjp", **kw)


def bn_backward_visible():
    return [_backward_case(_rng(20), 5, 3)]


def bn_backward_hidden(seed: int):
    r = _rng(seed)
    plain, jitted, wide = BN_BACKWARD_SIZES
    return [_backward_case(r, *plain), _backward_case(r, *jitted, jit=True),
            _backward_case(r, *wide, dtype=np.float64)]


# ------------------------------------------------------------------ forward_propagation_with_batchnorm


def _bn_net(r: np.random.Generator, dims):
    L = len(dims) - 1
    params, state = {}, {}
    for l in range(1, L):
        params[f"W{l}"] = (r.normal(size=(dims[l - 1], dims[l])) / np.sqrt(dims[l - 1])).astype(F32)
        params[f"gamma{l}"] = (1.0 + 0.3 * r.normal(size=dims[l])).astype(F32)
        params[f"beta{l}"] = (0.3 * r.normal(size=dims[l])).astype(F32)
        state[f"mean{l}"] = (0.3 * r.normal(size=dims[l])).astype(F32)
        state[f"var{l}"] = r.uniform(0.3, 2.0, size=dims[l]).astype(F32)
    params[f"W{L}"] = (r.normal(size=(dims[L - 1], dims[L])) / np.sqrt(dims[L - 1])).astype(F32)
    params[f"b{L}"] = (0.3 * r.normal(size=dims[L])).astype(F32)
    return params, state


def _net_np(params, state, X, train, *, bn_after_relu=False):
    """``forward_propagation_with_batchnorm`` in float64 NumPy (``bn_after_relu``: that mistake)."""
    L = len([k for k in params if k.startswith("W")])
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    A, new_state = np.asarray(X, np.float64), {}
    for l in range(1, L):
        Z = A @ p[f"W{l}"]
        if bn_after_relu:
            Z = np.maximum(Z, 0.0)
        out, new_state[f"mean{l}"], new_state[f"var{l}"], _ = _bn_np(
            p[f"gamma{l}"], p[f"beta{l}"], Z, state[f"mean{l}"], state[f"var{l}"], train, cast=False)
        A = out if bn_after_relu else np.maximum(out, 0.0)
    logits = A @ p[f"W{L}"] + p[f"b{L}"][None, :]
    return logits.astype(F32), {k: v.astype(F32) for k, v in new_state.items()}


def _forward_case(r: np.random.Generator, m: int, dims, train: bool, *, twice: bool = False, **kw) -> Case:
    """``twice``: the worker calls the function two times on the *same* argument objects
    (``trusted:twice_on_the_same_inputs`` bound over its name) and the second result must equal
    one call's: a function that writes into the input ``state`` dict returns, the second time,
    statistics updated twice (that mistake's wrong answer)."""
    params, state = _bn_net(r, dims)
    X = r.normal(size=(m, dims[0])).astype(F32)
    mistakes = [(HINTS["forward_bn_after_relu"], lambda: _net_np(params, state, X, train, bn_after_relu=True))]
    if train:
        mistakes.append((HINTS["forward_returns_old_state"], Symptom(
            lambda out: set(out[1]) == set(state) and all(_close(out[1][k], state[k], 0, 0) for k in state))))
    replace = {"batchnorm_forward": f"{TRUSTED}:batchnorm_forward"}
    label = f"forward_propagation_with_batchnorm, layers {list(dims)}, {m} examples, train={train}"
    if twice:
        replace["forward_propagation_with_batchnorm"] = f"{TRUSTED}:twice_on_the_same_inputs"
        label += ", called twice with the same state dict (the second result must equal the first)"
        mistakes.insert(0, (HINTS["forward_mutates_state"],
                            lambda: _net_np(params, _net_np(params, state, X, train)[1], X, train)))
    return Case(args=(params, state, X, train), expected=lambda: _net_np(params, state, X, train),
                mistakes=tuple(mistakes), rtol=1e-5, atol=1e-5, static_argnums=(3,), static_argnames=("train",),
                replace=replace, label=label, **kw)


def forward_visible():
    return [_forward_case(_rng(30), 6, [5, 4, 3, 2], True), _forward_case(_rng(31), 6, [5, 4, 3, 2], False)]


def forward_hidden(seed: int):
    r = _rng(seed)
    (m0, d0), (m1, d1), (m2, d2), (m3, d3) = NET_SIZES
    return [_forward_case(r, m0, list(d0), True),
            _forward_case(r, m1, list(d1), False, jit=True),
            _forward_case(r, m2, list(d2), True, jit=True),
            _forward_case(r, m3, list(d3), True, twice=True)]


# ------------------------------------------------------------------ model_with_batchnorm


def _templates(dims):
    """Zero-valued parameters and state with the stub's keys, shapes and dtypes (for structure checks)."""
    L = len(dims) - 1
    p0 = {}
    for l in range(1, L + 1):
        p0[f"W{l}"] = np.zeros((dims[l - 1], dims[l]), F32)
        p0.update({f"gamma{l}": np.ones(dims[l], F32), f"beta{l}": np.zeros(dims[l], F32)} if l < L
                  else {f"b{l}": np.zeros(dims[l], F32)})
    s0 = {}
    for l in range(1, L):
        s0.update({f"mean{l}": np.zeros(dims[l], F32), f"var{l}": np.ones(dims[l], F32)})
    return p0, s0


def _model_output_problem(out, dims, num_epochs: int, eval_mode_replay) -> str | None:
    """The checks every ``model_with_batchnorm`` case makes first: ``(parameters, state, costs)``
    with the stub's structure, finite, and a state that training changed (if not, which of the two
    known mistakes that leave it unchanged the run is: :func:`_unchanged_state_mistake`)."""
    from grader import judge

    p0, s0 = _templates(dims)
    if not isinstance(out, (list, tuple)) or len(out) != 3:
        return "model_with_batchnorm() must return (parameters, state, costs)"
    params, state, costs = out
    for what, got, template in (("parameters", params, p0), ("state", state, s0)):
        msg = judge.compare(got, template, values=False, path=f"the returned {what}")
        if msg:
            return msg
    try:
        cost_values = np.asarray(costs, np.float64)
    except (TypeError, ValueError):
        cost_values = None
    if cost_values is None or cost_values.shape != (num_epochs,):
        return f"costs must be a list of num_epochs={num_epochs} numbers, got {judge.describe(costs)}"
    if not np.all(np.isfinite(cost_values)):
        return "the costs contain NaN or infinity"
    if not all(np.all(np.isfinite(v)) for v in [*params.values(), *state.values()]):
        return "the trained parameters or running statistics contain NaN or infinity"
    if all(np.array_equal(v, np.asarray(s0[k])) for k, v in state.items()):
        return _unchanged_state_mistake(params, state, cost_values, eval_mode_replay)
    return None


def _unchanged_state_mistake(params, state, costs, eval_mode_replay) -> str:
    """The message for a run that returns the initial running statistics: the loss called with
    ``train=False`` if the run follows the float32 replay of that loop (``eval_mode_replay``;
    within the trajectory bound, :func:`grader.case_tools.trajectory_problem`), else the state
    thrown away (which trains the parameters of the documented loop, since batch statistics
    depend on no state, and returns the state it started from: thousands of bounds from the
    other). Like every name of a mistake, feedback only: the run has failed either way."""

    initial, reference, ref_costs, steps = eval_mode_replay(training_replay.DOCUMENTED, F32)
    problem = case_tools.trajectory_problem(costs, ref_costs, steps,
                                            [("parameters", {**params, **state}, reference, initial)])
    return HINTS["model_discards_state" if problem else "model_loss_in_eval_mode"]


def _replays(key, X, Y, learning_rate: float, num_epochs: int, minibatch_size: int):
    """``(replay, eval_mode_replay)`` of a case (:func:`grader.training_replay.replayer`): the
    documented loop and its known mistakes, and the loop whose loss calls the network with
    ``train=False``. Each trains only when asked for a verdict that needs it."""

    from . import trusted as T

    def replayer(train: bool):
        return training_replay.replayer(
            lambda **loop: T.train_with_batchnorm(key, X, Y, learning_rate, num_epochs, minibatch_size, train=train,
                                                  **loop),
            lambda batch_costs, how: _costs(batch_costs, how, minibatch_size))

    return replayer(True), replayer(False)


def _model_validator(X_test, y_test, dims, num_epochs: int, eval_mode_replay, threshold: float = 0.9):
    def validate(out):
        msg = _model_output_problem(out, dims, num_epochs, eval_mode_replay)
        if msg:
            return msg
        params, state, _ = out
        logits, _ = _net_np(params, state, X_test, False)
        return case_tools.held_out_accuracy_problem(
            np.argmax(logits, axis=-1), y_test, threshold, data="the held-out digits",
            model="in eval mode (your parameters and running statistics, train=False) the trained model")

    return validate


def _model_case(split_seed: int, key_seed: int, num_epochs: int = 10) -> Case:
    import jax
    import jaxdl

    X_train, y_train, X_test, y_test = jaxdl.datasets.digits(seed=split_seed)
    X_train, X_test = np.asarray(X_train), np.asarray(X_test)
    Y_train = np.eye(10, dtype=F32)[np.asarray(y_train)]
    dims = [X_train.shape[1], 64, 32, 10]
    key, learning_rate, minibatch_size = jax.random.key(key_seed), 0.003, 64
    eval_mode_replay = _replays(key, X_train, Y_train, learning_rate, num_epochs, minibatch_size)[1]
    return Case(args=(key, X_train, Y_train),
                kwargs={"learning_rate": learning_rate, "num_epochs": num_epochs, "minibatch_size": minibatch_size,
                        "print_cost": False},
                validate=_model_validator(X_test, np.asarray(y_test), dims, num_epochs, eval_mode_replay),
                replace=MODEL_HELPERS,
                label=f"model_with_batchnorm on the digits (split seed {split_seed}: {X_train.shape[0]} train / "
                      f"{X_test.shape[0]} held out), key {key_seed}, {num_epochs} epochs")


TRAJECTORY_EPOCHS = 4
CONVENTIONS = ("the documented loop: init_key, shuffle_key = jax.random.split(key); epoch e shuffles with "
               "jax.random.fold_in(shuffle_key, e); one Adam state and the running statistics carried from "
               "step to step; costs[e] = sum_b(len(batch_b) * cost_b) / m")


def _costs(batch_costs, how: str, minibatch_size: int) -> list[float]:
    """costs[e] from epoch e's (mean cost, examples) pairs, formed ``how``
    (``grader.training_replay.COST_FORMS``: the documented per-example cost, the batch costs
    averaged, each batch's cost weighted by the nominal batch size)."""
    out = []
    for epoch in batch_costs:
        costs = np.array([c for c, _ in epoch], np.float64)
        sizes = np.array([n for _, n in epoch], np.float64)
        out.append({"example": (costs * sizes).sum() / sizes.sum(), "batch_mean": costs.mean(),
                    "nominal": costs.sum() * minibatch_size / sizes.sum()}[how])
    return [float(c) for c in out]


def _trajectory_validator(replay, eval_mode_replay, dims, num_epochs: int):
    def validate(out):
        msg = _model_output_problem(out, dims, num_epochs, eval_mode_replay)
        if msg:
            return msg
        params, state, costs = out
        return case_tools.trajectory_verdict(costs, {**params, **state}, replay, training_replay.DOCUMENTED,
                                             training_replay.loop_variants(HINTS), CONVENTIONS,
                                             what="parameters and running statistics",
                                             accepted=training_replay.ACCEPTED)

    return validate


# The trajectory case's sizes and hyperparameters, fixed (the shape rule of grader.case_tools:
# the student's jitted step compiles them in, and so does the parent's replay): 7 mini-batches
# of 32 (the visible case's are 64) and a last one of 7, a learning rate that is not the
# default 0.003 (a hard-coded rate fails). The digits, their order and the key are drawn per seed.
TRAJECTORY_MINIBATCH, TRAJECTORY_FULL, TRAJECTORY_LAST = 32, 7, 7
TRAJECTORY_LEARNING_RATE = 0.002


def _trajectory_case(seed: int) -> Case:
    """``TRAJECTORY_FULL * TRAJECTORY_MINIBATCH + TRAJECTORY_LAST`` digits drawn per seed, 4
    epochs, compared with the parent's replay of the documented loop (module docstring). The
    last mini-batch is smaller than the others (a cost averaged per mini-batch shows) but not
    smaller than 5: batch norm over 2 examples is ill-conditioned enough that a correct float32
    loop left its float64 replay by more than the trajectory bound (3 bounds, one seed in 8);
    over 5 or more it stays below 1/20 of it."""
    import jaxdl

    r = _rng(seed)
    X_train, y_train, _, _ = jaxdl.datasets.digits(seed=int(r.integers(1, 1000)))
    minibatch_size = TRAJECTORY_MINIBATCH
    rows = r.choice(X_train.shape[0], size=TRAJECTORY_FULL * minibatch_size + TRAJECTORY_LAST, replace=False)
    X, Y = np.asarray(X_train)[rows], np.eye(10, dtype=F32)[np.asarray(y_train)[rows]]
    dims = [X.shape[1], 64, 32, 10]
    learning_rate = TRAJECTORY_LEARNING_RATE
    key = case_tools.key(int(r.integers(1, 2**31 - 1)))
    full, last = divmod(X.shape[0], minibatch_size)
    replay, eval_mode_replay = _replays(key, X, Y, learning_rate, TRAJECTORY_EPOCHS, minibatch_size)
    return Case(args=(key, X, Y),
                kwargs={"learning_rate": learning_rate, "num_epochs": TRAJECTORY_EPOCHS,
                        "minibatch_size": minibatch_size, "print_cost": False},
                validate=_trajectory_validator(replay, eval_mode_replay, dims, TRAJECTORY_EPOCHS),
                replace=MODEL_HELPERS, prepare=replay.documented,
                label=(f"model_with_batchnorm on {X.shape[0]} digits ({full} mini-batches of {minibatch_size} and "
                       f"one of {last}), {TRAJECTORY_EPOCHS} epochs, learning rate {learning_rate:g}: costs, "
                       "parameters and running statistics against the replay of the documented loop with the same key"))


def model_visible():
    return [_model_case(0, 0)]


def model_hidden(seed: int):
    return [_trajectory_case(seed)]


ASSIGNMENT = Assignment(
    id="week3/batch_norm",
    title="Softmax and batch normalization: forward, backward, running statistics as explicit state",
    parts=(
        Part("softmax", 10, "row-wise softmax, stable for large logits", softmax_visible, softmax_hidden),
        Part("batchnorm_forward", 15, "batch statistics in training, running statistics in eval",
             bn_forward_visible, bn_forward_hidden),
        Part("batchnorm_backward", 15, "dZ, dgamma, dbeta equal to jax.vjp", bn_backward_visible,
             bn_backward_hidden),
        Part("forward_propagation_with_batchnorm", 10, "LINEAR -> BN -> RELU, state in, state out",
             forward_visible, forward_hidden),
        Part("model_with_batchnorm", 10, "Adam training: eval-mode held-out accuracy >= 0.9, the documented trajectory",
             model_visible, model_hidden, limits={"time_per_call": 30.0}, timeout_hint=training_replay.SLOW_LOOP),
    ),
    forbidden_imports=("jaxdl.nn", "jaxdl.losses", "jaxdl.train", "flax", "haiku", "optax"),
    allowed_imports=("`jax` (`jax.numpy`, `jax.random`, `jax.nn.relu`), `numpy`, `math`, and in "
                     "`model_with_batchnorm` the optimizer `jaxdl.optim`, the mini-batches of "
                     "`jaxdl.data` and the initializers of `jaxdl.init`"),
    discouraged=("jax.nn.softmax", "jax.nn.log_softmax"),
    preload=("jaxdl.optim", "jaxdl.init", "jaxdl.data"),
)
