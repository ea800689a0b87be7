"""Typical wrong implementations for week3/batch_norm (from the course forums, JAX-ified).

``MISTAKES[slug] = (function_name, source, description)``: ``source`` is the complete
definition of one graded function, written the wrong way; substituting it for that function
in the reference solution (``tests/solutions/week3/batch_norm.py``) must zero that part only,
and the grader's feedback should name ``description``.

Inputs that expose them (the grader's cases need these):

- ``bn_eps_outside_sqrt`` changes ``out`` by about ``eps / (2 var)`` relative: invisible at
  rtol 1e-5 when every feature has variance ~1. Use a feature with a small variance
  (e.g. Z scaled by 1e-2 to 1e-3, var ~ 1e-4 .. 1e-6 against eps = 1e-5).
- ``bn_unbiased_variance`` changes ``out`` by a factor ``sqrt((m - 1) / m)``: use small
  batches (m <= 16).
- ``bn_running_updated_in_eval`` / ``bn_eval_uses_batch_stats`` only show with
  ``train=False``, and with running statistics different from the batch's.
- ``backward_*``: any ``dout`` that is not constant across the batch.

Coupling: ``forward_propagation_with_batchnorm`` calls the student's ``batchnorm_forward``
and ``model_with_batchnorm`` calls both, so a ``bn_*`` mistake also changes what those two
return (the ``bn_running_never_updated`` model keeps the initial running statistics and
its eval-mode accuracy collapses). To zero exactly the mistaken part, the grader has to
judge the composed parts independently of the student's ``batchnorm_forward`` (for example by
building the expected forward pass from the student's own ``batchnorm_forward`` answers, or
accepting the forward pass built from a known ``batchnorm_forward`` mistake); see
``tests/test_solutions_batch_norm.py::test_bn_mistakes_propagate_to_composed_parts``.
"""

from __future__ import annotations

MISTAKES = {
    "softmax_no_max_shift": (
        "softmax",
        '''
def softmax(Z):
    exps = jnp.exp(Z)
    return exps / jnp.sum(exps, axis=-1, keepdims=True)
''',
        "softmax overflows (nan) for large logits: subtract the row maximum, "
        "Z - jnp.max(Z, axis=-1, keepdims=True), before jnp.exp",
    ),
    "softmax_wrong_axis": (
        "softmax",
        '''
def softmax(Z):
    shifted = Z - jnp.max(Z, axis=0, keepdims=True)
    exps = jnp.exp(shifted)
    return exps / jnp.sum(exps, axis=0, keepdims=True)
''',
        "softmax normalizes over axis 0 (the examples); batch-first, the classes are the last axis",
    ),
    "bn_unbiased_variance": (
        "batchnorm_forward",
        '''
def batchnorm_forward(gamma, beta, Z, running_mean, running_var, train, momentum=0.99, eps=1e-5):
    if train:
        mu = jnp.mean(Z, axis=0)
        var = jnp.var(Z, axis=0, ddof=1)
        new_mean = momentum * running_mean + (1 - momentum) * mu
        new_var = momentum * running_var + (1 - momentum) * var
    else:
        mu, var = running_mean, running_var
        new_mean, new_var = running_mean, running_var
    inv_std = 1.0 / jnp.sqrt(var + eps)
    Z_centered = Z - mu[None, :]
    Z_norm = Z_centered * inv_std[None, :]
    out = gamma[None, :] * Z_norm + beta[None, :]
    cache = {"Z_centered": Z_centered, "inv_std": inv_std, "Z_norm": Z_norm, "gamma": gamma}
    return out, new_mean, new_var, cache
''',
        "the batch variance is the unbiased one (divided by m - 1); batch norm uses the biased "
        "variance, mean((Z - mu)**2) (ddof=0)",
    ),
    "bn_eps_outside_sqrt": (
        "batchnorm_forward",
        '''
def batchnorm_forward(gamma, beta, Z, running_mean, running_var, train, momentum=0.99, eps=1e-5):
    if train:
        mu = jnp.mean(Z, axis=0)
        var = jnp.mean((Z - mu[None, :]) ** 2, axis=0)
        new_mean = momentum * running_mean + (1 - momentum) * mu
        new_var = momentum * running_var + (1 - momentum) * var
    else:
        mu, var = running_mean, running_var
        new_mean, new_var = running_mean, running_var
    inv_std = 1.0 / (jnp.sqrt(var) + eps)
    Z_centered = Z - mu[None, :]
    Z_norm = Z_centered * inv_std[None, :]
    out = gamma[None, :] * Z_norm + beta[None, :]
    cache = {"Z_centered": Z_centered, "inv_std": inv_std, "Z_norm": Z_norm, "gamma": gamma}
    return out, new_mean, new_var, cache
''',
        "eps is added outside the square root, sqrt(var) + eps; it belongs inside, sqrt(var + eps)",
    ),
    "bn_running_updated_in_eval": (
        "batchnorm_forward",
        '''
def batchnorm_forward(gamma, beta, Z, running_mean, running_var, train, momentum=0.99, eps=1e-5):
    batch_mu = jnp.mean(Z, axis=0)
    batch_var = jnp.mean((Z - batch_mu[None, :]) ** 2, axis=0)
    new_mean = momentum * running_mean + (1 - momentum) * batch_mu
    new_var = momentum * running_var + (1 - momentum) * batch_var
    if train:
        mu, var = batch_mu, batch_var
    else:
        mu, var = running_mean, running_var
    inv_std = 1.0 / jnp.sqrt(var + eps)
    Z_centered = Z - mu[None, :]
    Z_norm = Z_centered * inv_std[None, :]
    out = gamma[None, :] * Z_norm + beta[None, :]
    cache = {"Z_centered": Z_centered, "inv_std": inv_std, "Z_norm": Z_norm, "gamma": gamma}
    return out, new_mean, new_var, cache
''',
        "the running averages are updated in eval mode too (train=False); at test time they "
        "must come back unchanged",
    ),
    "bn_running_never_updated": (
        "batchnorm_forward",
        '''
def batchnorm_forward(gamma, beta, Z, running_mean, running_var, train, momentum=0.99, eps=1e-5):
    if train:
        mu = jnp.mean(Z, axis=0)
        var = jnp.mean((Z - mu[None, :]) ** 2, axis=0)
    else:
        mu, var = running_mean, running_var
    inv_std = 1.0 / jnp.sqrt(var + eps)
    Z_centered = Z - mu[None, :]
    Z_norm = Z_centered * inv_std[None, :]
    out = gamma[None, :] * Z_norm + beta[None, :]
    cache = {"Z_centered": Z_centered, "inv_std": inv_std, "Z_norm": Z_norm, "gamma": gamma}
    return out, running_mean, running_var, cache
''',
        "the running averages are never updated in training mode: return "
        "momentum * running + (1 - momentum) * batch statistic",
    ),
    "bn_momentum_swapped": (
        "batchnorm_forward",
        '''
def batchnorm_forward(gamma, beta, Z, running_mean, running_var, train, momentum=0.99, eps=1e-5):
    if train:
        mu = jnp.mean(Z, axis=0)
        var = jnp.mean((Z - mu[None, :]) ** 2, axis=0)
        new_mean = (1 - momentum) * running_mean + momentum * mu
        new_var = (1 - momentum) * running_var + momentum * var
    else:
        mu, var = running_mean, running_var
        new_mean, new_var = running_mean, running_var
    inv_std = 1.0 / jnp.sqrt(var + eps)
    Z_centered = Z - mu[None, :]
    Z_norm = Z_centered * inv_std[None, :]
    out = gamma[None, :] * Z_norm + beta[None, :]
    cache = {"Z_centered": Z_centered, "inv_std": inv_std, "Z_norm": Z_norm, "gamma": gamma}
    return out, new_mean, new_var, cache
''',
        "momentum is applied the wrong way round (0.01 old + 0.99 new); the running average "
        "keeps momentum * old + (1 - momentum) * new",
    ),
    "bn_eval_uses_batch_stats": (
        "batchnorm_forward",
        '''
def batchnorm_forward(gamma, beta, Z, running_mean, running_var, train, momentum=0.99, eps=1e-5):
    mu = jnp.mean(Z, axis=0)
    var = jnp.mean((Z - mu[None, :]) ** 2, axis=0)
    if train:
        new_mean = momentum * running_mean + (1 - momentum) * mu
        new_var = momentum * running_var + (1 - momentum) * var
    else:
        new_mean, new_var = running_mean, running_var
    inv_std = 1.0 / jnp.sqrt(var + eps)
    Z_centered = Z - mu[None, :]
    Z_norm = Z_centered * inv_std[None, :]
    out = gamma[None, :] * Z_norm + beta[None, :]
    cache = {"Z_centered": Z_centered, "inv_std": inv_std, "Z_norm": Z_norm, "gamma": gamma}
    return out, new_mean, new_var, cache
''',
        "eval mode (train=False) normalizes with the batch statistics; it must use the running "
        "mean and variance",
    ),
    "backward_ignores_batch_statistics": (
        "batchnorm_backward",
        '''
def batchnorm_backward(dout, cache):
    Z_norm, inv_std, gamma = cache["Z_norm"], cache["inv_std"], cache["gamma"]
    dbeta = jnp.sum(dout, axis=0)
    dgamma = jnp.sum(dout * Z_norm, axis=0)
    dZ = dout * (gamma * inv_std)[None, :]
    return dZ, dgamma, dbeta
''',
        "dZ treats the batch mean and variance as constants (dZ = dout * gamma * inv_std); "
        "in training mode they depend on every z, which adds two terms",
    ),
    "backward_means_instead_of_sums": (
        "batchnorm_backward",
        '''
def batchnorm_backward(dout, cache):
    Z_norm, inv_std, gamma = cache["Z_norm"], cache["inv_std"], cache["gamma"]
    m = dout.shape[0]
    dbeta = jnp.mean(dout, axis=0)
    dgamma = jnp.mean(dout * Z_norm, axis=0)
    dZ_norm = dout * gamma[None, :]
    dZ = (inv_std / m)[None, :] * (
        m * dZ_norm
        - jnp.sum(dZ_norm, axis=0)[None, :]
        - Z_norm * jnp.sum(dZ_norm * Z_norm, axis=0)[None, :]
    )
    return dZ, dgamma, dbeta
''',
        "dgamma and dbeta average over the batch; gamma and beta are used by every example, "
        "so their gradients are sums over axis 0",
    ),
    "forward_bn_after_relu": (
        "forward_propagation_with_batchnorm",
        '''
def forward_propagation_with_batchnorm(parameters, state, X, train):
    L = len([k for k in parameters if k.startswith("W")])
    A = X
    new_state = {}
    for l in range(1, L):
        Z = jnp.matmul(A, parameters[f"W{l}"])
        A, new_state[f"mean{l}"], new_state[f"var{l}"], _ = batchnorm_forward(
            parameters[f"gamma{l}"], parameters[f"beta{l}"], jax.nn.relu(Z),
            state[f"mean{l}"], state[f"var{l}"], train)
    logits = jnp.matmul(A, parameters[f"W{L}"]) + parameters[f"b{L}"][None, :]
    return logits, new_state
''',
        "batch norm is applied to the activation A = relu(Z); normalize Z, then apply the ReLU "
        "(LINEAR -> BN -> RELU)",
    ),
    "forward_returns_old_state": (
        "forward_propagation_with_batchnorm",
        '''
def forward_propagation_with_batchnorm(parameters, state, X, train):
    L = len([k for k in parameters if k.startswith("W")])
    A = X
    for l in range(1, L):
        Z = jnp.matmul(A, parameters[f"W{l}"])
        out, _, _, _ = batchnorm_forward(
            parameters[f"gamma{l}"], parameters[f"beta{l}"], Z, state[f"mean{l}"], state[f"var{l}"], train)
        A = jax.nn.relu(out)
    logits = jnp.matmul(A, parameters[f"W{L}"]) + parameters[f"b{L}"][None, :]
    return logits, state
''',
        "the state that comes back is the one that went in: return the running statistics "
        "each batchnorm_forward returned (JAX updates nothing in place)",
    ),
    "model_discards_state": (
        "model_with_batchnorm",
        '''
def model_with_batchnorm(key, X_train, Y_train, learning_rate=0.003, num_epochs=10, minibatch_size=64,
                         print_cost=True):
    X_train = jnp.asarray(X_train, jnp.float32)
    Y_train = jnp.asarray(Y_train, jnp.float32)
    m, n_x = X_train.shape
    C = Y_train.shape[1]
    layers_dims = [n_x, 64, 32, C]
    costs = []
    init_key, shuffle_key = jax.random.split(key)
    parameters, state = initialize_parameters_with_batchnorm(init_key, layers_dims)
    optimizer = jaxdl.optim.adam(learning_rate)
    opt_state = optimizer.init(parameters)

    def loss_fn(parameters, X, Y):
        logits, _ = forward_propagation_with_batchnorm(parameters, state, X, True)
        return compute_cost(logits, Y)

    @jax.jit
    def train_step(parameters, opt_state, X_batch, Y_batch):
        cost, grads = jax.value_and_grad(loss_fn)(parameters, X_batch, Y_batch)
        updates, opt_state = optimizer.update(grads, opt_state, parameters)
        return jaxdl.optim.apply_updates(parameters, updates), opt_state, cost

    for epoch in range(num_epochs):
        epoch_key = jax.random.fold_in(shuffle_key, epoch)
        total = jnp.zeros((), jnp.float32)
        for X_batch, Y_batch in jaxdl.data.random_minibatches(epoch_key, X_train, Y_train, minibatch_size):
            parameters, opt_state, cost = train_step(parameters, opt_state, X_batch, Y_batch)
            total = total + X_batch.shape[0] * cost
        costs.append(float(total) / m)
    return parameters, state, costs
''',
        "the new running statistics are thrown away in the training step, so the returned state "
        "is the initial one and eval mode normalizes with mean 0, variance 1",
    ),
}
