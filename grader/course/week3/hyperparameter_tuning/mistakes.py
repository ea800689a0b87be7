"""Typical wrong implementations for week3/hyperparameter_tuning (course forums, JAX-ified).

``MISTAKES[slug]`` is one known mistake, stated once: the graded function it
breaks, its wrong source (a complete ``def`` that, substituted for that function in
``solution.py``, must zero that part only) and ``message``, the feedback the grader gives
when it recognises it (how it recognises it is in ``assignment.py``, by slug). The sources
use only the solution's globals."""

from __future__ import annotations

from grader.spec import Mistake

MISTAKES = {
    # --- sample_learning_rates ------------------------------------------------
    "lr_linear_scale": Mistake(
        "sample_learning_rates",
        '''
def sample_learning_rates(key, n, low=1e-4, high=1.0):
    return jax.random.uniform(key, (n,), jnp.float32, minval=low, maxval=high)
''',
        'the learning rate is sampled uniformly on a linear scale (90% of the samples in the top decade); sample the exponent r uniformly on [log10(low), log10(high)] and return 10 ** r.',
    ),
    # --- sample_betas ---------------------------------------------------------
    "beta_log_scale_on_beta": Mistake(
        "sample_betas",
        '''
def sample_betas(key, n, low=0.9, high=0.999):
    r = jax.random.uniform(key, (n,), jnp.float32, minval=math.log10(low), maxval=math.log10(high))
    return 10.0 ** r
''',
        'beta itself is sampled on a log scale (almost linear on [0.9, 0.999]); sample 1 - beta on a log scale: r uniform on [log10(1 - high), log10(1 - low)], beta = 1 - 10 ** r.',
    ),
    "beta_linear_scale": Mistake(
        "sample_betas",
        '''
def sample_betas(key, n, low=0.9, high=0.999):
    return jax.random.uniform(key, (n,), jnp.float32, minval=low, maxval=high)
''',
        'beta is sampled uniformly on a linear scale; sample 1 - beta on a log scale: r uniform on [log10(1 - high), log10(1 - low)], beta = 1 - 10 ** r.',
    ),
    # --- train_many -----------------------------------------------------------
    "train_many_python_loop": Mistake(
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
        "a Python loop that builds and jits one training per learning rate compiles 64 programs; write one model's training as a function of (learning_rate, beta) and jax.jit(jax.vmap(...)) it once.",
    ),
    "train_many_init_per_trial": Mistake(
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
        'each trial starts from its own random initialization; every trial must start from the same parameters, init_mlp(key, ...), so that only the hyperparameters differ.',
    ),
    "train_many_optimizer_state_not_carried": Mistake(
        "train_many",
        '''
def train_many(key, learning_rates, X, Y, betas=None, num_steps=300):
    learning_rates = jnp.asarray(learning_rates, jnp.float32)
    X = jnp.asarray(X, jnp.float32)
    Y = jnp.asarray(Y, jnp.float32)
    if betas is None:
        betas = jnp.full(learning_rates.shape, 0.9, jnp.float32)
    betas = jnp.asarray(betas, jnp.float32)
    initial = jaxdl.init.init_mlp(key, [X.shape[1], *LAYERS_HIDDEN, 1], method="he")

    def train_one(learning_rate, beta, parameters, X, Y):
        optimizer = jaxdl.optim.momentum(learning_rate, beta)
        opt_state = optimizer.init(parameters)

        def step(parameters, _):
            grads = jax.grad(compute_cost)(parameters, X, Y)
            updates, _ = optimizer.update(grads, opt_state, parameters)
            return jaxdl.optim.apply_updates(parameters, updates), None

        parameters, _ = jax.lax.scan(step, parameters, None, length=num_steps)
        return compute_cost(parameters, X, Y), parameters

    return jax.jit(jax.vmap(train_one, in_axes=(0, 0, None, None, None)))(learning_rates, betas, initial, X, Y)
''',
        "the optimizer state is not carried from one step to the next: the momentum v restarts at 0 every step; carry (parameters, opt_state) through the scan.",
    ),
    # --- random_search --------------------------------------------------------
    "random_search_best_by_train_cost": Mistake(
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
        'the best trial is chosen by its training cost; choose it by the dev-set accuracy (the first trial with the highest dev_accuracy).',
    ),
    "random_search_last_of_ties": Mistake(
        "random_search",
        '''
def random_search(key, X_train, Y_train, X_dev, Y_dev, num_trials, lr_range=(1e-3, 10.0),
                  beta_range=(0.9, 0.999), num_steps=300):
    key_lr, key_beta, key_init = jax.random.split(key, 3)
    learning_rates = sample_learning_rates(key_lr, num_trials, *lr_range)
    betas = sample_betas(key_beta, num_trials, *beta_range)
    costs, parameters = train_many(key_init, learning_rates, X_train, Y_train, betas=betas, num_steps=num_steps)
    dev_accuracies = jax.vmap(accuracy, in_axes=(0, None, None))(parameters, jnp.asarray(X_dev, jnp.float32),
                                                                 jnp.asarray(Y_dev, jnp.float32))
    trials = [{"learning_rate": float(learning_rates[i]), "beta": float(betas[i]), "train_cost": float(costs[i]),
               "dev_accuracy": float(dev_accuracies[i])} for i in range(num_trials)]
    best = trials[0]
    for trial in trials:
        if trial["dev_accuracy"] >= best["dev_accuracy"]:
            best = trial
    return best, trials
''',
        'on a tie in dev_accuracy the last of the tied trials is chosen; the rule is the first one (compare with >, or np.argmax, which returns the first maximum).',
    ),
    "random_search_jax_scalars": Mistake(
        "random_search",
        '''
def random_search(key, X_train, Y_train, X_dev, Y_dev, num_trials, lr_range=(1e-3, 10.0),
                  beta_range=(0.9, 0.999), num_steps=300):
    key_lr, key_beta, key_init = jax.random.split(key, 3)
    learning_rates = sample_learning_rates(key_lr, num_trials, *lr_range)
    betas = sample_betas(key_beta, num_trials, *beta_range)
    costs, parameters = train_many(key_init, learning_rates, X_train, Y_train, betas=betas, num_steps=num_steps)
    dev_accuracies = jax.vmap(accuracy, in_axes=(0, None, None))(parameters, jnp.asarray(X_dev, jnp.float32),
                                                                 jnp.asarray(Y_dev, jnp.float32))
    trials = [{"learning_rate": learning_rates[i], "beta": betas[i], "train_cost": costs[i],
               "dev_accuracy": dev_accuracies[i]} for i in range(num_trials)]
    best = trials[int(np.argmax(np.asarray(dev_accuracies)))]
    return best, trials
''',
        'the trials hold JAX scalars (0-d arrays); the docstring asks for Python floats: float(x) for each value.',
    ),
    "random_search_one_key": Mistake(
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
        'the learning rates, the betas and the initialization come from the same key, so they are correlated; split it: key_lr, key_beta, key_init = jax.random.split(key, 3).',
    ),
    # --- coarse_to_fine -------------------------------------------------------
    "coarse_to_fine_no_zoom": Mistake(
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
        'every round searches the original ranges again; each new round searches around the best trial so far, with ranges half as wide on the log scale (the rule in the docstring).',
    ),
}
