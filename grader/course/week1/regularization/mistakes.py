"""Typical wrong implementations for week1/regularization (from the course forums).

``MISTAKES[slug]`` is one known mistake, stated once: the graded function it
breaks, its wrong source (a complete ``def`` that, substituted for that function in
``solution.py``, must zero that part only) and ``message``, the feedback the grader gives
when it recognises it (how it recognises it is in ``assignment.py``, by slug). The sources
use only the solution's globals."""

from __future__ import annotations

from grader.spec import Mistake

MISTAKES = {
    # --- compute_cost_with_regularization -------------------------------------
    "l2_cost_over_m": Mistake(
        "compute_cost_with_regularization",
        '''
def compute_cost_with_regularization(A3, Y, parameters, lambd):
    m = Y.shape[0]
    W1, W2, W3 = parameters["W1"], parameters["W2"], parameters["W3"]
    cross_entropy_cost = compute_cost(A3, Y)
    L2_regularization_cost = lambd / m * (jnp.sum(jnp.square(W1)) + jnp.sum(jnp.square(W2)) + jnp.sum(jnp.square(W3)))
    return cross_entropy_cost + L2_regularization_cost
''',
        'the L2 term is lambd / m * sum(W**2); it is lambd / (2 m) * sum(W**2).',
    ),
    "l2_cost_includes_biases": Mistake(
        "compute_cost_with_regularization",
        '''
def compute_cost_with_regularization(A3, Y, parameters, lambd):
    m = Y.shape[0]
    cross_entropy_cost = compute_cost(A3, Y)
    L2_regularization_cost = lambd / (2 * m) * sum(jnp.sum(jnp.square(p)) for p in parameters.values())
    return cross_entropy_cost + L2_regularization_cost
''',
        'the L2 term also sums the squared biases; only the weights W1, W2, W3 are penalized.',
    ),
    # --- backward_propagation_with_regularization -----------------------------
    "l2_gradient_missing": Mistake(
        "backward_propagation_with_regularization",
        '''
def backward_propagation_with_regularization(X, Y, cache, lambd):
    m = X.shape[0]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1.0 / m * (A2.T @ dZ3)
    db3 = 1.0 / m * jnp.sum(dZ3, axis=0)
    dA2 = dZ3 @ W3.T
    dZ2 = jnp.where(A2 > 0, dA2, 0.0)
    dW2 = 1.0 / m * (A1.T @ dZ2)
    db2 = 1.0 / m * jnp.sum(dZ2, axis=0)
    dA1 = dZ2 @ W2.T
    dZ1 = jnp.where(A1 > 0, dA1, 0.0)
    dW1 = 1.0 / m * (X.T @ dZ1)
    db1 = 1.0 / m * jnp.sum(dZ1, axis=0)
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2,
            "db2": db2, "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}
''',
        'the weight gradients miss the L2 term: add lambd / m * W to each dW.',
    ),
    "l2_gradient_not_over_m": Mistake(
        "backward_propagation_with_regularization",
        '''
def backward_propagation_with_regularization(X, Y, cache, lambd):
    m = X.shape[0]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1.0 / m * (A2.T @ dZ3) + lambd * W3
    db3 = 1.0 / m * jnp.sum(dZ3, axis=0)
    dA2 = dZ3 @ W3.T
    dZ2 = jnp.where(A2 > 0, dA2, 0.0)
    dW2 = 1.0 / m * (A1.T @ dZ2) + lambd * W2
    db2 = 1.0 / m * jnp.sum(dZ2, axis=0)
    dA1 = dZ2 @ W2.T
    dZ1 = jnp.where(A1 > 0, dA1, 0.0)
    dW1 = 1.0 / m * (X.T @ dZ1) + lambd * W1
    db1 = 1.0 / m * jnp.sum(dZ1, axis=0)
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2,
            "db2": db2, "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}
''',
        'the L2 term of the gradient is lambd * W; it is lambd / m * W.',
    ),
    # --- forward_propagation_with_dropout -------------------------------------
    "dropout_not_scaled": Mistake(
        "forward_propagation_with_dropout",
        '''
def forward_propagation_with_dropout(key, X, parameters, keep_prob=0.5):
    key1, key2 = jax.random.split(key)
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]
    Z1 = X @ W1 + b1[None, :]
    A1 = relu(Z1)

    D1 = (jax.random.uniform(key1, A1.shape, dtype=jnp.float32) < keep_prob).astype(jnp.float32)
    A1 = A1 * D1
    Z2 = A1 @ W2 + b2[None, :]
    A2 = relu(Z2)
    D2 = (jax.random.uniform(key2, A2.shape, dtype=jnp.float32) < keep_prob).astype(jnp.float32)
    A2 = A2 * D2
    Z3 = A2 @ W3 + b3[None, :]
    A3 = sigmoid(Z3)
    return A3, (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)
''',
        'the kept activations are not divided by keep_prob (inverted dropout scales them up).',
    ),
    "dropout_mask_greater": Mistake(
        "forward_propagation_with_dropout",
        '''
def forward_propagation_with_dropout(key, X, parameters, keep_prob=0.5):
    key1, key2 = jax.random.split(key)
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]
    Z1 = X @ W1 + b1[None, :]
    A1 = relu(Z1)

    D1 = (jax.random.uniform(key1, A1.shape, dtype=jnp.float32) > keep_prob).astype(jnp.float32)
    A1 = A1 * D1 / keep_prob
    Z2 = A1 @ W2 + b2[None, :]
    A2 = relu(Z2)
    D2 = (jax.random.uniform(key2, A2.shape, dtype=jnp.float32) > keep_prob).astype(jnp.float32)
    A2 = A2 * D2 / keep_prob
    Z3 = A2 @ W3 + b3[None, :]
    A3 = sigmoid(Z3)
    return A3, (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)
''',
        'the mask keeps units where the uniform draw is > keep_prob (that keeps 1 - keep_prob of them); use < keep_prob.',
    ),
    "dropout_on_output_layer": Mistake(
        "forward_propagation_with_dropout",
        '''
def forward_propagation_with_dropout(key, X, parameters, keep_prob=0.5):
    key1, key2, key3 = jax.random.split(key, 3)
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]
    Z1 = X @ W1 + b1[None, :]
    A1 = relu(Z1)

    D1 = (jax.random.uniform(key1, A1.shape, dtype=jnp.float32) < keep_prob).astype(jnp.float32)
    A1 = A1 * D1 / keep_prob
    Z2 = A1 @ W2 + b2[None, :]
    A2 = relu(Z2)
    D2 = (jax.random.uniform(key2, A2.shape, dtype=jnp.float32) < keep_prob).astype(jnp.float32)
    A2 = A2 * D2 / keep_prob
    Z3 = A2 @ W3 + b3[None, :]
    A3 = sigmoid(Z3)
    D3 = (jax.random.uniform(key3, A3.shape, dtype=jnp.float32) < keep_prob).astype(jnp.float32)
    A3 = A3 * D3 / keep_prob
    return A3, (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)
''',
        'dropout is applied to the output layer too; drop units of the hidden layers A1, A2 only.',
    ),
    "dropout_same_key_both_layers": Mistake(
        "forward_propagation_with_dropout",
        '''
def forward_propagation_with_dropout(key, X, parameters, keep_prob=0.5):
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]
    Z1 = X @ W1 + b1[None, :]
    A1 = relu(Z1)

    D1 = (jax.random.uniform(key, A1.shape, dtype=jnp.float32) < keep_prob).astype(jnp.float32)
    A1 = A1 * D1 / keep_prob
    Z2 = A1 @ W2 + b2[None, :]
    A2 = relu(Z2)
    D2 = (jax.random.uniform(key, A2.shape, dtype=jnp.float32) < keep_prob).astype(jnp.float32)
    A2 = A2 * D2 / keep_prob
    Z3 = A2 @ W3 + b3[None, :]
    A3 = sigmoid(Z3)
    return A3, (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)
''',
        'both masks are drawn from `key` itself; split it first: key1, key2 = jax.random.split(key).',
    ),
    # --- backward_propagation_with_dropout ------------------------------------
    "backward_dropout_masks_not_reapplied": Mistake(
        "backward_propagation_with_dropout",
        '''
def backward_propagation_with_dropout(X, Y, cache, keep_prob):
    m = X.shape[0]
    (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1.0 / m * (A2.T @ dZ3)
    db3 = 1.0 / m * jnp.sum(dZ3, axis=0)
    dA2 = dZ3 @ W3.T

    dA2 = dA2 / keep_prob
    dZ2 = jnp.where(A2 > 0, dA2, 0.0)
    dW2 = 1.0 / m * (A1.T @ dZ2)
    db2 = 1.0 / m * jnp.sum(dZ2, axis=0)
    dA1 = dZ2 @ W2.T
    dA1 = dA1 / keep_prob

    dZ1 = jnp.where(A1 > 0, dA1, 0.0)
    dW1 = 1.0 / m * (X.T @ dZ1)
    db1 = 1.0 / m * jnp.sum(dZ1, axis=0)
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2,
            "db2": db2, "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}
''',
        'dA1 and dA2 are not multiplied by the masks D1, D2 from the cache.',
    ),
    "backward_dropout_not_scaled": Mistake(
        "backward_propagation_with_dropout",
        '''
def backward_propagation_with_dropout(X, Y, cache, keep_prob):
    m = X.shape[0]
    (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1.0 / m * (A2.T @ dZ3)
    db3 = 1.0 / m * jnp.sum(dZ3, axis=0)
    dA2 = dZ3 @ W3.T

    dA2 = dA2 * D2
    dZ2 = jnp.where(A2 > 0, dA2, 0.0)
    dW2 = 1.0 / m * (A1.T @ dZ2)
    db2 = 1.0 / m * jnp.sum(dZ2, axis=0)
    dA1 = dZ2 @ W2.T
    dA1 = dA1 * D1

    dZ1 = jnp.where(A1 > 0, dA1, 0.0)
    dW1 = 1.0 / m * (X.T @ dZ1)
    db1 = 1.0 / m * jnp.sum(dZ1, axis=0)
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2,
            "db2": db2, "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}
''',
        'dA1 and dA2 are masked but not divided by keep_prob, as the forward pass did.',
    ),
}
