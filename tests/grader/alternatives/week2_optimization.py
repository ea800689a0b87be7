"""Correct alternative formulations for ``week2/optimization`` (``{slug: (function, source)}``)."""

ALTERNATIVES = {
    "gd_tree_map": ("update_parameters_with_gd", '''
def update_parameters_with_gd(parameters, grads, learning_rate):
    return {k: p - learning_rate * grads["d" + k] for k, p in parameters.items()}
'''),
    "momentum_ema_increment": ("update_parameters_with_momentum", '''
def update_parameters_with_momentum(parameters, grads, v, beta, learning_rate):
    new_v = {d: v[d] + (1 - beta) * (grads[d] - v[d]) for d in v}
    return {k: parameters[k] - learning_rate * new_v["d" + k] for k in parameters}, new_v
'''),
    "rmsprop_rsqrt_order": ("update_parameters_with_rmsprop", '''
def update_parameters_with_rmsprop(parameters, grads, s, beta=0.9, learning_rate=0.01, epsilon=1e-8):
    new_s = {d: beta * s[d] + (1 - beta) * grads[d] * grads[d] for d in s}
    new_p = {k: parameters[k] - learning_rate * grads["d" + k] * (1.0 / (jnp.sqrt(new_s["d" + k]) + epsilon))
             for k in parameters}
    return new_p, new_s
'''),
    "adam_python_float_corrections": ("update_parameters_with_adam", '''
def update_parameters_with_adam(parameters, grads, v, s, t, learning_rate=0.01,
                                beta1=0.9, beta2=0.999, epsilon=1e-8):
    c1 = 1 - jnp.power(beta1, t)
    c2 = 1 - jnp.power(beta2, t)
    new_v = {d: beta1 * v[d] + (1 - beta1) * grads[d] for d in v}
    new_s = {d: beta2 * s[d] + (1 - beta2) * grads[d] ** 2 for d in s}
    v_c = {d: new_v[d] / c1 for d in v}
    s_c = {d: new_s[d] / c2 for d in s}
    new_p = {k: parameters[k] - learning_rate * v_c["d" + k] / (jnp.sqrt(s_c["d" + k]) + epsilon)
             for k in parameters}
    return new_p, new_v, new_s, v_c, s_c
'''),
    "update_lr_jnp": ("update_lr", '''
def update_lr(learning_rate0, epoch_num, decay_rate):
    return learning_rate0 * (1.0 / (1.0 + decay_rate * epoch_num))
'''),
    "schedule_jnp_floor": ("schedule_lr_decay", '''
def schedule_lr_decay(learning_rate0, epoch_num, decay_rate, time_interval=1000):
    return learning_rate0 / (1 + decay_rate * jnp.floor(epoch_num / time_interval))
'''),
    "mini_batches_take": ("random_mini_batches", '''
def random_mini_batches(key, X, Y, mini_batch_size=64):
    m = X.shape[0]
    perm = jax.random.permutation(key, m)
    X_s, Y_s = jnp.take(X, perm, axis=0), jnp.take(Y, perm, axis=0)
    return [(X_s[i:i + mini_batch_size], Y_s[i:i + mini_batch_size]) for i in range(0, m, mini_batch_size)]
'''),
    "velocity_tree_map": ("initialize_velocity", '''
def initialize_velocity(parameters):
    return {"d" + k: jnp.zeros(p.shape, p.dtype) for k, p in parameters.items()}
'''),
}
