"""``fit``'s compiled unit: ``E`` epochs of mini-batch updates in one ``lax.scan`` program."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import Mesh

from jaxdl import _validate as v
from jaxdl.train._keys import chunk_randomness, epoch_permutation
from jaxdl.train._loss import canonical_loss
from jaxdl.train._metrics import as_metric_dict
from jaxdl.train._sharding import Layout
from jaxdl.train._step import make_update


class ChunkSpec(NamedTuple):
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


def make_chunk(spec: ChunkSpec) -> Callable:
    """``chunk(state, n_active, X, Y, X_dev, Y_dev) -> (state, outputs)``: E epochs of ``fit``."""
    (loss_fn, optimizer, stateful, needs_key, last_batch, m, batch_size, E, partial_chunks, has_dev,
     metric_fn, mesh, axis) = spec
    masked = last_batch == "masked"
    canonical = canonical_loss(loss_fn, stateful=stateful, needs_key=needs_key, masked=masked)
    update = make_update(canonical, optimizer)
    nf, rem = divmod(m, batch_size)
    run_rem = rem > 0 and last_batch != "drop"
    m_used = m if last_batch != "drop" else nf * batch_size
    n_batches = nf + (1 if run_rem else 0)
    layout = Layout(mesh, axis)

    def gather(data, idx):
        return layout.batch(jnp.take(data, idx, axis=0))

    def dev_metrics(state, X_dev, Y_dev):
        if metric_fn is not None:
            out = metric_fn(state.params, state.model_state, X_dev, Y_dev) if stateful else metric_fn(
                state.params, X_dev, Y_dev
            )
        else:
            full = jnp.ones(v.shape_of(X_dev)[:1], bool) if masked else None
            out = {"loss": canonical(state.params, state.model_state, X_dev, Y_dev, None, full)[0]}
        return as_metric_dict(out, "dev_")

    def run_epoch(state, shuffle, batch_keys, X, Y, X_dev, Y_dev):
        perm = epoch_permutation(shuffle, epochs=E, m=m)
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
        X, Y, X_dev, Y_dev = layout.replicated((X, Y, X_dev, Y_dev))
        chain, shuffles, batch_keys = chunk_randomness(state.key, epochs=E, m=m, n_batches=n_batches,
                                                       needs_key=needs_key)

        def epoch(state, e):
            return run_epoch(state, shuffles[e], None if batch_keys is None else batch_keys[e], X, Y, X_dev, Y_dev)

        if not partial_chunks:  # every chunk is full: a plain scan over E epochs
            state, out = lax.scan(epoch, state, jnp.arange(E))
            return layout.replicated((state._replace(key=chain[E - 1]), out))
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
        return layout.replicated((state._replace(key=chain[n_active - 1]), buf))

    return chunk
