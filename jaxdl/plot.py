"""Course plots: decision boundaries of 2-D classifiers and learning (cost) curves.

matplotlib is an optional dependency (``pip install jaxdl[plot]``); it is imported only when
a function here is called, so ``import jaxdl.plot`` always works. Figures are built on the
non-interactive **Agg** canvas (``matplotlib.figure.Figure`` + ``FigureCanvasAgg``), never
through ``pyplot``: nothing opens a window, nothing is registered in pyplot's global figure
list (no leak when you draw hundreds of them), and the global backend is left alone.

Every function returns the :class:`matplotlib.figure.Figure` it drew on (in Jupyter it
displays itself) and, given ``path=``, also saves it there (PNG unless the suffix says
otherwise). Pass ``ax=`` to draw into an axes of your own figure, e.g. one cell of a grid
made by :func:`subplots`.

Example::

    >>> import jax, numpy as np
    >>> from jaxdl import init, nn, plot
    >>> params = init.init_mlp(jax.random.key(0), [2, 8, 1])
    >>> X = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    >>> y = (X[:, 0] * X[:, 1] > 0).astype(np.int32)
    >>> fig = plot.decision_boundary(lambda x: nn.mlp_apply(params, x), X, y, title="untrained")
    >>> fig = plot.learning_curves({"gd": [0.7, 0.5, 0.4], "adam": [0.7, 0.3, 0.1]}, logy=True)
    >>> type(fig).__name__
    'Figure'
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["decision_boundary", "learning_curves", "subplots"]

_INSTALL_HINT = "jaxdl.plot needs matplotlib; install it with `pip install matplotlib` (or `pip install jaxdl[plot]`)"


def _matplotlib():
    """Import matplotlib lazily; a clear ImportError when it is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err
    return Figure, FigureCanvasAgg


def _new_figure(figsize: tuple[float, float], dpi: int):
    Figure, FigureCanvasAgg = _matplotlib()
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)  # attach the Agg canvas: savefig/draw never touch a GUI backend
    return fig


def _check_ax(ax: Any) -> None:
    if not (hasattr(ax, "figure") and hasattr(ax, "plot") and hasattr(ax, "contourf")):
        raise TypeError(f"ax must be a matplotlib Axes (e.g. from jaxdl.plot.subplots), got {type(ax).__name__}")


def _axes(ax: Any, figsize: tuple[float, float], dpi: int):
    if ax is None:
        fig = _new_figure(figsize, dpi)
        return fig, fig.add_subplot()
    _check_ax(ax)
    return ax.figure, ax


def _save(fig: Any, path: str | os.PathLike | None) -> None:
    if path is None:
        return
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    directory = os.path.dirname(os.fspath(path))
    if directory:
        os.makedirs(directory, exist_ok=True)
    fig.savefig(path)


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] | None = None, dpi: int = 100,
             squeeze: bool = True, **kwargs: Any):
    """``(fig, axes)`` on an Agg canvas, like ``plt.subplots`` but without pyplot.

    ``figsize`` defaults to 4 x 3.5 inches per cell; other keyword arguments go to
    ``Figure.subplots`` (``sharex``, ``sharey``, ...). ``axes`` is one Axes for a 1 x 1 grid
    and a NumPy array otherwise (``squeeze=False``: always 2-D).

    >>> fig, axes = subplots(1, 3)
    >>> axes.shape
    (3,)
    """
    for name, n in (("nrows", nrows), ("ncols", ncols)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name} must be an int >= 1, got {n!r}")
    if figsize is None:
        figsize = (4.0 * ncols, 3.5 * nrows)
    fig = _new_figure(figsize, dpi)
    axes = fig.subplots(int(nrows), int(ncols), squeeze=squeeze, **kwargs)
    return fig, axes


# --------------------------------------------------------------------------- decision boundary


def _as_2d_points(X: Any) -> np.ndarray:
    try:
        X = np.asarray(X)
    except Exception as err:  # noqa: BLE001 - anything that is not array-like
        raise TypeError(f"X must be an array of shape (m, 2), got {type(X).__name__}") from err
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (m, 2) (batch-first 2-D points), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("X must hold at least one point, got shape (0, 2)")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise TypeError(f"X must be real numbers, got dtype {X.dtype}")
    return X


def _as_labels(y: Any, m: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape == (m, 1):
        y = y[:, 0]
    if y.shape != (m,):
        raise ValueError(f"y must have shape ({m},) (one class id per row of X), got shape {y.shape}")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError("y must hold class ids (0, 1, ...), got non-integer values")
    elif not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
        raise TypeError(f"y must hold integer class ids, got dtype {y.dtype}")
    return y.astype(np.int64)


def _predicted_classes(out: Any, n: int) -> np.ndarray:
    """Classes from ``predict_fn``'s output on ``n`` grid points (module conventions)."""
    out = np.asarray(out)
    if out.shape == (n, 1):
        out = out[:, 0]
    if out.shape == (n,):
        if out.dtype == bool or np.issubdtype(out.dtype, np.integer):
            return out.astype(np.int64)  # labels already
        if np.issubdtype(out.dtype, np.floating):
            return (out > 0).astype(np.int64)  # binary logits
    elif out.ndim == 2 and out.shape[0] == n and out.shape[1] >= 2 and np.issubdtype(out.dtype, np.floating):
        return np.argmax(out, axis=1).astype(np.int64)  # multi-class logits (or probabilities)
    raise ValueError(
        f"predict_fn(grid) must return, for the grid of shape ({n}, 2): binary logits ({n},) or ({n}, 1) "
        f"(class 1 where > 0), class logits ({n}, C), or integer/bool labels ({n},); "
        f"got shape {out.shape} and dtype {out.dtype}"
    )


def decision_boundary(
    predict_fn: Callable[[Any], Any],
    X: Any,
    y: Any,
    *,
    ax: Any = None,
    title: str | None = None,
    resolution: int = 200,
    padding: float = 0.1,
    cmap: str = "Spectral",
    alpha: float = 0.5,
    point_size: float = 18.0,
    path: str | os.PathLike | None = None,
    figsize: tuple[float, float] = (5.0, 4.0),
    dpi: int = 100,
):
    """Plot the regions a 2-D classifier assigns to each class, with the points on top.

    Args:
      predict_fn: called once with a float32 grid ``(resolution**2, 2)`` of points
        (batch-first, like ``X``) and returning one of: binary logits ``(n,)`` or ``(n, 1)``
        (class 1 where ``> 0``, i.e. ``sigmoid > 0.5``, as :func:`jaxdl.train.evaluate`
        predicts), class logits ``(n, C)`` (``argmax``), or integer/bool labels ``(n,)``.
        E.g. ``lambda x: jaxdl.nn.mlp_apply(params, x)``.
      X: points ``(m, 2)``; the grid covers their range plus ``padding``.
      y: class ids ``(m,)`` (or ``(m, 1)``); the points are coloured by them.
      ax: draw into this Axes instead of a new figure.
      title: axes title.
      resolution: grid points per axis (int >= 2).
      padding: margin around the points, as a fraction of each axis' range.
      cmap: colormap for classes and points (the course used ``Spectral``: red 0, blue 1).
      alpha: opacity of the class regions.
      point_size: marker size of the points.
      path: also save the figure there (directories are created).
      figsize, dpi: size of a new figure (ignored with ``ax``).

    Returns:
      the :class:`matplotlib.figure.Figure` (``ax.figure`` when ``ax`` is given). The Axes
      holds one filled contour set (the regions) and one scatter collection (the points).
    """
    if not callable(predict_fn):
        raise TypeError(f"predict_fn must be callable (grid (n, 2) -> logits or labels), got {type(predict_fn).__name__}")
    X = _as_2d_points(X)
    labels = _as_labels(y, X.shape[0])
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 2:
        raise ValueError(f"resolution must be an int >= 2, got {resolution!r}")
    if isinstance(padding, bool) or not np.isfinite(padding) or padding < 0:
        raise ValueError(f"padding must be a number >= 0, got {padding!r}")
    fig, ax = _axes(ax, figsize, dpi)

    lo, hi = X.min(axis=0).astype(np.float64), X.max(axis=0).astype(np.float64)
    span = np.where(hi > lo, hi - lo, 1.0)
    lo, hi = lo - padding * span, hi + padding * span
    xs = np.linspace(lo[0], hi[0], int(resolution))
    ys = np.linspace(lo[1], hi[1], int(resolution))
    xx, yy = np.meshgrid(xs, ys)
    grid = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)
    Z = _predicted_classes(predict_fn(grid), grid.shape[0]).reshape(xx.shape)

    n_classes = int(max(Z.max(), labels.max(), 1)) + 1
    levels = np.arange(n_classes + 1) - 0.5
    vmin, vmax = 0, n_classes - 1  # class 0 and the last class at the colormap's two ends
    ax.contourf(xx, yy, Z, levels=levels, cmap=cmap, alpha=alpha, vmin=vmin, vmax=vmax)
    ax.scatter(X[:, 0], X[:, 1], c=labels, cmap=cmap, vmin=vmin, vmax=vmax, s=point_size,
               edgecolors="k", linewidths=0.4)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title is not None:
        ax.set_title(title)
    _save(fig, path)
    return fig


# --------------------------------------------------------------------------- learning curves


def _is_history(obj: Any) -> bool:
    """A ``jaxdl.train.fit`` history: a mapping with an ``"epoch"`` entry."""
    return isinstance(obj, Mapping) and "epoch" in obj


def _curve(name: str, obj: Any, metric: str) -> tuple[np.ndarray, np.ndarray]:
    if _is_history(obj):
        if metric not in obj:
            raise KeyError(
                f"history {name!r} has no {metric!r}; it holds {sorted(map(str, obj))} "
                "(pass metric=..., e.g. 'loss' or 'dev_accuracy')"
            )
        values = np.asarray(obj[metric], dtype=np.float64)
        x = np.asarray(obj["epoch"], dtype=np.float64)
        if values.ndim != 1 or x.shape != values.shape:
            raise ValueError(
                f"history {name!r}: {metric!r} must be 1-D with one value per epoch, got shape {values.shape} "
                f"for {x.shape[0] if x.ndim else 0} epochs"
            )
        return x, values
    if isinstance(obj, (str, bytes)) or isinstance(obj, Mapping):
        raise TypeError(
            f"curve {name!r} must be a jaxdl.train.fit history (a dict with 'epoch') or a 1-D sequence of "
            f"values, got {type(obj).__name__}"
        )
    try:
        values = np.asarray(obj, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"curve {name!r} must be a 1-D sequence of numbers, got {type(obj).__name__}") from err
    if values.ndim != 1 or values.shape[0] == 0:
        raise ValueError(f"curve {name!r} must be a non-empty 1-D sequence of values, got shape {values.shape}")
    return np.arange(1, values.shape[0] + 1, dtype=np.float64), values


def learning_curves(
    histories: Any,
    *,
    metric: str = "loss",
    ax: Any = None,
    title: str | None = None,
    xlabel: str = "epoch",
    ylabel: str | None = None,
    logy: bool = False,
    path: str | os.PathLike | None = None,
    figsize: tuple[float, float] = (6.0, 4.0),
    dpi: int = 100,
):
    """Plot cost (or any per-epoch metric) against the epoch, one line per run.

    Args:
      histories: one of
        - a history returned by :func:`jaxdl.train.fit` (a dict with ``"epoch"``): plots
          ``history[metric]`` against ``history["epoch"]``;
        - a 1-D sequence of values (x = 1, 2, ...);
        - a mapping ``label -> history or 1-D sequence``: one labelled line each, with a legend.
      metric: the history entry to plot (``"loss"``, ``"dev_loss"``, ``"dev_accuracy"``...).
      ax: draw into this Axes instead of a new figure.
      title, xlabel: axes title and x label; ``ylabel`` defaults to ``metric``.
      logy: logarithmic y axis (values ``<= 0`` are left out).
      path: also save the figure there (directories are created).
      figsize, dpi: size of a new figure (ignored with ``ax``).

    Non-finite values (a run that diverged to ``inf``/``nan``) are left out of its line
    rather than breaking the plot, and the run's legend entry is marked ``(diverged)``; with
    ``logy``, a run with no positive value is listed but marked as not shown.

    Returns:
      the :class:`matplotlib.figure.Figure`; its Axes holds one ``Line2D`` per run.
    """
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a str, got {type(metric).__name__}")
    if _is_history(histories) or not isinstance(histories, Mapping):
        curves = {None: histories}
    else:
        if not histories:
            raise ValueError("histories is an empty mapping: nothing to plot")
        curves = dict(histories)
    data = [(label, *_curve(str(label), obj, metric)) for label, obj in curves.items()]
    fig, ax = _axes(ax, figsize, dpi)
    for label, x, values in data:
        ok = np.isfinite(values) & ((values > 0) if logy else True)
        shown = np.where(ok, values, np.nan)
        text = None if label is None else str(label)
        if text is not None and not np.isfinite(values).all():
            text += " (diverged)"
        elif text is not None and not ok.any():
            text += " (all <= 0, not shown)"
        ax.plot(x, shown, label=text, linewidth=1.5)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric if ylabel is None else ylabel)
    if title is not None:
        ax.set_title(title)
    if any(label is not None for label, _, _ in data):
        ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    _save(fig, path)
    return fig
