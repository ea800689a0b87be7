"""Tools shared by the assignments' case builders (``assignment.py`` in each course folder).

- Seeded inputs: :func:`rng` (NumPy generator for a case's seed), :func:`key` (a typed or raw
  JAX PRNG key from a seed), :func:`random_params`; the course's hidden layer sizes
  :data:`HIDDEN_DIMS` (the shape rule below).
- The course's dict conventions: :func:`to_grad_keys`, :func:`to_param_keys`, :func:`as_numpy`.
- Judging a trained model in the parent (a case's ``validate``): :func:`trained_params_problem`
  (structure and finiteness of what training returned) and :func:`held_out_accuracy_problem`
  (the accuracy the parent measures on data it never sent, against a threshold).
- Judging a training run against the parent's replay of it (a case's ``validate``):
  :func:`trajectory_problem` (the cost history and the trained parameters, within
  :func:`trajectory_tolerance`: the trajectory rule below) and :func:`trajectory_verdict`
  (that, then the replays of known loop mistakes, to name the one the run matches).
- How close is close enough: :func:`tolerance` (the rule below).

**The shape rule: hidden shapes are fixed, hidden values are drawn per seed.** Each hidden
case has a fixed pool of shapes (today one entry per case: sizes written in its builder, or
:data:`HIDDEN_DIMS`), and so does everything that ends up a static argument or a Python
constant of a compiled program: layer sizes, numbers of examples and mini-batches, epochs,
learning rates and other hyperparameters baked into a jitted closure (of the reference code
in the parent, or of a student's). What the seed draws is the values: entries of arrays,
PRNG keys, data sets, labels, learning rates passed as traced arguments. Every program the
parent (expected values), the student's worker and the jit executor compile for a hidden case
is then compiled once and found in their caches by every later submission, whatever its
seed (a new shape used to cost each of the three a compile on every ``grader submit``: 3.5 s
of the parent's CPU alone for ``week1/initialization``); the values still change with every
seed, so no hard-coded answer passes. The fixed shapes are chosen to catch what random ones
caught: they differ from the visible cases' (other numbers of layers, rows and columns), are
non-square with consecutive sizes distinct (a transposed matrix has the wrong shape) and odd
where parity could hide a mistake; a builder checks the property a named mistake needs rather
than relying on a draw to have it. A pool of more than one entry per case (``pool[seed %
len(pool)]``) would add variety at the price of a compile per entry on the submissions that
first draw it.

**The tolerance rule** (every case builder follows it; a correct answer must never score 0).
Expected values are computed in float64 (NumPy, or ``jax`` under ``jax.enable_x64``) from the
case's own inputs and cast to the input dtype only at the end. A correct implementation, in
whatever order it does its operations, rounds each intermediate with a relative error of at
most ``eps`` (``np.finfo(dtype).eps`` of the *input* dtype: 1.19e-7 for float32, 2.2e-16 for
float64). Its error against the float64 reference is then bounded by ::

    |out - ref| <= atol + rtol * |ref|,   rtol = eps * (ULPS + ops * cond),  atol = rtol * scale

- ``ULPS`` (64) covers the rounding of a well-conditioned computation of a few dozen
  operations (a dot product, a short sum): float32 gives rtol = 7.6e-6;
- ``cond`` is the condition number of the result with respect to those roundings, stated by
  the builder from the inputs it drew: how much a relative rounding error of size ``eps`` in an
  intermediate grows in the result. For a softmax or a log-softmax it is the largest ``|z|``
  of the logits (``z - logsumexp(z)`` rounds at the scale of ``z``; at logits of +-1000 a
  float32 probability is only good to ~1e-4); for a sum of ``m`` such losses ``m * max|z|``
  in absolute terms; for a division by ``sqrt(v) + eps`` with a tiny ``v`` the ratio of the
  numerator's scale to the result's; ``0`` when nothing is amplified;
- ``ops`` (4) is how many such amplified roundings a reasonable formulation makes;
- ``scale`` turns the relative bound into an absolute one for entries near zero: the typical
  magnitude of the result (1 for probabilities, the loss for a loss).

The known mistakes stay far outside this bound (they are off by factors, signs, axes or
NaN), which the project's tests check for every mistake in ``mistakes.py``; every correct
alternative formulation in an assignment's ``alternatives.py`` (stable forms, other operation
orders, float64 intermediates, NumPy where a case is not jitted) must pass it under several
seeds (``tests/grader/test_alternatives.py``). ``grader.spec.Case``'s defaults (rtol=1e-5,
atol=1e-6) are this rule at ``cond=0`` for float32 results of magnitude ~0.1-1, rounded.

**Trajectories.** A training loop whose stub fixes every choice that changes the numbers (keys,
batches, optimizer, loss, cost history) is compared with the parent's replay of the stub's loop
from the same initial parameters, in float64. Each step rounds its gradients as above (``ULPS``)
and carries that error into every later step, where Adam's per-entry normalization and the
statistics of small batches amplify it by a bounded factor per step (``STEP_GROWTH``); after
``t`` steps the bound is :func:`tolerance` at ``cond = STEP_GROWTH * t``
(:func:`trajectory_tolerance`): the first epochs are compared tightly, later ones more loosely.
A loop may be right in more than one way (Adam's ``eps`` as optax's 1e-8 or Keras's 1e-7:
``grader.training_replay.ACCEPTED``): a run that follows the replay of any of them passes.
The cost of epoch ``e`` is compared relative to the replay's, with ``t`` the steps taken by
the end of epoch ``e``; trained parameters normwise, relative to how far the replay moved
them (``||p - p_ref|| <= rtol * ||p_ref - p_0||``), because entry by entry a correct loop
can be far off where a gradient entry is at rounding level and Adam turns its sign into a
full step.

One thing no bound covers: a kink. A ReLU unit that no example of a batch activates has a
gradient of exactly 0 in one precision and ~1e-9 in the other, and Adam's normalization turns
the latter into a step of the full learning rate; from then on the float32 and float64 runs
differ by ~``learning_rate`` in that unit's weights (one digits seed in 20 for
``week3/jax_intro``: 23 bounds). Every float32 loop takes the float32 side, so a run that
leaves the float64 replay is also compared with the same replay in float32 (what the
documented loop computes in the student's dtype) and passes if it follows either.

Measured with the week-3 cases (4 epochs of 28-84 steps; the reference, an epoch as one
``lax.scan`` and Adam written by hand, against the replays; seeds 1-20 of ``jax_intro`` and of
``batch_norm``): correct loops stay below 1/20 of the bound of the float64 replay (costs at
most 0.05 of it, parameters 0.045) or, at the kink, 0.002 of the float32 one; the known loop
mistakes (optimizer state not carried, one shuffle for every epoch, the cost averaged per
mini-batch) exceed it at least 9-fold in the costs and 600-fold in the parameters, or (the
cost mistake, whose parameters are right) 16-fold in the costs.

A run that leaves both replays is compared with the float32 replays of the known loop
mistakes, and the nearest one is named if the run lies within ``NAMING_SLACK`` bounds of it
and ``NAMING_MARGIN`` times nearer to it than to the documented loop: a mistake's trajectory
can be far more sensitive to rounding than the documented one (Adam without its state takes
sign-like steps at every step), while the replays of different mistakes lie hundreds of
bounds apart; the margin keeps an unknown mistake that is merely as far from one known
mistake as from the documented loop (Adam's ``beta2`` changed: the parameters off, the cost
formula right, like the cost-per-mini-batch mistake's) from being given that mistake's name.
The name is feedback only: the run has already failed.

Parameters are ``{"W1", "b1", ..., "WL", "bL"}`` (batch-first: ``W_l`` is ``(n_{l-1}, n_l)``,
``b_l`` is ``(n_l,)``); gradients and optimizer state use the same names with a ``d``
prefix (``{"dW1", "db1", ...}``), as in the course. ``jaxdl`` keys everything by the parameter
names; these helpers translate, and draw random networks for hidden cases.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

F32 = np.float32


ULPS = 64  # the rounding slack of a well-conditioned computation, in units of eps (see above)
STEP_GROWTH = 10  # how much one optimizer step amplifies the rounding carried into it (trajectories)
NAMING_SLACK = 100  # how near (in bounds) a failing run must be to a known mistake's replay to name it
NAMING_MARGIN = 4  # ... and how many times nearer to it than to the documented loop's replay


def tolerance(dtype: Any = np.float32, *, cond: float = 0.0, ops: float = 4.0, scale: float = 1.0,
              ulps: float = ULPS) -> dict:
    """``{"rtol", "atol"}`` for a result computed in ``dtype`` (the input dtype) and compared
    with a float64 reference: ``rtol = eps * (ulps + ops * cond)``, ``atol = rtol * scale``
    (the module docstring states the rule and how to choose ``cond`` and ``scale``)."""
    eps = float(np.finfo(np.dtype(dtype)).eps)
    rtol = eps * (float(ulps) + float(ops) * max(float(cond), 0.0))
    return {"rtol": rtol, "atol": rtol * float(scale)}


def rng(seed: int) -> np.random.Generator:
    """The NumPy generator a hidden-case builder draws its inputs from (one per seed)."""
    return np.random.default_rng(seed)


def key(seed: int, raw: bool = False):
    """A JAX PRNG key for ``seed`` (taken modulo 2**31): typed (``jax.random.key``) or, with
    ``raw``, the legacy ``uint32[2]`` of ``jax.random.PRNGKey``."""
    import jax

    seed = int(seed) % 2**31
    return jax.random.PRNGKey(seed) if raw else jax.random.key(seed)


def random_params(r: np.random.Generator, layers_dims: Sequence[int], scale: float = 1.0) -> dict:
    """A float32 parameter dict for ``layers_dims`` with normal entries (biases non-zero too)."""
    params = {}
    for l in range(1, len(layers_dims)):
        params[f"W{l}"] = (scale * r.normal(size=(layers_dims[l - 1], layers_dims[l]))).astype(F32)
        params[f"b{l}"] = (scale * r.normal(size=(layers_dims[l],))).astype(F32)
    return params


def to_grad_keys(tree: Mapping[str, Any]) -> dict:
    """``{"W1": x}`` -> ``{"dW1": x}``."""
    return {f"d{k}": v for k, v in tree.items()}


def to_param_keys(tree: Mapping[str, Any]) -> dict:
    """``{"dW1": x}`` -> ``{"W1": x}``."""
    return {k[1:]: v for k, v in tree.items()}


def as_numpy(tree: Mapping[str, Any]) -> dict:
    """A dict of arrays as plain numpy copies (float32 kept)."""
    return {k: np.asarray(v) for k, v in tree.items()}


def as_jax(tree: Any, dtype: Any = None) -> Any:
    """The arrays of ``tree`` (any pytree of NumPy arrays) as JAX arrays, cast to ``dtype`` in
    NumPy first if given (a float64 stays float64 under ``jax.enable_x64``, else becomes
    float32, as ``jnp.asarray`` would). By ``jax.device_put``, never ``jnp.asarray``: called
    eagerly, that compiles an identity program (jax's ``stage``, or a cast) per shape and
    dtype, 56 of them in the parent over the seven reference solutions."""
    import jax

    if dtype is not None:
        tree = jax.tree.map(lambda a: np.asarray(a).astype(dtype), tree)
    return jax.device_put(tree)


# Hidden layer sizes for networks whose sizes only need to differ from the visible cases' (the
# shape rule above): three and two weight layers, odd and even, no two consecutive sizes
# equal (a transposed weight has the wrong shape).
HIDDEN_DIMS = ((5, 3, 6, 2), (4, 7, 3))


def trained_params_problem(params: Any, template: Mapping[str, Any], *,
                           what: str = "parameters") -> str | None:
    """``None``, or the feedback when trained ``params`` do not have ``template``'s structure
    (keys, shapes, dtypes: :func:`grader.judge.compare` without values) or hold NaN/inf."""
    from grader import judge

    msg = judge.compare(params, template, values=False, path=f"the returned {what}")
    if msg:
        return msg
    if not all(np.all(np.isfinite(np.asarray(v))) for v in params.values()):
        return f"the returned {what} contain NaN or infinity"
    return None


def held_out_accuracy_problem(predicted: Any, labels: Any, threshold: float, *,
                              model: str = "the trained model",
                              data: str = "held-out points") -> str | None:
    """``None``, or the feedback when the accuracy of ``predicted`` labels (computed by the
    parent from the student's trained model, on data the worker never saw) is below
    ``threshold`` (a fraction)."""
    acc = float(np.mean(np.asarray(predicted) == np.asarray(labels)))
    if acc < threshold:
        return f"{model} classifies {acc:.0%} of {data} correctly; at least {threshold:.0%} is required"
    return None


def trajectory_tolerance(steps: int, dtype: Any = np.float32) -> float:
    """The relative bound for a training quantity after ``steps`` optimizer steps in ``dtype``:
    :func:`tolerance` at ``cond = STEP_GROWTH * steps`` (the trajectory rule, module docstring)."""
    return tolerance(dtype, cond=STEP_GROWTH * max(int(steps), 0))["rtol"]


def _norm(tree: Mapping[str, Any]) -> float:
    return float(np.sqrt(sum(float(np.sum(np.square(np.asarray(v, np.float64)))) for v in tree.values())))


def _trajectory_excess(costs: Any, ref_costs: Sequence[float], steps: Sequence[int],
                       trees: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]]],
                       dtype: Any) -> list[tuple[float, str]]:
    """``(ratio to the bound, what differs)`` for every epoch's cost, then every tree (a
    malformed or non-finite cost history is one item of infinite ratio)."""
    ref = np.asarray(ref_costs, np.float64)
    try:
        raw = np.asarray(costs)
        got = raw.astype(np.float64) if raw.dtype.kind in "biuf" else None  # not complex, text or objects
    except (TypeError, ValueError, OverflowError):
        got = None
    if got is None or got.shape != ref.shape:
        return [(np.inf, f"costs must be a list of {ref.shape[0]} numbers, one per epoch")]
    if not np.all(np.isfinite(got)):
        return [(np.inf, "the costs contain NaN or infinity")]
    items = []
    for e in range(ref.shape[0]):
        rtol = trajectory_tolerance(steps[e], dtype)
        rel = abs(got[e] - ref[e]) / abs(ref[e])
        what = (f"costs[{e}] is {got[e]:.6g} where the replay of the documented loop gives {ref[e]:.6g} "
                f"(relative difference {rel:.1e}, allowed {rtol:.1e})")
        items.append((rel / rtol, what))
    rtol = trajectory_tolerance(steps[-1], dtype)
    for what, tree, reference, initial in trees:
        moved = _norm({k: np.asarray(reference[k], np.float64) - np.asarray(initial[k], np.float64)
                       for k in reference})
        off = _norm({k: np.asarray(tree[k], np.float64) - np.asarray(reference[k], np.float64) for k in reference})
        rel = off / moved if moved > 0 else (0.0 if off == 0 else np.inf)
        items.append((rel / rtol, (f"the returned {what} differ from the replay's by {rel:.1e} of the "
                                   f"distance training moved them (allowed {rtol:.1e})")))
    return items


def trajectory_problem(costs: Any, ref_costs: Sequence[float], steps: Sequence[int],
                       trees: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]]] = (),
                       *, dtype: Any = np.float32) -> str | None:
    """``None``, or the feedback saying where a training run leaves the parent's replay of it.

    Args:
      costs: the cost history the student's loop returned (a list of numbers; anything
        ``np.asarray(costs, np.float64)`` reads as shape ``(E,)``).
      ref_costs: the replay's cost history, ``(E,)``.
      steps: ``(E,)`` ints, the optimizer steps taken by the end of each epoch (cumulative).
      trees: ``(what, got, reference, initial)`` for each dict of arrays to compare normwise
        after the last epoch, e.g. ``("parameters", params, ref_params, init_params)``; ``got``
        must already have ``reference``'s keys and shapes (:func:`trained_params_problem`).
      dtype: the dtype the student's loop computes in (the bound's ``eps``).

    The cost of epoch ``e`` must lie within :func:`trajectory_tolerance` of ``steps[e]``
    (relative); each tree within that of ``steps[-1]`` relative to ``||reference - initial||``.
    The first item outside its bound is reported.
    """
    for ratio, what in _trajectory_excess(costs, ref_costs, steps, trees, dtype):
        if not ratio <= 1.0:
            return what
    return None


def trajectory_verdict(costs: Any, trained: Mapping[str, Any], replay: Callable[[Any, Any], tuple],
                       documented: Any, known_mistakes: Sequence[tuple[str, Sequence[Any]]], conventions: str,
                       *, what: str = "parameters", dtype: Any = np.float32,
                       accepted: Sequence[Any] = ()) -> str | None:
    """``None`` when a training run follows the float64 replay of the documented loop, or its
    replay in ``dtype`` (:func:`trajectory_problem`; why both: the trajectory rule, module
    docstring), or either replay of a loop in ``accepted`` (right too, e.g. Adam with another
    library's default ``eps``). Otherwise the message of the known mistake whose ``dtype`` replay the run lies
    nearest to, if within ``NAMING_SLACK`` bounds of it and ``NAMING_MARGIN`` times nearer to
    it than to the documented loop's ``dtype`` replay; else where the run leaves the
    documented float64 replay, followed by ``conventions``.

    Args:
      costs, trained: the run's cost history and trained arrays (``trained`` already checked
        against the reference's structure, e.g. by :func:`trained_params_problem`).
      replay: ``(variant, dtype) -> (initial, reference, ref_costs, steps)``, the parent's
        replay of a loop in ``np.float64`` or ``dtype`` (``steps``: optimizer steps by the end
        of each epoch). Only the float64 replay of ``documented`` runs for a passing run.
      documented: the variant the stub documents.
      accepted: other variants a correct run may follow (replayed only for a run that leaves
        ``documented``'s replays).
      known_mistakes: ``(message, variants)``: a mistake and the ways of writing it.
      conventions: what the documented loop fixes, appended to an unnamed difference.
    """
    def excess(variant: Any, replay_dtype: Any) -> list[tuple[float, str]]:
        initial, reference, ref_costs, steps = replay(variant, replay_dtype)
        return _trajectory_excess(costs, ref_costs, steps, [(what, trained, reference, initial)], dtype)

    items = excess(documented, np.float64)
    if all(ratio <= 1.0 for ratio, _ in items):
        return None
    from_documented = max(ratio for ratio, _ in excess(documented, dtype))
    if from_documented <= 1.0:
        return None
    if any(all(ratio <= 1.0 for ratio, _ in excess(v, d)) for v in accepted for d in (np.float64, dtype)):
        return None
    distances = [(max(ratio for ratio, _ in excess(v, dtype)), message) for message, variants in known_mistakes
                 for v in variants]
    if distances:
        nearest, message = min(distances, key=lambda d: d[0])
        if nearest <= NAMING_SLACK and nearest * NAMING_MARGIN <= from_documented:
            return message
    first = next(what for ratio, what in items if not ratio <= 1.0)
    return f"{first}; {conventions}"
