# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Week 1 · Initialization (30 points)
#
# Training a neural network starts from a guess for its weights, and that guess matters.
# A good initialization
#
# - speeds up the convergence of gradient descent, and
# - makes it more likely that gradient descent ends at a low training (and test) error.
#
# You will compare three initializations of the same 3-layer network on a toy data set:
#
# | exercise | function | points |
# |---|---|---|
# | 1 | `initialize_parameters_zeros(layers_dims)` | 10 |
# | 2 | `initialize_parameters_random(key, layers_dims)` | 10 |
# | 3 | `initialize_parameters_he(key, layers_dims)` | 10 |
#
# **How to work.** Fill in each `# YOUR CODE HERE` (delete the `raise NotImplementedError`).
# Check your work with `grader test week1/initialization` while you go and hand it in with
# `grader submit week1/initialization`. Don't rename the graded functions or change their
# arguments. Run the whole file (`python assignments/week1/initialization.py`, or "Run All"
# in Jupyter / VS Code) to train the three networks and draw their decision boundaries.
#
# ## What is different from the course's NumPy version
#
# | | course (NumPy) | here (JAX) |
# |---|---|---|
# | data | `X` is `(n_x, m)`, one *column* per example | `X` is `(m, n_x)`, one *row* per example (batch-first) |
# | weights | `W[l]` is `(n_l, n_{l-1})`, `Z = W @ A_prev + b` | `W_l` is `(n_{l-1}, n_l)`, `Z = A_prev @ W_l + b_l` |
# | biases | `b[l]` is `(n_l, 1)` | `b_l` is `(n_l,)` |
# | labels | `Y` is `(1, m)` | `Y` is `(m, 1)` float32 |
# | randomness | `np.random.seed(3)` then `np.random.randn(...)`: hidden global state | an explicit PRNG **key** passed in; you split it into one key per layer |
# | updates | arrays changed in place | pure functions: every step returns a new dict |
#
# A JAX key is a value, not a state: the same key always gives the same numbers, and using
# one key twice gives the *same* numbers twice. To get independent numbers you **split** it:
# `keys = jax.random.split(key, L)` returns `L` new keys, one per layer.
#
# **Allowed imports:** `jax` (with `jax.numpy`, `jax.random`), `numpy`, `math`. Not
# `jaxdl.init`, `optax` or `flax` (they would be the answer, or hold it); the grader refuses
# them.

# %%
import os

import jax
import jax.numpy as jnp
import numpy as np

# %% [markdown]
# ## 0 · The network (provided)
#
# The model is LINEAR → RELU → LINEAR → RELU → LINEAR → SIGMOID, trained by full-batch
# gradient descent on the cross-entropy cost. The forward and backward passes below are the
# course's `init_utils.py`, transposed to batch-first; you do not need to change them.
# Shapes for `m` examples and `layers_dims = [n_x, n_1, n_2, 1]`:
#
# | array | shape |
# |---|---|
# | `X` | `(m, n_x)` |
# | `Z1`, `A1` | `(m, n_1)` |
# | `Z2`, `A2` | `(m, n_2)` |
# | `Z3`, `A3` | `(m, 1)` |
#
# One detail: the biases are added as `b1[None, :]`, an explicit `(1, n_1)` row. Plain `+ b1`
# would broadcast the same way; the explicit form keeps this file working when JAX is told
# to refuse implicit rank promotion (`jax_numpy_rank_promotion="raise"`, as the kit's tests do).


# %%
def sigmoid(z):
    """Elementwise logistic function 1 / (1 + exp(-z))."""
    return jax.nn.sigmoid(z)


def relu(z):
    """Elementwise max(0, z); its derivative at 0 is taken as 0 (as `A > 0` in the backward pass)."""
    return jax.nn.relu(z)


def forward_propagation(X, parameters):
    """LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID.

    Arguments:
      X: (m, n_x) input data.
      parameters: dict with W1 (n_x, n_1), b1 (n_1,), W2 (n_1, n_2), b2 (n_2,),
        W3 (n_2, 1), b3 (1,).

    Returns:
      A3: (m, 1) predicted probabilities.
      cache: (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3), as in the course.
    """
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]
    Z1 = X @ W1 + b1[None, :]
    A1 = relu(Z1)
    Z2 = A1 @ W2 + b2[None, :]
    A2 = relu(Z2)
    Z3 = A2 @ W3 + b3[None, :]
    A3 = sigmoid(Z3)
    cache = (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)
    return A3, cache


def backward_propagation(X, Y, cache):
    """Gradients of the mean cross-entropy for the network above (course: init_utils).

    Arguments:
      X: (m, n_x) input data.
      Y: (m, 1) float32 labels, 0 or 1.
      cache: the cache returned by forward_propagation.

    Returns:
      dict with dZ3, dW3, db3, dA2, dZ2, dW2, db2, dA1, dZ1, dW1, db1 (each shaped like the
      array it is the gradient of).
    """
    m = X.shape[0]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = (A3 - Y) / m
    dW3 = A2.T @ dZ3
    db3 = jnp.sum(dZ3, axis=0)
    dA2 = dZ3 @ W3.T
    dZ2 = jnp.where(A2 > 0, dA2, 0.0)
    dW2 = A1.T @ dZ2
    db2 = jnp.sum(dZ2, axis=0)
    dA1 = dZ2 @ W2.T
    dZ1 = jnp.where(A1 > 0, dA1, 0.0)
    dW1 = X.T @ dZ1
    db1 = jnp.sum(dZ1, axis=0)
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2,
            "db2": db2, "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}


def compute_loss(A3, Y):
    """Mean cross-entropy -1/m sum(Y log A3 + (1 - Y) log(1 - A3)) (NaN terms skipped, as in the course)."""
    m = Y.shape[0]
    logprobs = -(Y * jnp.log(A3) + (1.0 - Y) * jnp.log(1.0 - A3))
    return jnp.nansum(logprobs) / m


def update_parameters(parameters, grads, learning_rate):
    """One gradient-descent step; returns a NEW dict (nothing is updated in place)."""
    L = len(parameters) // 2
    new = {}
    for l in range(1, L + 1):
        new[f"W{l}"] = parameters[f"W{l}"] - learning_rate * grads[f"dW{l}"]
        new[f"b{l}"] = parameters[f"b{l}"] - learning_rate * grads[f"db{l}"]
    return new


@jax.jit
def predict_proba(X, parameters):
    """The network's output probabilities A3, (m, 1)."""
    return forward_propagation(X, parameters)[0]


def predict(X, Y, parameters):
    """Predictions (A3 > 0.5) as float32 (m, 1), and the accuracy against Y (m, 1)."""
    predictions = (predict_proba(X, parameters) > 0.5).astype(jnp.float32)
    accuracy = float(jnp.mean((predictions == Y).astype(jnp.float32)))
    return predictions, accuracy


def train(parameters, X, Y, learning_rate=0.01, num_iterations=15000):
    """Full-batch gradient descent, compiled: the whole loop is one `jax.lax.scan`.

    Returns (trained parameters, costs) with the cost of every iteration, (num_iterations,).
    """

    def step(params, _):
        A3, cache = forward_propagation(X, params)
        cost = compute_loss(A3, Y)
        grads = backward_propagation(X, Y, cache)
        return update_parameters(params, grads, learning_rate), cost

    run = jax.jit(lambda p: jax.lax.scan(step, p, None, length=num_iterations))
    return run(parameters)


def model(X, Y, learning_rate=0.01, num_iterations=15000, print_cost=True, initialization="he",
          key=None):
    """The course's model(): initialize with your function, then train.

    Arguments:
      X: (m, 2) training data; Y: (m, 1) float32 labels.
      initialization: "zeros", "random" or "he" (which of your functions to call).
      key: PRNG key for "random" and "he" (default jax.random.key(3), the course's seed 3).

    Returns the trained parameters dict.
    """
    if key is None:
        key = jax.random.key(3)
    layers_dims = [X.shape[1], 10, 5, 1]
    if initialization == "zeros":
        parameters = initialize_parameters_zeros(layers_dims)
    elif initialization == "random":
        parameters = initialize_parameters_random(key, layers_dims)
    elif initialization == "he":
        parameters = initialize_parameters_he(key, layers_dims)
    else:
        raise ValueError(f"initialization must be 'zeros', 'random' or 'he', got {initialization!r}")
    parameters, costs = train(parameters, X, Y, learning_rate, num_iterations)
    if print_cost:
        for i in range(0, num_iterations, 1000):
            print(f"  cost after iteration {i}: {float(costs[i])}")
    return parameters


# %% [markdown]
# ## 1 · Zero initialization (10 points)
#
# There are two kinds of parameters in a network: the weight matrices
# `(W1, W2, ..., WL)` and the bias vectors `(b1, b2, ..., bL)`.
#
# **Exercise.** Implement `initialize_parameters_zeros`: every weight and every bias is zero.
# For `layers_dims = [n_0, n_1, ..., n_L]` (`n_0` = number of input features) layer `l`
# (1-based, `l = 1 .. L`) has
#
# - `W{l}`: `(n_{l-1}, n_l)` (batch-first: the *transpose* of the course's `(n_l, n_{l-1})`),
# - `b{l}`: `(n_l,)` (the course's was `(n_l, 1)`),
#
# both `float32`. Use `jnp.zeros(shape, dtype=jnp.float32)`. This one needs no key.
#
# (You will see why it is a bad idea: every neuron of a layer computes the same function and
# gets the same gradient, so they stay identical for ever. Symmetry is never broken.)


# %%
def initialize_parameters_zeros(layers_dims):
    """All-zero weights and biases.

    Arguments:
      layers_dims: list of Python ints [n_0, n_1, ..., n_L], the size of each layer
        (n_0 = input features). L = len(layers_dims) - 1 weight layers.

    Returns:
      parameters: dict {"W1", "b1", ..., "WL", "bL"} with
        W{l} = zeros of shape (n_{l-1}, n_l), float32;
        b{l} = zeros of shape (n_l,), float32.
    """
    parameters = {}
    L = len(layers_dims) - 1  # number of weight layers
    ### BEGIN SOLUTION
    for l in range(1, L + 1):
        parameters[f"W{l}"] = jnp.zeros((layers_dims[l - 1], layers_dims[l]), dtype=jnp.float32)
        parameters[f"b{l}"] = jnp.zeros((layers_dims[l],), dtype=jnp.float32)
    ### END SOLUTION
    return parameters


# %%
if __name__ == "__main__":
    parameters = initialize_parameters_zeros([3, 2, 1])
    for name, value in parameters.items():
        print(name, value.shape, value.dtype, value.tolist())
    # Expected: W1 (3, 2) float32 zeros, b1 (2,), W2 (2, 1), b2 (1,), all zeros.

# %% [markdown]
# ## 2 · Random initialization (10 points)
#
# To break symmetry the weights must be different from each other. The course tries
# *large* random weights first: standard normal samples times 10. Biases can stay zero.
#
# **Exercise.** Implement `initialize_parameters_random(key, layers_dims)`.
#
# The course wrote `np.random.seed(3)` and then `np.random.randn(n_l, n_{l-1}) * 10` for each
# layer, one global random stream. In JAX you get a key instead and must use it exactly like
# this, so that the grader can reproduce your numbers:
#
# ```python
# L = len(layers_dims) - 1
# keys = jax.random.split(key, L)          # one key per weight layer
# # layer l = 1..L draws from keys[l - 1]:
# W_l = jax.random.normal(keys[l - 1], (n_{l-1}, n_l), dtype=jnp.float32) * 10
# b_l = jnp.zeros((n_l,), dtype=jnp.float32)
# ```
#
# Don't draw every layer from `key` itself: a key is not a stream, so reusing it gives
# correlated (for equal shapes, identical) weights in every layer.


# %%
def initialize_parameters_random(key, layers_dims):
    """Large random weights (standard normal x 10), zero biases.

    Arguments:
      key: a JAX PRNG key (jax.random.key(seed) or jax.random.PRNGKey(seed)).
      layers_dims: list of Python ints [n_0, n_1, ..., n_L]; L = len(layers_dims) - 1.

    Key convention (follow it exactly):
      keys = jax.random.split(key, L)
      W{l} = jax.random.normal(keys[l-1], (n_{l-1}, n_l), dtype=jnp.float32) * 10   for l = 1..L

    Returns:
      parameters: dict {"W1", "b1", ..., "WL", "bL"} with W{l} of shape (n_{l-1}, n_l) and
      b{l} = zeros (n_l,), all float32.
    """
    parameters = {}
    L = len(layers_dims) - 1  # number of weight layers
    ### BEGIN SOLUTION
    keys = jax.random.split(key, L)
    for l in range(1, L + 1):
        shape = (layers_dims[l - 1], layers_dims[l])
        parameters[f"W{l}"] = jax.random.normal(keys[l - 1], shape, dtype=jnp.float32) * 10
        parameters[f"b{l}"] = jnp.zeros((layers_dims[l],), dtype=jnp.float32)
    ### END SOLUTION
    return parameters


# %%
if __name__ == "__main__":
    parameters = initialize_parameters_random(jax.random.key(3), [3, 2, 1])
    print("W1 =", parameters["W1"])
    print("b1 =", parameters["b1"])
    print("W2 =", parameters["W2"])
    print("b2 =", parameters["b2"])
    # The numbers differ from the course's (JAX's generator is not NumPy's), but the scale is
    # the same: entries of order 10.

# %% [markdown]
# ## 3 · He initialization (10 points)
#
# He et al. (2015) scale the random weights of a layer by `sqrt(2 / n_{l-1})`, where
# `n_{l-1}` is the number of *inputs* of that layer (its fan-in). This keeps the variance of
# the activations roughly constant from layer to layer in a ReLU network.
# (Xavier initialization uses `sqrt(1 / n_{l-1})` instead.)
#
# **Exercise.** Implement `initialize_parameters_he(key, layers_dims)` with the same key
# convention as exercise 2:
#
# ```python
# keys = jax.random.split(key, L)
# W_l = jax.random.normal(keys[l - 1], (n_{l-1}, n_l), dtype=jnp.float32) * sqrt(2 / n_{l-1})
# b_l = jnp.zeros((n_l,), dtype=jnp.float32)
# ```
#
# (`jnp.sqrt(2.0 / layers_dims[l - 1])`, `np.sqrt(...)` and `math.sqrt(...)` all work; the
# result must stay float32.)


# %%
def initialize_parameters_he(key, layers_dims):
    """He initialization: standard normal x sqrt(2 / n_{l-1}), zero biases.

    Arguments:
      key: a JAX PRNG key.
      layers_dims: list of Python ints [n_0, n_1, ..., n_L]; L = len(layers_dims) - 1.

    Key convention (follow it exactly):
      keys = jax.random.split(key, L)
      W{l} = jax.random.normal(keys[l-1], (n_{l-1}, n_l), dtype=jnp.float32) * sqrt(2 / n_{l-1})

    Returns:
      parameters: dict {"W1", "b1", ..., "WL", "bL"} with W{l} of shape (n_{l-1}, n_l) and
      b{l} = zeros (n_l,), all float32.
    """
    parameters = {}
    L = len(layers_dims) - 1  # number of weight layers
    ### BEGIN SOLUTION
    keys = jax.random.split(key, L)
    for l in range(1, L + 1):
        shape = (layers_dims[l - 1], layers_dims[l])
        scale = jnp.sqrt(2.0 / layers_dims[l - 1])
        parameters[f"W{l}"] = jax.random.normal(keys[l - 1], shape, dtype=jnp.float32) * scale
        parameters[f"b{l}"] = jnp.zeros((layers_dims[l],), dtype=jnp.float32)
    ### END SOLUTION
    return parameters


# %%
if __name__ == "__main__":
    parameters = initialize_parameters_he(jax.random.key(3), [2, 4, 1])
    print("W1 =", parameters["W1"])
    print("b1 =", parameters["b1"])
    print("W2 =", parameters["W2"])
    print("b2 =", parameters["b2"])
    # W1 has 2 inputs per unit, so its entries have standard deviation sqrt(2/2) = 1;
    # W2 has 4, so sqrt(2/4) ~ 0.71.

# %% [markdown]
# ## 4 · The experiment (ungraded)
#
# The data set is the course's: two noisy concentric circles, 300 training and 100 test
# points (`jaxdl.datasets.circles()` generates exactly the course's points). Each
# initialization trains the 3-layer network `[2, 10, 5, 1]` for 15,000 iterations of
# gradient descent with learning rate 0.01. The whole training loop is compiled into one
# `jax.lax.scan`, so 15,000 iterations take about a second.
#
# Set the environment variable `JAXDL_QUICK=1` for a 200-iteration smoke run, and
# `JAXDL_OUT_DIR` to choose where the plot goes (default `out/`).

# %%
COURSE_RESULTS = {  # initialization: (train accuracy, test accuracy) the course reported
    "zeros": (0.50, 0.50),
    "random": (0.83, 0.86),
    "he": (0.9933, 0.96),
}


def plot_decision_boundaries(results, X, y, path):
    """One panel per trained model: the predicted class over the plane, and the points."""
    from matplotlib.figure import Figure

    X = np.asarray(X)
    x_min, x_max = X[:, 0].min() - 0.5, X[:, 0].max() + 0.5
    y_min, y_max = X[:, 1].min() - 0.5, X[:, 1].max() + 0.5
    xx, yy = np.meshgrid(np.linspace(x_min, x_max, 300), np.linspace(y_min, y_max, 300))
    grid = jnp.asarray(np.c_[xx.ravel(), yy.ravel()], dtype=jnp.float32)
    fig = Figure(figsize=(5 * len(results), 4.5))
    axes = fig.subplots(1, len(results), squeeze=False)[0]
    for ax, (name, (parameters, train_acc, test_acc)) in zip(axes, results.items()):
        zz = np.asarray(predict_proba(grid, parameters) > 0.5).reshape(xx.shape)
        ax.contourf(xx, yy, zz, cmap="Spectral", alpha=0.8)
        ax.scatter(X[:, 0], X[:, 1], c=np.asarray(y), cmap="Spectral", s=12, edgecolors="k", linewidths=0.3)
        ax.set_title(f"{name} init: train {train_acc:.1%}, test {test_acc:.1%}")
        ax.set_xlim(x_min, x_max)
        ax.set_ylim(y_min, y_max)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=80)
    return path


# %%
if __name__ == "__main__":
    from jaxdl import datasets

    quick = os.environ.get("JAXDL_QUICK", "") not in ("", "0")
    num_iterations = 200 if quick else 15000
    X_train, y_train, X_test, y_test = datasets.circles()
    Y_train = y_train.astype(jnp.float32)[:, None]  # (m, 1) float32, as the network wants
    Y_test = y_test.astype(jnp.float32)[:, None]

    results = {}
    for initialization in ("zeros", "random", "he"):
        print(f"{initialization} initialization:")
        parameters = model(X_train, Y_train, learning_rate=0.01, num_iterations=num_iterations,
                           initialization=initialization, key=jax.random.key(3))
        _, train_acc = predict(X_train, Y_train, parameters)
        _, test_acc = predict(X_test, Y_test, parameters)
        results[initialization] = (parameters, train_acc, test_acc)

    print(f"\n{'initialization':<16}{'train':>8}{'test':>8}   course: train / test")
    for name, (_, train_acc, test_acc) in results.items():
        course_train, course_test = COURSE_RESULTS[name]
        print(f"{name:<16}{train_acc:>8.1%}{test_acc:>8.1%}   {course_train:.1%} / {course_test:.1%}")

    out_dir = os.environ.get("JAXDL_OUT_DIR", "out")
    print("plot:", plot_decision_boundaries(results, X_train, y_train,
                                            os.path.join(out_dir, "week1_initialization.png")))

# %% [markdown]
# ## 5 · What to remember
#
# | initialization | what happens | course: train / test |
# |---|---|---|
# | zeros | symmetry is never broken: every unit of a layer stays identical, the network is no better than a linear classifier and here predicts one class | 50% / 50% |
# | random × 10 | symmetry broken, but huge weights saturate the sigmoid: the first costs are enormous (`inf` in the course, `log(0)`), and training is slow | 83% / 86% |
# | He | weights scaled to the fan-in of each ReLU layer: fast, clean convergence | 99.3% / 96% |
#
# Your numbers differ a little from the course's because JAX's random generator is not
# NumPy's: the same "seed 3" gives other initial weights. The ranking is the same.
#
# - Different initializations lead to very different results.
# - Random initialization is needed to break symmetry, and the *scale* of the weights matters.
# - He initialization works well for networks with ReLU activations.
# - In JAX, randomness is explicit: split a key, give each layer its own key.
