"""Training engine: a pytree ``TrainState``, a jitted train step, ``fit`` and ``evaluate``.

Everything is pure: state goes in, new state comes out. ``fit`` runs many epochs of
mini-batch updates inside one compiled ``lax.scan`` program per chunk of epochs, and its
numbers are *the same* as a plain Python loop over :func:`jaxdl.data.random_minibatches`
calling the step of :func:`make_train_step` (tested to 1e-6).

The loss-function contract
--------------------------
``loss_fn`` returns the MEAN loss over the rows of the batch it is given (every jaxdl loss
does). Two flags select the signature (they are the same in :func:`make_train_step` and
:func:`fit`)::

    stateful  needs_key   loss_fn signature
    False     False       loss_fn(params, X, Y) -> loss
    False     True        loss_fn(params, X, Y, *, key) -> loss                  # dropout
    True      False       loss_fn(params, model_state, X, Y) -> (loss, new_model_state)
    True      True        loss_fn(params, model_state, X, Y, *, key) -> (loss, new_model_state)

``loss`` is a float scalar. Gradients are taken w.r.t. ``params`` only; ``model_state``
(batch-norm running statistics, any pytree) is carried along, never differentiated.
``key`` is a fresh PRNG key per mini-batch (see the key convention below).

With ``last_batch="masked"`` (``fit`` only, opt-in; see below) ``loss_fn`` also receives a
keyword ``mask`` (bool ``(batch,)``) and must return the mean over the rows where ``mask``
is True, e.g. ``masked_mean(per_example_losses, mask)``.

Keys, batches and epochs (the convention ``fit`` follows and a Python loop can replay)
----------------------------------------------------------------------------------------
``key`` given to ``fit`` starts a chain. For every epoch::

    key, perm_key, dropout_key = jax.random.split(key, 3)
    batches = jaxdl.data.random_minibatches(perm_key, X, Y, batch_size)
    # i.e. perm = jaxdl.data.permutation(perm_key, m); batch k = rows k*bs:(k+1)*bs of X[perm]
    for k, (Xb, Yb) in enumerate(batches):
        batch_key = jax.random.fold_in(dropout_key, k)    # passed as loss_fn(..., key=batch_key)
        state, loss_k = step(state, Xb, Yb, key=batch_key)

The returned ``state.key`` is the chain key after the last epoch, so
``fit(loss_fn, state, optimizer, X, Y, key=state.key, ...)`` continues the same chain.

The last, smaller batch (``m % batch_size`` rows)
-------------------------------------------------
``last_batch="exact"`` (default): inside the compiled epoch, the full batches run in a
``lax.scan`` and the remainder batch runs once more at its true size ``m % batch_size``
(the loss is traced for both shapes). ``loss_fn`` sees exactly the rows a Python loop would
see, so batch-norm statistics, dropout masks and ``l2_penalty(params, lambd, X.shape[0])``
all match the loop exactly, with no contract change. ``"masked"``: the remainder batch is
padded to ``batch_size`` with copies of real rows plus a ``mask`` (the layout of
:func:`jaxdl.data.minibatch_indices`), one traced shape only; ``loss_fn`` must honour
``mask`` (a masked mean of per-row losses equals the loop; batch statistics would not
unless the loss masks them too). ``"drop"``: the remainder rows are skipped this epoch
(``drop_remainder``).

History
-------
``history["loss"][e]`` is the course's epoch cost: ``sum_k n_k * loss_k / m`` over the
mini-batches of epoch ``e`` (``n_k`` rows each), i.e. ``cost_total / m`` with
``cost_total`` the sum of the per-batch summed costs (for ``"drop"``, ``m`` is the number
of rows used). ``history["batch_loss"]`` is ``(epochs, num_batches)``, the loss of every
update. With a dev set, ``history["dev_<name>"]`` holds each dev metric after each epoch.
All values are NumPy arrays (JAX arrays when ``fit`` runs under a transformation).

Data parallelism
----------------
``fit(..., mesh=Mesh(np.array(jax.devices()), ("data",)))`` shards every mini-batch over
the mesh's ``"data"`` (or ``"batch"``) axis and replicates parameters and optimizer state.
``jit`` keeps global semantics, so the numbers are those of the single-device run (up to
float summation order) and batch-norm statistics are over the whole batch. ``batch_size``
must be divisible by the number of devices on that axis.

Speed: what one compiled step costs, and what ``fit`` reuses
-------------------------------------------------------------
A chunk's randomness (the key chain, every epoch's permutation, the dropout keys) is drawn
in one vectorized pass before its training loop: on XLA:CPU a random draw inside the loop
runs threefry as a rolled loop of ~80 tiny kernels, more than a small model's whole update.
``fit`` keeps its last 32 compiled chunk programs: a later call with the same ``loss_fn``
object, an equal optimizer (:class:`jaxdl.optim.Optimizer`: same factory and
hyperparameters; an optax transformation only equals itself) and the same static settings
(data rows, batch size, chunk length, flags, mesh) runs without tracing, lowering or
loading anything -- any number of epochs, any data of the same shape. As with
``jax.jit``, a ``loss_fn`` that reads a global changed between calls keeps the value it was
traced with; pass a new function object to retrace.

Compilation cache
-----------------
``enable_compilation_cache(path=None)`` (default ``~/.cache/jaxdl/jax``) or the environment
variable ``JAXDL_COMPILATION_CACHE=path`` (read when this module is imported) turns on JAX's
persistent cache for every program, small ones included; see :mod:`jaxdl.compile_cache`.

Quick start::

    from jaxdl import init, losses, nn, optim, train
    params = init.init_mlp(jax.random.key(0), [2, 16, 1])
    loss_fn = lambda p, X, Y: losses.binary_cross_entropy(nn.mlp_apply(p, X)[:, 0], Y)
    state, history = train.fit(loss_fn, params, optim.adam(1e-2), X, Y,
                               key=jax.random.key(1), epochs=200, batch_size=64)
    train.evaluate(lambda p, X: nn.mlp_apply(p, X), state.params, X_test, y_test)
"""

from __future__ import annotations

import functools

import math
import sys
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxdl import _validate as v
from jaxdl import data as _data
from jaxdl._reuse import reused
from jaxdl.compile_cache import (
    ENV_VAR as COMPILATION_CACHE_ENV_VAR,
)
from jaxdl.compile_cache import (
    compilation_cache_dir,
    disable_compilation_cache,
    enable_compilation_cache,
    enable_from_env as _enable_cache_from_env,
)

__all__ = [
    "TrainState",
    "make_train_step",
    "fit",
    "evaluate",
    "masked_mean",
    "enable_compilation_cache",
    "disable_compilation_cache",
    "compilation_cache_dir",
    "COMPILATION_CACHE_ENV_VAR",
]

_LAST_BATCH_MODES = ("exact", "masked", "drop")
_MAX_PRESHUFFLED_INDICES = 1 << 24  # 64 MB of int32 permutations per chunk
_CHUNK_PROGRAMS_KEPT = 32  # fit programs kept for reuse (each holds its loss_fn alive)
_DATA_AXIS_NAMES = ("data", "batch")

_enable_cache_from_env()


# --------------------------------------------------------------------------- state


def _copy_tree(tree: Any) -> Any:
    """Fresh buffers for every array leaf (so donating them never deletes the caller's arrays)."""
    return jax.tree.map(lambda x: jnp.array(x, copy=True) if isinstance(x, (jax.Array, np.ndarray)) else x, tree)


class TrainState(NamedTuple):
    """Everything that changes during training, as one pytree.

    Fields:
      params: the trainable parameters (any pytree, e.g. ``{"W1", "b1", ...}``).
      opt_state: the optimizer's state (``optimizer.init(params)``).
      model_state: non-trainable state updated by the forward pass, e.g. batch-norm running
        statistics; ``None`` when the model has none.
      step: int32 scalar, number of optimizer updates applied so far.
      key: PRNG key (or ``None``): the key chain ``fit`` continues from and the source of
        per-step keys for a ``make_train_step(..., needs_key=True)`` step called without
        ``key=``.

    A ``NamedTuple``, hence a pytree: it can be passed through ``jit``, ``scan``, ``vmap``
    and ``jax.tree.map`` as is. Build one with :meth:`create`.

    >>> import optax
    >>> s = TrainState.create({"w": jnp.zeros(3)}, optax.sgd(0.1), key=jax.random.key(0))
    >>> int(s.step)
    0
    """

    params: Any
    opt_state: Any
    model_state: Any = None
    step: Any = None
    key: Any = None

    @classmethod
    def create(
        cls,
        params: Any,
        optimizer: optax.GradientTransformation,
        *,
        model_state: Any = None,
        key: Any = None,
        step: int = 0,
    ) -> TrainState:
        """A fresh state: ``opt_state = optimizer.init(params)``, ``step = 0``.

        ``params``, ``model_state`` and ``key`` are copied, so the caller's arrays stay usable after
        a donating train step consumed the state (e.g. to compare optimizers from the same
        initial parameters).
        """
        _check_optimizer(optimizer)
        if key is not None:
            v.check_key("key", key)
        v.check_positive_int("step", step, allow_zero=True)
        leaves = jax.tree.leaves((params, model_state, key))
        if all(isinstance(x, jax.Array) for x in leaves):
            # One compiled program builds the whole state (fresh output buffers, zeros of the
            # optimizer state) instead of one tiny program per leaf: a cold ``fit`` compiles
            # 1 program here rather than ~15.
            params, opt_state, model_state, key = _fresh_state(optimizer, params, model_state, key)
        else:
            params = _copy_tree(params)
            opt_state = optimizer.init(params)
            model_state, key = _copy_tree(model_state), _copy_tree(key)
        # device_put of a NumPy scalar: no conversion program to compile (or load) for it
        return cls(params=params, opt_state=opt_state, model_state=model_state,
                   step=jax.device_put(np.int32(step)), key=key)


@functools.partial(jax.jit, static_argnums=0)
def _fresh_state(optimizer, params, model_state, key):
    # jit outputs are new buffers (nothing is donated), so the caller's arrays survive a
    # donating train step.
    return params, optimizer.init(params), model_state, key


# --------------------------------------------------------------------------- validation


def _check_optimizer(optimizer: Any) -> None:
    if not (callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))):
        raise TypeError(
            "optimizer must be an optax.GradientTransformation (with .init and .update), "
            f"got {type(optimizer).__name__}"
        )


def _check_callable(name: str, fn: Any) -> None:
    if not callable(fn):
        raise TypeError(f"{name} must be callable, got {type(fn).__name__} {fn!r}")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a Python bool, got {type(value).__name__} {value!r}")


def _check_batch_arrays(xname: str, X: Any, yname: str, Y: Any) -> None:
    v.check_array(xname, X)
    v.check_array(yname, Y)
    if np.ndim(X) < 1:
        raise ValueError(f"{xname} must be batch-first with rank >= 1, got shape {v.shape_of(X)}")
    if np.ndim(Y) < 1:
        raise ValueError(f"{yname} must be batch-first with rank >= 1, got shape {v.shape_of(Y)}")
    v.check_same_leading((xname, yname), X, Y)


def _is_traced(tree: Any) -> bool:
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(tree))


# --------------------------------------------------------------------------- the update


def masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of ``values`` over the rows where ``mask`` is True: ``sum(values*mask)/sum(mask)``.

    ``values`` is ``(batch,)`` (per-example losses) or ``(batch, ...)`` (then every entry of a
    kept row counts); ``mask`` is bool ``(batch,)``. Rows with ``mask=False`` contribute
    neither value nor gradient. The loss of a ``last_batch="masked"`` ``fit``::

        def loss_fn(params, X, Y, *, mask):
            z = mlp_apply(params, X)[:, 0]
            per_example = jnp.maximum(z, 0) - z * Y + jnp.log1p(jnp.exp(-jnp.abs(z)))
            return masked_mean(per_example, mask)
    """
    values = jnp.asarray(values)
    mask = jnp.asarray(mask)
    if mask.ndim != 1 or values.ndim < 1 or values.shape[0] != mask.shape[0]:
        raise ValueError(
            f"masked_mean needs values (batch, ...) and mask (batch,), got shapes {values.shape} and {mask.shape}"
        )
    w = mask.astype(values.dtype).reshape(mask.shape + (1,) * (values.ndim - 1))
    w = jnp.broadcast_to(w, values.shape)
    return jnp.sum(values * w) / jnp.sum(w)


def _canonical_loss(loss_fn: Callable, *, stateful: bool, needs_key: bool, masked: bool) -> Callable:
    """Wrap any supported ``loss_fn`` as ``f(params, model_state, X, Y, key, mask) -> (loss, model_state)``."""

    def f(params, model_state, X, Y, key, mask):
        args = (params, model_state, X, Y) if stateful else (params, X, Y)
        kwargs = {}
        if needs_key:
            kwargs["key"] = key
        if masked:
            kwargs["mask"] = mask
        out = loss_fn(*args, **kwargs)
        if stateful:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError(
                    "with stateful=True, loss_fn(params, model_state, X, Y, ...) must return "
                    f"(loss, new_model_state), got {type(out).__name__}"
                )
            loss, new_model_state = out
        else:
            loss, new_model_state = out, model_state
        if isinstance(loss, (tuple, list, dict)) or loss is None:
            hint = "; for (loss, new_model_state) pass stateful=True" if isinstance(loss, tuple) else ""
            raise TypeError(
                f"loss_fn must return a scalar loss{' as the first element' if stateful else ''}, "
                f"got {type(loss).__name__}{hint}"
            )
        if jnp.shape(loss) != ():
            raise ValueError(
                f"loss_fn must return a scalar (the mean over the batch's rows), got shape {jnp.shape(loss)} "
                f"for X of shape {v.shape_of(X)}"
            )
        if not jnp.issubdtype(jnp.result_type(loss), jnp.floating):
            raise TypeError(f"loss_fn must return a floating-point loss, got dtype {jnp.result_type(loss)}")
        return loss, new_model_state

    return f


def _make_update(canonical: Callable, optimizer: optax.GradientTransformation) -> Callable:
    """``update(state, X, Y, key, mask) -> (new_state, loss)``: one optimizer step (not jitted)."""
    grad_fn = jax.value_and_grad(canonical, has_aux=True)

    def update(state: TrainState, X, Y, key, mask):
        (loss, new_model_state), grads = grad_fn(state.params, state.model_state, X, Y, key, mask)
        if jax.tree.structure(new_model_state) != jax.tree.structure(state.model_state):
            raise ValueError(
                "loss_fn must return new_model_state with the structure of model_state, got "
                f"{jax.tree.structure(new_model_state)} for model_state {jax.tree.structure(state.model_state)}"
            )
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        new_state = state._replace(
            params=params, opt_state=opt_state, model_state=new_model_state, step=state.step + 1
        )
        return new_state, loss

    return update


def make_train_step(
    loss_fn: Callable,
    optimizer: optax.GradientTransformation,
    *,
    stateful: bool = False,
    needs_key: bool = False,
    masked: bool = False,
    donate: bool = True,
) -> Callable:
    """One jitted training step: ``value_and_grad`` + ``optimizer.update`` + ``apply_updates``.

    Args:
      loss_fn: the loss; its signature depends on ``stateful``/``needs_key`` (see the module
        docstring): ``loss_fn(params, X, Y) -> loss`` by default.
      optimizer: an ``optax.GradientTransformation`` (``jaxdl.optim.adam(...)``, ``optax.sgd``...).
      stateful: ``loss_fn(params, model_state, X, Y, ...) -> (loss, new_model_state)``.
      needs_key: ``loss_fn`` takes a keyword ``key`` (dropout).
      masked: ``loss_fn`` takes a keyword ``mask`` (bool ``(batch,)``).
      donate: donate the input state's buffers to the output (``donate_argnums=0``), so the
        update happens in place on CPU, GPU and TPU (jax 0.10 CPU supports donation without
        warnings). The state passed in is consumed: do not use it after the call (use the
        returned one; :meth:`TrainState.create` copies your params, so those stay valid).

    Returns:
      ``step(state, X, Y, *, key=None, mask=None) -> (new_state, loss)``, a ``jax.jit``
      function (traced once per input shape/dtype). ``X``/``Y`` are one mini-batch
      ``(batch, ...)``. With ``needs_key=True`` and ``key=None``, the step splits
      ``state.key`` (``state.key, key = jax.random.split(state.key)``); pass ``key=`` to
      follow :func:`fit`'s convention exactly. With ``masked=True`` and ``mask=None``, every
      row counts. ``new_state.step = state.step + 1``.

    Example::

        state = TrainState.create(params, jaxdl.optim.adam(1e-3))
        step = make_train_step(lambda p, X, Y: bce(mlp_apply(p, X)[:, 0], Y), jaxdl.optim.adam(1e-3))
        for Xb, Yb in jaxdl.data.random_minibatches(key, X, Y, 64):
            state, loss = step(state, Xb, Yb)
    """
    _check_callable("loss_fn", loss_fn)
    _check_optimizer(optimizer)
    for name, flag in (("stateful", stateful), ("needs_key", needs_key), ("masked", masked), ("donate", donate)):
        _check_bool(name, flag)
    update = _make_update(
        _canonical_loss(loss_fn, stateful=stateful, needs_key=needs_key, masked=masked), optimizer
    )

    def step(state: TrainState, X: Any, Y: Any, *, key: Any = None, mask: Any = None):
        if not isinstance(state, TrainState):
            raise TypeError(f"state must be a jaxdl.train.TrainState, got {type(state).__name__}")
        if state.step is None:
            state = state._replace(step=jnp.zeros((), jnp.int32))
        _check_batch_arrays("X", X, "Y", Y)
        if needs_key:
            if key is None:
                if state.key is None:
                    raise ValueError(
                        "needs_key=True: pass key=... to the step or create the TrainState with key=..."
                    )
                chain, key = jax.random.split(state.key)
                state = state._replace(key=chain)
            else:
                v.check_key("key", key)
        elif key is not None:
            raise ValueError("key was given but the step was made with needs_key=False")
        if masked:
            if mask is None:
                mask = jnp.ones(v.shape_of(X)[:1], bool)
            v.check_shape("mask", mask, v.shape_of(X)[:1])
        elif mask is not None:
            raise ValueError("mask was given but the step was made with masked=False")
        return update(state, X, Y, key, mask)

    return jax.jit(step, donate_argnums=(0,) if donate else ())


# --------------------------------------------------------------------------- fit


def _data_axis(mesh: Any, data_axis: str | None) -> str:
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh must be a jax.sharding.Mesh, got {type(mesh).__name__}")
    names = tuple(mesh.axis_names)
    if data_axis is not None:
        if data_axis not in names:
            raise ValueError(f"data_axis={data_axis!r} is not an axis of mesh, whose axes are {names}")
        return data_axis
    for name in _DATA_AXIS_NAMES:
        if name in names:
            return name
    raise ValueError(
        f"mesh must have a 'data' or 'batch' axis to shard the batch over (or pass data_axis=...), "
        f"got axes {names} with shape {dict(mesh.shape)}"
    )


def _as_metric_dict(out: Any, prefix: str) -> dict[str, jax.Array]:
    if isinstance(out, Mapping):
        items = dict(out)
    else:
        items = {"metric": out}
    result = {}
    for name, value in items.items():
        value = jnp.asarray(value)
        if value.shape != ():
            raise ValueError(f"metric_fn must return scalars, got {name!r} of shape {value.shape}")
        result[prefix + str(name)] = value
    return result


class _Progress:
    """A rich progress bar over epochs, drawn only on a terminal (or in Jupyter) and when asked for."""

    def __init__(self, enabled: bool, epochs: int):
        self._bar = None
        if not enabled:
            return
        from rich.console import Console

        console = Console()
        if not ((console.is_terminal and sys.stdout.isatty()) or console.is_jupyter):
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("epoch"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._bar.start()
        self._task = self._bar.add_task("", total=epochs)

    def update(self, done: int, metrics: dict[str, float]) -> None:
        if self._bar is None:
            return
        text = "  ".join(f"{k} {val:.4g}" for k, val in metrics.items())
        self._bar.update(self._task, completed=done, description=text)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


class _ChunkSpec(NamedTuple):
    """Everything static about ``fit``'s compiled chunk (hashable when its callables are)."""

    loss_fn: Callable
    optimizer: Any
    stateful: bool
    needs_key: bool
    last_batch: str
    m: int
    batch_size: int
    epochs_per_chunk: int
    partial_chunks: bool  # epochs % epochs_per_chunk != 0: the chunk loops over n_active epochs
    has_dev: bool
    metric_fn: Callable | None
    mesh: Mesh | None
    axis: str | None


def _make_chunk(spec: _ChunkSpec) -> Callable:
    """``chunk(state, n_active, X, Y, X_dev, Y_dev) -> (state, outputs)``: E epochs of ``fit``."""
    (loss_fn, optimizer, stateful, needs_key, last_batch, m, batch_size, E, partial_chunks, has_dev,
     metric_fn, mesh, axis) = spec
    masked = last_batch == "masked"
    canonical = _canonical_loss(loss_fn, stateful=stateful, needs_key=needs_key, masked=masked)
    update = _make_update(canonical, optimizer)
    nf, rem = divmod(m, batch_size)
    run_rem = rem > 0 and last_batch != "drop"
    m_used = m if last_batch != "drop" else nf * batch_size
    batch_sharding = NamedSharding(mesh, P(axis)) if mesh is not None else None

    def constrain(a):
        return a if batch_sharding is None else lax.with_sharding_constraint(a, batch_sharding)

    def gather(data, idx):
        return constrain(jnp.take(data, idx, axis=0))

    def dev_metrics(state, X_dev, Y_dev):
        if metric_fn is not None:
            out = metric_fn(state.params, state.model_state, X_dev, Y_dev) if stateful else metric_fn(
                state.params, X_dev, Y_dev
            )
        else:
            full = jnp.ones(v.shape_of(X_dev)[:1], bool) if masked else None
            out = {"loss": canonical(state.params, state.model_state, X_dev, Y_dev, None, full)[0]}
        return _as_metric_dict(out, "dev_")

    n_batches = nf + (1 if run_rem else 0)
    # Shuffles of a whole chunk are drawn before its training loop (one vectorized draw
    # instead of one small program per epoch: on XLA:CPU each random draw inside the loop
    # costs ~80 tiny kernels); past this many indices each epoch draws its own.
    preshuffle = E * m <= _MAX_PRESHUFFLED_INDICES

    def chunk_randomness(key):
        """The key chain over E epochs (module docstring), drawn ahead of the training loop.

        Returns ``(chain, shuffles, batch_keys)``: ``chain[e]`` is the chain key after epoch
        ``e``; ``shuffles[e]`` the epoch's permutation (or its key when not ``preshuffle``);
        ``batch_keys[e, k] = fold_in(dropout_key_e, k)`` (None without ``needs_key``).
        """
        def advance(k, _):
            k, perm_key, dropout_key = jax.random.split(k, 3)
            return k, (k, perm_key, dropout_key)

        _, (chain, perm_keys, dropout_keys) = lax.scan(advance, key, None, length=E)
        shuffles = jax.vmap(lambda k: _data.permutation(k, m))(perm_keys) if preshuffle else perm_keys
        batch_keys = None
        if needs_key:
            fold = jax.vmap(jax.random.fold_in, in_axes=(None, 0))
            batch_keys = jax.vmap(fold, in_axes=(0, None))(dropout_keys, jnp.arange(n_batches, dtype=jnp.uint32))
        return chain, shuffles, batch_keys

    def run_epoch(state, shuffle, batch_keys, X, Y, X_dev, Y_dev):
        perm = shuffle if preshuffle else _data.permutation(shuffle, m)
        batch_losses = []
        if nf > 0:
            full_mask = jnp.ones((batch_size,), bool) if masked else None

            def body(state, inp):
                bkey, idx = inp
                return update(state, gather(X, idx), gather(Y, idx), bkey, full_mask)

            idx = perm[: nf * batch_size].reshape(nf, batch_size)
            state, losses = lax.scan(body, state, (None if batch_keys is None else batch_keys[:nf], idx))
            batch_losses.append(losses)
        if run_rem:
            bkey = None if batch_keys is None else batch_keys[nf]
            if masked:
                pad = perm[jnp.arange(batch_size - rem) % m]
                idx = jnp.concatenate([perm[nf * batch_size :], pad])
                mask = jnp.arange(batch_size) < rem
                state, loss = update(state, gather(X, idx), gather(Y, idx), bkey, mask)
            else:
                idx = perm[nf * batch_size :]
                state, loss = update(state, gather(X, idx), gather(Y, idx), bkey, None)
            batch_losses.append(loss[None])
        batch_losses = jnp.concatenate(batch_losses)
        weights = [float(batch_size)] * nf + ([float(rem)] if run_rem else [])
        cost = jnp.sum(batch_losses * jnp.asarray(weights, batch_losses.dtype)) / m_used
        out = {"loss": cost, "batch_loss": batch_losses}
        if has_dev:
            out.update(dev_metrics(state, X_dev, Y_dev))
        return state, out

    def chunk(state, n_active, X, Y, X_dev, Y_dev):
        chain, shuffles, batch_keys = chunk_randomness(state.key)

        def epoch(state, e):
            return run_epoch(state, shuffles[e], None if batch_keys is None else batch_keys[e], X, Y, X_dev, Y_dev)

        if not partial_chunks:  # every chunk is full: a plain scan over E epochs
            state, out = lax.scan(epoch, state, jnp.arange(E))
            return state._replace(key=chain[E - 1]), out
        # The last chunk is partial: loop over the first n_active (dynamic) of E epochs and
        # write each epoch's outputs into an (E, ...) buffer; one program serves all chunks.
        out_shape = jax.eval_shape(lambda s: epoch(s, 0)[1], state)
        buf = jax.tree.map(lambda sd: jnp.zeros((E,) + sd.shape, sd.dtype), out_shape)

        def body(e, carry):
            state, buf = carry
            state, out = epoch(state, e)
            buf = jax.tree.map(lambda b, o: lax.dynamic_update_index_in_dim(b, o, e, 0), buf, out)
            return state, buf

        state, buf = lax.fori_loop(0, n_active, body, (state, buf))
        return state._replace(key=chain[n_active - 1]), buf

    return chunk


@reused(_CHUNK_PROGRAMS_KEPT)
def _chunk_program(spec: _ChunkSpec, donate: bool) -> Callable:
    """The jitted chunk, shared by ``fit`` calls with the same ``spec``.

    Reusing the ``jax.jit`` object lets jax's own cache skip tracing, lowering and loading
    (about 0.2 s for a small model) on every later call with the same ``loss_fn`` object, an
    equal optimizer (:mod:`jaxdl.optim` optimizers with equal hyperparameters compare equal;
    others only to themselves) and equal settings. Unhashable parts (an optimizer closing
    over arrays, say) just build a fresh program.
    """
    return jax.jit(_make_chunk(spec), donate_argnums=(0,) if donate else ())


def fit(
    loss_fn: Callable,
    params: Any,
    optimizer: optax.GradientTransformation,
    X: Any,
    Y: Any,
    *,
    key: Any,
    epochs: int,
    batch_size: int = 64,
    progress: bool = True,
    model_state: Any = None,
    stateful: bool | None = None,
    needs_key: bool = False,
    X_dev: Any = None,
    Y_dev: Any = None,
    metric_fn: Callable | None = None,
    epochs_per_chunk: int | None = None,
    last_batch: str = "exact",
    mesh: Mesh | None = None,
    data_axis: str | None = None,
    donate: bool = True,
) -> tuple[TrainState, dict[str, Any]]:
    """Train with mini-batch updates for ``epochs`` epochs; return ``(state, history)``.

    Args:
      loss_fn: mean loss over a batch; signature per ``stateful``/``needs_key`` (module
        docstring), ``loss_fn(params, X, Y) -> loss`` by default.
      params: initial parameters (copied, never consumed), or a :class:`TrainState` to
        continue from (its ``opt_state``, ``model_state`` and ``step`` are used; pass
        ``key=state.key`` to continue its key chain).
      optimizer: ``optax.GradientTransformation``.
      X, Y: the whole training set, batch-first ``(m, ...)`` with the same ``m``.
      key: PRNG key starting the per-epoch chain (module docstring: shuffling and dropout
        keys are derived from it exactly as a Python loop would).
      epochs: number of passes over the data (int > 0).
      batch_size: rows per mini-batch (int > 0); the last batch of an epoch holds
        ``m % batch_size`` rows (see ``last_batch``). ``batch_size >= m`` is full-batch.
      progress: show a rich progress bar (epochs, loss, dev metrics) updated after every
        chunk; it is only drawn when stdout is a terminal (or in Jupyter).
      model_state: initial non-trainable state (batch-norm statistics); if given,
        ``stateful`` defaults to True.
      stateful, needs_key: the ``loss_fn`` signature (module docstring).
      X_dev, Y_dev: optional dev set, evaluated after every epoch with ``metric_fn``.
      metric_fn: ``metric_fn(params, X_dev, Y_dev)`` (``stateful``:
        ``metric_fn(params, model_state, X_dev, Y_dev)``) returning a scalar (recorded as
        ``"dev_metric"``) or a dict of scalars (recorded as ``"dev_<name>"``); it runs inside
        the compiled loop, so it must be jit-compatible, e.g.
        ``lambda p, X, Y: evaluate(apply_fn, p, X, Y)``. Default (plain loss only):
        ``{"loss": loss_fn(params, X_dev, Y_dev)}``. Required for stateful/needs_key losses
        (the training loss would use batch statistics / dropout on the dev set).
      epochs_per_chunk: epochs per compiled ``lax.scan`` chunk; the progress bar and the
        host see results between chunks. Default ``ceil(epochs / 50)``. The program compiles
        once: when ``epochs`` is not a multiple, every chunk runs a ``fori_loop`` over its
        number of epochs (a runtime value), so the shorter last chunk reuses it.
      last_batch: ``"exact"`` (default), ``"masked"`` or ``"drop"`` (module docstring).
      mesh: a ``jax.sharding.Mesh`` for data parallelism: every mini-batch is sharded over
        its ``data_axis`` (``jax.lax.with_sharding_constraint``, ``PartitionSpec(axis)``),
        parameters, optimizer state and the data set are replicated. Under ``jit`` the
        program keeps global semantics, so losses, gradients and batch-norm statistics are
        those of the whole batch (no ``axis_name`` needed) and the result equals the
        single-device run up to float summation order. ``batch_size`` must be divisible by
        the number of devices along the axis (the remainder batch need not be: XLA pads it).
      data_axis: mesh axis to shard batches over; default ``"data"`` or else ``"batch"``.
      donate: reuse the state's buffers between chunks (your inputs are copied first).

    Returns:
      ``(state, history)``: the final :class:`TrainState` (``state.key`` = end of the key
      chain) and a dict of NumPy arrays: ``"epoch"`` (1..epochs), ``"loss"`` (epochs,),
      ``"batch_loss"`` (epochs, num_batches) and ``"dev_<name>"`` (epochs,) per dev metric.

    Works under ``jax.jit``/``jax.vmap`` too (e.g. inside :func:`jaxdl.tune.random_search`):
    with traced inputs it runs all epochs as one scan, shows no progress, and returns the
    history as JAX arrays.

    Example::

        def loss_fn(p, X, Y):
            return jaxdl.losses.binary_cross_entropy(jaxdl.nn.mlp_apply(p, X)[:, 0], Y)

        state, hist = fit(loss_fn, params, jaxdl.optim.adam(1e-2), X, Y,
                          key=jax.random.key(1), epochs=100, batch_size=64)
        hist["loss"][-1], state.params
    """
    # ---- arguments
    _check_callable("loss_fn", loss_fn)
    _check_optimizer(optimizer)
    v.check_key("key", key)
    v.check_positive_int("epochs", epochs)
    v.check_positive_int("batch_size", batch_size)
    _check_bool("progress", progress)
    _check_bool("needs_key", needs_key)
    _check_bool("donate", donate)
    if stateful is not None:
        _check_bool("stateful", stateful)
    if last_batch not in _LAST_BATCH_MODES:
        raise ValueError(f"last_batch must be one of {_LAST_BATCH_MODES}, got {last_batch!r}")
    _check_batch_arrays("X", X, "Y", Y)
    m = v.shape_of(X)[0]
    if m == 0:
        raise ValueError(f"X must hold at least one example, got shape {v.shape_of(X)}")
    if (X_dev is None) != (Y_dev is None):
        raise ValueError(
            "give both X_dev and Y_dev or neither, got "
            f"X_dev shape {None if X_dev is None else v.shape_of(X_dev)} and "
            f"Y_dev shape {None if Y_dev is None else v.shape_of(Y_dev)}"
        )
    has_dev = X_dev is not None
    if has_dev:
        _check_batch_arrays("X_dev", X_dev, "Y_dev", Y_dev)
        if v.shape_of(X_dev)[1:] != v.shape_of(X)[1:]:
            raise ValueError(
                f"X_dev must have the same feature shape as X, got shapes {v.shape_of(X_dev)} and {v.shape_of(X)}"
            )
    if metric_fn is not None:
        _check_callable("metric_fn", metric_fn)
        if not has_dev:
            raise ValueError("metric_fn was given but no dev set: pass X_dev and Y_dev")
    if epochs_per_chunk is None:
        epochs_per_chunk = max(1, math.ceil(epochs / 50))
    v.check_positive_int("epochs_per_chunk", epochs_per_chunk)

    if isinstance(params, TrainState):
        if model_state is not None:
            raise ValueError("pass model_state inside the TrainState, not as well as model_state=")
        state = _copy_tree(params._replace(key=key))
        if state.step is None:
            state = state._replace(step=jnp.zeros((), jnp.int32))
    else:
        state = TrainState.create(params, optimizer, model_state=model_state, key=key)
    if stateful is None:
        stateful = state.model_state is not None
    if has_dev and metric_fn is None and (stateful or needs_key):
        raise TypeError(
            "with a stateful or needs_key loss_fn, pass metric_fn(params, [model_state,] X_dev, Y_dev) "
            "to evaluate the dev set (the training loss would use batch statistics / dropout)"
        )

    axis = None
    if mesh is not None:
        axis = _data_axis(mesh, data_axis)
        n_dev = mesh.shape[axis]
        if batch_size % n_dev != 0:
            raise ValueError(
                f"batch_size={batch_size} must be divisible by the {n_dev} devices of mesh axis {axis!r} "
                f"(mesh shape {dict(mesh.shape)})"
            )

    traced = _is_traced((state, X, Y, X_dev, Y_dev))
    if traced:
        epochs_per_chunk = epochs
    E = min(epochs_per_chunk, epochs)
    n_chunks = math.ceil(epochs / E)

    # ---- the compiled program (reused across calls with equal settings, see _chunk_program)
    nf = m // batch_size
    if last_batch == "drop" and nf == 0:
        raise ValueError(
            f'last_batch="drop" with batch_size={batch_size} > m={m} leaves no batch to train on'
        )
    spec = _ChunkSpec(
        loss_fn=loss_fn, optimizer=optimizer, stateful=stateful, needs_key=needs_key, last_batch=last_batch,
        m=m, batch_size=batch_size, epochs_per_chunk=E, partial_chunks=n_chunks * E != epochs,
        has_dev=has_dev, metric_fn=metric_fn, mesh=mesh, axis=axis,
    )
    if traced:
        chunk_fn = _make_chunk(spec)
    else:
        chunk_fn = _chunk_program(spec, donate)
        if mesh is not None:
            replicated = NamedSharding(mesh, P())
            state, X, Y, X_dev, Y_dev = jax.device_put((state, X, Y, X_dev, Y_dev), replicated)
        else:
            X, Y = jnp.asarray(X), jnp.asarray(Y)
            if has_dev:
                X_dev, Y_dev = jnp.asarray(X_dev), jnp.asarray(Y_dev)

    # ---- the host loop over chunks
    bar = None
    outs = []
    done = 0
    try:
        for _ in range(n_chunks):
            n_active = min(E, epochs - done)
            state, out = chunk_fn(state, np.int32(n_active), X, Y, X_dev, Y_dev)
            if not traced and _is_traced(out):
                traced = True  # loss_fn/optimizer closed over tracers: we are inside a transformation
            if not traced:
                out = {k: np.asarray(val) for k, val in out.items()}
            outs.append({k: val[:n_active] for k, val in out.items()})
            done += n_active
            if progress and not traced:
                if bar is None:
                    bar = _Progress(True, epochs)
                names = ["loss"] + sorted(k for k in out if k.startswith("dev_"))
                bar.update(done, {k: float(out[k][n_active - 1]) for k in names})
    finally:
        if bar is not None:
            bar.close()

    xp = jnp if traced else np
    history = {k: xp.concatenate([o[k] for o in outs]) if len(outs) > 1 else outs[0][k] for k in outs[0]}
    history["epoch"] = xp.arange(1, epochs + 1)
    order = ["epoch", "loss", "batch_loss"] + sorted(k for k in history if k.startswith("dev_"))
    return state, {k: history[k] for k in order}


# --------------------------------------------------------------------------- evaluate


def evaluate(
    apply_fn: Callable,
    params: Any,
    X: Any,
    Y: Any,
    *,
    model_state: Any = None,
) -> dict[str, jax.Array]:
    """Accuracy and loss of a classifier on ``(X, Y)``.

    Args:
      apply_fn: ``apply_fn(params, X) -> logits``, or with ``model_state`` given
        ``apply_fn(params, model_state, X) -> logits`` (evaluation mode: running statistics,
        no dropout -- e.g. ``lambda p, X: mlp_apply(p, X)``).
      params: parameters passed to ``apply_fn``.
      X: inputs ``(m, ...)``.
      Y: labels. Binary task (logits ``(m,)`` or ``(m, 1)``): ``Y`` ``(m,)`` or ``(m, 1)``
        of 0/1 (int, bool or float). Multi-class (logits ``(m, C)``, ``C >= 2``): integer
        labels ``(m,)`` or one-hot ``(m, C)``.
      model_state: optional non-trainable state forwarded to ``apply_fn``.

    Returns:
      ``{"accuracy": ..., "loss": ...}``, float32 scalars (0-d JAX arrays; ``float()``
      them). Binary: prediction ``logits > 0`` (``sigmoid > 0.5``), loss
      :func:`jaxdl.losses.binary_cross_entropy`. Multi-class: prediction
      ``argmax(logits, -1)``, loss :func:`jaxdl.losses.softmax_cross_entropy`.
      jit-compatible, so usable as ``fit``'s ``metric_fn``. Infinite logits (a masked
      class at ``-inf``) give the losses' limits, never ``0 * inf = NaN`` (see
      :mod:`jaxdl.losses`).

    >>> evaluate(lambda p, X: X @ p, jnp.ones((2, 1)), jnp.array([[1., 1.], [-1., -2.]]),
    ...          jnp.array([1, 1]))["accuracy"]
    Array(0.5, dtype=float32)
    """
    from jaxdl import losses

    _check_callable("apply_fn", apply_fn)
    _check_batch_arrays("X", X, "Y", Y)
    m = v.shape_of(X)[0]
    logits = apply_fn(params, X) if model_state is None else apply_fn(params, model_state, X)
    if isinstance(logits, (tuple, list)):
        raise TypeError(
            f"apply_fn must return the logits (one array), got a {type(logits).__name__} of length {len(logits)}; "
            "e.g. with batch norm use lambda p, s, X: mlp_apply(p, X, batchnorm=(bn_p, s))[0]"
        )
    v.check_array("apply_fn(params, X)", logits)
    logits = jnp.asarray(logits)
    v.check_floating("apply_fn(params, X)", logits)
    Y = jnp.asarray(Y)
    if logits.ndim not in (1, 2) or logits.shape[0] != m:
        raise ValueError(f"apply_fn must return logits (m,) or (m, C) with m={m}, got shape {logits.shape}")
    binary = logits.ndim == 1 or logits.shape[1] == 1
    if binary:
        if Y.shape not in ((m,), (m, 1)):
            raise ValueError(f"binary task (logits shape {logits.shape}): Y must have shape ({m},) or ({m}, 1), got {Y.shape}")
        z = logits.reshape(m)
        y = Y.reshape(m)
        y_int = (y > 0.5) if jnp.issubdtype(y.dtype, jnp.floating) else y.astype(bool)
        accuracy = jnp.mean(((z > 0) == y_int).astype(jnp.float32))
        loss = losses.binary_cross_entropy(z, y.astype(z.dtype))
    else:
        C = logits.shape[1]
        if Y.shape == (m,):
            if not jnp.issubdtype(Y.dtype, jnp.integer):
                raise TypeError(f"multi-class labels Y of shape ({m},) must be integers, got dtype {Y.dtype}")
            labels = Y.astype(jnp.int32)
            onehot = (labels[:, None] == jnp.arange(C, dtype=jnp.int32)[None, :]).astype(logits.dtype)
        elif Y.shape == (m, C):
            onehot = Y.astype(logits.dtype)
            labels = jnp.argmax(onehot, axis=-1)
        else:
            raise ValueError(
                f"multi-class task (logits shape {logits.shape}): Y must be labels ({m},) or one-hot ({m}, {C}), "
                f"got shape {Y.shape}"
            )
        accuracy = jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))
        loss = losses.softmax_cross_entropy(logits, onehot)
    return {"accuracy": accuracy, "loss": loss.astype(jnp.float32)}
