"""jaxdl.plot: decision boundaries and learning curves on the Agg canvas (fast)."""

from __future__ import annotations

import doctest
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from jaxdl import init, nn, plot  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _points(m=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(m, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int32)
    return X, y


def _is_png(path):
    return path.exists() and path.read_bytes()[:8] == PNG_MAGIC


# --------------------------------------------------------------------------- decision_boundary


def test_decision_boundary_figure_artists_and_png(tmp_path):
    X, y = _points()
    params = init.init_mlp(jax.random.key(0), [2, 8, 1])
    path = tmp_path / "sub" / "db.png"
    fig = plot.decision_boundary(lambda g: nn.mlp_apply(params, g), X, y, title="mlp", path=path)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert ax.get_title() == "mlp"
    contours = [c for c in ax.collections if isinstance(c, ContourSet)]
    scatters = [c for c in ax.collections if isinstance(c, PathCollection) and not isinstance(c, ContourSet)]
    assert len(contours) == 1 and len(scatters) == 1
    assert scatters[0].get_offsets().shape == (40, 2)
    np.testing.assert_array_equal(np.asarray(scatters[0].get_array()), y)
    assert _is_png(path)  # the directory was created


def test_decision_boundary_grid_covers_points_with_padding():
    X, y = _points()
    seen = {}

    def predict(grid):
        seen["grid"] = grid
        return jnp.asarray(grid[:, 0])  # binary logits: class 1 where x1 > 0

    fig = plot.decision_boundary(predict, X, y, resolution=30, padding=0.1)
    grid = seen["grid"]
    assert grid.shape == (900, 2) and grid.dtype == np.float32
    lo, hi = X.min(0), X.max(0)
    span = hi - lo
    np.testing.assert_allclose(grid.min(0), lo - 0.1 * span, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grid.max(0), hi + 0.1 * span, rtol=1e-5, atol=1e-6)
    x0, x1 = fig.axes[0].get_xlim()
    assert x0 == pytest.approx(float(lo[0] - 0.1 * span[0]), rel=1e-5)


@pytest.mark.parametrize(
    "predict, expected_classes",
    [
        (lambda g: g[:, 0], [0, 1]),  # binary logits (n,)
        (lambda g: g[:, :1], [0, 1]),  # binary logits (n, 1)
        (lambda g: np.stack([g[:, 0], -g[:, 0], g[:, 1]], axis=1), [0, 1, 2]),  # 3-class logits
        (lambda g: (g[:, 0] > 0).astype(np.int32), [0, 1]),  # labels
        (lambda g: g[:, 0] > 0, [0, 1]),  # bool labels
    ],
)
def test_decision_boundary_output_conventions(predict, expected_classes):
    X, y = _points()
    fig = plot.decision_boundary(predict, X, y, resolution=20)
    (contour,) = [c for c in fig.axes[0].collections if isinstance(c, ContourSet)]
    # one filled band per class, centred on the class id
    assert len(contour.levels) == len(expected_classes) + 1
    np.testing.assert_allclose((contour.levels[:-1] + contour.levels[1:]) / 2, expected_classes)


def test_decision_boundary_draws_into_given_axes():
    X, y = _points()
    fig, axes = plot.subplots(1, 2)
    assert axes.shape == (2,)
    out = plot.decision_boundary(lambda g: g[:, 1], X, y, ax=axes[1])
    assert out is fig
    assert len(axes[0].collections) == 0 and len(axes[1].collections) == 2


def test_decision_boundary_bad_inputs():
    X, y = _points()
    with pytest.raises(TypeError, match="predict_fn must be callable"):
        plot.decision_boundary("model", X, y)
    with pytest.raises(ValueError, match=r"X must have shape \(m, 2\).*\(40, 3\)"):
        plot.decision_boundary(lambda g: g[:, 0], np.zeros((40, 3), np.float32), y)
    with pytest.raises(ValueError, match=r"y must have shape \(40,\)"):
        plot.decision_boundary(lambda g: g[:, 0], X, y[:10])
    with pytest.raises(ValueError, match="predict_fn.*must return"):
        plot.decision_boundary(lambda g: g[:5, 0], X, y, resolution=10)
    with pytest.raises(ValueError, match="resolution"):
        plot.decision_boundary(lambda g: g[:, 0], X, y, resolution=1)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plot.decision_boundary(lambda g: g[:, 0], X, y, ax=object())


# --------------------------------------------------------------------------- learning_curves


def test_learning_curves_from_fit_history_and_png(tmp_path):
    history = {"epoch": np.arange(1, 6), "loss": np.array([0.7, 0.5, 0.4, 0.35, 0.3], np.float32),
               "batch_loss": np.ones((5, 3), np.float32)}
    path = tmp_path / "lc.png"
    fig = plot.learning_curves(history, title="cost", path=path)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 6))
    np.testing.assert_allclose(line.get_ydata(), history["loss"])
    assert ax.get_ylabel() == "loss" and ax.get_title() == "cost"
    assert ax.get_legend() is None  # a single unlabelled run
    assert _is_png(path)


def test_learning_curves_mapping_of_runs_legend_and_logy():
    hist = {"epoch": np.arange(1, 4), "loss": np.array([1.0, 0.5, 0.2]), "dev_accuracy": np.array([0.5, 0.7, 0.9])}
    fig = plot.learning_curves({"gd": [0.7, 0.6, 0.5, 0.4], "adam": hist}, logy=True)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["gd", "adam"]
    assert [len(line.get_xdata()) for line in ax.get_lines()] == [4, 3]
    assert ax.get_yscale() == "log"
    fig = plot.learning_curves({"adam": hist}, metric="dev_accuracy")
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), [0.5, 0.7, 0.9])


def test_learning_curves_non_finite_values_are_left_out():
    curves = {"ok": [1.0, 0.5], "late": [0.7, 3.0, np.inf, np.nan], "nan": [np.nan, np.nan], "zero": [0.0, 0.0]}
    fig = plot.learning_curves(curves, logy=True)
    ax = fig.axes[0]
    ydata = ax.get_lines()[1].get_ydata()
    np.testing.assert_array_equal(ydata[:2], [0.7, 3.0])
    assert np.isnan(ydata[2:]).all()
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["ok", "late (diverged)", "nan (diverged)", "zero (all <= 0, not shown)"]


def test_learning_curves_into_axes():
    fig, axes = plot.subplots(2, 1, squeeze=False)
    assert axes.shape == (2, 1)
    assert plot.learning_curves([3.0, 2.0, 1.0], ax=axes[1, 0]) is fig
    assert len(axes[0, 0].get_lines()) == 0 and len(axes[1, 0].get_lines()) == 1


def test_learning_curves_bad_inputs():
    with pytest.raises(KeyError, match="dev_loss"):
        plot.learning_curves({"epoch": [1, 2], "loss": [1.0, 0.5]}, metric="dev_loss")
    with pytest.raises(ValueError, match="1-D"):
        plot.learning_curves({"run": np.ones((2, 2))})
    with pytest.raises(ValueError, match="empty"):
        plot.learning_curves({})
    with pytest.raises(TypeError, match="curve 'run'"):
        plot.learning_curves({"run": "abc"})


# --------------------------------------------------------------------------- optional dependency


def test_missing_matplotlib_gives_a_clear_error(monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    X, y = _points()
    with pytest.raises(ImportError, match=r"pip install matplotlib"):
        plot.decision_boundary(lambda g: g[:, 0], X, y)
    with pytest.raises(ImportError, match=r"jaxdl\[plot\]"):
        plot.learning_curves([1.0, 0.5])


def test_module_docstring_examples():
    with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
        result = doctest.testmod(plot, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
