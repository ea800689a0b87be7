"""Data parallelism: which mesh axis splits the batch, and how ``fit``'s inputs reach the mesh.

One process or many (``jax.distributed``), the layout is the same: parameters, optimizer
and model state are replicated over the mesh; every mini-batch is split over the data axis
(``PartitionSpec(axis)``); ``jit`` keeps global semantics, so gradients and batch-norm
statistics are those of the whole batch. Host data (NumPy, or arrays on this process's
devices) is the *whole* data set, the same on every process, and is replicated; a global
``jax.Array`` (one whose shards live on several processes, e.g. built by every process with
``jax.make_array_from_process_local_data(NamedSharding(mesh, P("data")), its_rows)``) is
used as it is and gathered once per compiled chunk.
"""

from __future__ import annotations

from typing import Any

import jax
from jax import lax
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS_NAMES = ("data", "batch")


def data_axis(mesh: Any, axis: str | None, batch_size: int) -> str:
    """The mesh axis to split batches over: ``axis`` if given, else ``"data"`` or ``"batch"``.

    Raises:
      TypeError: ``mesh`` is not a ``jax.sharding.Mesh``.
      ValueError: the axis is not one of the mesh's, or ``batch_size`` is not divisible by
        the number of devices along it.
    """
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh must be a jax.sharding.Mesh, got {type(mesh).__name__}")
    names = tuple(mesh.axis_names)
    if axis is not None:
        if axis not in names:
            raise ValueError(f"data_axis={axis!r} is not an axis of mesh, whose axes are {names}")
    else:
        axis = next((name for name in DATA_AXIS_NAMES if name in names), None)
        if axis is None:
            raise ValueError(
                f"mesh must have a 'data' or 'batch' axis to shard the batch over (or pass data_axis=...), "
                f"got axes {names} with shape {dict(mesh.shape)}"
            )
    n_dev = mesh.shape[axis]
    if batch_size % n_dev != 0:
        raise ValueError(
            f"batch_size={batch_size} must be divisible by the {n_dev} devices of mesh axis {axis!r} "
            f"(mesh shape {dict(mesh.shape)})"
        )
    return axis


def spans_processes(tree: Any) -> bool:
    """Whether any array in ``tree`` has shards on another process's devices (a global array)."""
    return any(
        isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer) and not x.is_fully_addressable
        for x in jax.tree.leaves(tree)
    )


def replicate(mesh: Mesh, tree: Any) -> Any:
    """Every array leaf of ``tree`` on every device of ``mesh`` (global arrays are left as they are).

    With devices of other processes in the mesh every process must pass the same values
    (``jax.experimental.multihost_utils.host_local_array_to_global_array``, which also
    carries typed PRNG keys).
    """
    if mesh.is_multi_process:
        return multihost_utils.host_local_array_to_global_array(tree, mesh, P())
    return jax.device_put(tree, NamedSharding(mesh, P()))


class Layout:
    """Sharding constraints inside the compiled chunk; with no mesh, every method is the identity."""

    def __init__(self, mesh: Mesh | None, axis: str | None):
        self._batch = None if mesh is None else NamedSharding(mesh, P(axis))
        self._replicated = None if mesh is None else NamedSharding(mesh, P())

    def batch(self, a: Any) -> Any:
        """A mini-batch, split over the data axis."""
        return a if self._batch is None else lax.with_sharding_constraint(a, self._batch)

    def replicated(self, tree: Any) -> Any:
        """Arrays every device holds whole: the data sets (gathered once per chunk) and the results."""
        return tree if self._replicated is None else lax.with_sharding_constraint(tree, self._replicated)
