"""fit on JAX's multi-process runtime: two processes on localhost train together on one global mesh.

Each process (CPU, gloo collectives, two devices each: a 4-device mesh over 2 processes) runs
``jax.distributed.initialize`` and the same ``fit`` call, feeding its half of the training rows
as a global array (``jax.make_array_from_process_local_data``) and the dev set as host
arrays. Both must end with the parameters, batch-norm statistics and history of one process
training on all the data, within 1e-5.

This file is also the worker: ``python -m tests.test_distributed <process_id> <port> <out.npz>``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
M, NX, BS, EPOCHS = 36, 3, 8, 3  # 36 = 4 * 8 + 4: a smaller last batch; 18 rows per process
LAYERS = [NX, 5, 1]
N_PROCESSES = 2
QUICK_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def problem():
    """The data (NumPy), initial parameters and batch-norm state, loss, metric and fit settings."""
    import jax

    from jaxdl import init, losses, nn, optim, train

    rng = np.random.default_rng(0)
    X = rng.normal(size=(M, NX)).astype(np.float32)
    Y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.float32)
    X_dev = rng.normal(size=(10, NX)).astype(np.float32)
    Y_dev = (X_dev[:, 0] + 0.5 * X_dev[:, 1] > 0).astype(np.float32)
    bn_params, bn_state = nn.mlp_batchnorm_init(LAYERS)
    params = {"mlp": init.init_mlp(jax.random.key(1), LAYERS, method="he"), "bn": bn_params}

    def loss_fn(p, ms, X, Y):
        z, new_ms = nn.mlp_apply(p["mlp"], X, batchnorm=(p["bn"], ms), train=True, bn_momentum=0.9)
        return losses.binary_cross_entropy(z[:, 0], Y), new_ms

    def metric_fn(p, ms, X, Y):
        return train.evaluate(
            lambda q, s, x: nn.mlp_apply(q["mlp"], x, batchnorm=(q["bn"], s), train=False)[0], p, X, Y,
            model_state=ms,
        )

    settings = {"key": jax.random.key(8), "epochs": EPOCHS, "batch_size": BS, "progress": False,
                "model_state": bn_state, "metric_fn": metric_fn, "epochs_per_chunk": EPOCHS}
    # Momentum, not Adam: the gradient of the bias before batch norm is zero up to rounding,
    # and Adam would scale that rounding noise (different with any summation order) up to
    # a step of size learning_rate.
    return (X, Y, X_dev, Y_dev), params, loss_fn, optim.momentum(0.1), settings


def flat(state, history) -> dict[str, np.ndarray]:
    import jax

    out = {f"history/{k}": np.asarray(v) for k, v in history.items()}
    for path, leaf in jax.tree_util.tree_leaves_with_path((state.params, state.model_state)):
        out["state" + jax.tree_util.keystr(path)] = np.asarray(leaf)
    return out


def worker(process_id: int, port: int, out: str) -> None:
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_num_cpu_devices", 2)
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=N_PROCESSES,
                               process_id=process_id)
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    from jaxdl import train

    (X, Y, X_dev, Y_dev), params, loss_fn, optimizer, settings = problem()
    mesh = Mesh(np.array(jax.devices()), ("data",))
    assert mesh.is_multi_process and len(jax.local_devices()) == 2
    rows = slice(process_id * M // N_PROCESSES, (process_id + 1) * M // N_PROCESSES)  # this process's rows
    shard_rows = NamedSharding(mesh, P("data"))
    X_global = jax.make_array_from_process_local_data(shard_rows, X[rows])
    Y_global = jax.make_array_from_process_local_data(shard_rows, Y[rows])
    assert X_global.shape == (M, NX) and not X_global.is_fully_addressable
    try:
        train.fit(loss_fn, params, optimizer, X_global, Y_global, X_dev=X_dev, Y_dev=Y_dev, **settings)
    except ValueError as e:  # global arrays need the mesh they live on
        assert "pass the mesh they live on as mesh=" in str(e), e
    else:
        raise AssertionError("fit accepted global arrays without mesh=")
    state, history = train.fit(loss_fn, params, optimizer, X_global, Y_global, X_dev=X_dev, Y_dev=Y_dev,
                               mesh=mesh, **settings)
    np.savez(out, **flat(state, history))
    jax.distributed.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_like_one(tmp_path):
    port = free_port()
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + " " + QUICK_XLA_FLAGS).strip()}
    outs = [tmp_path / f"process{i}.npz" for i in range(N_PROCESSES)]
    procs = [
        subprocess.Popen([sys.executable, "-m", "tests.test_distributed", str(i), str(port), str(outs[i])],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(N_PROCESSES)
    ]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=300)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for i, p in enumerate(procs):
        assert p.returncode == 0, f"process {i} exited {p.returncode}:\n{logs[i][-4000:] if i < len(logs) else ''}"

    from jaxdl import train

    (X, Y, X_dev, Y_dev), params, loss_fn, optimizer, settings = problem()
    state, history = train.fit(loss_fn, params, optimizer, X, Y, X_dev=X_dev, Y_dev=Y_dev, **settings)
    expected = flat(state, history)
    for i, out in enumerate(outs):
        with np.load(out) as got:
            assert set(got.files) == set(expected)
            for name, value in expected.items():
                np.testing.assert_allclose(got[name], value, rtol=0, atol=1e-5, err_msg=f"process {i}: {name}")
    assert expected["history/loss"][-1] < expected["history/loss"][0]  # it trained


if __name__ == "__main__":
    worker(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
