"""Correct alternative formulations for ``week3/batch_norm`` (``{slug: (function, source)}``)."""

ALTERNATIVES = {
    "softmax_logsumexp": ("softmax", '''
def softmax(Z):
    import jax.scipy.special
    Z = jnp.asarray(Z)
    return jnp.exp(Z - jax.scipy.special.logsumexp(Z, axis=-1, keepdims=True))
'''),
    "softmax_min_shift_division_last": ("softmax", '''
def softmax(Z):
    Z = jnp.asarray(Z)
    e = jnp.exp(Z - jax.lax.stop_gradient(jnp.max(Z, axis=-1, keepdims=True)))
    return e * (1.0 / jnp.sum(e, axis=-1, keepdims=True))
'''),
    "softmax_log_domain": ("softmax", '''
def softmax(Z):
    Z = jnp.asarray(Z)
    shifted = Z - jnp.max(Z, axis=-1, keepdims=True)
    return jnp.exp(shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=-1, keepdims=True)))
'''),
    "bn_forward_jnp_var_rsqrt": ("batchnorm_forward", '''
def batchnorm_forward(gamma, beta, Z, running_mean, running_var, train, momentum=0.99, eps=1e-5):
    if train:
        mu, var = jnp.mean(Z, axis=0), jnp.var(Z, axis=0)
        new_mean = momentum * running_mean + (1 - momentum) * mu
        new_var = momentum * running_var + (1 - momentum) * var
    else:
        mu, var, new_mean, new_var = running_mean, running_var, running_mean, running_var
    inv_std = jax.lax.rsqrt(var + eps)
    Z_centered = Z - mu
    Z_norm = Z_centered * inv_std
    return gamma * Z_norm + beta, new_mean, new_var, {"Z_centered": Z_centered, "inv_std": inv_std,
                                                        "Z_norm": Z_norm, "gamma": gamma}
'''),
    "bn_forward_divide_by_std": ("batchnorm_forward", '''
def batchnorm_forward(gamma, beta, Z, running_mean, running_var, train, momentum=0.99, eps=1e-5):
    m = Z.shape[0]
    if train:
        mu = jnp.sum(Z, axis=0) / m
        var = jnp.sum(jnp.square(Z - mu), axis=0) / m
        new_mean = running_mean + (1 - momentum) * (mu - running_mean)
        new_var = running_var + (1 - momentum) * (var - running_var)
    else:
        mu, var = running_mean, running_var
        new_mean, new_var = running_mean, running_var
    std = jnp.sqrt(var + eps)
    Z_centered = Z - mu
    Z_norm = Z_centered / std
    out = Z_norm * gamma + beta
    return out, new_mean, new_var, {"Z_centered": Z_centered, "inv_std": 1.0 / std, "Z_norm": Z_norm,
                                    "gamma": gamma}
'''),
    "bn_backward_step_by_step": ("batchnorm_backward", '''
def batchnorm_backward(dout, cache):
    Zc, inv_std, gamma = cache["Z_centered"], cache["inv_std"], cache["gamma"]
    Z_norm = cache["Z_norm"]
    m = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * Z_norm).sum(axis=0)
    dZn = dout * gamma
    dvar = jnp.sum(dZn * Zc, axis=0) * -0.5 * inv_std ** 3
    dmu = jnp.sum(-dZn * inv_std, axis=0) + dvar * jnp.mean(-2.0 * Zc, axis=0)
    dZ = dZn * inv_std + dvar * 2.0 * Zc / m + dmu / m
    return dZ, dgamma, dbeta
'''),
    "bn_backward_means": ("batchnorm_backward", '''
def batchnorm_backward(dout, cache):
    Z_norm, inv_std, gamma = cache["Z_norm"], cache["inv_std"], cache["gamma"]
    dZ_norm = dout * gamma
    dZ = inv_std * (dZ_norm - jnp.mean(dZ_norm, axis=0) - Z_norm * jnp.mean(dZ_norm * Z_norm, axis=0))
    return dZ, jnp.einsum("mn,mn->n", dout, Z_norm), jnp.einsum("mn->n", dout)
'''),
    "forward_copy_of_state": ("forward_propagation_with_batchnorm", '''
def forward_propagation_with_batchnorm(parameters, state, X, train):
    L = sum(1 for k in parameters if k.startswith("W"))
    new_state = dict(state)
    A = X
    for l in range(1, L):
        out, m_, v_, _ = batchnorm_forward(parameters[f"gamma{l}"], parameters[f"beta{l}"],
                                           A @ parameters[f"W{l}"], state[f"mean{l}"], state[f"var{l}"], train)
        new_state[f"mean{l}"], new_state[f"var{l}"] = m_, v_
        A = jnp.maximum(out, 0.0)
    return A @ parameters[f"W{L}"] + parameters[f"b{L}"], new_state
'''),
    # the training loop, written other ways that follow the documented loop exactly
    "model_epoch_as_lax_scan": ("model_with_batchnorm", '''
def model_with_batchnorm(key, X_train, Y_train, learning_rate=0.003, num_epochs=10, minibatch_size=64,
                         print_cost=True):
    X_train = jnp.asarray(X_train, jnp.float32)
    Y_train = jnp.asarray(Y_train, jnp.float32)
    m, n_x = X_train.shape
    init_key, shuffle_key = jax.random.split(key)
    parameters, state = initialize_parameters_with_batchnorm(init_key, [n_x, 64, 32, Y_train.shape[1]])
    optimizer = jaxdl.optim.adam(learning_rate)
    opt_state = optimizer.init(parameters)
    full, rest = divmod(m, minibatch_size)

    def step(carry, batch):
        parameters, state, opt_state = carry
        X_batch, Y_batch = batch

        def loss_fn(p):
            logits, new_state = forward_propagation_with_batchnorm(p, state, X_batch, True)
            return compute_cost(logits, Y_batch), new_state

        (cost, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(parameters)
        updates, opt_state = optimizer.update(grads, opt_state, parameters)
        return (jaxdl.optim.apply_updates(parameters, updates), state, opt_state), cost * X_batch.shape[0]

    @jax.jit
    def epoch(carry, epoch_key):
        perm = jaxdl.data.permutation(epoch_key, m)   # the order random_minibatches uses
        X, Y = X_train[perm], Y_train[perm]
        n = full * minibatch_size
        batches = (X[:n].reshape(full, minibatch_size, n_x), Y[:n].reshape(full, minibatch_size, -1))
        carry, totals = jax.lax.scan(step, carry, batches)
        total = jnp.sum(totals)
        if rest:
            carry, last = step(carry, (X[n:], Y[n:]))
            total = total + last
        return carry, total

    carry, costs = (parameters, state, opt_state), []
    for e in range(num_epochs):
        carry, total = epoch(carry, jax.random.fold_in(shuffle_key, e))
        costs.append(float(total) / m)
    parameters, state, _ = carry
    return parameters, state, costs
'''),
    "model_adam_by_hand_python_floats": ("model_with_batchnorm", '''
def model_with_batchnorm(key, X_train, Y_train, learning_rate=0.003, num_epochs=10, minibatch_size=64,
                         print_cost=True):
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    m = X_train.shape[0]
    init_key, shuffle_key = jax.random.split(key)
    parameters, state = initialize_parameters_with_batchnorm(init_key, [X_train.shape[1], 64, 32, Y_train.shape[1]])
    v = jax.tree.map(jnp.zeros_like, parameters)
    s = jax.tree.map(jnp.zeros_like, parameters)

    @jax.jit
    def train_step(parameters, state, v, s, t, X_batch, Y_batch):
        def loss_fn(p):
            logits, new_state = forward_propagation_with_batchnorm(p, state, X_batch, True)
            return compute_cost(logits, Y_batch), new_state

        (cost, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(parameters)
        v = jax.tree.map(lambda a, g: beta1 * a + (1 - beta1) * g, v, grads)
        s = jax.tree.map(lambda a, g: beta2 * a + (1 - beta2) * jnp.square(g), s, grads)
        parameters = jax.tree.map(
            lambda p, a, b: p - learning_rate * (a / (1 - beta1 ** t)) / (jnp.sqrt(b / (1 - beta2 ** t)) + eps),
            parameters, v, s)
        return parameters, state, v, s, cost

    costs, t = [], 0
    for e in range(num_epochs):
        total = 0.0
        for X_batch, Y_batch in jaxdl.data.random_minibatches(jax.random.fold_in(shuffle_key, e),
                                                              jnp.asarray(X_train), jnp.asarray(Y_train),
                                                              minibatch_size):
            t += 1
            parameters, state, v, s, cost = train_step(parameters, state, v, s, jnp.float32(t), X_batch, Y_batch)
            total += X_batch.shape[0] * float(cost)
        costs.append(total / m)
    return parameters, state, costs
'''),
    # Adam's eps as Keras's default (1e-7): accepted (grader.training_replay.ACCEPTED). Graded under
    # seed 11 (round 3), where it lies 2.1 bounds from the documented replay: only the accepted
    # replay passes it. (In jax_intro the same change lies 0.08-0.9 bounds away: passing anyway.)
    "model_adam_keras_eps": ("model_with_batchnorm", '''
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
    optimizer = jaxdl.optim.adam(learning_rate, eps=1e-7)
    opt_state = optimizer.init(parameters)

    def loss_fn(parameters, state, X, Y):
        logits, new_state = forward_propagation_with_batchnorm(parameters, state, X, True)
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
'''),
}
