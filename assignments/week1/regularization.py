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
# # Week 1 · Regularization (50 points)
#
# Deep networks are flexible enough to fit the noise of a small training set: they
# *overfit*, doing well on the training data and worse on new data. You will try two
# remedies, L2 regularization and dropout, on the course's "French football" problem.
#
# | exercise | function | points |
# |---|---|---|
# | 1 | `compute_cost_with_regularization(A3, Y, parameters, lambd)` | 10 |
# | 2 | `backward_propagation_with_regularization(X, Y, cache, lambd)` | 10 |
# | 3 | `forward_propagation_with_dropout(key, X, parameters, keep_prob)` | 20 |
# | 4 | `backward_propagation_with_dropout(X, Y, cache, keep_prob)` | 10 |
#
# **How to work.** Fill in each `# YOUR CODE HERE` (delete the `raise NotImplementedError`).
# Check your work with `grader test week1/regularization`, hand it in with
# `grader submit week1/regularization`. Don't rename the graded functions or change their
# arguments. Running the whole file trains the three models and plots their boundaries.
#
# ## What is different from the course's NumPy version
#
# | | course (NumPy) | here (JAX) |
# |---|---|---|
# | data | `X` `(n_x, m)`, `Y` `(1, m)` | `X` `(m, n_x)`, `Y` `(m, 1)` float32 (batch-first) |
# | layer | `Z = W @ A_prev + b`, `W` `(n_l, n_{l-1})`, `b` `(n_l, 1)` | `Z = A_prev @ W + b`, `W` `(n_{l-1}, n_l)`, `b` `(n_l,)` |
# | gradients | `dW = 1/m * dZ @ A_prev.T`, `db = 1/m * sum(dZ, axis=1)` | `dW = 1/m * A_prev.T @ dZ`, `db = 1/m * sum(dZ, axis=0)` |
# | dropout masks | `np.random.seed(1)` inside the function, then `np.random.rand` | a `key` argument, split into one key per mask |
# | training | a Python loop updating arrays in place | a compiled `jax.lax.scan`; each step returns new parameters |
#
# The course re-seeded NumPy at the top of its dropout function, so **every iteration used
# the same two masks**: a fixed thinned network, not really dropout. Here every iteration
# gets a fresh key (split from one key), so each step drops a different random set of units,
# as dropout is meant to.
#
# **Allowed imports:** `jax` (with `jax.numpy`, `jax.random`), `numpy`, `math`. Not
# `jaxdl.losses`, `jaxdl.nn`, `optax` or `flax` (they would be the answer, or hold it); the
# grader refuses them.

# %%
import os

import jax
import jax.numpy as jnp
import numpy as np

# %% [markdown]
# ## 0 · The problem and the network (provided)
#
# You have just been hired as an AI expert by the French football federation. The goalkeeper
# kicks the ball; the data set records, for past games, where on the field a player headed
# it and whether the header was won by a French player (blue, label 1) or by the other team
# (red, label 0). The federation wants to know where the goalkeeper should kick.
#
# `jaxdl.datasets.football()` generates a data set of this kind (211 training and 200 test
# points; the course's original `data.mat` is not redistributed, so the points are not the
# course's): a smooth frontier between the teams, blurred by noisy labels near it and a
# few isolated outliers. An unregularized network will happily draw islands around the
# outliers.
#
# The network is the course's `[2, 20, 3, 1]`: LINEAR → RELU → LINEAR → RELU → LINEAR →
# SIGMOID, initialized with `W_l = N(0, 1) * sqrt(1 / n_{l-1})` (the course's
# `reg_utils.initialize_parameters`) and trained by full-batch gradient descent. Shapes for
# `m` examples:
#
# | array | shape | | array | shape |
# |---|---|---|---|---|
# | `X` | `(m, 2)` | | `W1`, `b1` | `(2, 20)`, `(20,)` |
# | `Z1`, `A1` | `(m, 20)` | | `W2`, `b2` | `(20, 3)`, `(3,)` |
# | `Z2`, `A2` | `(m, 3)` | | `W3`, `b3` | `(3, 1)`, `(1,)` |
# | `Z3`, `A3`, `Y` | `(m, 1)` | | | |
#
# The provided forward pass returns the course's cache
# `(Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)`, and the provided backward pass is the
# course's (with `dZ3 = A3 - Y` and the `1/m` in each `dW`, `db`). Biases are added as
# `b1[None, :]`, an explicit `(1, n_1)` row: plain `+ b1` broadcasts the same way, but the
# explicit form also works when JAX refuses implicit rank promotion (as the kit's tests ask).


# %%
def sigmoid(z):
    """Elementwise logistic function 1 / (1 + exp(-z))."""
    return jax.nn.sigmoid(z)


def relu(z):
    """Elementwise max(0, z); its derivative at 0 is taken as 0 (as `A > 0` in the backward pass)."""
    return jax.nn.relu(z)


def initialize_parameters(key, layers_dims):
    """The course's reg_utils initialization: W_l = N(0, 1) * sqrt(1 / n_{l-1}), b_l = 0.

    keys = jax.random.split(key, L); W_l draws from keys[l-1] with shape (n_{l-1}, n_l).
    """
    L = len(layers_dims) - 1
    keys = jax.random.split(key, L)
    parameters = {}
    for l in range(1, L + 1):
        shape = (layers_dims[l - 1], layers_dims[l])
        parameters[f"W{l}"] = jax.random.normal(keys[l - 1], shape, dtype=jnp.float32) * (1.0 / shape[0]) ** 0.5
        parameters[f"b{l}"] = jnp.zeros((layers_dims[l],), dtype=jnp.float32)
    return parameters


def forward_propagation(X, parameters):
    """LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID, without dropout.

    Arguments:
      X: (m, n_x) input data.
      parameters: dict with W1 (n_x, n_1), b1 (n_1,), W2 (n_1, n_2), b2 (n_2,), W3 (n_2, 1), b3 (1,).

    Returns:
      A3: (m, 1) output probabilities.
      cache: (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3).
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
    """Gradients of the mean cross-entropy, no regularization (course: reg_utils).

    Arguments:
      X: (m, n_x); Y: (m, 1) float32 labels; cache: from forward_propagation.

    Returns:
      dict with dZ3, dW3, db3, dA2, dZ2, dW2, db2, dA1, dZ1, dW1, db1.
    """
    m = X.shape[0]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1.0 / m * (A2.T @ dZ3)
    db3 = 1.0 / m * jnp.sum(dZ3, axis=0)
    dA2 = dZ3 @ W3.T
    dZ2 = jnp.where(A2 > 0, dA2, 0.0)  # relu'(Z2) = 1 where A2 > 0
    dW2 = 1.0 / m * (A1.T @ dZ2)
    db2 = 1.0 / m * jnp.sum(dZ2, axis=0)
    dA1 = dZ2 @ W2.T
    dZ1 = jnp.where(A1 > 0, dA1, 0.0)
    dW1 = 1.0 / m * (X.T @ dZ1)
    db1 = 1.0 / m * jnp.sum(dZ1, axis=0)
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2,
            "db2": db2, "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}


def compute_cost(A3, Y):
    """Mean cross-entropy -1/m sum(Y log A3 + (1 - Y) log(1 - A3)), a float32 scalar.

    A3 and Y are both (m, 1). NaN terms (0 * log 0) are skipped, as in the course.
    """
    m = Y.shape[0]
    logprobs = -(Y * jnp.log(A3) + (1.0 - Y) * jnp.log(1.0 - A3))
    return jnp.nansum(logprobs) / m


def update_parameters(parameters, grads, learning_rate):
    """One gradient-descent step; returns a NEW dict."""
    L = len(parameters) // 2
    new = {}
    for l in range(1, L + 1):
        new[f"W{l}"] = parameters[f"W{l}"] - learning_rate * grads[f"dW{l}"]
        new[f"b{l}"] = parameters[f"b{l}"] - learning_rate * grads[f"db{l}"]
    return new


@jax.jit
def predict_proba(X, parameters):
    """Output probabilities A3 (m, 1) of the network, without dropout (test time)."""
    return forward_propagation(X, parameters)[0]


def accuracy(X, Y, parameters):
    """Fraction of examples where (A3 > 0.5) equals the label; a float32 scalar (jit/vmap-able)."""
    predictions = (predict_proba(X, parameters) > 0.5).astype(jnp.float32)
    return jnp.mean((predictions == Y).astype(jnp.float32))


def predict(X, Y, parameters):
    """Predictions (A3 > 0.5) as float32 (m, 1), and the accuracy against Y (m, 1) as a float."""
    predictions = (predict_proba(X, parameters) > 0.5).astype(jnp.float32)
    return predictions, float(accuracy(X, Y, parameters))


def train(key, X, Y, learning_rate=0.3, num_iterations=30000, lambd=0.0, keep_prob=1.0):
    """Initialize [n_x, 20, 3, 1] and run full-batch gradient descent: a pure function of `key`.

    One technique at a time (as in the course): `lambd > 0` uses YOUR regularized cost and
    backward pass, `keep_prob < 1` YOUR dropout passes. `key` is split into the
    initialization key and one fresh dropout key per iteration. The loop is a
    `jax.lax.scan`, so `train` can be `jax.jit`-ed, and `jax.vmap`-ed over keys to train
    several seeds at once. `num_iterations`, `lambd` and `keep_prob` must be Python numbers.

    Returns:
      (parameters, costs): the trained parameters and the cost of every iteration.
    """
    if lambd != 0 and keep_prob != 1:
        raise ValueError("use L2 regularization or dropout, not both (as in the course)")
    init_key, dropout_key = jax.random.split(key)
    parameters = initialize_parameters(init_key, [X.shape[1], 20, 3, 1])

    def step(params, step_key):
        if keep_prob == 1:
            A3, cache = forward_propagation(X, params)
        else:
            A3, cache = forward_propagation_with_dropout(step_key, X, params, keep_prob)
        if lambd == 0:
            cost = compute_cost(A3, Y)
        else:
            cost = compute_cost_with_regularization(A3, Y, params, lambd)
        if lambd == 0 and keep_prob == 1:
            grads = backward_propagation(X, Y, cache)
        elif lambd != 0:
            grads = backward_propagation_with_regularization(X, Y, cache, lambd)
        else:
            grads = backward_propagation_with_dropout(X, Y, cache, keep_prob)
        return update_parameters(params, grads, learning_rate), cost

    step_keys = jax.random.split(dropout_key, num_iterations)  # a fresh mask every iteration
    return jax.lax.scan(step, parameters, step_keys)


def model(X, Y, learning_rate=0.3, num_iterations=30000, print_cost=True, lambd=0.0, keep_prob=1.0,
          key=None):
    """The course's model(): `train`, compiled, printing the cost every 10,000 iterations.

    Arguments:
      X: (m, n_x) training data; Y: (m, 1) float32 labels.
      lambd: L2 regularization strength (0 = off); keep_prob: dropout keep probability (1 = off).
      key: PRNG key (default jax.random.key(3)).

    Returns:
      (parameters, costs).
    """
    if key is None:
        key = jax.random.key(3)
    run = jax.jit(lambda k: train(k, X, Y, learning_rate, num_iterations, lambd, keep_prob))
    parameters, costs = run(key)
    if print_cost:
        for i in range(0, num_iterations, 10000):
            print(f"  cost after iteration {i}: {float(costs[i])}")
    return parameters, costs


# %% [markdown]
# ## 1 · L2 regularization
#
# L2 regularization adds the squared Frobenius norms of the weight matrices to the cost:
#
# $$J_{regularized} = \underbrace{-\frac{1}{m} \sum_{i=1}^{m} \big(y^{(i)}\log a^{[3](i)} + (1-y^{(i)})\log(1-a^{[3](i)})\big)}_{\text{cross-entropy cost}} + \underbrace{\frac{\lambda}{2m} \sum_{l} \sum_{k,j} \big(W^{[l]}_{kj}\big)^2}_{\text{L2 regularization cost}}$$
#
# Only the weights are penalized, not the biases. The penalty does not care how `W` is laid
# out, so batch-first changes nothing here.
#
# ### Exercise 1 (10 points): `compute_cost_with_regularization`
#
# Complete the L2 term: `lambd / (2 * m)` times the sum of `jnp.sum(jnp.square(W))` over
# `W1`, `W2`, `W3`. The cross-entropy part is given.


# %%
def compute_cost_with_regularization(A3, Y, parameters, lambd):
    """Cross-entropy cost plus the L2 penalty lambd / (2 m) * sum_l ||W_l||_F^2.

    Arguments:
      A3: (m, 1) float32, output of forward propagation.
      Y: (m, 1) float32 labels (0 or 1).
      parameters: dict with W1, b1, W2, b2, W3, b3 (biases are not penalized).
      lambd: Python float, the regularization strength.

    Returns:
      cost: float32 scalar (0-d array), the regularized cost.
    """
    m = Y.shape[0]
    W1 = parameters["W1"]
    W2 = parameters["W2"]
    W3 = parameters["W3"]
    cross_entropy_cost = compute_cost(A3, Y)  # This gives you the cross-entropy part of the cost
    # YOUR CODE HERE
    raise NotImplementedError
    cost = cross_entropy_cost + L2_regularization_cost
    return cost


# %%
if __name__ == "__main__":
    _key = jax.random.key(1)
    _k = jax.random.split(_key, 3)
    _params = initialize_parameters(_k[0], [3, 2, 3, 1])
    _A3 = jax.random.uniform(_k[1], (5, 1), dtype=jnp.float32, minval=0.05, maxval=0.95)
    _Y = jnp.array([[1.0], [1.0], [0.0], [1.0], [0.0]], dtype=jnp.float32)
    print("cost =", compute_cost_with_regularization(_A3, _Y, _params, lambd=0.1))
    print("without the L2 term:", compute_cost(_A3, _Y))

# %% [markdown]
# ### Exercise 2 (10 points): `backward_propagation_with_regularization`
#
# The new term changes only the weight gradients. Its derivative is
#
# $$\frac{d}{dW}\Big(\frac{\lambda}{2m} W^2\Big) = \frac{\lambda}{m} W,$$
#
# so each `dW_l` gets `+ lambd / m * W_l` on top of the baseline `1/m * A_prev.T @ dZ_l`.
# The `db` terms are unchanged. Complete the three `dW` lines; the rest of the backward pass
# (the course's, batch-first) is given. The result is a dict with the course's keys
# `dZ3, dW3, db3, dA2, dZ2, dW2, db2, dA1, dZ1, dW1, db1`, each shaped like the array it is
# the gradient of (e.g. `dW2` is `(n_1, n_2)`, `db2` is `(n_2,)`).


# %%
def backward_propagation_with_regularization(X, Y, cache, lambd):
    """Backward pass of the 3-layer net for the L2-regularized cost.

    Arguments:
      X: (m, n_x) input data.
      Y: (m, 1) float32 labels.
      cache: (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) from forward_propagation
        (Z1, A1: (m, n_1); Z2, A2: (m, n_2); Z3, A3: (m, 1); W, b as in the parameters).
      lambd: Python float, the regularization strength.

    Returns:
      gradients: dict with dZ3, dW3, db3, dA2, dZ2, dW2, db2, dA1, dZ1, dW1, db1, where
        dW_l = 1/m * A_{l-1}.T @ dZ_l + lambd/m * W_l  (A_0 = X), float32.
    """
    m = X.shape[0]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache

    dZ3 = A3 - Y
    # YOUR CODE HERE
    raise NotImplementedError
    db3 = 1.0 / m * jnp.sum(dZ3, axis=0)

    dA2 = dZ3 @ W3.T
    dZ2 = jnp.where(A2 > 0, dA2, 0.0)
    # YOUR CODE HERE
    raise NotImplementedError
    db2 = 1.0 / m * jnp.sum(dZ2, axis=0)

    dA1 = dZ2 @ W2.T
    dZ1 = jnp.where(A1 > 0, dA1, 0.0)
    # YOUR CODE HERE
    raise NotImplementedError
    db1 = 1.0 / m * jnp.sum(dZ1, axis=0)

    gradients = {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2,
                 "dZ2": dZ2, "dW2": dW2, "db2": db2, "dA1": dA1,
                 "dZ1": dZ1, "dW1": dW1, "db1": db1}
    return gradients


# %% [markdown]
# **Check it against JAX.** A hand-written backward pass is easy to get subtly wrong; JAX can
# differentiate the cost for you. `jax.grad` of `compute_cost_with_regularization` (through
# the forward pass) with respect to the parameters must equal your `dW`, `db`:

# %%
if __name__ == "__main__":
    _X = jax.random.normal(_k[2], (5, 3), dtype=jnp.float32)
    _, _cache = forward_propagation(_X, _params)
    _grads = backward_propagation_with_regularization(_X, _Y, _cache, lambd=0.7)
    _auto = jax.jit(jax.grad(lambda p: compute_cost_with_regularization(forward_propagation(_X, p)[0], _Y, p, 0.7)))(_params)
    for _name in ("W1", "b1", "W2", "b2", "W3", "b3"):
        _err = float(jnp.max(jnp.abs(_grads["d" + _name] - _auto[_name])))
        print(f"d{_name}: max |yours - jax.grad| = {_err:.2e}")

# %% [markdown]
# ## 2 · Dropout
#
# Dropout shuts down a random subset of the hidden units at every training iteration: each
# unit is kept with probability `keep_prob` and dropped (set to 0) otherwise. A unit can no
# longer rely on any particular other unit, which spreads the weights out, much like L2.
# At test time nothing is dropped.
#
# *Inverted* dropout divides the kept activations by `keep_prob`, so their expected value is
# unchanged and the test-time network needs no rescaling.
#
# ### Exercise 3 (20 points): `forward_propagation_with_dropout`
#
# Apply dropout to the two hidden layers (`A1` and `A2`), **not** to the input or the output
# layer. For layer 1:
#
# 1. `D1 = jax.random.uniform(key1, A1.shape, dtype=jnp.float32) < keep_prob`: a mask that is
#    True with probability `keep_prob`. Then `.astype(jnp.float32)` to make it 0.0 / 1.0.
# 2. `A1 = A1 * D1`: shut the dropped units down.
# 3. `A1 = A1 / keep_prob`: scale the survivors up.
#
# and the same for `A2` with `key2`. The keys come from the given line
# `key1, key2 = jax.random.split(key)`: `key1` for `D1`, `key2` for `D2`. Use exactly this
# convention, so the grader can reproduce your masks. (The course called `np.random.seed(1)`
# and `np.random.rand(...)` instead; in JAX the caller hands you a key and you split it.)


# %%
def forward_propagation_with_dropout(key, X, parameters, keep_prob=0.5):
    """LINEAR -> RELU + DROPOUT -> LINEAR -> RELU + DROPOUT -> LINEAR -> SIGMOID.

    Arguments:
      key: a JAX PRNG key.
      X: (m, n_x) input data.
      parameters: dict with W1 (n_x, n_1), b1 (n_1,), W2 (n_1, n_2), b2 (n_2,), W3 (n_2, 1), b3 (1,).
      keep_prob: probability of keeping a hidden unit (Python float in (0, 1]).

    Key convention (follow it exactly):
      key1, key2 = jax.random.split(key)
      D1 = (jax.random.uniform(key1, A1.shape, dtype=jnp.float32) < keep_prob).astype(jnp.float32)
      D2 = (jax.random.uniform(key2, A2.shape, dtype=jnp.float32) < keep_prob).astype(jnp.float32)

    Returns:
      A3: (m, 1) float32 output probabilities.
      cache: (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3), where D1 (m, n_1)
        and D2 (m, n_2) are the float32 0/1 masks and A1, A2 are the activations AFTER
        dropout (masked and divided by keep_prob).
    """
    key1, key2 = jax.random.split(key)
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]

    Z1 = X @ W1 + b1[None, :]
    A1 = relu(Z1)
    # YOUR CODE HERE
    raise NotImplementedError
    Z2 = A1 @ W2 + b2[None, :]
    A2 = relu(Z2)
    # YOUR CODE HERE
    raise NotImplementedError
    Z3 = A2 @ W3 + b3[None, :]
    A3 = sigmoid(Z3)

    cache = (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)
    return A3, cache


# %%
if __name__ == "__main__":
    _A3, _dcache = forward_propagation_with_dropout(jax.random.key(1), _X, _params, keep_prob=0.7)
    print("A3 =", _A3.ravel())
    print("D1 =\n", _dcache[1])
    print("fraction kept in D1:", float(jnp.mean(_dcache[1])))

# %% [markdown]
# ### Exercise 4 (10 points): `backward_propagation_with_dropout`
#
# The backward pass must drop the *same* units as the forward pass, with the same scaling:
#
# 1. `dA1 = dA1 * D1` (the mask from the cache: a dropped unit gets no gradient),
# 2. `dA1 = dA1 / keep_prob` (the forward pass divided `A1` by `keep_prob`, so its
#    derivative is divided too),
#
# and the same for `dA2` with `D2`. Complete those lines; the rest is the baseline backward
# pass. Same output keys and shapes as exercise 2.


# %%
def backward_propagation_with_dropout(X, Y, cache, keep_prob):
    """Backward pass of the 3-layer net trained with inverted dropout.

    Arguments:
      X: (m, n_x) input data.
      Y: (m, 1) float32 labels.
      cache: (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3) from
        forward_propagation_with_dropout (D1, D2 float32 0/1 masks; A1, A2 after dropout).
      keep_prob: the keep probability used in the forward pass.

    Returns:
      gradients: dict with dZ3, dW3, db3, dA2, dZ2, dW2, db2, dA1, dZ1, dW1, db1, where
        dA2 and dA1 are the masked and rescaled gradients (dA_l = dA_l * D_l / keep_prob).
    """
    m = X.shape[0]
    (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3) = cache

    dZ3 = A3 - Y
    dW3 = 1.0 / m * (A2.T @ dZ3)
    db3 = 1.0 / m * jnp.sum(dZ3, axis=0)
    dA2 = dZ3 @ W3.T
    # YOUR CODE HERE
    raise NotImplementedError
    dZ2 = jnp.where(A2 > 0, dA2, 0.0)
    dW2 = 1.0 / m * (A1.T @ dZ2)
    db2 = 1.0 / m * jnp.sum(dZ2, axis=0)

    dA1 = dZ2 @ W2.T
    # YOUR CODE HERE
    raise NotImplementedError
    dZ1 = jnp.where(A1 > 0, dA1, 0.0)
    dW1 = 1.0 / m * (X.T @ dZ1)
    db1 = 1.0 / m * jnp.sum(dZ1, axis=0)

    gradients = {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2,
                 "dZ2": dZ2, "dW2": dW2, "db2": db2, "dA1": dA1,
                 "dZ1": dZ1, "dW1": dW1, "db1": db1}
    return gradients


# %% [markdown]
# **Check it against JAX.** With the key fixed, the masks are fixed, and dropout is just a
# differentiable function of the parameters: `jax.grad` must agree with your backward pass.

# %%
if __name__ == "__main__":
    _dgrads = backward_propagation_with_dropout(_X, _Y, _dcache, keep_prob=0.7)
    _dauto = jax.jit(jax.grad(lambda p: compute_cost(forward_propagation_with_dropout(jax.random.key(1), _X, p, 0.7)[0], _Y)))(_params)
    for _name in ("W1", "b1", "W2", "b2", "W3", "b3"):
        _err = float(jnp.max(jnp.abs(_dgrads["d" + _name] - _dauto[_name])))
        print(f"d{_name}: max |yours - jax.grad| = {_err:.2e}")

# %% [markdown]
# ## 3 · The experiment (ungraded)
#
# Three models on the same data, learning rate 0.3, 30,000 iterations each: no
# regularization, L2 with `lambd = 0.7`, and dropout with `keep_prob = 0.86`. The training
# loop is one compiled `jax.lax.scan`, and `jax.vmap` trains 5 seeds of each model at once
# (one result depends on its seed; the mean of five is a fairer comparison). About 20 s.
# `JAXDL_QUICK=1` makes it a 200-iteration smoke run; `JAXDL_OUT_DIR` chooses where the plot
# goes (default `out/`).

# %%
COURSE_RESULTS = {  # the course's (train accuracy, test accuracy), on its own data
    "no regularization": (0.948, 0.915),
    "L2, lambd = 0.7": (0.938, 0.93),
    "dropout, keep_prob = 0.86": (0.929, 0.95),
}


def plot_decision_boundaries(results, X, y, path):
    """One panel per trained model: the predicted class over the field, and the points."""
    from matplotlib.figure import Figure

    X = np.asarray(X)
    x_min, x_max, y_min, y_max = -0.75, 0.40, -0.75, 0.65
    xx, yy = np.meshgrid(np.linspace(x_min, x_max, 300), np.linspace(y_min, y_max, 300))
    grid = jnp.asarray(np.c_[xx.ravel(), yy.ravel()], dtype=jnp.float32)
    fig = Figure(figsize=(5 * len(results), 4.5))
    axes = fig.subplots(1, len(results), squeeze=False)[0]
    for ax, (name, (parameters, train_acc, test_acc)) in zip(axes, results.items()):
        zz = np.asarray(predict_proba(grid, parameters) > 0.5).reshape(xx.shape)
        ax.contourf(xx, yy, zz, cmap="Spectral", alpha=0.8)
        ax.scatter(X[:, 0], X[:, 1], c=np.asarray(y), cmap="Spectral", s=12, edgecolors="k", linewidths=0.3)
        ax.set_title(f"{name}\ntrain {train_acc:.1%}, test {test_acc:.1%}")
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
    num_iterations = 200 if quick else 30000
    num_seeds = 5
    X_train, y_train, X_test, y_test = datasets.football()
    Y_train = y_train.astype(jnp.float32)[:, None]  # (m, 1) float32
    Y_test = y_test.astype(jnp.float32)[:, None]

    # One run depends on its random initialization (and dropout masks), so train 5 seeds of
    # each model at once: jax.vmap turns `train` for one key into `train` for a batch of keys.
    keys = jax.random.split(jax.random.key(0), num_seeds)
    results = {}
    print(f"{'model (mean of 5 seeds)':<28}{'train':>8}{'test':>8}   test, per seed        course (its data): train / test")
    for name, options in [("no regularization", {}),
                          ("L2, lambd = 0.7", {"lambd": 0.7}),
                          ("dropout, keep_prob = 0.86", {"keep_prob": 0.86})]:
        run = jax.jit(jax.vmap(lambda k: train(k, X_train, Y_train, 0.3, num_iterations, **options)))
        parameters, costs = run(keys)
        train_accs = jax.vmap(accuracy, in_axes=(None, None, 0))(X_train, Y_train, parameters)
        test_accs = jax.vmap(accuracy, in_axes=(None, None, 0))(X_test, Y_test, parameters)
        first = jax.tree_util.tree_map(lambda a: a[0], parameters)  # seed 0, for the plot
        results[name] = (first, float(train_accs[0]), float(test_accs[0]))
        course_train, course_test = COURSE_RESULTS[name]
        per_seed = " ".join(f"{float(a):.3f}" for a in test_accs)
        print(f"{name:<28}{float(jnp.mean(train_accs)):>8.1%}{float(jnp.mean(test_accs)):>8.1%}   "
              f"{per_seed}   {course_train:.1%} / {course_test:.1%}")

    out_dir = os.environ.get("JAXDL_OUT_DIR", "out")
    print("plot (seed 0):", plot_decision_boundaries(results, X_train, y_train,
                                                     os.path.join(out_dir, "week1_regularization.png")))

# %% [markdown]
# ## 4 · What to remember
#
# | model | course: train / test | this kit, mean of 5 seeds: train / test |
# |---|---|---|
# | 3-layer net, no regularization | 95% / 91.5% | 95.2% / 91.5% |
# | with L2 regularization (`lambd = 0.7`) | 94% / 93% | 90.6% / 92.7% |
# | with dropout (`keep_prob = 0.86`) | 93% / 95% | 94.5% / 92.0% |
#
# The data are not the course's (a generated set of the same kind), so the numbers differ;
# both remedies still lower the gap between training and test accuracy. The course's dropout
# used one fixed pair of masks for the whole run; ours draws new masks every iteration.
#
# - Regularization trades a little training accuracy for better generalization: the
#   boundary stops chasing individual noisy points.
# - L2 ("weight decay") pulls every weight towards 0 at each step: `lambd / m * W` in the
#   gradient. Too large a `lambd` over-smooths and underfits.
# - Dropout is a training-time technique only: don't drop units when predicting. Apply it in
#   both the forward and the backward pass, and divide by `keep_prob` in both.
# - In JAX a dropout mask is a function of a key: pass a fresh key every iteration (split
#   from one key) and the run is still exactly reproducible.
