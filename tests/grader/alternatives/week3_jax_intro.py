"""Correct alternative formulations for ``week3/jax_intro`` (``{slug: (function, source)}``)."""

ALTERNATIVES = {
    "sigmoid_formula": ("sigmoid", '''
def sigmoid(z):
    z = jnp.asarray(z).astype(jnp.float32)
    return 1.0 / (1.0 + jnp.exp(-z))
'''),
    "sigmoid_tanh": ("sigmoid", '''
def sigmoid(z):
    z = jnp.asarray(z, jnp.float32)
    return 0.5 * (jnp.tanh(0.5 * z) + 1.0)
'''),
    "one_hot_eye": ("one_hot_matrix", '''
def one_hot_matrix(labels, C):
    return jnp.eye(C, dtype=jnp.float32)[jnp.asarray(labels)]
'''),
    "one_hot_compare": ("one_hot_matrix", '''
def one_hot_matrix(labels, C):
    return (jnp.asarray(labels)[:, None] == jnp.arange(C)[None, :]).astype(jnp.float32)
'''),
    "forward_maximum_no_broadcast_index": ("forward_propagation", '''
def forward_propagation(X, parameters):
    L = len(parameters) // 2
    A = X
    for l in range(1, L + 1):
        Z = A @ parameters["W" + str(l)] + parameters["b" + str(l)]
        A = jnp.maximum(Z, 0) if l < L else Z
    return A
'''),
    "loss_logsumexp": ("compute_total_loss", '''
def compute_total_loss(logits, labels):
    import jax.scipy.special
    lse = jax.scipy.special.logsumexp(logits, axis=-1)
    return jnp.sum(lse - jnp.sum(labels * logits, axis=-1))
'''),
    "loss_max_shift_by_hand": ("compute_total_loss", '''
def compute_total_loss(logits, labels):
    mx = jnp.max(logits, axis=1, keepdims=True)
    log_probs = logits - mx - jnp.log(jnp.sum(jnp.exp(logits - mx), axis=1, keepdims=True))
    return -jnp.sum(labels * log_probs)
'''),
    "loss_mean_times_m": ("compute_total_loss", '''
def compute_total_loss(logits, labels):
    log_probs = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.sum(labels * log_probs, axis=-1)) * logits.shape[0]
'''),
    "init_python_loop_scale_first": ("initialize_parameters", '''
def initialize_parameters(key, layers_dims):
    keys = jax.random.split(key, len(layers_dims) - 1)
    params = {}
    for l, (n_in, n_out) in enumerate(zip(layers_dims[:-1], layers_dims[1:]), start=1):
        params["W%d" % l] = jnp.sqrt(2.0 / (n_in + n_out)).astype(jnp.float32) * jax.random.normal(keys[l - 1], (n_in, n_out))
        params["b%d" % l] = jnp.zeros(n_out)
    return params
'''),
    # the training loop, written other ways that follow the documented loop exactly
    "model_epoch_as_lax_scan": ("model", '''
def model(key, X_train, Y_train, X_test, Y_test, learning_rate=0.001, num_epochs=40,
          minibatch_size=32, print_cost=True):
    X_train = jnp.asarray(X_train, jnp.float32)
    Y_train = jnp.asarray(Y_train, jnp.float32)
    m, n_x = X_train.shape
    init_key, shuffle_key = jax.random.split(key)
    parameters = initialize_parameters(init_key, [n_x, 25, 12, Y_train.shape[1]])
    optimizer = jaxdl.optim.adam(learning_rate)
    opt_state = optimizer.init(parameters)
    full, rest = divmod(m, minibatch_size)

    def step(carry, batch):
        parameters, opt_state = carry
        X_batch, Y_batch = batch
        loss, grads = jax.value_and_grad(
            lambda p: compute_total_loss(forward_propagation(X_batch, p), Y_batch))(parameters)
        updates, opt_state = optimizer.update(grads, opt_state, parameters)
        return (jaxdl.optim.apply_updates(parameters, updates), opt_state), loss

    @jax.jit
    def epoch(parameters, opt_state, epoch_key):
        perm = jaxdl.data.permutation(epoch_key, m)   # the order random_minibatches uses
        X, Y = X_train[perm], Y_train[perm]
        n = full * minibatch_size
        batches = (X[:n].reshape(full, minibatch_size, n_x), Y[:n].reshape(full, minibatch_size, -1))
        (parameters, opt_state), losses = jax.lax.scan(step, (parameters, opt_state), batches)
        total = jnp.sum(losses)
        if rest:
            (parameters, opt_state), loss = step((parameters, opt_state), (X[n:], Y[n:]))
            total = total + loss
        return parameters, opt_state, total

    costs = []
    for e in range(num_epochs):
        parameters, opt_state, total = epoch(parameters, opt_state, jax.random.fold_in(shuffle_key, e))
        costs.append(float(total) / m)
    return parameters, costs
'''),
    "model_adam_by_hand_python_floats": ("model", '''
def model(key, X_train, Y_train, X_test, Y_test, learning_rate=0.001, num_epochs=40,
          minibatch_size=32, print_cost=True):
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    m = X_train.shape[0]
    init_key, shuffle_key = jax.random.split(key)
    parameters = initialize_parameters(init_key, [X_train.shape[1], 25, 12, Y_train.shape[1]])
    v = {k: jnp.zeros_like(p) for k, p in parameters.items()}
    s = {k: jnp.zeros_like(p) for k, p in parameters.items()}

    @jax.jit
    def train_step(parameters, v, s, t, X_batch, Y_batch):
        loss, grads = jax.value_and_grad(
            lambda p: compute_total_loss(forward_propagation(X_batch, p), Y_batch))(parameters)
        new = {}
        for k in parameters:
            v[k] = beta1 * v[k] + (1 - beta1) * grads[k]
            s[k] = beta2 * s[k] + (1 - beta2) * grads[k] ** 2
            v_hat = v[k] / (1 - beta1 ** t)
            s_hat = s[k] / (1 - beta2 ** t)
            new[k] = parameters[k] - learning_rate * v_hat / (jnp.sqrt(s_hat) + eps)
        return new, v, s, loss

    costs, t = [], 0
    for e in range(num_epochs):
        total = 0.0
        for X_batch, Y_batch in jaxdl.data.random_minibatches(jax.random.fold_in(shuffle_key, e),
                                                              jnp.asarray(X_train), jnp.asarray(Y_train),
                                                              minibatch_size):
            t += 1
            parameters, v, s, loss = train_step(parameters, dict(v), dict(s), jnp.float32(t), X_batch, Y_batch)
            total += float(loss)
        costs.append(total / m)
    return parameters, costs
'''),
}
