"""Typical wrong implementations for week3/batch_norm (from the course forums, JAX-ified).

``MISTAKES[slug]`` is one known mistake, stated once: the graded function it
breaks, its wrong source (a complete ``def`` that, substituted for that function in
``solution.py``, must zero that part only) and ``message``, the feedback the grader gives
when it recognises it (how it recognises it is in ``assignment.py``, by slug). The sources
use only the solution's globals."""

from __future__ import annotations

from grader.spec import Mistake

MISTAKES = {
    # --- softmax --------------------------------------------------------------
    "softmax_no_max_shift": Mistake(
        "softmax",
        '''
def softmax(Z):
    exps = jnp.exp(Z)
    return exps / jnp.sum(exps, axis=-1, keepdims=True)
''',
        'softmax overflows (nan or inf) for large logits: subtract the row maximum, Z - jnp.max(Z, axis=-1, keepdims=True), before jnp.exp.',
    ),
    "softmax_wrong_axis": Mistake(
        "softmax",
        '''
def softmax(Z):
    shifted = Z - jnp.max(Z, axis=0, keepdims=True)
    exps = jnp.exp(shifted)
    return exps / jnp.sum(exps, axis=0, keepdims=True)
''',
        'softmax normalizes over axis 0 (the examples); batch-first, the classes are the last axis: use axis=-1 with keepdims=True.',
    ),
    # --- batchnorm_forward ----------------------------------------------------
    "bn_unbiased_variance": Mistake(
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
        'the batch variance looks unbiased (divided by m - 1); batch norm uses the biased variance, mean((Z - mu)**2, axis=0) (ddof=0).',
    ),
    "bn_eps_outside_sqrt": Mistake(
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
        'eps is added outside the square root, sqrt(var) + eps; it belongs inside, sqrt(var + eps).',
    ),
    "bn_running_updated_in_eval": Mistake(
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
        'the running averages are updated in eval mode too (train=False); at test time they must come back unchanged.',
    ),
    "bn_running_never_updated": Mistake(
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
        'the running averages are not updated in training mode: return momentum * running + (1 - momentum) * batch statistic.',
    ),
    "bn_momentum_swapped": Mistake(
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
        'momentum is applied the wrong way round ((1 - momentum) * old + momentum * new); the running average keeps momentum * old + (1 - momentum) * new.',
    ),
    "bn_eval_uses_batch_stats": Mistake(
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
        'eval mode (train=False) normalizes with the batch statistics; it must use the running mean and variance.',
    ),
    "bn_eval_without_eps": Mistake(
        "batchnorm_forward",
        '''
def batchnorm_forward(gamma, beta, Z, running_mean, running_var, train, momentum=0.99, eps=1e-5):
    if train:
        mu = jnp.mean(Z, axis=0)
        var = jnp.mean((Z - mu[None, :]) ** 2, axis=0)
        new_mean = momentum * running_mean + (1 - momentum) * mu
        new_var = momentum * running_var + (1 - momentum) * var
        inv_std = 1.0 / jnp.sqrt(var + eps)
    else:
        mu, var = running_mean, running_var
        new_mean, new_var = running_mean, running_var
        inv_std = 1.0 / jnp.sqrt(var)
    Z_centered = Z - mu[None, :]
    Z_norm = Z_centered * inv_std[None, :]
    out = gamma[None, :] * Z_norm + beta[None, :]
    cache = {"Z_centered": Z_centered, "inv_std": inv_std, "Z_norm": Z_norm, "gamma": gamma}
    return out, new_mean, new_var, cache
''',
        'eval mode (train=False) divides by sqrt(running_var) without eps: a feature whose running variance is 0 gives inf or nan. Use 1 / sqrt(running_var + eps) in both modes.',
    ),
    # --- batchnorm_backward ---------------------------------------------------
    "backward_ignores_batch_statistics": Mistake(
        "batchnorm_backward",
        '''
def batchnorm_backward(dout, cache):
    Z_norm, inv_std, gamma = cache["Z_norm"], cache["inv_std"], cache["gamma"]
    dbeta = jnp.sum(dout, axis=0)
    dgamma = jnp.sum(dout * Z_norm, axis=0)
    dZ = dout * (gamma * inv_std)[None, :]
    return dZ, dgamma, dbeta
''',
        'dZ treats the batch mean and variance as constants (dZ = dout * gamma * inv_std); in training mode they depend on every z, which adds two terms.',
    ),
    "backward_means_instead_of_sums": Mistake(
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
        'dgamma and dbeta average over the batch; gamma and beta are used by every example, so their gradients are sums over axis 0.',
    ),
    # --- forward_propagation_with_batchnorm -----------------------------------
    "forward_bn_after_relu": Mistake(
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
        'batch norm is applied to the activation relu(Z); normalize Z, then apply the ReLU (LINEAR -> BN -> RELU).',
    ),
    "forward_returns_old_state": Mistake(
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
        'the state that comes back is the one that went in: return the running statistics each batchnorm_forward returned (JAX updates nothing in place).',
    ),
    "forward_mutates_state": Mistake(
        "forward_propagation_with_batchnorm",
        '''
def forward_propagation_with_batchnorm(parameters, state, X, train):
    L = len([k for k in parameters if k.startswith("W")])
    A = X
    for l in range(1, L):
        Z = jnp.matmul(A, parameters[f"W{l}"])
        out, state[f"mean{l}"], state[f"var{l}"], _ = batchnorm_forward(
            parameters[f"gamma{l}"], parameters[f"beta{l}"], Z, state[f"mean{l}"], state[f"var{l}"], train)
        A = jax.nn.relu(out)
    logits = jnp.matmul(A, parameters[f"W{L}"]) + parameters[f"b{L}"][None, :]
    return logits, state
''',
        "the state dict passed in is changed in place (state[...] = ...): a second call with the "
        "same state starts from the first one's statistics; return a new dict instead.",
    ),
    # --- model_with_batchnorm -------------------------------------------------
    "model_discards_state": Mistake(
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
        'the returned running statistics are the initial ones (mean 0, variance 1): the new state from each training step is thrown away; return it from the step and carry it to the next.',
    ),
    "model_loss_in_eval_mode": Mistake(
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

    def loss_fn(parameters, state, X, Y):
        logits, new_state = forward_propagation_with_batchnorm(parameters, state, X, False)
        return compute_cost(logits, Y), new_state

    @jax.jit
    def train_step(parameters, state, opt_state, X_batch, Y_batch):
        (cost, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(parameters, state, X_batch, Y_batch)
        updates, opt_state = optimizer.update(grads, opt_state, parameters)
        parameters = jaxdl.optim.apply_updates(parameters, updates)
        return parameters, state, opt_state, cost

    for epoch in range(num_epochs):
        epoch_key = jax.random.fold_in(shuffle_key, epoch)
        total = jnp.zeros((), jnp.float32)
        for X_batch, Y_batch in jaxdl.data.random_minibatches(epoch_key, X_train, Y_train, minibatch_size):
            parameters, state, opt_state, cost = train_step(parameters, state, opt_state, X_batch, Y_batch)
            total = total + X_batch.shape[0] * cost
        costs.append(float(total) / m)
    return parameters, state, costs
''',
        "the loss calls the network with train=False: every batch is normalized with the initial running "
        "statistics, never updated; call it with train=True in the loss and carry the state it returns.",
    ),
    "model_optimizer_state_not_carried": Mistake(
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

    def loss_fn(parameters, state, X, Y):
        logits, new_state = forward_propagation_with_batchnorm(parameters, state, X, True)
        return compute_cost(logits, Y), new_state

    @jax.jit
    def train_step(parameters, state, opt_state, X_batch, Y_batch):
        (cost, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(parameters, state, X_batch, Y_batch)
        updates, opt_state = optimizer.update(grads, opt_state, parameters)
        return jaxdl.optim.apply_updates(parameters, updates), state, opt_state, cost

    for epoch in range(num_epochs):
        epoch_key = jax.random.fold_in(shuffle_key, epoch)
        total = jnp.zeros((), jnp.float32)
        for X_batch, Y_batch in jaxdl.data.random_minibatches(epoch_key, X_train, Y_train, minibatch_size):
            parameters, state, _, cost = train_step(parameters, state, opt_state, X_batch, Y_batch)
            total = total + X_batch.shape[0] * cost
        costs.append(float(total) / m)
    return parameters, state, costs
''',
        "the optimizer state is not carried from one step to the next: pass the opt_state that optimizer.update returns to the next step (Adam's moments and step count).",
    ),
    "model_same_shuffle_every_epoch": Mistake(
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

    def loss_fn(parameters, state, X, Y):
        logits, new_state = forward_propagation_with_batchnorm(parameters, state, X, True)
        return compute_cost(logits, Y), new_state

    @jax.jit
    def train_step(parameters, state, opt_state, X_batch, Y_batch):
        (cost, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(parameters, state, X_batch, Y_batch)
        updates, opt_state = optimizer.update(grads, opt_state, parameters)
        return jaxdl.optim.apply_updates(parameters, updates), state, opt_state, cost

    batches = jaxdl.data.random_minibatches(shuffle_key, X_train, Y_train, minibatch_size)
    for epoch in range(num_epochs):
        total = jnp.zeros((), jnp.float32)
        for X_batch, Y_batch in batches:
            parameters, state, opt_state, cost = train_step(parameters, state, opt_state, X_batch, Y_batch)
            total = total + X_batch.shape[0] * cost
        costs.append(float(total) / m)
    return parameters, state, costs
''',
        "the same shuffle every epoch: epoch e draws its mini-batches with jax.random.fold_in(shuffle_key, e).",
    ),
    "model_cost_per_minibatch": Mistake(
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

    def loss_fn(parameters, state, X, Y):
        logits, new_state = forward_propagation_with_batchnorm(parameters, state, X, True)
        return compute_cost(logits, Y), new_state

    @jax.jit
    def train_step(parameters, state, opt_state, X_batch, Y_batch):
        (cost, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(parameters, state, X_batch, Y_batch)
        updates, opt_state = optimizer.update(grads, opt_state, parameters)
        return jaxdl.optim.apply_updates(parameters, updates), state, opt_state, cost

    for epoch in range(num_epochs):
        epoch_key = jax.random.fold_in(shuffle_key, epoch)
        batch_costs = []
        for X_batch, Y_batch in jaxdl.data.random_minibatches(epoch_key, X_train, Y_train, minibatch_size):
            parameters, state, opt_state, cost = train_step(parameters, state, opt_state, X_batch, Y_batch)
            batch_costs.append(cost)
        costs.append(float(jnp.mean(jnp.stack(batch_costs))))
    return parameters, state, costs
''',
        "the cost averaged per mini-batch instead of per example: costs[e] = sum_b(len(batch_b) * cost_b) / m (the last mini-batch is smaller).",
    ),
}
