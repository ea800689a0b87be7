"""Shared plumbing of the example scripts: arguments, the course's NumPy draw, vmapped
training of several runs at once, and the results table (rich on screen, Markdown on disk)."""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import train


def parse_args(description: str, argv: Sequence[str] | None, *, seeds: int | None) -> argparse.Namespace:
    """``--quick`` (a few iterations, for the smoke test), ``--out DIR`` and, unless ``seeds``
    is None, ``--seeds N`` (default ``seeds``; 1 with ``--quick``)."""
    parser = argparse.ArgumentParser(description=description.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few iterations only (smoke test)")
    parser.add_argument("--out", default="out", help="directory for the PNG plots and <script>.md (default: out/)")
    if seeds is not None:
        parser.add_argument(
            "--seeds", type=int, default=None,
            help=f"number of jaxdl.init.init_mlp keys per setting (default {seeds}; 1 with --quick)",
        )
    args = parser.parse_args(argv)
    if getattr(args, "seeds", None) is None:
        args.seeds = 1 if args.quick or seeds is None else seeds
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    args.out = Path(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    return args


# --------------------------------------------------------------------------- initial parameters


def course_numpy_init(layer_sizes: Sequence[int], std: Callable[[int], float], seed: int = 3) -> dict:
    """The course's NumPy draw, transposed to jaxdl's batch-first layout.

    The notebooks call ``np.random.seed(seed)`` once, then for each layer
    ``W = np.random.randn(n_l, n_{l-1}) * std(n_{l-1})`` and ``b = 0``. Our ``W_l`` is the
    transpose, ``(n_{l-1}, n_l)``. Training from this exact draw (on the course's exact
    circles/moons data) reproduces the notebooks' numbers, which separates "jaxdl computes
    the same thing" from "a different random draw gives a different result".
    """
    rng = np.random.RandomState(seed)  # the legacy global-seed stream, without touching np.random
    params = {}
    for l in range(1, len(layer_sizes)):
        n_in, n_out = layer_sizes[l - 1], layer_sizes[l]
        W = rng.randn(n_out, n_in) * std(n_in)
        params[f"W{l}"] = jnp.asarray(W.T, jnp.float32)
        params[f"b{l}"] = jnp.zeros((n_out,), jnp.float32)
    return params


def stack(trees: Sequence[Any]) -> Any:
    """Stack pytrees of the same structure along a new leading axis (for ``jax.vmap``)."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def unstack(tree: Any, i: int) -> Any:
    return jax.tree.map(lambda leaf: leaf[i], tree)


# --------------------------------------------------------------------------- training


def fit_many(make_run: Callable[..., tuple[Any, dict]], *batched: Any) -> tuple[Any, dict]:
    """Train several runs side by side: ``jax.jit(jax.vmap(make_run))(*batched)``.

    ``make_run(*args) -> (final_params, metrics)`` calls :func:`jaxdl.train.fit` for one run;
    every leaf of ``batched`` has a leading run axis. Runs that differ only in numbers
    (initial parameters, keys, learning rates, lambda, dropout rate) share one compiled
    program, which on a CPU is faster than compiling and running them one at a time.
    Returns NumPy arrays.
    """
    out = jax.jit(jax.vmap(make_run))(*batched)
    return jax.tree.map(np.asarray, out)


def accuracies(apply_fn: Callable, params: Any, X_train, y_train, X_test, y_test) -> dict[str, jax.Array]:
    return {
        "train_acc": train.evaluate(apply_fn, params, X_train, y_train)["accuracy"],
        "test_acc": train.evaluate(apply_fn, params, X_test, y_test)["accuracy"],
    }


def representative(values: np.ndarray) -> int:
    """Index of the run whose value is the median (ties: the first), for plotting one run."""
    values = np.asarray(values)
    return int(np.argsort(values, kind="stable")[(len(values) - 1) // 2])


# --------------------------------------------------------------------------- formatting


def pct(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{100 * float(x):.1f}%"


def pct_runs(values: Any) -> str:
    """``93.3%`` for one run; ``91.2% (50.0–95.3)`` (median, min–max over runs) for several.

    Median and range rather than mean ± sd: outcomes can be bimodal (a run whose narrow ReLU
    layer dies sits at 50% while the others reach 94%), and a mean would describe neither.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 1:
        return pct(values[0])
    return f"{100 * np.median(values):.1f}% ({100 * values.min():.1f}–{100 * values.max():.1f})"


def sci(x: float) -> str:
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf"
    if x == 0:
        return "0"
    return f"{x:.2e}"


def report(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    out: Path,
    name: str,
    notes: Sequence[str] = (),
) -> str:
    """Print a rich table and write the same table as Markdown to ``out/<name>.md``."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for i, column in enumerate(columns):
        cells = [row[i] for row in rows]
        numeric = i > 0 and all(c[:1].isdigit() or c[:1] in "-+" or c in ("inf", "nan") for c in cells)
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*row)
    console = Console(width=max(120, Console().width))
    console.print(table)
    for note in notes:
        console.print(f"[dim]{note}[/dim]")

    md = [f"### {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    md += ["| " + " | ".join(row) + " |" for row in rows]
    if notes:
        md += [""] + [f"- {note}" for note in notes]
    text = "\n".join(md) + "\n"
    (out / f"{name}.md").write_text(text)
    return text


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __str__(self) -> str:
        return f"{time.perf_counter() - self.start:.1f} s"


def saved(paths: Sequence[Path]) -> None:
    for p in paths:
        print(f"wrote {p}")
