"""Correct alternative formulations for ``week3/hyperparameter_tuning`` (``{slug: (function, source)}``)."""

ALTERNATIVES = {
    "lr_exp_log": ("sample_learning_rates", '''
def sample_learning_rates(key, n, low=1e-4, high=1.0):
    r = jax.random.uniform(key, (n,), jnp.float32, minval=math.log10(low), maxval=math.log10(high))
    return jnp.power(10.0, r).astype(jnp.float32)
'''),
    "betas_power": ("sample_betas", '''
def sample_betas(key, n, low=0.9, high=0.999):
    r = jax.random.uniform(key, (n,), minval=math.log10(1 - high), maxval=math.log10(1 - low))
    return 1 - jnp.power(10.0, r)
'''),
    "search_python_loop_strict": ("random_search", '''
def random_search(key, X_train, Y_train, X_dev, Y_dev, num_trials, lr_range=(1e-3, 10.0),
                  beta_range=(0.9, 0.999), num_steps=300):
    k1, k2, k3 = jax.random.split(key, 3)
    lrs = sample_learning_rates(k1, num_trials, *lr_range)
    betas = sample_betas(k2, num_trials, *beta_range)
    costs, params = train_many(k3, lrs, X_train, Y_train, betas=betas, num_steps=num_steps)
    trials, best = [], None
    for i in range(num_trials):
        p_i = jax.tree_util.tree_map(lambda a: a[i], params)
        acc = accuracy(p_i, jnp.asarray(X_dev, jnp.float32), jnp.asarray(Y_dev, jnp.float32))
        trial = {"learning_rate": lrs[i].item(), "beta": betas[i].item(), "train_cost": costs[i].item(),
                 "dev_accuracy": acc.item()}
        trials.append(trial)
        if best is None or trial["dev_accuracy"] > best["dev_accuracy"]:
            best = trial
    return best, trials
'''),
    # the training loop, written other ways that follow the documented loop exactly
    "train_many_fori_loop": ("train_many", '''
def train_many(key, learning_rates, X, Y, betas=None, num_steps=300):
    learning_rates = jnp.asarray(learning_rates, jnp.float32)
    X = jnp.asarray(X, jnp.float32)
    Y = jnp.asarray(Y, jnp.float32)
    betas = jnp.full_like(learning_rates, 0.9) if betas is None else jnp.asarray(betas, jnp.float32)
    initial = jaxdl.init.init_mlp(key, [X.shape[1], *LAYERS_HIDDEN, 1], method="he")

    def train_one(learning_rate, beta):
        optimizer = jaxdl.optim.momentum(learning_rate, beta)

        def body(_, carry):
            parameters, opt_state = carry
            grads = jax.grad(compute_cost)(parameters, X, Y)
            updates, opt_state = optimizer.update(grads, opt_state, parameters)
            return jaxdl.optim.apply_updates(parameters, updates), opt_state

        parameters, _ = jax.lax.fori_loop(0, num_steps, body, (initial, optimizer.init(initial)))
        return compute_cost(parameters, X, Y), parameters

    return jax.jit(jax.vmap(train_one))(learning_rates, betas)
'''),
    "train_many_momentum_by_hand": ("train_many", '''
def train_many(key, learning_rates, X, Y, betas=None, num_steps=300):
    lrs = jnp.asarray(learning_rates, jnp.float32)
    X = jnp.asarray(X, jnp.float32)
    Y = jnp.asarray(Y, jnp.float32)
    betas = jnp.full(lrs.shape, 0.9, jnp.float32) if betas is None else jnp.asarray(betas, jnp.float32)
    initial = jaxdl.init.init_mlp(key, [X.shape[1], *LAYERS_HIDDEN, 1], method="he")

    @jax.jit
    def train_all(lrs, betas):
        def one(lr, beta):
            def step(carry, _):
                parameters, v = carry
                grads = jax.grad(compute_cost)(parameters, X, Y)
                v = {k: beta * v[k] + (1 - beta) * grads[k] for k in parameters}
                return ({k: parameters[k] - lr * v[k] for k in parameters}, v), None

            zeros = {k: jnp.zeros_like(p) for k, p in initial.items()}
            (parameters, _), _ = jax.lax.scan(step, (initial, zeros), None, length=num_steps)
            return compute_cost(parameters, X, Y), parameters

        return jax.vmap(one)(lrs, betas)

    return train_all(lrs, betas)
'''),
}
