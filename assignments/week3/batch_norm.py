# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Week 3 · Softmax and Batch Normalization
#
# The course covered these two in the Week 3 lectures but never had you program them.
# Here you do, from scratch, in JAX:
#
# 1. `softmax`: the multi-class output layer, written so it never overflows;
# 2. `batchnorm_forward`: batch normalization of a layer's pre-activations `Z`, with the
#    running averages used at test time;
# 3. `batchnorm_backward`: its gradients, by hand, checked against `jax.grad`;
# 4. `forward_propagation_with_batchnorm`: a LINEAR → BN → RELU network whose running
#    statistics go **in** as an argument and come **out** as a result;
# 5. `model_with_batchnorm`: training it with Adam on handwritten digits.
#
# **Points:** 60 = softmax 10, batchnorm_forward 15, batchnorm_backward 15,
# forward_propagation_with_batchnorm 10, model_with_batchnorm 10. Run
# `grader test week3/batch_norm` while you work, `grader submit week3/batch_norm` at the end.
#
# **Conventions** (as in the rest of the kit): batch-first, `X` is `(m, n_x)`, one row per
# example; `W` is `(n_in, n_out)`; per-feature vectors (`gamma`, `beta`, biases, running
# statistics) are `(n,)`, added to `(m, n)` arrays as explicit `(1, n)` rows (`v[None, :]`).
# Everything is float32.
#
# **Allowed imports:** `jax` (`jax.numpy`, `jax.random`, `jax.nn.relu`), `numpy`, `math`, and
# in `model_with_batchnorm` the optimizer `jaxdl.optim`, the mini-batches of `jaxdl.data` and
# the initializers of `jaxdl.init`. Not `jaxdl.nn`, `jaxdl.losses`, `jaxdl.train`, `flax`,
# `haiku` or `optax` (they would be the answer, or hold it); the grader refuses them. Please do
# not call `jax.nn.softmax` or `jax.nn.log_softmax` either.

# %%
from __future__ import annotations

import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxdl  # model_with_batchnorm uses jaxdl.optim, jaxdl.data, jaxdl.init; the experiment jaxdl.datasets

# %% [markdown]
# ## 1 - `softmax`
#
# For $C$ classes the output layer turns a row of logits $z \in \mathbb R^C$ into
# probabilities:
#
# $$ \mathrm{softmax}(z)_c = \frac{e^{z_c}}{\sum_{c'} e^{z_{c'}}} . $$
#
# With $C = 2$ it is the logistic regression of Week 1 (`softmax([z, 0])[0] = sigmoid(z)`).
#
# **Numerical stability.** `exp(1000.0)` is `inf` in float32 (the largest float32 is about
# $3.4 \cdot 10^{38} \approx e^{88.7}$) and `inf / inf` is `nan`. Softmax does not change when
# the same constant is subtracted from every logit of a row,
#
# $$ \frac{e^{z_c - M}}{\sum_{c'} e^{z_{c'} - M}} = \frac{e^{z_c}}{\sum_{c'} e^{z_{c'}}} , $$
#
# so subtract the row maximum $M = \max_c z_c$ first: the largest exponent is then $e^0 = 1$,
# nothing overflows, and the denominator is at least 1.
#
# Shapes: `Z` is `(m, C)`, one row of logits per example (the course's `(C, m)` transposed);
# normalize along the **last** axis, `axis=-1`, with `keepdims=True` so the `(m, 1)` row
# maxima and sums broadcast against `(m, C)`.

# %%
def softmax(Z):
    """Row-wise softmax, numerically stable.

    Arguments:
      Z: float32 logits of shape (m, C) (any shape (..., C) works: classes on the last axis).

    Returns:
      float32 array of the shape of ``Z``:
      ``exp(Z - max(Z, -1)) / sum(exp(Z - max(Z, -1)), -1)``, every row summing to 1,
      finite for any finite logits (e.g. 1000 or -1000).
    """
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# ## 2 - `batchnorm_forward`
#
# Batch norm normalizes the **pre-activation** $z^{[l]}$ of a hidden layer (not the
# activation $a^{[l]}$), feature by feature, with the statistics of the current mini-batch
# $\{z^{(1)}, \dots, z^{(m)}\}$:
#
# $$ \mu = \frac1m \sum_i z^{(i)}, \qquad \sigma^2 = \frac1m \sum_i \left(z^{(i)} - \mu\right)^2,
#    \qquad z_{\text{norm}}^{(i)} = \frac{z^{(i)} - \mu}{\sqrt{\sigma^2 + \varepsilon}},
#    \qquad \tilde z^{(i)} = \gamma \, z_{\text{norm}}^{(i)} + \beta . $$
#
# - $\sigma^2$ is the **biased** variance (divide by $m$, not $m - 1$): `jnp.var(Z, axis=0)`
#   with its default `ddof=0`, or `jnp.mean((Z - mu) ** 2, axis=0)`.
# - $\varepsilon$ goes **inside** the square root. It keeps the division finite when a
#   feature is constant over the batch ($\sigma^2 = 0$).
# - $\gamma$ and $\beta$ are learned, one of each per feature, shape `(n,)`. With
#   $\gamma = \sqrt{\sigma^2 + \varepsilon}$ and $\beta = \mu$ the layer is the identity,
#   so normalizing takes nothing away from what the network can express.
#
# Batch-first: `Z` is `(m, n)`, so the statistics are means over **axis 0** (the examples),
# one value per feature, shape `(n,)`.
#
# **Test time.** A prediction must not depend on which other examples share its batch (and
# one example alone has $\sigma^2 = 0$). So during training we also keep exponentially
# weighted averages of the batch statistics, the Week 2 formula with
# `momentum` $= 0.99$ in the role of $\beta$:
#
# $$ \text{running\_mean} \leftarrow 0.99 \cdot \text{running\_mean} + 0.01 \cdot \mu, \qquad
#    \text{running\_var} \leftarrow 0.99 \cdot \text{running\_var} + 0.01 \cdot \sigma^2 , $$
#
# and at test time (`train=False`) normalize with `running_mean` and `running_var` instead of
# the batch's $\mu$ and $\sigma^2$, and leave them unchanged.
#
# **The JAX way: state in, state out.** Keras' `BatchNormalization` layer updates its moving
# averages in place, hidden inside the layer object. A JAX function cannot change anything
# in place (and under `jax.jit` a change to a Python object would be seen only once, while
# tracing), so the running statistics are an **argument** and the updated ones a **result**.
# Whatever the caller does not keep is lost. `train` is a Python bool that decides which
# computation runs, so under `jax.jit` it is a static argument:
# `jax.jit(batchnorm_forward, static_argnames="train")`.
#
# **The cache** keeps what the backward pass needs (section 3); it is a dict:
#
# | key | shape | value |
# |---|---|---|
# | `"Z_centered"` | `(m, n)` | `Z - mu` |
# | `"inv_std"` | `(n,)` | `1 / sqrt(var + eps)` |
# | `"Z_norm"` | `(m, n)` | `Z_centered * inv_std` |
# | `"gamma"` | `(n,)` | `gamma` |
#
# (with the running statistics in place of `mu` and `var` when `train=False`).
#
# **Same numbers as flax.** `flax.linen.BatchNorm(momentum=0.99, epsilon=1e-5)` (and
# `jaxdl.nn.batchnorm`) compute exactly this, with one difference in *how*: they get the
# variance in one pass as `max(0, mean(Z**2) - mu**2)`, which is equal to the two-pass
# `mean((Z - mu)**2)` in exact arithmetic and differs by float32 rounding (noticeably only
# when a feature's mean is much larger than its spread). Use the two-pass formula the course
# teaches; the grader allows for the rounding difference.

# %%
def batchnorm_forward(gamma, beta, Z, running_mean, running_var, train, momentum=0.99, eps=1e-5):
    """Batch normalization of pre-activations, with running statistics.

    Arguments:
      gamma: float32 (n,), the learned scale.
      beta: float32 (n,), the learned shift.
      Z: float32 (m, n), the layer's pre-activations, one row per example.
      running_mean: float32 (n,), exponentially weighted average of the batch means.
      running_var: float32 (n,), exponentially weighted average of the batch variances.
      train: Python bool (static under jit). True: normalize with the batch statistics and
        update the running ones. False: normalize with the running statistics.
      momentum: decay of the running averages (0.99 keeps 99% of the old value).
      eps: added to the variance inside the square root.

    Computation, with ``mu``, ``var``, ``inv_std`` of shape (n,) (means over axis 0):

      train=True:   ``mu = mean(Z, 0)``; ``var = mean((Z - mu)**2, 0)`` (biased);
                    ``new_mean = momentum * running_mean + (1 - momentum) * mu``;
                    ``new_var = momentum * running_var + (1 - momentum) * var``.
      train=False:  ``mu = running_mean``; ``var = running_var``;
                    ``new_mean, new_var = running_mean, running_var`` (unchanged).
      both:         ``inv_std = 1 / sqrt(var + eps)``; ``Z_centered = Z - mu``;
                    ``Z_norm = Z_centered * inv_std``; ``out = gamma * Z_norm + beta``.

    Returns:
      ``(out, new_mean, new_var, cache)``: ``out`` float32 (m, n); ``new_mean``,
      ``new_var`` float32 (n,); ``cache`` the dict
      ``{"Z_centered": (m, n), "inv_std": (n,), "Z_norm": (m, n), "gamma": (n,)}``.
      Equal, up to float32 rounding of the variance, to
      ``flax.linen.BatchNorm(use_running_average=not train, momentum=momentum, epsilon=eps)``.
    """
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# ## 3 - `batchnorm_backward`
#
# Given $\frac{\partial J}{\partial \tilde z}$ (`dout`, shape `(m, n)`), compute the
# gradients with respect to $Z$, $\gamma$ and $\beta$ of the **training-mode** forward pass.
# `jax.grad` would do it for you (and the grader uses it to check you); deriving it once by
# hand shows why batch norm couples the examples of a batch. Write $\hat z = z_{\text{norm}}$
# and $s = 1/\sqrt{\sigma^2 + \varepsilon}$ (`inv_std`); all sums are over the examples $i$,
# feature by feature:
#
# $$ \frac{\partial J}{\partial \beta} = \sum_i \text{dout}_i , \qquad
#    \frac{\partial J}{\partial \gamma} = \sum_i \text{dout}_i \, \hat z_i , \qquad
#    d\hat z_i = \text{dout}_i \, \gamma . $$
#
# $\mu$ and $\sigma^2$ depend on every $z_i$ of the batch, so $z_i$ influences the loss
# through $\hat z_i$ directly **and** through $\mu$ and $\sigma^2$. Summing the three paths
# (chain rule through $\hat z_j = (z_j - \mu) s$ for all $j$) gives the compact form
#
# $$ \frac{\partial J}{\partial z_i} = \frac{s}{m} \left( m \, d\hat z_i - \sum_j d\hat z_j
#    - \hat z_i \sum_j d\hat z_j \, \hat z_j \right) . $$
#
# The two sums are the paths through $\mu$ and $\sigma^2$. Dropping them
# ($dz = d\hat z \cdot s$) is the gradient of the *test-time* layer, where the statistics
# are constants: a common bug. Use `axis=0` sums (shape `(n,)`) and `[None, :]` rows.

# %%
def batchnorm_backward(dout, cache):
    """Gradients of the training-mode ``batchnorm_forward``.

    Arguments:
      dout: float32 (m, n), the gradient of the loss with respect to ``out``.
      cache: the dict returned by ``batchnorm_forward(..., train=True)``:
        ``{"Z_centered": (m, n), "inv_std": (n,), "Z_norm": (m, n), "gamma": (n,)}``.

    Returns:
      ``(dZ, dgamma, dbeta)``: float32 arrays of shapes (m, n), (n,), (n,), equal (up to
      float32 rounding) to the gradients ``jax.vjp`` gives for ``out`` as a function of
      ``(Z, gamma, beta)`` in training mode, with cotangent ``dout``::

        dbeta  = sum(dout, 0)
        dgamma = sum(dout * Z_norm, 0)
        dZ_norm = dout * gamma
        dZ = inv_std / m * (m * dZ_norm - sum(dZ_norm, 0) - Z_norm * sum(dZ_norm * Z_norm, 0))
    """
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# ## 4 - `forward_propagation_with_batchnorm`
#
# The network is LINEAR → BN → RELU for every hidden layer, then LINEAR for the output:
#
# $$ Z^{[l]} = A^{[l-1]} W^{[l]}, \qquad
#    A^{[l]} = \mathrm{relu}\big(\mathrm{BN}_{\gamma^{[l]}, \beta^{[l]}}(Z^{[l]})\big)
#    \quad (l < L), \qquad Z^{[L]} = A^{[L-1]} W^{[L]} + b^{[L]} . $$
#
# **No bias in the hidden layers:** batch norm subtracts the batch mean of $Z^{[l]}$, which
# removes any constant $b^{[l]}$ added to it; $\beta^{[l]}$ takes over its role. The output
# layer has no batch norm, so it keeps its bias.
#
# Parameters and state are two flat dicts (valid pytrees; `jax.grad` differentiates the
# first, the second is carried along):
#
# | | keys | shapes |
# |---|---|---|
# | `parameters` | `"W1", "gamma1", "beta1", ..., "W{L-1}", "gamma{L-1}", "beta{L-1}", "WL", "bL"` | `Wl (n_{l-1}, n_l)`, `gammal`, `betal` `(n_l,)`, `bL (n_L,)` |
# | `state` | `"mean1", "var1", ..., "mean{L-1}", "var{L-1}"` | `(n_l,)` |
#
# This assignment uses `L = 3` (`[64, 64, 32, 10]` in the experiment); write the loop for any
# `L >= 2`. Call your `batchnorm_forward` with its default `momentum=0.99`, `eps=1e-5`.
# Return the logits (no softmax) and the **new** state dict: with `train=True` it holds the
# updated running statistics, with `train=False` the same values that came in.

# %%
def forward_propagation_with_batchnorm(parameters, state, X, train):
    """LINEAR -> BN -> RELU for each hidden layer, then LINEAR; returns logits and new state.

    Arguments:
      parameters: dict ``{"W1", "gamma1", "beta1", ..., "W{L-1}", "gamma{L-1}",
        "beta{L-1}", "WL", "bL"}``; ``Wl`` float32 (n_{l-1}, n_l), ``gammal``/``betal``
        (n_l,), ``bL`` (n_L,). No ``b1 .. b{L-1}`` (batch norm makes them redundant).
      state: dict ``{"mean1", "var1", ..., "mean{L-1}", "var{L-1}"}`` of float32 (n_l,),
        the running statistics of each batch-norm layer.
      X: float32 (m, n_0) inputs.
      train: Python bool (static under jit), passed to every ``batchnorm_forward``.

    Computation: ``A = X``; for ``l = 1 .. L-1``:
      ``Z = A @ Wl``; ``out, mean_l, var_l, _ = batchnorm_forward(gammal, betal, Z,
      state["mean{l}"], state["var{l}"], train)`` (default momentum 0.99, eps 1e-5);
      ``A = relu(out)``. Then ``logits = A @ WL + bL``.

    Returns:
      ``(logits, new_state)``: logits float32 (m, n_L); new_state a dict with the same keys
      as ``state``, ``new_state["mean{l}"]``/``["var{l}"]`` as returned by layer ``l``'s
      ``batchnorm_forward`` (unchanged values when ``train=False``). ``new_state`` is a new
      dict: ``state`` itself (and ``parameters``) must come back unchanged, so calling the
      function twice with the same ``state`` gives the same result twice (the grader does).
    """
    L = len([k for k in parameters if k.startswith("W")])
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# ## 5 - `model_with_batchnorm`
#
# Initialization is given (it is not graded): He-normal weights from
# `jaxdl.init.init_mlp(key, layers_dims, method="he")`, whose hidden biases are dropped,
# $\gamma = 1$, $\beta = 0$ (batch norm starts as a plain standardization), zero output bias;
# running mean 0 and running variance 1. The cost is given too: the mean softmax
# cross-entropy of the logits, computed with a log-softmax (which subtracts the row maximum
# just like your `softmax`; taking `log(softmax(Z))` would underflow to `log(0)`).
#
# Your training loop, the same as in the JAX introduction plus the state:
#
# 1. `init_key, shuffle_key = jax.random.split(key)`;
#    `parameters, state = initialize_parameters_with_batchnorm(init_key, [n_x, 64, 32, C])`.
# 2. `optimizer = jaxdl.optim.adam(learning_rate)`, `opt_state = optimizer.init(parameters)`.
#    The running statistics are **not** parameters: Adam never sees them.
# 3. A jitted `train_step(parameters, state, opt_state, X_batch, Y_batch)` that returns
#    `(parameters, state, opt_state, loss)`. The loss function returns the cost and the new
#    state: `jax.value_and_grad(loss_fn, has_aux=True)` gives `((cost, new_state), grads)`,
#    the gradient only with respect to `parameters`.
# 4. Epoch `e` uses `jaxdl.data.random_minibatches(jax.random.fold_in(shuffle_key, e),
#    X_train, Y_train, minibatch_size)`; its cost is the mean cross-entropy over the epoch,
#    `sum(batch_size_b * cost_b) / m`.
#
# The grader trains your model on the digits and measures the test accuracy itself, in
# **eval mode** with the parameters and running statistics you return (the reference gets
# 95% to 97% with the defaults, whatever the key; at least 90% is required), within a time
# limit a jitted step meets easily. A hidden case also replays exactly this loop with the
# same key and compares your `costs`, parameters and running statistics with it, to float32
# rounding: every convention above changes the numbers (the `opt_state` and the running
# statistics of each step passed to the next; a new shuffle every epoch; the epoch's cost
# weighted by batch size, since the last batch is smaller). Adam's `eps` may be the default
# 1e-8 (as in optax) or Keras's 1e-7: the grader accepts either.

# %%
def initialize_parameters_with_batchnorm(key, layers_dims):
    """He-normal weights, gamma = 1, beta = 0, output bias 0; running mean 0, variance 1.

    ``p = jaxdl.init.init_mlp(key, layers_dims, method="he")`` gives ``W1 .. WL``; the
    hidden biases are dropped. Returns ``(parameters, state)`` in the layout of
    ``forward_propagation_with_batchnorm``.
    """
    L = len(layers_dims) - 1
    p = jaxdl.init.init_mlp(key, list(layers_dims), method="he")
    parameters, state = {}, {}
    for l in range(1, L):
        n = layers_dims[l]
        parameters[f"W{l}"] = p[f"W{l}"]
        parameters[f"gamma{l}"] = jnp.ones((n,), jnp.float32)
        parameters[f"beta{l}"] = jnp.zeros((n,), jnp.float32)
        state[f"mean{l}"] = jnp.zeros((n,), jnp.float32)
        state[f"var{l}"] = jnp.ones((n,), jnp.float32)
    parameters[f"W{L}"] = p[f"W{L}"]
    parameters[f"b{L}"] = p[f"b{L}"]
    return parameters, state


def compute_cost(logits, Y):
    """Mean softmax cross-entropy of (m, C) logits against (m, C) one-hot labels."""
    log_probs = logits - jax.scipy.special.logsumexp(logits, axis=-1, keepdims=True)
    return -jnp.mean(jnp.sum(Y * log_probs, axis=-1))


# %%
def model_with_batchnorm(key, X_train, Y_train, learning_rate=0.003, num_epochs=10, minibatch_size=64,
                         print_cost=True):
    """Train the batch-norm network with Adam on mini-batches.

    Arguments:
      key: a PRNG key.
      X_train: float32 (m, n_x) inputs; Y_train: float32 one-hot labels (m, C).
      learning_rate: Adam's learning rate (``jaxdl.optim.adam(learning_rate)``, other
        hyperparameters at their defaults).
      num_epochs: passes over the training set.
      minibatch_size: examples per mini-batch.
      print_cost: print the cost every few epochs.

    Architecture: ``layers_dims = [n_x, 64, 32, C]``, LINEAR -> BN -> RELU twice, then
    LINEAR (``forward_propagation_with_batchnorm`` with ``train=True``); cost
    ``compute_cost`` (mean softmax cross-entropy of the batch).

    Key convention: ``init_key, shuffle_key = jax.random.split(key)``;
    ``parameters, state = initialize_parameters_with_batchnorm(init_key, layers_dims)``;
    epoch ``e`` uses ``jaxdl.data.random_minibatches(jax.random.fold_in(shuffle_key, e),
    X_train, Y_train, minibatch_size)``. Each step starts from the parameters, running
    statistics and ``opt_state`` the previous step returned. The grader replays this loop
    with the same key and compares ``costs``, the parameters and the state with it.

    Returns:
      ``(parameters, state, costs)``: the trained parameters and the running statistics
      after the last step (dicts as in ``forward_propagation_with_batchnorm``), and a list of
      ``num_epochs`` Python floats, ``costs[e] = sum_b(len(batch_b) * cost_b) / m``.
    """
    X_train = jnp.asarray(X_train, jnp.float32)
    Y_train = jnp.asarray(Y_train, jnp.float32)
    m, n_x = X_train.shape
    C = Y_train.shape[1]
    layers_dims = [n_x, 64, 32, C]
    costs = []
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# ## 6 - The experiment: digits, train mode vs eval mode
#
# Train on scikit-learn's 8×8 digits (`jaxdl.datasets.digits()`: 1437 training and 360 test
# images, 64 features, 10 classes), then measure the test accuracy three ways:
#
# - **eval mode** (`train=False`): each test image normalized with the running statistics;
#   the right way, and what the grader measures;
# - **train mode on the whole test set**: normalized with the statistics of the 360 test
#   images; close, because the test set is big and looks like the training set, but the
#   prediction for one image now depends on the others;
# - **train mode one image at a time**: with $m = 1$, $z - \mu = 0$, every image is
#   normalized to $\beta$ and the network predicts the same class for all of them.
#
# Then the same network without batch norm (hidden biases back, same initial weights, same
# batches) trained the same way, for comparison. On a problem this small Adam trains the
# plain network well too; batch norm earns its keep in deeper networks, where it keeps each
# layer's inputs at a steady scale while the layers below change. `JAXDL_QUICK=1` shortens
# everything to a smoke run; `JAXDL_OUT_DIR` chooses where the plot goes (default `out/`).

# %%
QUICK = os.environ.get("JAXDL_QUICK", "0") not in ("", "0")  # the test suite's short run

if __name__ == "__main__":
    X_train, y_train, X_test, y_test = jaxdl.datasets.digits()
    Y_train = jaxdl.data.one_hot(y_train, 10)
    num_epochs = 1 if QUICK else 10

    start = time.perf_counter()
    parameters, state, costs = model_with_batchnorm(jax.random.key(0), X_train, Y_train, learning_rate=0.003,
                                                    num_epochs=num_epochs, minibatch_size=64)
    print(f"trained {num_epochs} epochs in {time.perf_counter() - start:.1f} s")

    def accuracy(logits, y):
        return float(jnp.mean((jnp.argmax(logits, axis=-1) == y).astype(jnp.float32)))

    eval_logits, same_state = forward_propagation_with_batchnorm(parameters, state, X_test, False)
    batch_logits, _ = forward_propagation_with_batchnorm(parameters, state, X_test, True)
    single = jax.vmap(lambda x: forward_propagation_with_batchnorm(parameters, state, x[None, :], True)[0][0])
    single_logits = single(X_test)
    print(f"test accuracy, eval mode (running statistics):   {accuracy(eval_logits, y_test):.1%}")
    print(f"test accuracy, train mode, the whole test batch: {accuracy(batch_logits, y_test):.1%}")
    print(f"test accuracy, train mode, one image at a time:  {accuracy(single_logits, y_test):.1%}")
    probs = softmax(eval_logits)
    print("softmax rows sum to 1:", bool(jnp.allclose(jnp.sum(probs, axis=-1), 1.0, atol=1e-5)),
          "| mean confidence of the predicted class:", round(float(jnp.mean(jnp.max(probs, axis=-1))), 3))

# %%
if __name__ == "__main__":
    # The same network without batch norm (hidden biases back), trained the same way.
    def plain_forward(p, X):
        A = jax.nn.relu(X @ p["W1"] + p["b1"][None, :])
        A = jax.nn.relu(A @ p["W2"] + p["b2"][None, :])
        return A @ p["W3"] + p["b3"][None, :]

    init_key, shuffle_key = jax.random.split(jax.random.key(0))  # model_with_batchnorm's convention
    plain = jaxdl.init.init_mlp(init_key, [64, 64, 32, 10], method="he")
    plain_optimizer = jaxdl.optim.adam(0.003)
    plain_opt_state = plain_optimizer.init(plain)

    @jax.jit
    def plain_step(p, opt_state, Xb, Yb):
        cost, grads = jax.value_and_grad(lambda q: compute_cost(plain_forward(q, Xb), Yb))(p)
        updates, opt_state = plain_optimizer.update(grads, opt_state, p)
        return jaxdl.optim.apply_updates(p, updates), opt_state, cost

    plain_costs = []
    for e in range(num_epochs):
        total = 0.0
        for Xb, Yb in jaxdl.data.random_minibatches(jax.random.fold_in(shuffle_key, e), X_train, Y_train, 64):
            plain, plain_opt_state, cost = plain_step(plain, plain_opt_state, Xb, Yb)
            total += Xb.shape[0] * float(cost)
        plain_costs.append(total / X_train.shape[0])
    print(f"without batch norm: final cost {plain_costs[-1]:.4f} (with: {costs[-1]:.4f}), "
          f"test accuracy {accuracy(plain_forward(plain, X_test), y_test):.1%}")

    from matplotlib.figure import Figure

    out_dir = os.environ.get("JAXDL_OUT_DIR", "out")
    os.makedirs(out_dir, exist_ok=True)
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.semilogy(costs, label="with batch norm")
    ax.semilogy(plain_costs, "--", label="without")
    ax.set(xlabel="epoch", ylabel="cost (mean cross-entropy)", title="digits, Adam lr 0.003")
    ax.legend()
    fig.tight_layout()
    path = os.path.join(out_dir, "week3_batch_norm.png")
    fig.savefig(path, dpi=80)
    print("plot:", path)

# %% [markdown]
# ## What to take away
#
# - Softmax: subtract the row maximum before `exp`; compute losses from a log-softmax.
# - Batch norm normalizes `Z` with the batch's biased variance, `eps` inside the square root,
#   then scales by `gamma` and shifts by `beta`; the hidden bias becomes redundant.
# - Training mode uses batch statistics and updates running averages (`0.99 old + 0.01 new`);
#   eval mode uses the running averages and changes nothing.
# - In JAX the running statistics are explicit state: passed in, returned, carried by the
#   training loop next to the optimizer state, never differentiated.
# - The backward pass has two extra terms because every example's `z` moves `mu` and
#   `var`; `jax.grad` finds them for you.
