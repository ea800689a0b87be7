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
# # Week 1 · Gradient Checking (60 points)
#
# You are part of a team building a fraud-detection model for mobile payments. Backpropagation
# is notoriously easy to get subtly wrong, and here a bug costs money, so your boss wants
# *proof* that your gradients are correct. Gradient checking gives it: compare the gradients
# of your backward pass with numerical estimates from the forward pass alone.
#
# | exercise | function | points |
# |---|---|---|
# | 1 | `forward_propagation(x, theta)` | 10 |
# | 2 | `backward_propagation(x, theta)` | 10 |
# | 3 | `gradient_check(x, theta, epsilon)` | 10 |
# | 4 | `gradient_check_n(parameters, gradients, X, Y, epsilon)` | 20 |
# | 5 | `backward_propagation_n(X, Y, cache)`: find and fix the bugs | 10 |
#
# **How to work.** Fill in each `# YOUR CODE HERE` (delete the `raise NotImplementedError`).
# Check your work with `grader test week1/gradient_checking`, hand it in with
# `grader submit week1/gradient_checking`. Don't rename the graded functions or change
# their arguments. Running the whole file runs the checks on the course's test case.
#
# ## How it works
#
# The derivative is the limit
#
# $$\frac{\partial J}{\partial \theta} = \lim_{\varepsilon \to 0} \frac{J(\theta + \varepsilon) - J(\theta - \varepsilon)}{2 \varepsilon}.$$
#
# With a tiny `epsilon` (here `1e-7`) the *two-sided* difference on the right approximates the
# gradient with an error of order `epsilon**2`; the one-sided
# `(J(theta + epsilon) - J(theta)) / epsilon` is only accurate to order `epsilon`. You know
# how to compute `J` (forward propagation is easy to get right), so if the two agree, the
# backward pass is right.
#
# ## What is different from the course's NumPy version
#
# - **float64, explicitly.** NumPy computes in float64 by default; JAX in float32. A float32
#   number has only about 7 significant digits: `4.0 + 1e-7` *is* `4.0` in float32, and the
#   difference `J(theta + eps) - J(theta - eps)` is mostly rounding noise. Gradient checks
#   must run in float64. JAX enables 64-bit numbers in a *scoped* way:
#
#   ```python
#   with jax.enable_x64(True):          # inside this block float64 arrays exist
#       theta = jnp.asarray(theta, dtype=jnp.float64)
#       ...
#   ```
#
#   Outside the block everything stays float32, so the rest of your program is untouched.
#   The graded checks below already contain these lines; keep all of your arithmetic inside
#   the `with` block and convert the result to a Python `float` before leaving it.
# - **Batch-first shapes**: `X` is `(m, n_x)`, `W_l` is `(n_{l-1}, n_l)`, `b_l` is `(n_l,)`,
#   `Y` is `(m, 1)` float.
# - **Immutable arrays**: instead of `theta_plus = np.copy(theta); theta_plus[i] += eps`,
#   write `theta_plus = theta.at[i].add(eps)` (a new array with entry `i` changed).
# - **JAX can differentiate for you.** In practice you would write only the forward pass and
#   call `jax.grad`. Gradient checking is still how you test the gradients you *do* write by
#   hand (custom backward rules, `jax.custom_vjp`), and how you convince yourself that
#   `jax.grad` computes what you think. `jaxdl.gradcheck.gradient_check` is the library's
#   version of exercise 4.
#
# **Allowed imports:** `jax` (with `jax.numpy`), `numpy`, `math`. Not `jaxdl.gradcheck`,
# `optax` or `flax` (they would be the answer, or hold it); the grader refuses them.

# %%
import math

import jax
import jax.numpy as jnp
import numpy as np

# %% [markdown]
# ## 1 · One-dimensional gradient checking
#
# Start with a function of one parameter: `J(theta) = theta * x`, a "one-layer linear model".
# Its forward pass computes `J`, its backward pass the derivative `dJ/dtheta`.
#
# ### Exercise 1 (10 points): `forward_propagation`
#
# Return `J = theta * x`.


# %%
def forward_propagation(x, theta):
    """The forward pass of the linear model J(theta) = theta * x.

    Arguments:
      x: a real number (Python float or 0-d array).
      theta: the parameter, a real number (Python float or 0-d array).

    Returns:
      J: theta * x (same type as the inputs: a Python float for floats, an array of the
        inputs' dtype for arrays).
    """
    ### BEGIN SOLUTION
    J = theta * x
    ### END SOLUTION
    return J


# %%
if __name__ == "__main__":
    print("J =", forward_propagation(2.0, 4.0))  # expected 8.0

# %% [markdown]
# ### Exercise 2 (10 points): `backward_propagation`
#
# Return the derivative of `J(theta) = theta * x` with respect to `theta`.


# %%
def backward_propagation(x, theta):
    """The derivative dJ/dtheta of J(theta) = theta * x.

    Arguments:
      x: a real number (Python float or 0-d array).
      theta: the parameter, a real number (Python float or 0-d array).

    Returns:
      dtheta: the gradient of J with respect to theta (same type as x).
    """
    ### BEGIN SOLUTION
    dtheta = x
    ### END SOLUTION
    return dtheta


# %%
if __name__ == "__main__":
    print("dtheta =", backward_propagation(3.0, 4.0))  # expected 3.0

# %% [markdown]
# ### Exercise 3 (10 points): `gradient_check`
#
# 1. Compute `gradapprox`, the two-sided difference:
#    - `theta_plus = theta + epsilon`, `theta_minus = theta - epsilon`
#    - `J_plus = forward_propagation(x, theta_plus)`, `J_minus = forward_propagation(x, theta_minus)`
#    - `gradapprox = (J_plus - J_minus) / (2 * epsilon)`
# 2. Compute `grad = backward_propagation(x, theta)`.
# 3. Compute the relative difference
#
# $$\text{difference} = \frac{\|grad - gradapprox\|_2}{\|grad\|_2 + \|gradapprox\|_2}$$
#
#    with `jnp.linalg.norm` for each norm: the norm of the difference, divided by the *sum of
#    both* norms.
#
# Store it in `difference`. If it is small (below `2e-7`), the backward pass is almost
# certainly right. The given code runs the check in float64 (see above) and turns
# `difference` into a Python float.


# %%
def gradient_check(x, theta, epsilon=1e-7, print_msg=False):
    """One-dimensional gradient check of backward_propagation against forward_propagation.

    Arguments:
      x: a real number (Python float or 0-d array).
      theta: the parameter, a real number (Python float or 0-d array).
      epsilon: the step of the two-sided difference.
      print_msg: print a verdict when True.

    Returns:
      difference: Python float, ||grad - gradapprox|| / (||grad|| + ||gradapprox||) with
        gradapprox = (J(theta + eps) - J(theta - eps)) / (2 eps), computed in float64
        (inside `with jax.enable_x64(True):`, on float64 copies of x and theta).
    """
    with jax.enable_x64(True):
        x = jnp.asarray(x, dtype=jnp.float64)
        theta = jnp.asarray(theta, dtype=jnp.float64)
        ### BEGIN SOLUTION
        theta_plus = theta + epsilon
        theta_minus = theta - epsilon
        J_plus = forward_propagation(x, theta_plus)
        J_minus = forward_propagation(x, theta_minus)
        gradapprox = (J_plus - J_minus) / (2 * epsilon)

        grad = backward_propagation(x, theta)

        numerator = jnp.linalg.norm(grad - gradapprox)
        denominator = jnp.linalg.norm(grad) + jnp.linalg.norm(gradapprox)
        difference = numerator / denominator
        ### END SOLUTION
        difference = float(difference)

    if print_msg:
        if difference > 2e-7:
            print(f"\033[93mThere is a mistake in the backward propagation! difference = {difference}\033[0m")
        else:
            print(f"\033[92mYour backward propagation works perfectly fine! difference = {difference}\033[0m")
    return difference


# %%
if __name__ == "__main__":
    difference = gradient_check(3.0, 4.0, print_msg=True)
    print("course (v1.1), x = 3, theta = 4: 7.814075313343006e-11")

# %% [markdown]
# ## 2 · N-dimensional gradient checking
#
# Now the fraud-detection model: the course's 3-layer network
# LINEAR → RELU → LINEAR → RELU → LINEAR → SIGMOID. Its forward pass returns the mean
# cross-entropy cost and a cache, its backward pass the gradients. In the course's test case
# there are 4 input features, 5 and 3 hidden units and 1 output, so the parameters are
#
# | parameter | shape | numbers |
# |---|---|---|
# | `W1`, `b1` | `(4, 5)`, `(5,)` | 20 + 5 |
# | `W2`, `b2` | `(5, 3)`, `(3,)` | 15 + 3 |
# | `W3`, `b3` | `(3, 1)`, `(1,)` | 3 + 1 |
#
# 47 numbers in all. To check them all, flatten them into one vector `theta` of 47 numbers:
# the provided `dictionary_to_vector(parameters)` returns `(theta, shapes)`, with the entries in
# the order `W1, b1, W2, b2, W3, b3` (each matrix row by row), and
# `vector_to_dictionary(theta, shapes)` undoes it. `gradients_to_vector(gradients)` flattens
# `dW1, db1, ..., db3` in the same order.
#
# The forward and the backward pass below are provided. The backward pass is the course's,
# and, as in the course, **it may contain bugs**: exercise 5 is to find them.


# %%
def relu(z):
    """Elementwise max(0, z)."""
    return jax.nn.relu(z)


def sigmoid(z):
    """Elementwise 1 / (1 + exp(-z)), written as in the course."""
    return 1.0 / (1.0 + jnp.exp(-z))


def forward_propagation_n(X, Y, parameters):
    """Forward pass of the 3-layer net and its mean cross-entropy cost.

    Arguments:
      X: (m, n_x) input data.
      Y: (m, 1) labels (0.0 or 1.0), same dtype as X.
      parameters: dict with W1 (n_x, n_1), b1 (n_1,), W2 (n_1, n_2), b2 (n_2,), W3 (n_2, 1), b3 (1,).

    Returns:
      cost: 0-d array, 1/m * sum(-Y log A3 - (1 - Y) log(1 - A3)).
      cache: (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3).
    """
    m = X.shape[0]
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]
    Z1 = X @ W1 + b1[None, :]
    A1 = relu(Z1)
    Z2 = A1 @ W2 + b2[None, :]
    A2 = relu(Z2)
    Z3 = A2 @ W3 + b3[None, :]
    A3 = sigmoid(Z3)
    log_probs = -jnp.log(A3) * Y + -jnp.log(1 - A3) * (1 - Y)
    cost = 1.0 / m * jnp.sum(log_probs)
    cache = (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)
    return cost, cache


def backward_propagation_n_buggy(X, Y, cache):
    """The course's backward pass, WITH its deliberate bugs. Don't fix it here (exercise 5).

    Arguments:
      X: (m, n_x); Y: (m, 1); cache: from forward_propagation_n.

    Returns:
      gradients: dict with dZ3, dW3, db3, dA2, dZ2, dW2, db2, dA1, dZ1, dW1, db1.
    """
    m = X.shape[0]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache

    dZ3 = A3 - Y
    dW3 = 1.0 / m * (A2.T @ dZ3)
    db3 = 1.0 / m * jnp.sum(dZ3, axis=0)

    dA2 = dZ3 @ W3.T
    dZ2 = jnp.where(A2 > 0, dA2, 0.0)
    dW2 = 1.0 / m * (A1.T @ dZ2) * 2
    db2 = 1.0 / m * jnp.sum(dZ2, axis=0)

    dA1 = dZ2 @ W2.T
    dZ1 = jnp.where(A1 > 0, dA1, 0.0)
    dW1 = 1.0 / m * (X.T @ dZ1)
    db1 = 4.0 / m * jnp.sum(dZ1, axis=0)

    gradients = {"dZ3": dZ3, "dW3": dW3, "db3": db3,
                 "dA2": dA2, "dZ2": dZ2, "dW2": dW2, "db2": db2,
                 "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}
    return gradients


def parameter_names(parameters):
    """["W1", "b1", "W2", "b2", ..., "WL", "bL"] for a parameters dict with L layers."""
    L = len(parameters) // 2
    return [name for l in range(1, L + 1) for name in (f"W{l}", f"b{l}")]


def dictionary_to_vector(parameters):
    """Flatten W1, b1, ..., WL, bL (in this order, each row by row) into one vector.

    Returns:
      theta: (n,) array of all the parameters, dtype of the inputs.
      shapes: dict name -> shape, in the same order; vector_to_dictionary(theta, shapes)
        rebuilds the dict.
    """
    names = parameter_names(parameters)
    theta = jnp.concatenate([jnp.ravel(parameters[name]) for name in names])
    shapes = {name: tuple(parameters[name].shape) for name in names}
    return theta, shapes


def vector_to_dictionary(theta, shapes):
    """The inverse of dictionary_to_vector: a dict name -> array of shapes[name]."""
    parameters = {}
    start = 0
    for name, shape in shapes.items():
        size = math.prod(shape)
        parameters[name] = jnp.reshape(theta[start:start + size], shape)
        start += size
    return parameters


def gradients_to_vector(gradients):
    """Flatten dW1, db1, ..., dWL, dbL (the order of dictionary_to_vector) into one vector (n,).

    Other entries of `gradients` (dZ3, dA2, ...) are ignored.
    """
    L = sum(1 for name in gradients if name.startswith("dW"))
    names = [name for l in range(1, L + 1) for name in (f"dW{l}", f"db{l}")]
    return jnp.concatenate([jnp.ravel(gradients[name]) for name in names])


# %% [markdown]
# ### Exercise 4 (20 points): `gradient_check_n`
#
# The same check as in exercise 3, now one parameter at a time. For each `i` in
# `range(num_parameters)`:
#
# - `J_plus[i]`: nudge **only** entry `i` up, `theta_plus = parameters_values.at[i].add(epsilon)`,
#   rebuild the dict with `vector_to_dictionary(theta_plus, shapes)` and take the cost from
#   `forward_propagation_n(X, Y, ...)` (it returns `(cost, cache)`);
# - `J_minus[i]`: the same with `theta_minus = parameters_values.at[i].add(-epsilon)`;
# - `gradapprox[i] = (J_plus[i] - J_minus[i]) / (2 * epsilon)`.
#
# Then the relative difference between the vectors `grad` and `gradapprox`, exactly as in
# exercise 3, stored in `difference`. (Collect the `J_plus[i]` in a Python list and `jnp.stack` it, or keep a NumPy
# float64 array; JAX arrays cannot be assigned to entry by entry.)
#
# The given code converts everything to float64 inside `with jax.enable_x64(True):`.
# This function is not meant to be `jax.jit`-ed: it returns a Python float.


# %%
def gradient_check_n(parameters, gradients, X, Y, epsilon=1e-7, print_msg=False):
    """N-dimensional gradient check of the gradients of forward_propagation_n's cost.

    Arguments:
      parameters: dict with W1, b1, W2, b2, W3, b3 (batch-first shapes, see forward_propagation_n).
      gradients: dict with (at least) dW1, db1, ..., dW3, db3, shaped like the parameters:
        the gradients to check (e.g. the output of backward_propagation_n).
      X: (m, n_x) input data.
      Y: (m, 1) labels.
      epsilon: the step of the two-sided differences.
      print_msg: print a verdict when True.

    Returns:
      difference: Python float, ||grad - gradapprox|| / (||grad|| + ||gradapprox||), where
        grad = gradients_to_vector(gradients) and gradapprox[i] = (J(theta + eps e_i) -
        J(theta - eps e_i)) / (2 eps) over the flattened parameters theta (only entry i moves),
        all computed in float64.
    """
    with jax.enable_x64(True):
        parameters = {name: jnp.asarray(value, dtype=jnp.float64) for name, value in parameters.items()}
        gradients = {name: jnp.asarray(value, dtype=jnp.float64) for name, value in gradients.items()}
        X = jnp.asarray(X, dtype=jnp.float64)
        Y = jnp.asarray(Y, dtype=jnp.float64)

        parameters_values, shapes = dictionary_to_vector(parameters)
        grad = gradients_to_vector(gradients)
        num_parameters = parameters_values.shape[0]
        ### BEGIN SOLUTION
        J_plus = []
        J_minus = []
        for i in range(num_parameters):
            theta_plus = parameters_values.at[i].add(epsilon)
            cost_plus, _ = forward_propagation_n(X, Y, vector_to_dictionary(theta_plus, shapes))
            J_plus.append(cost_plus)

            theta_minus = parameters_values.at[i].add(-epsilon)
            cost_minus, _ = forward_propagation_n(X, Y, vector_to_dictionary(theta_minus, shapes))
            J_minus.append(cost_minus)
        gradapprox = (jnp.stack(J_plus) - jnp.stack(J_minus)) / (2 * epsilon)

        numerator = jnp.linalg.norm(grad - gradapprox)
        denominator = jnp.linalg.norm(grad) + jnp.linalg.norm(gradapprox)
        difference = numerator / denominator
        ### END SOLUTION
        difference = float(difference)

    if print_msg:
        if difference > 2e-7:
            print(f"\033[93mThere is a mistake in the backward propagation! difference = {difference}\033[0m")
        else:
            print(f"\033[92mYour backward propagation works perfectly fine! difference = {difference}\033[0m")
    return difference


# %% [markdown]
# ### Run it on the buggy backward pass
#
# The course's test case, rebuilt exactly: `np.random.seed(1)`, then `randn` draws for `x`
# (4, 3), `W1` (5, 4), `b1` (5, 1), `W2` (3, 5), `b2` (3, 1), `W3` (1, 3), `b3` (1, 1), and
# `y = [1, 1, 0]`. `course_test_case()` replays those draws with
# `np.random.RandomState(1)` (no global seeding) and transposes them to batch-first.


# %%
def course_test_case():
    """The course's gradient-checking inputs, batch-first and float64 (NumPy arrays).

    Returns (X (3, 4), Y (3, 1), parameters) with W1 (4, 5), b1 (5,), W2 (5, 3), b2 (3,),
    W3 (3, 1), b3 (1,): the transposes of the course's draws from np.random.seed(1).
    """
    rng = np.random.RandomState(1)
    x = rng.randn(4, 3)
    y = np.array([1, 1, 0])
    W1, b1 = rng.randn(5, 4), rng.randn(5, 1)
    W2, b2 = rng.randn(3, 5), rng.randn(3, 1)
    W3, b3 = rng.randn(1, 3), rng.randn(1, 1)
    parameters = {"W1": W1.T, "b1": b1[:, 0], "W2": W2.T, "b2": b2[:, 0], "W3": W3.T, "b3": b3[:, 0]}
    return x.T, y.astype(np.float64)[:, None], parameters


def backprop_gradients(backward, X, Y, parameters):
    """Forward then `backward` in float64; returns the gradients dict (float64 arrays)."""
    with jax.enable_x64(True):
        parameters = {name: jnp.asarray(value, dtype=jnp.float64) for name, value in parameters.items()}
        X = jnp.asarray(X, dtype=jnp.float64)
        Y = jnp.asarray(Y, dtype=jnp.float64)
        _, cache = forward_propagation_n(X, Y, parameters)
        return backward(X, Y, cache)


# %%
if __name__ == "__main__":
    X, Y, parameters = course_test_case()
    gradients = backprop_gradients(backward_propagation_n_buggy, X, Y, parameters)
    difference = gradient_check_n(parameters, gradients, X, Y, 1e-7, True)
    print("course: 0.2850931567761623 (a mistake)")

# %% [markdown]
# ## 3 · Exercise 5 (10 points): fix the backward pass
#
# The difference is far above `2e-7`: `backward_propagation_n_buggy` has bugs. Find them.
# Gradient checking tells you *that* something is wrong; to find *where*, compare the
# gradients parameter by parameter. `jax.grad` is a fine reference: the cell below prints,
# for each parameter, the ratio between the buggy gradient and `jax.grad` of the cost.
#
# Then write `backward_propagation_n`: the course's backward pass (copy the body of
# `backward_propagation_n_buggy`) with the bugs fixed. It takes and returns the same things.
# Re-run the gradient check on it: the difference must fall below `2e-7`.

# %%
if __name__ == "__main__":
    with jax.enable_x64(True):
        reference = jax.grad(lambda p: forward_propagation_n(jnp.asarray(X), jnp.asarray(Y), p)[0])(
            {name: jnp.asarray(value) for name, value in parameters.items()})
        for name in parameter_names(parameters):
            ratio = jnp.linalg.norm(gradients["d" + name]) / jnp.linalg.norm(reference[name])
            print(f"d{name}: ||buggy|| / ||jax.grad|| = {float(ratio):.6f}")


# %%
def backward_propagation_n(X, Y, cache):
    """The backward pass of the 3-layer net, bugs fixed.

    Arguments:
      X: (m, n_x) input data.
      Y: (m, 1) labels, same dtype as X.
      cache: (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) from forward_propagation_n.

    Returns:
      gradients: dict with dZ3, dW3, db3, dA2, dZ2, dW2, db2, dA1, dZ1, dW1, db1, each shaped
        like the array it is the gradient of, the gradients of the mean cross-entropy cost:
        dZ3 = A3 - Y, dW_l = 1/m * A_{l-1}.T @ dZ_l, db_l = 1/m * sum(dZ_l, axis=0),
        dA_{l-1} = dZ_l @ W_l.T, dZ_l = dA_l where A_l > 0 (else 0), A_0 = X.
    """
    ### BEGIN SOLUTION
    m = X.shape[0]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache

    dZ3 = A3 - Y
    dW3 = 1.0 / m * (A2.T @ dZ3)
    db3 = 1.0 / m * jnp.sum(dZ3, axis=0)

    dA2 = dZ3 @ W3.T
    dZ2 = jnp.where(A2 > 0, dA2, 0.0)
    dW2 = 1.0 / m * (A1.T @ dZ2)
    db2 = 1.0 / m * jnp.sum(dZ2, axis=0)

    dA1 = dZ2 @ W2.T
    dZ1 = jnp.where(A1 > 0, dA1, 0.0)
    dW1 = 1.0 / m * (X.T @ dZ1)
    db1 = 1.0 / m * jnp.sum(dZ1, axis=0)

    gradients = {"dZ3": dZ3, "dW3": dW3, "db3": db3,
                 "dA2": dA2, "dZ2": dZ2, "dW2": dW2, "db2": db2,
                 "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}
    return gradients
    ### END SOLUTION


# %%
if __name__ == "__main__":
    gradients = backprop_gradients(backward_propagation_n, X, Y, parameters)
    difference = gradient_check_n(parameters, gradients, X, Y, 1e-7, True)
    print("course: 1.1890913024229996e-07 (works perfectly fine)")

# %% [markdown]
# ## 4 · Beyond the course's test case (ungraded)
#
# The same check on a network of another shape, from a JAX key: `[6, 8, 4, 1]` with 16
# examples (8 * 6 + 8 + 4 * 8 + 4 + 4 + 1 = 97 parameters). It also shows why float64
# matters: `gradient_check_n` computes in float64; the same check done in float32 (the
# helper below, the course's recipe without the `enable_x64` lines) is swamped by rounding.
# Last, `jaxdl.gradcheck.gradient_check` (the library's vectorized check) on the same case.
# `JAXDL_QUICK` does not change anything here: the whole file runs in seconds.


# %%
def gradient_check_n_float32(parameters, gradients, X, Y, epsilon=1e-7):
    """gradient_check_n's recipe in float32, to show why the real one uses float64."""
    parameters_values, shapes = dictionary_to_vector(parameters)
    grad = gradients_to_vector(gradients)
    cost = jax.jit(lambda theta: forward_propagation_n(X, Y, vector_to_dictionary(theta, shapes))[0])
    n = parameters_values.shape[0]
    J_plus = jnp.stack([cost(parameters_values.at[i].add(epsilon)) for i in range(n)])
    J_minus = jnp.stack([cost(parameters_values.at[i].add(-epsilon)) for i in range(n)])
    gradapprox = (J_plus - J_minus) / (2 * epsilon)
    return float(jnp.linalg.norm(grad - gradapprox) / (jnp.linalg.norm(grad) + jnp.linalg.norm(gradapprox)))


# %%
if __name__ == "__main__":
    keys = jax.random.split(jax.random.key(0), 5)
    dims = [6, 8, 4, 1]
    X32 = jax.random.normal(keys[0], (16, dims[0]), dtype=jnp.float32)
    Y32 = (jax.random.uniform(keys[1], (16, 1)) < 0.5).astype(jnp.float32)
    params32 = {}
    for l in range(1, len(dims)):
        params32[f"W{l}"] = jax.random.normal(keys[l + 1], (dims[l - 1], dims[l]), dtype=jnp.float32)
        params32[f"b{l}"] = 0.1 * jnp.ones((dims[l],), dtype=jnp.float32)
    _, cache32 = forward_propagation_n(X32, Y32, params32)
    grads32 = backward_propagation_n(X32, Y32, cache32)
    print("[6, 8, 4, 1], float64 check:", gradient_check_n(params32, grads32, X32, Y32))
    print("[6, 8, 4, 1], float32 check:", gradient_check_n_float32(params32, grads32, X32, Y32))
    _, cache_bug = forward_propagation_n(X32, Y32, params32)
    print("[6, 8, 4, 1], buggy backward, float64 check:",
          gradient_check_n(params32, backward_propagation_n_buggy(X32, Y32, cache_bug), X32, Y32))

    # The library's version: the same relative difference, with all 2 n perturbed costs
    # evaluated by one vmapped, compiled function instead of a Python loop.
    from jaxdl import gradcheck

    print("[6, 8, 4, 1], jaxdl.gradcheck.gradient_check:",
          gradcheck.gradient_check(lambda p: forward_propagation_n(X32, Y32, p)[0], params32, grads32))

# %% [markdown]
# ## 5 · What to remember
#
# - Gradient checking compares backpropagation with the two-sided numerical estimate
#   `(J(theta + eps) - J(theta - eps)) / (2 eps)`, one parameter at a time.
# - The relative difference `||grad - gradapprox|| / (||grad|| + ||gradapprox||)` is around
#   `1e-7` or below when the gradients are right (course: 1.19e-7 on its test case; 0.285
#   with the bugs).
# - It is slow (two forward passes per parameter): use it to debug, not in every training
#   iteration.
# - It does not work with dropout (the cost changes from one call to the next): check with
#   dropout off (`keep_prob = 1`), then turn it on.
# - In JAX: run it in float64 (`with jax.enable_x64(True):`). In float32 the course's check
#   gives a difference of about 0.7 on its own (correct!) gradients with `eps = 1e-7`, and
#   still about 4e-3 with `eps = 1e-3`: rounding noise, not information.
