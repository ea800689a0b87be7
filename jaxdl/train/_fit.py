"""``fit``: the host loop over compiled chunks, its arguments and the history it returns."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from jaxdl import _validate as v
from jaxdl.train._checks import (
    check_batch_arrays,
    check_bool,
    check_callable,
    check_optimizer,
    is_traced,
)
from jaxdl.train._chunk import ChunkSpec, make_chunk
from jaxdl.train._program import chunk_program
from jaxdl.train._progress import progress_callback
from jaxdl.train._sharding import data_axis as choose_data_axis
from jaxdl.train._sharding import replicate, spans_processes
from jaxdl.train._state import TrainState, copy_tree

LAST_BATCH_MODES = ("exact", "masked", "drop")


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
    progress: bool | Callable[[int, int, dict[str, float]], None] = True,
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
      X, Y: the whole training set, batch-first ``(m, ...)`` with the same ``m``: host
        arrays (the same on every process of a multi-process run), or global ``jax.Array``
        s on ``mesh`` (each process fed its rows, see ``mesh``).
      key: PRNG key starting the per-epoch chain (module docstring: shuffling and dropout
        keys are derived from it exactly as a Python loop would).
      epochs: number of passes over the data (int > 0).
      batch_size: rows per mini-batch (int > 0); the last batch of an epoch holds
        ``m % batch_size`` rows (see ``last_batch``). ``batch_size >= m`` is full-batch.
      progress: ``True``: a :class:`ProgressBar` (rich; epochs, loss, dev metrics), drawn
        only when stdout is a terminal (or in Jupyter) and by process 0; ``False``: nothing;
        or a callable ``progress(epoch, epochs, metrics)`` called on the host after every
        chunk with the epochs done, ``epochs`` and the last epoch's ``{"loss": float,
        "dev_<name>": float}`` (closed with its ``close()``, if it has one, when ``fit``
        ends).
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
        The mesh may span processes (``jax.distributed.initialize``, then
        ``Mesh(np.array(jax.devices()), ("data",))`` in every process): each process runs
        the same ``fit`` call, host inputs (state, data) must then be the same everywhere,
        and a data set given as a global array (every process feeding its own rows with
        ``jax.make_array_from_process_local_data(NamedSharding(mesh, P("data")), rows)``) is
        gathered on every device once per chunk. The returned state is replicated:
        ``np.asarray(leaf)`` works on every process.
      data_axis: mesh axis to shard batches over; default ``"data"`` or else ``"batch"``.
      donate: reuse the state's buffers between chunks (your inputs are copied first).

    Returns:
      ``(state, history)``: the final :class:`TrainState` (``state.key`` = end of the key
      chain) and a dict of NumPy arrays: ``"epoch"`` (1..epochs), ``"loss"`` (epochs,),
      ``"batch_loss"`` (epochs, num_batches) and ``"dev_<name>"`` (epochs,) per dev metric.

    Raises:
      TypeError: ``loss_fn``/``metric_fn`` not callable, ``optimizer`` without
        ``init``/``update``, ``key`` not a PRNG key, a flag not a bool, ``progress`` neither
        a bool nor callable, ``mesh`` not a ``Mesh``, a dev set without ``metric_fn`` for a
        stateful or ``needs_key`` loss; and (at trace time) a loss that is not a floating
        scalar.
      ValueError: a count not a positive int, an unknown ``last_batch``, ``X``/``Y`` (or
        the dev pair) of different lengths or ranks < 1, an empty ``X``, only one of
        ``X_dev``/``Y_dev``, ``metric_fn`` without a dev set, ``model_state`` given beside a
        :class:`TrainState`, a ``data_axis`` not in ``mesh`` or a ``batch_size`` it does
        not divide, global arrays without ``mesh``, ``last_batch="drop"`` with
        ``batch_size > m``.

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
    check_callable("loss_fn", loss_fn)
    check_optimizer(optimizer)
    v.check_key("key", key)
    v.check_positive_int("epochs", epochs)
    v.check_positive_int("batch_size", batch_size)
    callback = progress_callback(progress)
    check_bool("needs_key", needs_key)
    check_bool("donate", donate)
    if stateful is not None:
        check_bool("stateful", stateful)
    if last_batch not in LAST_BATCH_MODES:
        raise ValueError(f"last_batch must be one of {LAST_BATCH_MODES}, got {last_batch!r}")
    check_batch_arrays("X", X, "Y", Y)
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
        check_batch_arrays("X_dev", X_dev, "Y_dev", Y_dev)
        if v.shape_of(X_dev)[1:] != v.shape_of(X)[1:]:
            raise ValueError(
                f"X_dev must have the same feature shape as X, got shapes {v.shape_of(X_dev)} and {v.shape_of(X)}"
            )
    if metric_fn is not None:
        check_callable("metric_fn", metric_fn)
        if not has_dev:
            raise ValueError("metric_fn was given but no dev set: pass X_dev and Y_dev")
    if epochs_per_chunk is None:
        epochs_per_chunk = max(1, math.ceil(epochs / 50))
    v.check_positive_int("epochs_per_chunk", epochs_per_chunk)

    if isinstance(params, TrainState):
        if model_state is not None:
            raise ValueError("pass model_state inside the TrainState, not as well as model_state=")
        state = copy_tree(params._replace(key=key))
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
        axis = choose_data_axis(mesh, data_axis, batch_size)
    elif spans_processes((state, X, Y, X_dev, Y_dev)):
        raise ValueError(
            "X, Y, X_dev, Y_dev or the state hold global arrays (shards on other processes' devices): "
            "pass the mesh they live on as mesh=..."
        )

    traced = is_traced((state, X, Y, X_dev, Y_dev))
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
    spec = ChunkSpec(
        loss_fn=loss_fn, optimizer=optimizer, stateful=stateful, needs_key=needs_key, last_batch=last_batch,
        m=m, batch_size=batch_size, epochs_per_chunk=E, partial_chunks=n_chunks * E != epochs,
        has_dev=has_dev, metric_fn=metric_fn, mesh=mesh, axis=axis,
    )
    if traced:
        chunk_fn = make_chunk(spec)
    else:
        chunk_fn = chunk_program(spec, donate)
        if mesh is not None:
            state, X, Y, X_dev, Y_dev = replicate(mesh, (state, X, Y, X_dev, Y_dev))
        else:
            X, Y = jnp.asarray(X), jnp.asarray(Y)
            if has_dev:
                X_dev, Y_dev = jnp.asarray(X_dev), jnp.asarray(Y_dev)

    # ---- the host loop over chunks
    outs = []
    done = 0
    try:
        for _ in range(n_chunks):
            n_active = min(E, epochs - done)
            state, out = chunk_fn(state, np.int32(n_active), X, Y, X_dev, Y_dev)
            if not traced and is_traced(out):
                traced = True  # loss_fn/optimizer closed over tracers: we are inside a transformation
            if not traced:
                out = {k: np.asarray(val) for k, val in out.items()}
            outs.append({k: val[:n_active] for k, val in out.items()})
            done += n_active
            if callback is not None and not traced:
                names = ["loss"] + sorted(k for k in out if k.startswith("dev_"))
                callback(done, epochs, {k: float(out[k][n_active - 1]) for k in names})
    finally:
        close = getattr(callback, "close", None)
        if callable(close):
            close()

    xp = jnp if traced else np
    history = {k: xp.concatenate([o[k] for o in outs]) if len(outs) > 1 else outs[0][k] for k in outs[0]}
    history["epoch"] = xp.arange(1, epochs + 1)
    order = ["epoch", "loss", "batch_loss"] + sorted(k for k in history if k.startswith("dev_"))
    return state, {k: history[k] for k in order}
