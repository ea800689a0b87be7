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
}
