"""Typical wrong implementations for week3/jax_intro (from the course forums, JAX-ified).

``MISTAKES[slug]`` is one known mistake, stated once: the graded function it
breaks, its wrong source (a complete ``def`` that, substituted for that function in
``solution.py``, must zero that part only) and ``message``, the feedback the grader gives
when it recognises it (how it recognises it is in ``assignment.py``, by slug). The sources
use only the solution's globals."""

from __future__ import annotations

from grader.spec import Mistake
from grader.training_replay import SLOW_LOOP

# What the time limit shows, and only it (the numbers are right): the same message for every way
# of getting there, since the time alone cannot tell them apart. Also the part's timeout hint.
SLOW_STEP = SLOW_LOOP

MISTAKES = {
    # --- linear_function ------------------------------------------------------
    "linear_function_one_key": Mistake(
        "linear_function",
        '''
def linear_function(key):
    X = jax.random.normal(key, (1, 3), jnp.float32)
    W = jax.random.normal(key, (3, 4), jnp.float32)
    b = jax.random.normal(key, (4,), jnp.float32)
    return jnp.matmul(X, W) + b[None, :]
''',
        'X, W and b look drawn from one key: split it, key_X, key_W, key_b = jax.random.split(key, 3).',
    ),
    # --- sigmoid --------------------------------------------------------------
    "sigmoid_without_cast": Mistake(
        "sigmoid",
        '''
def sigmoid(z):
    return jax.nn.sigmoid(jnp.asarray(z))
''',
        'integer input must give a float32 result: convert with jnp.asarray(z, jnp.float32) first.',
    ),
    # --- one_hot_matrix -------------------------------------------------------
    "one_hot_wrong_axis": Mistake(
        "one_hot_matrix",
        '''
def one_hot_matrix(labels, C):
    return jax.nn.one_hot(jnp.asarray(labels), C, dtype=jnp.float32, axis=0)
''',
        'the one-hot matrix is (C, m), classes along the first axis; batch-first it is (m, C).',
    ),
    # --- initialize_parameters ------------------------------------------------
    "initialize_truncated_glorot": Mistake(
        "initialize_parameters",
        '''
def initialize_parameters(key, layers_dims):
    L = len(layers_dims) - 1
    keys = jax.random.split(key, L)
    initializer = jax.nn.initializers.glorot_normal()
    parameters = {}
    for l in range(1, L + 1):
        shape = (layers_dims[l - 1], layers_dims[l])
        parameters[f"W{l}"] = initializer(keys[l - 1], shape, jnp.float32)
        parameters[f"b{l}"] = jnp.zeros((layers_dims[l],), jnp.float32)
    return parameters
''',
        'the weights look like jax.nn.initializers.glorot_normal, a truncated normal; the assignment asks for a plain normal * sqrt(2 / (n_in + n_out)).',
    ),
    "initialize_one_key_for_all_layers": Mistake(
        "initialize_parameters",
        '''
def initialize_parameters(key, layers_dims):
    L = len(layers_dims) - 1
    parameters = {}
    for l in range(1, L + 1):
        n_in, n_out = layers_dims[l - 1], layers_dims[l]
        parameters[f"W{l}"] = jax.random.normal(key, (n_in, n_out), jnp.float32) * math.sqrt(2.0 / (n_in + n_out))
        parameters[f"b{l}"] = jnp.zeros((n_out,), jnp.float32)
    return parameters
''',
        'every layer draws from the same key: keys = jax.random.split(key, L), layer l uses keys[l - 1].',
    ),
    # --- forward_propagation --------------------------------------------------
    "forward_relu_on_logits": Mistake(
        "forward_propagation",
        '''
def forward_propagation(X, parameters):
    L = len(parameters) // 2
    A = X
    for l in range(1, L + 1):
        A = jax.nn.relu(jnp.matmul(A, parameters[f"W{l}"]) + parameters[f"b{l}"][None, :])
    return A
''',
        'a ReLU is applied to the last layer too: the logits Z_L must stay linear.',
    ),
    # --- compute_total_loss ---------------------------------------------------
    "loss_softmax_before_loss": Mistake(
        "compute_total_loss",
        '''
def compute_total_loss(logits, labels):
    probabilities = jax.nn.softmax(logits, axis=-1)
    return jnp.sum(-jnp.sum(labels * jax.nn.log_softmax(probabilities, axis=-1), axis=-1))
''',
        'softmax is applied before a from-logits loss (softmax twice): pass the raw logits.',
    ),
    "loss_without_max_shift": Mistake(
        "compute_total_loss",
        '''
def compute_total_loss(logits, labels):
    exps = jnp.exp(logits)
    probabilities = exps / jnp.sum(exps, axis=-1, keepdims=True)
    return -jnp.sum(labels * jnp.log(probabilities))
''',
        'the loss overflows (inf or nan) for large logits: take the log-softmax stably, logits - max - log(sum(exp(logits - max))) or jax.nn.log_softmax, not log(exp(z) / sum(exp(z))) or log(softmax(z)).',
    ),
    "loss_mean_not_sum": Mistake(
        "compute_total_loss",
        '''
def compute_total_loss(logits, labels):
    return jnp.mean(-jnp.sum(labels * jax.nn.log_softmax(logits, axis=-1), axis=-1))
''',
        'the loss is averaged over the batch; return the sum over the batch.',
    ),
    # --- model ----------------------------------------------------------------
    "model_mutates_parameters": Mistake(
        "model",
        '''
def model(key, X_train, Y_train, X_test, Y_test, learning_rate=0.001, num_epochs=40,
          minibatch_size=32, print_cost=True):
    X_train = jnp.asarray(X_train, jnp.float32)
    Y_train = jnp.asarray(Y_train, jnp.float32)
    m, n_x = X_train.shape
    layers_dims = [n_x, 25, 12, Y_train.shape[1]]
    costs = []
    init_key, shuffle_key = jax.random.split(key)
    parameters = initialize_parameters(init_key, layers_dims)
    optimizer = jaxdl.optim.adam(learning_rate)
    opt_state = optimizer.init(parameters)

    def loss_fn(parameters, X, Y):
        return compute_total_loss(forward_propagation(X, parameters), Y)

    @jax.jit
    def train_step(parameters, opt_state, X_batch, Y_batch):
        loss, grads = jax.value_and_grad(loss_fn)(parameters, X_batch, Y_batch)
        updates, opt_state = optimizer.update(grads, opt_state, parameters)
        for name in parameters:  # like W.assign_sub(...) in TensorFlow
            parameters[name] = parameters[name] + updates[name]
        return opt_state, loss

    for epoch in range(num_epochs):
        epoch_key = jax.random.fold_in(shuffle_key, epoch)
        epoch_total_loss = jnp.zeros((), jnp.float32)
        for X_batch, Y_batch in jaxdl.data.random_minibatches(epoch_key, X_train, Y_train, minibatch_size):
            opt_state, loss = train_step(parameters, opt_state, X_batch, Y_batch)
            epoch_total_loss = epoch_total_loss + loss
        costs.append(float(epoch_total_loss) / m)
    return parameters, costs
''',
        "the returned parameters are the initial ones: a jitted function's changes to its inputs never reach the caller; return the new parameters from the step.",
    ),
    "model_rejits_every_epoch": Mistake(
        "model",
        '''
def model(key, X_train, Y_train, X_test, Y_test, learning_rate=0.001, num_epochs=40,
          minibatch_size=32, print_cost=True):
    X_train = jnp.asarray(X_train, jnp.float32)
    Y_train = jnp.asarray(Y_train, jnp.float32)
    m, n_x = X_train.shape
    layers_dims = [n_x, 25, 12, Y_train.shape[1]]
    costs = []
    init_key, shuffle_key = jax.random.split(key)
    parameters = initialize_parameters(init_key, layers_dims)
    optimizer = jaxdl.optim.adam(learning_rate)
    opt_state = optimizer.init(parameters)

    def loss_fn(parameters, X, Y):
        return compute_total_loss(forward_propagation(X, parameters), Y)

    for epoch in range(num_epochs):
        @jax.jit
        def train_step(parameters, opt_state, X_batch, Y_batch):
            loss, grads = jax.value_and_grad(loss_fn)(parameters, X_batch, Y_batch)
            updates, opt_state = optimizer.update(grads, opt_state, parameters)
            return jaxdl.optim.apply_updates(parameters, updates), opt_state, loss

        epoch_key = jax.random.fold_in(shuffle_key, epoch)
        epoch_total_loss = jnp.zeros((), jnp.float32)
        for X_batch, Y_batch in jaxdl.data.random_minibatches(epoch_key, X_train, Y_train, minibatch_size):
            parameters, opt_state, loss = train_step(parameters, opt_state, X_batch, Y_batch)
            epoch_total_loss = epoch_total_loss + loss
        costs.append(float(epoch_total_loss) / m)
    return parameters, costs
''',
        SLOW_STEP,
    ),
    "model_without_jit": Mistake(
        "model",
        '''
def model(key, X_train, Y_train, X_test, Y_test, learning_rate=0.001, num_epochs=40,
          minibatch_size=32, print_cost=True):
    X_train = jnp.asarray(X_train, jnp.float32)
    Y_train = jnp.asarray(Y_train, jnp.float32)
    m, n_x = X_train.shape
    layers_dims = [n_x, 25, 12, Y_train.shape[1]]
    costs = []
    init_key, shuffle_key = jax.random.split(key)
    parameters = initialize_parameters(init_key, layers_dims)
    optimizer = jaxdl.optim.adam(learning_rate)
    opt_state = optimizer.init(parameters)

    def loss_fn(parameters, X, Y):
        return compute_total_loss(forward_propagation(X, parameters), Y)

    def train_step(parameters, opt_state, X_batch, Y_batch):
        loss, grads = jax.value_and_grad(loss_fn)(parameters, X_batch, Y_batch)
        updates, opt_state = optimizer.update(grads, opt_state, parameters)
        return jaxdl.optim.apply_updates(parameters, updates), opt_state, loss

    for epoch in range(num_epochs):
        epoch_key = jax.random.fold_in(shuffle_key, epoch)
        epoch_total_loss = jnp.zeros((), jnp.float32)
        for X_batch, Y_batch in jaxdl.data.random_minibatches(epoch_key, X_train, Y_train, minibatch_size):
            parameters, opt_state, loss = train_step(parameters, opt_state, X_batch, Y_batch)
            epoch_total_loss = epoch_total_loss + loss
        costs.append(float(epoch_total_loss) / m)
    return parameters, costs
''',
        SLOW_STEP,
    ),
    "model_optimizer_state_not_carried": Mistake(
        "model",
        '''
def model(key, X_train, Y_train, X_test, Y_test, learning_rate=0.001, num_epochs=40,
          minibatch_size=32, print_cost=True):
    X_train = jnp.asarray(X_train, jnp.float32)
    Y_train = jnp.asarray(Y_train, jnp.float32)
    m, n_x = X_train.shape
    layers_dims = [n_x, 25, 12, Y_train.shape[1]]
    costs = []
    init_key, shuffle_key = jax.random.split(key)
    parameters = initialize_parameters(init_key, layers_dims)
    optimizer = jaxdl.optim.adam(learning_rate)
    opt_state = optimizer.init(parameters)

    def loss_fn(parameters, X, Y):
        return compute_total_loss(forward_propagation(X, parameters), Y)

    @jax.jit
    def train_step(parameters, opt_state, X_batch, Y_batch):
        loss, grads = jax.value_and_grad(loss_fn)(parameters, X_batch, Y_batch)
        updates, opt_state = optimizer.update(grads, opt_state, parameters)
        return jaxdl.optim.apply_updates(parameters, updates), opt_state, loss

    for epoch in range(num_epochs):
        epoch_key = jax.random.fold_in(shuffle_key, epoch)
        epoch_total_loss = jnp.zeros((), jnp.float32)
        for X_batch, Y_batch in jaxdl.data.random_minibatches(epoch_key, X_train, Y_train, minibatch_size):
            parameters, _, loss = train_step(parameters, opt_state, X_batch, Y_batch)
            epoch_total_loss = epoch_total_loss + loss
        costs.append(float(epoch_total_loss) / m)
    return parameters, costs
''',
        "the optimizer state is not carried from one step to the next: pass the opt_state that optimizer.update returns to the next step (Adam's moments and step count).",
    ),
    "model_same_shuffle_every_epoch": Mistake(
        "model",
        '''
def model(key, X_train, Y_train, X_test, Y_test, learning_rate=0.001, num_epochs=40,
          minibatch_size=32, print_cost=True):
    X_train = jnp.asarray(X_train, jnp.float32)
    Y_train = jnp.asarray(Y_train, jnp.float32)
    m, n_x = X_train.shape
    layers_dims = [n_x, 25, 12, Y_train.shape[1]]
    costs = []
    init_key, shuffle_key = jax.random.split(key)
    parameters = initialize_parameters(init_key, layers_dims)
    optimizer = jaxdl.optim.adam(learning_rate)
    opt_state = optimizer.init(parameters)

    def loss_fn(parameters, X, Y):
        return compute_total_loss(forward_propagation(X, parameters), Y)

    @jax.jit
    def train_step(parameters, opt_state, X_batch, Y_batch):
        loss, grads = jax.value_and_grad(loss_fn)(parameters, X_batch, Y_batch)
        updates, opt_state = optimizer.update(grads, opt_state, parameters)
        return jaxdl.optim.apply_updates(parameters, updates), opt_state, loss

    for epoch in range(num_epochs):
        epoch_total_loss = jnp.zeros((), jnp.float32)
        for X_batch, Y_batch in jaxdl.data.random_minibatches(shuffle_key, X_train, Y_train, minibatch_size):
            parameters, opt_state, loss = train_step(parameters, opt_state, X_batch, Y_batch)
            epoch_total_loss = epoch_total_loss + loss
        costs.append(float(epoch_total_loss) / m)
    return parameters, costs
''',
        "the same shuffle every epoch: epoch e draws its mini-batches with jax.random.fold_in(shuffle_key, e).",
    ),
    "model_cost_per_minibatch": Mistake(
        "model",
        '''
def model(key, X_train, Y_train, X_test, Y_test, learning_rate=0.001, num_epochs=40,
          minibatch_size=32, print_cost=True):
    X_train = jnp.asarray(X_train, jnp.float32)
    Y_train = jnp.asarray(Y_train, jnp.float32)
    m, n_x = X_train.shape
    layers_dims = [n_x, 25, 12, Y_train.shape[1]]
    costs = []
    init_key, shuffle_key = jax.random.split(key)
    parameters = initialize_parameters(init_key, layers_dims)
    optimizer = jaxdl.optim.adam(learning_rate)
    opt_state = optimizer.init(parameters)

    def loss_fn(parameters, X, Y):
        return compute_total_loss(forward_propagation(X, parameters), Y)

    @jax.jit
    def train_step(parameters, opt_state, X_batch, Y_batch):
        loss, grads = jax.value_and_grad(loss_fn)(parameters, X_batch, Y_batch)
        updates, opt_state = optimizer.update(grads, opt_state, parameters)
        return jaxdl.optim.apply_updates(parameters, updates), opt_state, loss

    for epoch in range(num_epochs):
        epoch_key = jax.random.fold_in(shuffle_key, epoch)
        batches = jaxdl.data.random_minibatches(epoch_key, X_train, Y_train, minibatch_size)
        epoch_cost = 0.0
        for X_batch, Y_batch in batches:
            parameters, opt_state, loss = train_step(parameters, opt_state, X_batch, Y_batch)
            epoch_cost += float(loss) / X_batch.shape[0]
        costs.append(epoch_cost / len(batches))
    return parameters, costs
''',
        "the cost averaged per mini-batch instead of per example: costs[e] is the sum of epoch e's batch losses divided by m (the last mini-batch is smaller).",
    ),
}
