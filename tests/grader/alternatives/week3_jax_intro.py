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
}
