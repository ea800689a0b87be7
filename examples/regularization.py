"""Regularization on the football data: none vs L2 (lambda 0.7) vs dropout (keep_prob 0.86)
(course week 1, "Regularization").

The course's model: a [2, 20, 3, 1] ReLU network, weights ``randn / sqrt(n_in)`` (jaxdl's
``"xavier"``), full-batch gradient descent, learning rate 0.3, 30,000 iterations, on 211
training / 200 test points of the "French football" set. Course result (train / test):
none 94.8% / 91.5%, L2 93.8% / 93%, dropout 92.9% / 95%.

The original ``data.mat`` is not redistributed: ``jaxdl.datasets.football()`` generates a set of
the same kind (a smooth frontier, label noise, and clumps of wrongly coloured points in the
training set only), so the numbers are comparable in spirit, not to the decimal.

One loss serves all three settings, ``BCE(mlp_apply(..., dropout_rate=rate)) +
l2_penalty(params, lambd, m)``: ``(lambd, rate)`` are numbers, so ``jax.vmap`` trains
(0, 0), (0.7, 0) and (0, 0.14) side by side, from N initial draws each, in one program.

    python examples/regularization.py [--quick] [--out out/] [--seeds 1]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax
import jax.numpy as jnp

from examples import _common as C
from jaxdl import datasets, init, losses, nn, optim, plot, train

LAYERS = [2, 20, 3, 1]
LEARNING_RATE = 0.3
ITERATIONS = 30_000
QUICK_ITERATIONS = 300

# name -> (label, lambd, keep_prob, course train acc, course test acc)
SETTINGS = {
    "none": ("no regularization", 0.0, 1.0, 0.9478672985781991, 0.915),
    "l2": ("L2, λ = 0.7", 0.7, 1.0, 0.9383886255924171, 0.93),
    "dropout": ("dropout, keep_prob = 0.86", 0.0, 0.86, 0.9289099526066351, 0.95),
}


def make_loss(lambd, dropout_rate):
    """The course's cost: cross-entropy (+ L2 penalty over the training set size)."""

    def loss_fn(params, X, Y, *, key):
        logits = nn.mlp_apply(params, X, key=key, dropout_rate=dropout_rate, train=True)[:, 0]
        # Full batch: X.shape[0] is the training set size m, as in the course's lambd / (2 m).
        return losses.binary_cross_entropy(logits, Y) + losses.l2_penalty(params, lambd, X.shape[0])

    return loss_fn


def apply_fn(params, X):
    return nn.mlp_apply(params, X)  # evaluation: no dropout


def main(argv=None) -> dict:
    args = C.parse_args(__doc__, argv, seeds=1)
    timer = C.Timer()
    X, y, X_test, y_test = datasets.football()
    Y = y.astype(jnp.float32)
    m = X.shape[0]
    iterations = QUICK_ITERATIONS if args.quick else ITERATIONS

    runs, params, lambdas, rates = [], [], [], []
    for name, (_, lambd, keep_prob, *_course) in SETTINGS.items():
        for s in range(args.seeds):
            runs.append((name, s))
            params.append(init.init_mlp(jax.random.key(s), LAYERS, method="xavier"))
            lambdas.append(lambd)
            rates.append(1.0 - keep_prob)

    def run(p, lambd, rate, key):
        state, history = train.fit(make_loss(lambd, rate), p, optim.sgd(LEARNING_RATE), X, Y, key=key,
                                   epochs=iterations, batch_size=m, needs_key=True, progress=False)
        return state.params, {"loss": history["loss"], **C.accuracies(apply_fn, state.params, X, y, X_test, y_test)}

    keys = jax.random.split(jax.random.key(100), len(runs))  # dropout masks: a fresh key chain per run
    final, metrics = C.fit_many(run, C.stack(params), jnp.asarray(lambdas, jnp.float32),
                                jnp.asarray(rates, jnp.float32), keys)

    rows, results, plotted = [], {}, {}
    for name, (label, _, _, course_train, course_test) in SETTINGS.items():
        idx = [i for i, r in enumerate(runs) if r[0] == name]
        tr, te = metrics["train_acc"][idx], metrics["test_acc"][idx]
        plotted[name] = idx[C.representative(te)]
        results[name] = {"train_acc": tr.tolist(), "test_acc": te.tolist()}
        rows.append([label, C.pct_runs(tr), C.pct_runs(te), C.pct(course_train), C.pct(course_test)])
    n_keys = f"{args.seeds} key{'s' if args.seeds > 1 else ''}"
    C.report(
        f"Regularization on football ([2,20,3,1], GD lr {LEARNING_RATE}, {iterations} iterations)",
        ["setting", f"ours train ({n_keys})", "ours test", "course train", "course test"],
        rows,
        out=args.out, name="regularization",
        notes=[
            "ours = jaxdl.datasets.football() (generated, not the course's data.mat); init_mlp 'xavier' keys "
            "0..N-1 (median and min–max over keys with --seeds N > 1).",
            "Dropout draws fresh masks every iteration; the course reseeded NumPy inside forward propagation, "
            "so its masks were the same in every iteration.",
        ],
    )

    fig, axes = plot.subplots(1, 3, figsize=(13, 4.3))
    curves = {}
    for ax, (name, i) in zip(axes, plotted.items()):
        label = SETTINGS[name][0]
        p = C.unstack(final, i)
        plot.decision_boundary(lambda g, p=p: apply_fn(p, g), X, y, ax=ax,
                               title=f"{label}\ntrain {C.pct(metrics['train_acc'][i])}, "
                                     f"test {C.pct(metrics['test_acc'][i])}")
        curves[label] = metrics["loss"][i]
    fig.suptitle("Football (generated): decision boundaries, training points shown")
    paths = [args.out / "regularization_boundaries.png", args.out / "regularization_costs.png"]
    fig.savefig(paths[0])
    plot.learning_curves(curves, logy=True, xlabel="iteration", ylabel="cost (log scale)",
                         title="Regularization: training cost (with penalty / dropout)", path=paths[1])
    C.saved(paths)
    print(f"regularization: done in {timer}")
    return {"results": results, "paths": paths}


if __name__ == "__main__":
    main()
