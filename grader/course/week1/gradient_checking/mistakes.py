"""Typical wrong implementations for week1/gradient_checking (from the course forums).

``MISTAKES[slug]`` is one known mistake, stated once: the graded function it
breaks, its wrong source (a complete ``def`` that, substituted for that function in
``solution.py``, must zero that part only) and ``message``, the feedback the grader gives
when it recognises it (how it recognises it is in ``assignment.py``, by slug). The sources
use only the solution's globals."""

from __future__ import annotations

from grader.spec import Mistake

MISTAKES = {
    # --- backward_propagation -------------------------------------------------
    "backward_derivative_wrt_x": Mistake(
        "backward_propagation",
        '''
def backward_propagation(x, theta):
    dtheta = theta
    return dtheta
''',
        'dtheta is theta, the derivative with respect to x; d(theta * x) / dtheta = x.',
    ),
    # --- gradient_check -------------------------------------------------------
    "one_sided_difference": Mistake(
        "gradient_check",
        '''
def gradient_check(x, theta, epsilon=1e-7, print_msg=False):
    with jax.enable_x64(True):
        x = jnp.asarray(x, dtype=jnp.float64)
        theta = jnp.asarray(theta, dtype=jnp.float64)
        J_plus = forward_propagation(x, theta + epsilon)
        J = forward_propagation(x, theta)
        gradapprox = (J_plus - J) / epsilon
        grad = backward_propagation(x, theta)
        numerator = jnp.linalg.norm(grad - gradapprox)
        denominator = jnp.linalg.norm(grad) + jnp.linalg.norm(gradapprox)
        difference = float(numerator / denominator)
    return difference
''',
        'gradapprox is one-sided, (J(theta + eps) - J(theta)) / eps; use (J(theta + eps) - J(theta - eps)) / (2 eps).',
    ),
    "norm_of_one_vector": Mistake(
        "gradient_check",
        '''
def gradient_check(x, theta, epsilon=1e-7, print_msg=False):
    with jax.enable_x64(True):
        x = jnp.asarray(x, dtype=jnp.float64)
        theta = jnp.asarray(theta, dtype=jnp.float64)
        J_plus = forward_propagation(x, theta + epsilon)
        J_minus = forward_propagation(x, theta - epsilon)
        gradapprox = (J_plus - J_minus) / (2 * epsilon)
        grad = backward_propagation(x, theta)
        difference = float(jnp.linalg.norm(grad - gradapprox) / jnp.linalg.norm(grad))
    return difference
''',
        'the difference is divided by ||grad|| only; divide by ||grad|| + ||gradapprox||.',
    ),
    "float32": Mistake(
        "gradient_check",
        '''
def gradient_check(x, theta, epsilon=1e-7, print_msg=False):
    x = jnp.asarray(x, dtype=jnp.float32)
    theta = jnp.asarray(theta, dtype=jnp.float32)
    J_plus = forward_propagation(x, theta + epsilon)
    J_minus = forward_propagation(x, theta - epsilon)
    gradapprox = (J_plus - J_minus) / (2 * epsilon)
    grad = backward_propagation(x, theta)
    numerator = jnp.linalg.norm(grad - gradapprox)
    denominator = jnp.linalg.norm(grad) + jnp.linalg.norm(gradapprox)
    return float(numerator / denominator)
''',
        'the check runs in float32 (4 + 1e-7 == 4 in float32); compute inside `with jax.enable_x64(True):` in float64.',
    ),
    # --- gradient_check_n -----------------------------------------------------
    "n_one_sided_difference": Mistake(
        "gradient_check_n",
        '''
def gradient_check_n(parameters, gradients, X, Y, epsilon=1e-7, print_msg=False):
    with jax.enable_x64(True):
        parameters = {name: jnp.asarray(value, dtype=jnp.float64) for name, value in parameters.items()}
        gradients = {name: jnp.asarray(value, dtype=jnp.float64) for name, value in gradients.items()}
        X = jnp.asarray(X, dtype=jnp.float64)
        Y = jnp.asarray(Y, dtype=jnp.float64)
        parameters_values, shapes = dictionary_to_vector(parameters)
        grad = gradients_to_vector(gradients)
        num_parameters = parameters_values.shape[0]

        J, _ = forward_propagation_n(X, Y, vector_to_dictionary(parameters_values, shapes))
        J_plus = []
        for i in range(num_parameters):
            theta_plus = parameters_values.at[i].add(epsilon)
            cost_plus, _ = forward_propagation_n(X, Y, vector_to_dictionary(theta_plus, shapes))
            J_plus.append(cost_plus)
        gradapprox = (jnp.stack(J_plus) - J) / epsilon
        numerator = jnp.linalg.norm(grad - gradapprox)
        denominator = jnp.linalg.norm(grad) + jnp.linalg.norm(gradapprox)
        difference = float(numerator / denominator)
    return difference
''',
        'gradapprox is one-sided, (J(theta + eps) - J(theta)) / eps; use (J_plus - J_minus) / (2 eps).',
    ),
    "n_norm_of_one_vector": Mistake(
        "gradient_check_n",
        '''
def gradient_check_n(parameters, gradients, X, Y, epsilon=1e-7, print_msg=False):
    with jax.enable_x64(True):
        parameters = {name: jnp.asarray(value, dtype=jnp.float64) for name, value in parameters.items()}
        gradients = {name: jnp.asarray(value, dtype=jnp.float64) for name, value in gradients.items()}
        X = jnp.asarray(X, dtype=jnp.float64)
        Y = jnp.asarray(Y, dtype=jnp.float64)
        parameters_values, shapes = dictionary_to_vector(parameters)
        grad = gradients_to_vector(gradients)
        num_parameters = parameters_values.shape[0]

        J_plus, J_minus = [], []
        for i in range(num_parameters):
            cost_plus, _ = forward_propagation_n(X, Y, vector_to_dictionary(parameters_values.at[i].add(epsilon), shapes))
            cost_minus, _ = forward_propagation_n(X, Y, vector_to_dictionary(parameters_values.at[i].add(-epsilon), shapes))
            J_plus.append(cost_plus)
            J_minus.append(cost_minus)
        gradapprox = (jnp.stack(J_plus) - jnp.stack(J_minus)) / (2 * epsilon)
        difference = float(jnp.linalg.norm(grad - gradapprox) / jnp.linalg.norm(gradapprox))
    return difference
''',
        'the difference is divided by ||gradapprox|| only; divide by ||grad|| + ||gradapprox||.',
    ),
    "n_epsilon_all_parameters": Mistake(
        "gradient_check_n",
        '''
def gradient_check_n(parameters, gradients, X, Y, epsilon=1e-7, print_msg=False):
    with jax.enable_x64(True):
        parameters = {name: jnp.asarray(value, dtype=jnp.float64) for name, value in parameters.items()}
        gradients = {name: jnp.asarray(value, dtype=jnp.float64) for name, value in gradients.items()}
        X = jnp.asarray(X, dtype=jnp.float64)
        Y = jnp.asarray(Y, dtype=jnp.float64)
        parameters_values, shapes = dictionary_to_vector(parameters)
        grad = gradients_to_vector(gradients)
        num_parameters = parameters_values.shape[0]

        J_plus, J_minus = [], []
        for i in range(num_parameters):
            theta_plus = parameters_values + epsilon
            theta_minus = parameters_values - epsilon
            cost_plus, _ = forward_propagation_n(X, Y, vector_to_dictionary(theta_plus, shapes))
            cost_minus, _ = forward_propagation_n(X, Y, vector_to_dictionary(theta_minus, shapes))
            J_plus.append(cost_plus)
            J_minus.append(cost_minus)
        gradapprox = (jnp.stack(J_plus) - jnp.stack(J_minus)) / (2 * epsilon)
        numerator = jnp.linalg.norm(grad - gradapprox)
        denominator = jnp.linalg.norm(grad) + jnp.linalg.norm(gradapprox)
        difference = float(numerator / denominator)
    return difference
''',
        'epsilon is added to all parameters at once; nudge only entry i: theta.at[i].add(epsilon).',
    ),
    "n_float32": Mistake(
        "gradient_check_n",
        '''
def gradient_check_n(parameters, gradients, X, Y, epsilon=1e-7, print_msg=False):
    parameters = {name: jnp.asarray(value, dtype=jnp.float32) for name, value in parameters.items()}
    gradients = {name: jnp.asarray(value, dtype=jnp.float32) for name, value in gradients.items()}
    X = jnp.asarray(X, dtype=jnp.float32)
    Y = jnp.asarray(Y, dtype=jnp.float32)
    parameters_values, shapes = dictionary_to_vector(parameters)
    grad = gradients_to_vector(gradients)
    num_parameters = parameters_values.shape[0]
    J_plus, J_minus = [], []
    for i in range(num_parameters):
        cost_plus, _ = forward_propagation_n(X, Y, vector_to_dictionary(parameters_values.at[i].add(epsilon), shapes))
        cost_minus, _ = forward_propagation_n(X, Y, vector_to_dictionary(parameters_values.at[i].add(-epsilon), shapes))
        J_plus.append(cost_plus)
        J_minus.append(cost_minus)
    gradapprox = (jnp.stack(J_plus) - jnp.stack(J_minus)) / (2 * epsilon)
    numerator = jnp.linalg.norm(grad - gradapprox)
    denominator = jnp.linalg.norm(grad) + jnp.linalg.norm(gradapprox)
    return float(numerator / denominator)
''',
        'the check runs in float32, where eps = 1e-7 is below the rounding step; compute inside `with jax.enable_x64(True):` in float64.',
    ),
    # --- backward_propagation_n -----------------------------------------------
    "bugs_not_fixed": Mistake(
        "backward_propagation_n",
        '''
def backward_propagation_n(X, Y, cache):
    m = X.shape[0]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1.0 / m * (A2.T @ dZ3)
    db3 = 1.0 / m * jnp.sum(dZ3, axis=0)
    dA2 = dZ3 @ W3.T
    dZ2 = jnp.where(A2 > 0, dA2, 0.0)
    dW2 = 1.0 / m * (A1.T @ dZ2) * 2
    db2 = 1.0 / m * jnp.sum(dZ2, axis=0)
    dA1 = dZ2 @ W2.T
    dZ1 = jnp.where(A1 > 0, dA1, 0.0)
    dW1 = 1.0 / m * (X.T @ dZ1)
    db1 = 4.0 / m * jnp.sum(dZ1, axis=0)
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2,
            "db2": db2, "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}
''',
        "both of the course's bugs are still there: dW2 is doubled and db1 is 4 times too large.",
    ),
    'dW2_still_doubled': Mistake(
        "backward_propagation_n",
        '''
def backward_propagation_n(X, Y, cache):
    m = X.shape[0]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1.0 / m * (A2.T @ dZ3)
    db3 = 1.0 / m * jnp.sum(dZ3, axis=0)
    dA2 = dZ3 @ W3.T
    dZ2 = jnp.where(A2 > 0, dA2, 0.0)
    dW2 = 1.0 / m * (A1.T @ dZ2) * 2
    db2 = 1.0 / m * jnp.sum(dZ2, axis=0)
    dA1 = dZ2 @ W2.T
    dZ1 = jnp.where(A1 > 0, dA1, 0.0)
    dW1 = 1.0 / m * (X.T @ dZ1)
    db1 = 1.0 / m * jnp.sum(dZ1, axis=0)
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2,
            "db2": db2, "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}
''',
        'dW2 is still multiplied by 2: dW2 = 1/m * A1.T @ dZ2.',
    ),
    "db1_still_4x": Mistake(
        "backward_propagation_n",
        '''
def backward_propagation_n(X, Y, cache):
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
    db1 = 4.0 / m * jnp.sum(dZ1, axis=0)
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2,
            "db2": db2, "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}
''',
        'db1 still has 4/m: db1 = 1/m * sum(dZ1, axis=0).',
    ),
}
