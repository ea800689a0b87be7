"""Vanishing and exploding gradients in a deep ReLU network, under each initializer
(course week 1, lecture "Vanishing / exploding gradients" and "Weight initialization for deep
networks").

A deep network multiplies one weight matrix per layer, so signals and gradients scale like
``gain ** depth``. For a ReLU layer of width ``n`` with weights ``N(0, std^2)`` the gain is
about ``std * sqrt(n / 2)``: He's ``std = sqrt(2 / n)`` keeps it at 1; the course's Xavier
``sqrt(1 / n)`` gives ``1/sqrt(2)`` (fine for tanh, slowly vanishing with ReLU); ``0.01`` makes
gradients vanish and ``10`` makes them explode; all-zero weights give no gradient at all.

This script builds a ``[2] + [32] * 20 + [1]`` ReLU network (``jaxdl.nn.mlp_apply``) on the
circles data and, for each initializer:

1. the per-layer gradient norms ``||dJ/dW_l||`` on a batch of 64 points
   (``jaxdl.diagnostics.gradient_norms``);
2. ``||dJ/dW_1||`` as the depth grows from 1 to 20 hidden layers;
3. 2,000 iterations of full-batch gradient descent (lr 0.01), and the accuracies reached.

The course has no numbers for this: the "course" column gives the lecture's expectation.

    python examples/vanishing_gradients.py [--quick] [--out out/]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax
import jax.numpy as jnp
import numpy as np

from examples import _common as C
from jaxdl import datasets, diagnostics, init, losses, nn, optim, plot, train

WIDTH = 32
DEPTH = 20  # hidden layers
DEPTHS = (1, 2, 4, 8, 12, 16, 20)
QUICK_DEPTHS = (1, 4, 20)
BATCH = 64
LEARNING_RATE = 0.01
ITERATIONS = 2_000
QUICK_ITERATIONS = 50

# name -> (label, init_mlp keyword arguments, weight std for width n, what the lecture says)
INITS = {
    "zeros": ("zeros", {"method": "zeros"}, lambda n: 0.0, "no gradient signal: symmetry never broken"),
    "random": ("random ×10", {"method": "random"}, lambda n: 10.0, "explode"),
    "small": ("random ×0.01", {"method": "random", "scale": 0.01}, lambda n: 0.01, "vanish"),
    "xavier": ("Xavier √(1/n)", {"method": "xavier"}, lambda n: math.sqrt(1 / n), "right for tanh; shrinks with ReLU"),
    "he": ("He √(2/n)", {"method": "he"}, lambda n: math.sqrt(2 / n), "stable (the ReLU choice)"),
}


def loss_fn(params, X, Y):
    return losses.binary_cross_entropy(nn.mlp_apply(params, X)[:, 0], Y)


def apply_fn(params, X):
    return nn.mlp_apply(params, X)


def layer_norms(grads) -> np.ndarray:
    """``||dJ/dW_l||`` for l = 1..L, in layer order.

    ``gradient_norms`` returns the pytree's leaf order (sorted keys: W1, W10, W11, ..., W2),
    so we index by name. The sum of squares is taken in float64: exploding gradients here
    reach 1e30 and vanishing ones 1e-27, whose squares overflow / underflow float32.
    """
    with jax.enable_x64(True):
        g64 = jax.tree.map(lambda g: np.asarray(g, np.float64), grads)
        norms = diagnostics.gradient_norms(g64, weights_only=True)
        L = len(norms)
        return np.array([float(norms[f"W{l}"]) for l in range(1, L + 1)])


def init_all(depth: int) -> list[dict]:
    sizes = [2] + [WIDTH] * depth + [1]
    return [init.init_mlp(jax.random.key(0), sizes, **kw) for _, kw, _, _ in INITS.values()]


def main(argv=None) -> dict:
    args = C.parse_args(__doc__, argv, seeds=None)
    timer = C.Timer()
    X, y, X_test, y_test = datasets.circles()
    Y = y.astype(jnp.float32)
    Xb, Yb = X[:BATCH], Y[:BATCH]
    depths = QUICK_DEPTHS if args.quick else DEPTHS
    iterations = QUICK_ITERATIONS if args.quick else ITERATIONS
    batched_grad = jax.jit(jax.vmap(jax.grad(loss_fn), in_axes=(0, None, None)))

    # 1. per-layer norms at DEPTH, all initializers in one vmapped gradient
    params = C.stack(init_all(DEPTH))
    grads = batched_grad(params, Xb, Yb)
    per_layer = {name: layer_norms(C.unstack(grads, i)) for i, name in enumerate(INITS)}

    # 2. first-layer gradient norm against depth
    first_layer = {name: [] for name in INITS}
    for depth in depths:
        g = batched_grad(C.stack(init_all(depth)), Xb, Yb)
        for i, name in enumerate(INITS):
            first_layer[name].append(layer_norms(C.unstack(g, i))[0])

    # 3. train the deep networks with plain gradient descent
    def run(p):
        state, history = train.fit(loss_fn, p, optim.sgd(LEARNING_RATE), X, Y, key=jax.random.key(0),
                                   epochs=iterations, batch_size=X.shape[0], progress=False)
        return state.params, {"loss": history["loss"], **C.accuracies(apply_fn, state.params, X, y, X_test, y_test)}

    _, metrics = C.fit_many(run, params)

    rows, results = [], {}
    for i, (name, (label, _, std, lecture)) in enumerate(INITS.items()):
        norms = per_layer[name]
        gain = std(WIDTH) * math.sqrt(WIDTH / 2)
        results[name] = {"layer_norms": norms.tolist(), "first_layer_by_depth": dict(zip(depths, first_layer[name])),
                         "train_acc": float(metrics["train_acc"][i]), "test_acc": float(metrics["test_acc"][i])}
        rows.append([label, f"{gain:.3g}", C.sci(norms[0]), C.sci(norms[-1]),
                     C.pct(metrics["train_acc"][i]), C.pct(metrics["test_acc"][i]), lecture])
    C.report(
        f"Deep ReLU net [2] + [{WIDTH}]×{DEPTH} + [1] on circles: gradients at initialization, then "
        f"{iterations} GD iterations (lr {LEARNING_RATE})",
        ["initializer", "gain per layer σ√(n/2)", "‖dJ/dW1‖", f"‖dJ/dW{DEPTH + 1}‖", "train acc", "test acc",
         "course lecture: expect"],
        rows,
        out=args.out, name="vanishing_gradients",
        notes=[f"Gradient norms on the first {BATCH} training points, init_mlp key 0; a diverged run (NaN) "
               "predicts class 0 everywhere, hence 50%."],
    )

    # ---- plots
    fig, axes = plot.subplots(1, 2, figsize=(12, 4.5))
    labels = {name: INITS[name][0] for name in INITS}
    plot.learning_curves({labels[n]: per_layer[n] for n in INITS}, ax=axes[0], logy=True, xlabel="layer l",
                         ylabel="‖dJ/dW_l‖ (log scale)", title=f"Gradient norm by layer, depth {DEPTH}")
    for name in INITS:
        values = np.asarray(first_layer[name], np.float64)
        shown = labels[name] if (values > 0).any() else f"{labels[name]} (0, not shown)"
        axes[1].plot(depths, np.where(values > 0, values, np.nan), marker="o", label=shown)
    axes[1].set_yscale("log")
    axes[1].set(xlabel="hidden layers", ylabel="‖dJ/dW_1‖ (log scale)", title="First-layer gradient vs depth")
    axes[1].legend(fontsize="small")
    axes[1].grid(True, alpha=0.3)
    paths = [args.out / "vanishing_gradients_norms.png", args.out / "vanishing_gradients_costs.png"]
    fig.savefig(paths[0])
    fig = plot.learning_curves({labels[n]: metrics["loss"][i] for i, n in enumerate(INITS)}, logy=True,
                               xlabel="iteration", ylabel="cost (log scale)",
                               title=f"Training the {DEPTH}-layer net with GD (lr {LEARNING_RATE})")
    fig.axes[0].set_ylim(1e-4, 1e2)  # random ×10 starts near 1e31, then NaN: keep the others readable
    fig.savefig(paths[1])
    C.saved(paths)
    print(f"vanishing_gradients: done in {timer}")
    return {"results": results, "paths": paths}


if __name__ == "__main__":
    main()
