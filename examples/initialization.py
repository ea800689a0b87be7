"""Initialization on circles: zeros vs large random (x10) vs He (course week 1, "Initialization").

The course's model: a [2, 10, 5, 1] ReLU network with a sigmoid output, full-batch gradient
descent, learning rate 0.01, 15,000 iterations, on 300 training / 100 test points of two
noisy circles. Course result: zeros 50% / random x10 83% / He 99% train accuracy.

Each setting is trained from several jaxdl draws (``init_mlp(key, ..., method)`` with keys
0..N-1) and from the course's own NumPy draw (``np.random.seed(3)``) converted to jaxdl's
layout; all runs share one compiled program (``jax.vmap`` over initial parameters).

    python examples/initialization.py [--quick] [--out out/] [--seeds 5]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax
import jax.numpy as jnp
import numpy as np

from examples import _common as C
from jaxdl import datasets, init, losses, nn, optim, plot, train

LAYERS = [2, 10, 5, 1]
LEARNING_RATE = 0.01
ITERATIONS = 15_000
QUICK_ITERATIONS = 300

# method -> (label, course train acc, course test acc, course cost at 0, course cost at 14000, NumPy std)
SETTINGS = {
    "zeros": ("zeros", 0.5, 0.5, 0.6931471805599453, 0.6931471805599453, lambda n: 0.0),
    "random": ("random ×10", 0.83, 0.86, float("inf"), 0.38278175354946176, lambda n: 10.0),
    "he": ("He", 0.9933333333333333, 0.96, 0.8830537463419761, 0.07357895962677362, lambda n: np.sqrt(2.0 / n)),
}


def loss_fn(params, X, Y):
    return losses.binary_cross_entropy(nn.mlp_apply(params, X)[:, 0], Y)


def apply_fn(params, X):
    return nn.mlp_apply(params, X)


def main(argv=None) -> dict:
    args = C.parse_args(__doc__, argv, seeds=5)
    timer = C.Timer()
    X, y, X_test, y_test = datasets.circles()
    Y = y.astype(jnp.float32)
    m = X.shape[0]
    iterations = QUICK_ITERATIONS if args.quick else ITERATIONS

    # Runs: for every method, the course's NumPy draw then init_mlp with keys 0..N-1.
    # Zero weights are the same whatever the key: one run covers it.
    runs, params = [], []
    for method, (label, *_rest, std) in SETTINGS.items():
        runs.append((method, "course"))
        params.append(C.course_numpy_init(LAYERS, std))
        for s in range(1 if method == "zeros" else args.seeds):
            runs.append((method, s))
            params.append(init.init_mlp(jax.random.key(s), LAYERS, method=method))

    def run(p):
        # Full-batch gradient descent = fit with batch_size = m (one update per epoch).
        state, history = train.fit(loss_fn, p, optim.sgd(LEARNING_RATE), X, Y, key=jax.random.key(0),
                                   epochs=iterations, batch_size=m, progress=False)
        return state.params, {"loss": history["loss"], **C.accuracies(apply_fn, state.params, X, y, X_test, y_test)}

    final, metrics = C.fit_many(run, C.stack(params))

    rows, results, plotted = [], {}, {}
    for method, (label, course_train, course_test, course_c0, course_cend, _) in SETTINGS.items():
        ours = [i for i, r in enumerate(runs) if r[0] == method and r[1] != "course"]
        course_i = runs.index((method, "course"))
        tr, te = metrics["train_acc"][ours], metrics["test_acc"][ours]
        rep = ours[C.representative(tr)]
        plotted[method] = (rep, course_i)
        results[method] = {
            "train_acc": tr.tolist(), "test_acc": te.tolist(),
            "course_draw_train_acc": float(metrics["train_acc"][course_i]),
            "course_draw_test_acc": float(metrics["test_acc"][course_i]),
            "course_draw_cost_0": float(metrics["loss"][course_i][0]),
        }
        rows.append([
            label,
            C.pct_runs(tr), C.pct_runs(te),
            C.pct(metrics["train_acc"][course_i]), C.pct(metrics["test_acc"][course_i]),
            C.pct(course_train), C.pct(course_test),
        ])
    he_c0 = results["he"]["course_draw_cost_0"]
    n_keys = f"{args.seeds} key{'s' if args.seeds > 1 else ''}"
    C.report(
        f"Initialization on circles ([2,10,5,1], GD lr {LEARNING_RATE}, {iterations} iterations)",
        ["setting", f"ours train ({n_keys})", "ours test", "course's draw: train", "course's draw: test",
         "course train", "course test"],
        rows,
        out=args.out, name="initialization",
        notes=[
            "ours = jaxdl.init.init_mlp with keys 0..N-1 (median and min–max over keys); course's draw = the notebook's "
            "np.random.seed(3) weights, transposed, trained with jaxdl.",
            f"He, course's draw: cost at iteration 0 = {he_c0:.7f} (course 0.8830537); the course's random ×10 "
            "cost is inf there because it evaluates log(0), jaxdl's logits-based loss stays finite.",
        ],
    )

    # ---- plots: decision boundaries (median-accuracy key and the course's draw) and costs
    fig, axes = plot.subplots(2, 3, figsize=(12, 7.5))
    curves = {}
    for j, (method, (rep, course_i)) in enumerate(plotted.items()):
        label = SETTINGS[method][0]
        for i, (idx, who) in enumerate(((rep, f"init_mlp key {runs[rep][1]}"), (course_i, "course's NumPy draw"))):
            p = C.unstack(final, idx)
            plot.decision_boundary(lambda g, p=p: apply_fn(p, g), X, y, ax=axes[i, j],
                                   title=f"{label}, {who}\ntrain {C.pct(metrics['train_acc'][idx])}, "
                                         f"test {C.pct(metrics['test_acc'][idx])}")
        curves[f"{label} (key {runs[rep][1]})"] = metrics["loss"][rep]
        if method != "zeros":
            curves[f"{label} (course's draw)"] = metrics["loss"][course_i]
    paths = [args.out / "initialization_boundaries.png", args.out / "initialization_costs.png"]
    fig.suptitle("Circles: decision boundaries after training (training points shown)")
    fig.savefig(paths[0])
    plot.learning_curves(curves, logy=True, ylabel="cost (log scale)", xlabel="iteration",
                         title="Initialization: training cost", path=paths[1])
    C.saved(paths)
    print(f"initialization: done in {timer}")
    return {"results": results, "paths": paths}


if __name__ == "__main__":
    main()
