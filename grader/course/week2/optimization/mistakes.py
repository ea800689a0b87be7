"""Typical wrong implementations for week2/optimization (from the course forums).

``MISTAKES[slug]`` is one known mistake, stated once: the graded function it
breaks, its wrong source (a complete ``def`` that, substituted for that function in
``solution.py``, must zero that part only) and ``message``, the feedback the grader gives
when it recognises it (how it recognises it is in ``assignment.py``, by slug). The sources
use only the solution's globals."""

from __future__ import annotations

from grader.spec import Mistake

MISTAKES = {
    # --- update_parameters_with_gd --------------------------------------------
    "gd_adds_gradient": Mistake(
        "update_parameters_with_gd",
        '''
def update_parameters_with_gd(parameters, grads, learning_rate):
    L = len(parameters) // 2
    new_parameters = {}
    for l in range(1, L + 1):
        new_parameters[f"W{l}"] = parameters[f"W{l}"] + learning_rate * grads[f"dW{l}"]
        new_parameters[f"b{l}"] = parameters[f"b{l}"] + learning_rate * grads[f"db{l}"]
    return new_parameters
''',
        'the step adds the gradient: use W - learning_rate * dW.',
    ),
    # --- random_mini_batches --------------------------------------------------
    "minibatches_drop_last": Mistake(
        "random_mini_batches",
        '''
def random_mini_batches(key, X, Y, mini_batch_size=64):
    X = jnp.asarray(X)
    Y = jnp.asarray(Y)
    m = X.shape[0]
    perm = jax.random.permutation(key, m)
    shuffled_X, shuffled_Y = X[perm], Y[perm]
    mini_batches = []
    for k in range(m // mini_batch_size):
        start, stop = k * mini_batch_size, (k + 1) * mini_batch_size
        mini_batches.append((shuffled_X[start:stop], shuffled_Y[start:stop]))
    return mini_batches
''',
        'the last, smaller mini-batch (m % mini_batch_size examples) is missing.',
    ),
    "minibatches_two_permutations": Mistake(
        "random_mini_batches",
        '''
def random_mini_batches(key, X, Y, mini_batch_size=64):
    X = jnp.asarray(X)
    Y = jnp.asarray(Y)
    m = X.shape[0]
    key_X, key_Y = jax.random.split(key)
    shuffled_X = X[jax.random.permutation(key_X, m)]
    shuffled_Y = Y[jax.random.permutation(key_Y, m)]
    mini_batches = []
    num_complete = m // mini_batch_size
    for k in range(num_complete):
        start, stop = k * mini_batch_size, (k + 1) * mini_batch_size
        mini_batches.append((shuffled_X[start:stop], shuffled_Y[start:stop]))
    if m % mini_batch_size != 0:
        start = num_complete * mini_batch_size
        mini_batches.append((shuffled_X[start:], shuffled_Y[start:]))
    return mini_batches
''',
        'X and Y are shuffled with different permutations, so examples lose their labels: index both with one perm = jax.random.permutation(key, m).',
    ),
    # --- initialize_velocity --------------------------------------------------
    "velocity_parameter_keys": Mistake(
        "initialize_velocity",
        '''
def initialize_velocity(parameters):
    return {name: jnp.zeros_like(value) for name, value in parameters.items()}
''',
        "the velocity is keyed like the parameters (W1, b1); use the gradients' keys (dW1, db1).",
    ),
    # --- update_parameters_with_momentum --------------------------------------
    "momentum_without_one_minus_beta": Mistake(
        "update_parameters_with_momentum",
        '''
def update_parameters_with_momentum(parameters, grads, v, beta, learning_rate):
    L = len(parameters) // 2
    new_parameters, new_v = {}, {}
    for l in range(1, L + 1):
        for p in ("W", "b"):
            d = f"d{p}{l}"
            new_v[d] = beta * v[d] + grads[d]
            new_parameters[f"{p}{l}"] = parameters[f"{p}{l}"] - learning_rate * new_v[d]
    return new_parameters, new_v
''',
        'the update looks like momentum without the (1 - beta) factor: v = beta * v + (1 - beta) * dW.',
    ),
    # --- initialize_rmsprop ---------------------------------------------------
    "rmsprop_float64_numpy_state": Mistake(
        "initialize_rmsprop",
        '''
def initialize_rmsprop(parameters):
    L = len(parameters) // 2
    s = {}
    for l in range(1, L + 1):
        s[f"dW{l}"] = np.zeros(parameters[f"W{l}"].shape)
        s[f"db{l}"] = np.zeros(parameters[f"b{l}"].shape)
    return s
''',
        'the state is float64 (np.zeros); use float32 JAX arrays (jnp.zeros_like).',
    ),
    # --- update_parameters_with_rmsprop ---------------------------------------
    "rmsprop_divides_by_s": Mistake(
        "update_parameters_with_rmsprop",
        '''
def update_parameters_with_rmsprop(parameters, grads, s, beta=0.9, learning_rate=0.01, epsilon=1e-8):
    L = len(parameters) // 2
    new_parameters, new_s = {}, {}
    for l in range(1, L + 1):
        for p in ("W", "b"):
            d = f"d{p}{l}"
            new_s[d] = beta * s[d] + (1 - beta) * jnp.square(grads[d])
            new_parameters[f"{p}{l}"] = parameters[f"{p}{l}"] - learning_rate * grads[d] / (new_s[d] + epsilon)
    return new_parameters, new_s
''',
        'RMSProp divides by s instead of sqrt(s): use dW / (sqrt(s) + epsilon).',
    ),
    "rmsprop_old_s": Mistake(
        "update_parameters_with_rmsprop",
        '''
def update_parameters_with_rmsprop(parameters, grads, s, beta=0.9, learning_rate=0.01, epsilon=1e-8):
    L = len(parameters) // 2
    new_parameters, new_s = {}, {}
    for l in range(1, L + 1):
        for p in ("W", "b"):
            d = f"d{p}{l}"
            new_parameters[f"{p}{l}"] = parameters[f"{p}{l}"] - learning_rate * grads[d] / (jnp.sqrt(s[d]) + epsilon)
            new_s[d] = beta * s[d] + (1 - beta) * jnp.square(grads[d])
    return new_parameters, new_s
''',
        'the step divides by the old s: update s first, then divide by the square root of the new s.',
    ),
    # --- initialize_adam ------------------------------------------------------
    "adam_init_parameter_keys": Mistake(
        "initialize_adam",
        '''
def initialize_adam(parameters):
    v = {name: jnp.zeros_like(value) for name, value in parameters.items()}
    s = {name: jnp.zeros_like(value) for name, value in parameters.items()}
    return v, s
''',
        "v and s are keyed like the parameters (W1, b1); use the gradients' keys (dW1, db1).",
    ),
    # --- update_parameters_with_adam ------------------------------------------
    "adam_without_bias_correction": Mistake(
        "update_parameters_with_adam",
        '''
def update_parameters_with_adam(parameters, grads, v, s, t, learning_rate=0.01,
                                beta1=0.9, beta2=0.999, epsilon=1e-8):
    L = len(parameters) // 2
    new_parameters, new_v, new_s, v_corrected, s_corrected = {}, {}, {}, {}, {}
    for l in range(1, L + 1):
        for p in ("W", "b"):
            d = f"d{p}{l}"
            new_v[d] = beta1 * v[d] + (1 - beta1) * grads[d]
            v_corrected[d] = new_v[d]
            new_s[d] = beta2 * s[d] + (1 - beta2) * jnp.square(grads[d])
            s_corrected[d] = new_s[d]
            new_parameters[f"{p}{l}"] = parameters[f"{p}{l}"] - learning_rate * v_corrected[d] / (
                jnp.sqrt(s_corrected[d]) + epsilon)
    return new_parameters, new_v, new_s, v_corrected, s_corrected
''',
        'Adam without bias correction: divide v by (1 - beta1**t) and s by (1 - beta2**t).',
    ),
    "adam_t_from_zero": Mistake(
        "update_parameters_with_adam",
        '''
def update_parameters_with_adam(parameters, grads, v, s, t, learning_rate=0.01,
                                beta1=0.9, beta2=0.999, epsilon=1e-8):
    L = len(parameters) // 2
    step = jnp.asarray(t, jnp.float32) - 1  # "steps taken before this one"
    new_parameters, new_v, new_s, v_corrected, s_corrected = {}, {}, {}, {}, {}
    for l in range(1, L + 1):
        for p in ("W", "b"):
            d = f"d{p}{l}"
            new_v[d] = beta1 * v[d] + (1 - beta1) * grads[d]
            v_corrected[d] = new_v[d] / (1 - beta1**step)
            new_s[d] = beta2 * s[d] + (1 - beta2) * jnp.square(grads[d])
            s_corrected[d] = new_s[d] / (1 - beta2**step)
            new_parameters[f"{p}{l}"] = parameters[f"{p}{l}"] - learning_rate * v_corrected[d] / (
                jnp.sqrt(s_corrected[d]) + epsilon)
    return new_parameters, new_v, new_s, v_corrected, s_corrected
''',
        'the bias correction counts from t - 1; t is 1 at the first step (1 - beta**t, not beta**(t-1)).',
    ),
    "adam_epsilon_inside_sqrt": Mistake(
        "update_parameters_with_adam",
        '''
def update_parameters_with_adam(parameters, grads, v, s, t, learning_rate=0.01,
                                beta1=0.9, beta2=0.999, epsilon=1e-8):
    L = len(parameters) // 2
    t = jnp.asarray(t, jnp.float32)
    new_parameters, new_v, new_s, v_corrected, s_corrected = {}, {}, {}, {}, {}
    for l in range(1, L + 1):
        for p in ("W", "b"):
            d = f"d{p}{l}"
            new_v[d] = beta1 * v[d] + (1 - beta1) * grads[d]
            v_corrected[d] = new_v[d] / (1 - beta1**t)
            new_s[d] = beta2 * s[d] + (1 - beta2) * jnp.square(grads[d])
            s_corrected[d] = new_s[d] / (1 - beta2**t)
            new_parameters[f"{p}{l}"] = parameters[f"{p}{l}"] - learning_rate * v_corrected[d] / jnp.sqrt(
                s_corrected[d] + epsilon)
    return new_parameters, new_v, new_s, v_corrected, s_corrected
''',
        'epsilon is inside the square root: use v_corrected / (sqrt(s_corrected) + epsilon).',
    ),
    # --- update_lr ------------------------------------------------------------
    "update_lr_multiplies": Mistake(
        "update_lr",
        '''
def update_lr(learning_rate0, epoch_num, decay_rate):
    learning_rate = learning_rate0 * (1 + decay_rate * epoch_num)
    return learning_rate
''',
        'the rate is multiplied by (1 + decay_rate * epoch_num) instead of divided by it.',
    ),
    # --- schedule_lr_decay ----------------------------------------------------
    "schedule_without_floor": Mistake(
        "schedule_lr_decay",
        '''
def schedule_lr_decay(learning_rate0, epoch_num, decay_rate, time_interval=1000):
    learning_rate = learning_rate0 / (1 + decay_rate * epoch_num / time_interval)
    return learning_rate
''',
        'the schedule has no floor: use floor(epoch_num / time_interval), so the rate only drops every time_interval epochs.',
    ),
}
