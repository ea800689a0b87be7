"""Typical wrong implementations for week3/hyperparameter_tuning (course forums, JAX-ified).

``MISTAKES[slug] = (function_name, source, description)``: ``source`` is the complete
definition of one graded function, written the wrong way; substituting it for that function
in the reference solution (``tests/solutions/week3/hyperparameter_tuning.py``) must zero that
part only, and the grader's feedback should name ``description``.

Notes for the grader's cases:

- ``train_many_python_loop`` returns the reference numbers; only time shows it. It jits a new
  training function per learning rate, so 64 learning rates cost 64 compilations (about
  0.3 s each on one CPU core, ~20 s) against one (~1 s) for the vmapped reference. A Python
  loop over *one* jitted function taking the learning rate as an argument is as fast as the
  vmap on CPU and cannot be told apart by time. Deterministically, the loop runs
  ``compute_cost``'s Python body twice per learning rate; the reference twice in all.
- ``random_search_best_by_train_cost`` agrees with the reference whenever the lowest training
  cost also has the best dev accuracy (common on the moons). A dev set with flipped labels
  (``Y_dev = 1 - y``) separates them for every seed.
- The sampler mistakes propagate into ``random_search`` and ``coarse_to_fine`` (they call the
  student's samplers): judge those parts by consistency (each trial replayed from its own
  learning rate and beta, the best being the table's first dev-accuracy maximum, the ranges of
  round r + 1 following from the best of rounds <= r), not by the sampled values.
"""

from __future__ import annotations

MISTAKES = {
    "lr_linear_scale": (
        "sample_learning_rates",
        '''
def sample_learning_rates(key, n, low=1e-4, high=1.0):
    return jax.random.uniform(key, (n,), jnp.float32, minval=low, maxval=high)
''',
        "the learning rate is sampled uniformly on a linear scale (90% of the samples in the top "
        "decade); sample the exponent r uniformly and return 10 ** r",
    ),
    "beta_log_scale_on_beta": (
        "sample_betas",
        '''
def sample_betas(key, n, low=0.9, high=0.999):
    r = jax.random.uniform(key, (n,), jnp.float32, minval=math.log10(low), maxval=math.log10(high))
    return 10.0 ** r
''',
        "beta itself is sampled on a log scale (almost linear on [0.9, 0.999]); sample 1 - beta "
        "on a log scale: beta = 1 - 10 ** r",
    ),
    "beta_linear_scale": (
        "sample_betas",
        '''
def sample_betas(key, n, low=0.9, high=0.999):
    return jax.random.uniform(key, (n,), jnp.float32, minval=low, maxval=high)
''',
        "beta is sampled uniformly on a linear scale; sample 1 - beta on a log scale: "
        "beta = 1 - 10 ** r",
    ),
    "train_many_python_loop": (
        "train_many",
        '''
def train_many(key, learning_rates, X, Y, betas=None, num_steps=300):
    learning_rates = jnp.asarray(learning_rates, jnp.float32)
    X = jnp.asarray(X, jnp.float32)
    Y = jnp.asarray(Y, jnp.float32)
    if betas is None:
        betas = jnp.full(learning_rates.shape, 0.9, jnp.float32)
    betas = jnp.asarray(betas, jnp.float32)
    n_x = X.shape[1]
    initial = jaxdl.init.init_mlp(key, [n_x, *LAYERS_HIDDEN, 1], method="he")
    costs, finals = [], []
    for i in range(learning_rates.shape[0]):
        optimizer = jaxdl.optim.momentum(learning_rates[i], betas[i])

        @jax.jit
        def train_one(parameters):
            def step(carry, _):
                parameters, opt_state = carry
                grads = jax.grad(compute_cost)(parameters, X, Y)
                updates, opt_state = optimizer.update(grads, opt_state, parameters)
                return (jaxdl.optim.apply_updates(parameters, updates), opt_state), None

            (parameters, _), _ = jax.lax.scan(step, (parameters, optimizer.init(parameters)), None,
                                              length=num_steps)
            return compute_cost(parameters, X, Y), parameters

        cost, final = train_one(initial)
        costs.append(cost)
        finals.append(final)
    return jnp.stack(costs), jax.tree.map(lambda *leaves: jnp.stack(leaves), *finals)
''',
        "a Python loop jits and compiles one training per learning rate; vmap one model's "
        "training over the learning rates inside a single jax.jit",
    ),
    "train_many_init_per_trial": (
        "train_many",
        '''
def train_many(key, learning_rates, X, Y, betas=None, num_steps=300):
    learning_rates = jnp.asarray(learning_rates, jnp.float32)
    X = jnp.asarray(X, jnp.float32)
    Y = jnp.asarray(Y, jnp.float32)
    if betas is None:
        betas = jnp.full(learning_rates.shape, 0.9, jnp.float32)
    betas = jnp.asarray(betas, jnp.float32)
    n_x = X.shape[1]
    keys = jax.random.split(key, learning_rates.shape[0])

    def train_one(learning_rate, beta, key, X, Y):
        parameters = jaxdl.init.init_mlp(key, [n_x, *LAYERS_HIDDEN, 1], method="he")
        optimizer = jaxdl.optim.momentum(learning_rate, beta)

        def step(carry, _):
            parameters, opt_state = carry
            grads = jax.grad(compute_cost)(parameters, X, Y)
            updates, opt_state = optimizer.update(grads, opt_state, parameters)
            return (jaxdl.optim.apply_updates(parameters, updates), opt_state), None

        (parameters, _), _ = jax.lax.scan(step, (parameters, optimizer.init(parameters)), None, length=num_steps)
        return compute_cost(parameters, X, Y), parameters

    return jax.jit(jax.vmap(train_one, in_axes=(0, 0, 0, None, None)))(learning_rates, betas, keys, X, Y)
''',
        "each trial starts from its own random initialization; every trial must start from the "
        "same parameters, init_mlp(key, ...), so that only the hyperparameters differ",
    ),
    "random_search_best_by_train_cost": (
        "random_search",
        '''
def random_search(key, X_train, Y_train, X_dev, Y_dev, num_trials, lr_range=(1e-3, 10.0),
                  beta_range=(0.9, 0.999), num_steps=300):
    key_lr, key_beta, key_init = jax.random.split(key, 3)
    learning_rates = sample_learning_rates(key_lr, num_trials, *lr_range)
    betas = sample_betas(key_beta, num_trials, *beta_range)
    costs, parameters = train_many(key_init, learning_rates, X_train, Y_train, betas=betas, num_steps=num_steps)
    X_dev = jnp.asarray(X_dev, jnp.float32)
    Y_dev = jnp.asarray(Y_dev, jnp.float32)
    dev_accuracies = jax.vmap(accuracy, in_axes=(0, None, None))(parameters, X_dev, Y_dev)
    trials = [
        {
            "learning_rate": float(learning_rates[i]),
            "beta": float(betas[i]),
            "train_cost": float(costs[i]),
            "dev_accuracy": float(dev_accuracies[i]),
        }
        for i in range(num_trials)
    ]
    best = trials[int(np.nanargmin(np.asarray(costs)))]
    return best, trials
''',
        "the best trial is chosen by its training cost; choose it by the dev-set accuracy",
    ),
    "random_search_one_key": (
        "random_search",
        '''
def random_search(key, X_train, Y_train, X_dev, Y_dev, num_trials, lr_range=(1e-3, 10.0),
                  beta_range=(0.9, 0.999), num_steps=300):
    learning_rates = sample_learning_rates(key, num_trials, *lr_range)
    betas = sample_betas(key, num_trials, *beta_range)
    costs, parameters = train_many(key, learning_rates, X_train, Y_train, betas=betas, num_steps=num_steps)
    X_dev = jnp.asarray(X_dev, jnp.float32)
    Y_dev = jnp.asarray(Y_dev, jnp.float32)
    dev_accuracies = jax.vmap(accuracy, in_axes=(0, None, None))(parameters, X_dev, Y_dev)
    trials = [
        {
            "learning_rate": float(learning_rates[i]),
            "beta": float(betas[i]),
            "train_cost": float(costs[i]),
            "dev_accuracy": float(dev_accuracies[i]),
        }
        for i in range(num_trials)
    ]
    best = trials[int(np.argmax(np.asarray(dev_accuracies)))]
    return best, trials
''',
        "the learning rates and the betas come from the same key, so they are correlated; "
        "split it: key_lr, key_beta, key_init = jax.random.split(key, 3)",
    ),
    "coarse_to_fine_no_zoom": (
        "coarse_to_fine",
        '''
def coarse_to_fine(key, X_train, Y_train, X_dev, Y_dev, num_trials, num_rounds=2, lr_range=(1e-3, 10.0),
                   beta_range=(0.9, 0.999), num_steps=300):
    round_keys = jax.random.split(key, num_rounds)
    best, trials = None, []
    for r in range(num_rounds):
        _, round_trials = random_search(round_keys[r], X_train, Y_train, X_dev, Y_dev, num_trials,
                                        lr_range=lr_range, beta_range=beta_range, num_steps=num_steps)
        for trial in round_trials:
            trial = dict(trial, round=r)
            trials.append(trial)
            if best is None or trial["dev_accuracy"] > best["dev_accuracy"]:
                best = trial
    return best, trials
''',
        "every round searches the original ranges again; a finer round searches around the best "
        "trial so far, with ranges half as wide on the log scale",
    ),
}
