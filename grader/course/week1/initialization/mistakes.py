"""Typical wrong implementations for week1/initialization (from the course forums).

``MISTAKES[slug]`` is one known mistake, stated once: the graded function it
breaks, its wrong source (a complete ``def`` that, substituted for that function in
``solution.py``, must zero that part only) and ``message``, the feedback the grader gives
when it recognises it (how it recognises it is in ``assignment.py``, by slug). The sources
use only the solution's globals."""

from __future__ import annotations

from grader.spec import Mistake

MISTAKES = {
    # --- initialize_parameters_zeros ------------------------------------------
    "zeros_weights_transposed": Mistake(
        "initialize_parameters_zeros",
        '''
def initialize_parameters_zeros(layers_dims):
    parameters = {}
    L = len(layers_dims) - 1
    for l in range(1, L + 1):
        parameters[f"W{l}"] = jnp.zeros((layers_dims[l], layers_dims[l - 1]), dtype=jnp.float32)
        parameters[f"b{l}"] = jnp.zeros((layers_dims[l],), dtype=jnp.float32)
    return parameters
''',
        "W{l} has the course's shape (n_l, n_{l-1}); batch-first weights are (n_{l-1}, n_l).",
    ),
    "zeros_bias_column": Mistake(
        "initialize_parameters_zeros",
        '''
def initialize_parameters_zeros(layers_dims):
    parameters = {}
    L = len(layers_dims) - 1
    for l in range(1, L + 1):
        parameters[f"W{l}"] = jnp.zeros((layers_dims[l - 1], layers_dims[l]), dtype=jnp.float32)
        parameters[f"b{l}"] = jnp.zeros((layers_dims[l], 1), dtype=jnp.float32)
    return parameters
''',
        "b{l} has the course's column shape (n_l, 1); batch-first biases are (n_l,).",
    ),
    # --- initialize_parameters_random -----------------------------------------
    "random_without_x10": Mistake(
        "initialize_parameters_random",
        '''
def initialize_parameters_random(key, layers_dims):
    parameters = {}
    L = len(layers_dims) - 1
    keys = jax.random.split(key, L)
    for l in range(1, L + 1):
        shape = (layers_dims[l - 1], layers_dims[l])
        parameters[f"W{l}"] = jax.random.normal(keys[l - 1], shape, dtype=jnp.float32)
        parameters[f"b{l}"] = jnp.zeros((layers_dims[l],), dtype=jnp.float32)
    return parameters
''',
        'the weights are not multiplied by 10 (this exercise wants large random weights).',
    ),
    "random_weights_transposed": Mistake(
        "initialize_parameters_random",
        '''
def initialize_parameters_random(key, layers_dims):
    parameters = {}
    L = len(layers_dims) - 1
    keys = jax.random.split(key, L)
    for l in range(1, L + 1):
        shape = (layers_dims[l], layers_dims[l - 1])
        parameters[f"W{l}"] = jax.random.normal(keys[l - 1], shape, dtype=jnp.float32) * 10
        parameters[f"b{l}"] = jnp.zeros((layers_dims[l],), dtype=jnp.float32)
    return parameters
''',
        "W{l} has the course's shape (n_l, n_{l-1}); batch-first weights are (n_{l-1}, n_l).",
    ),
    "random_nonzero_biases": Mistake(
        "initialize_parameters_random",
        '''
def initialize_parameters_random(key, layers_dims):
    parameters = {}
    L = len(layers_dims) - 1
    keys = jax.random.split(key, L)
    for l in range(1, L + 1):
        _, key_b = jax.random.split(keys[l - 1])
        shape = (layers_dims[l - 1], layers_dims[l])
        parameters[f"W{l}"] = jax.random.normal(keys[l - 1], shape, dtype=jnp.float32) * 10
        parameters[f"b{l}"] = jax.random.normal(key_b, (layers_dims[l],), dtype=jnp.float32) * 10
    return parameters
''',
        'the biases are not zero; they should be zeros.',
    ),
    "random_key_reused": Mistake(
        "initialize_parameters_random",
        '''
def initialize_parameters_random(key, layers_dims):
    parameters = {}
    L = len(layers_dims) - 1
    for l in range(1, L + 1):
        shape = (layers_dims[l - 1], layers_dims[l])
        parameters[f"W{l}"] = jax.random.normal(key, shape, dtype=jnp.float32) * 10
        parameters[f"b{l}"] = jnp.zeros((layers_dims[l],), dtype=jnp.float32)
    return parameters
''',
        'every layer draws from the same key; split it: keys = jax.random.split(key, L), layer l uses keys[l-1].',
    ),
    # --- initialize_parameters_he ---------------------------------------------
    "he_xavier_scale": Mistake(
        "initialize_parameters_he",
        '''
def initialize_parameters_he(key, layers_dims):
    parameters = {}
    L = len(layers_dims) - 1
    keys = jax.random.split(key, L)
    for l in range(1, L + 1):
        shape = (layers_dims[l - 1], layers_dims[l])
        scale = jnp.sqrt(1.0 / layers_dims[l - 1])
        parameters[f"W{l}"] = jax.random.normal(keys[l - 1], shape, dtype=jnp.float32) * scale
        parameters[f"b{l}"] = jnp.zeros((layers_dims[l],), dtype=jnp.float32)
    return parameters
''',
        'the weights are scaled by sqrt(1 / n_{l-1}) (Xavier); He uses sqrt(2 / n_{l-1}).',
    ),
    "he_scale_current_layer": Mistake(
        "initialize_parameters_he",
        '''
def initialize_parameters_he(key, layers_dims):
    parameters = {}
    L = len(layers_dims) - 1
    keys = jax.random.split(key, L)
    for l in range(1, L + 1):
        shape = (layers_dims[l - 1], layers_dims[l])
        scale = jnp.sqrt(2.0 / layers_dims[l])
        parameters[f"W{l}"] = jax.random.normal(keys[l - 1], shape, dtype=jnp.float32) * scale
        parameters[f"b{l}"] = jnp.zeros((layers_dims[l],), dtype=jnp.float32)
    return parameters
''',
        "the weights are scaled by sqrt(2 / n_l) (the layer's own size); He uses the previous layer's, sqrt(2 / n_{l-1}).",
    ),
    "he_weights_transposed": Mistake(
        "initialize_parameters_he",
        '''
def initialize_parameters_he(key, layers_dims):
    parameters = {}
    L = len(layers_dims) - 1
    keys = jax.random.split(key, L)
    for l in range(1, L + 1):
        shape = (layers_dims[l], layers_dims[l - 1])
        scale = jnp.sqrt(2.0 / layers_dims[l - 1])
        parameters[f"W{l}"] = (jax.random.normal(keys[l - 1], shape, dtype=jnp.float32) * scale).T
        parameters[f"b{l}"] = jnp.zeros((layers_dims[l],), dtype=jnp.float32)
    return parameters
''',
        "the weights are drawn in the course's (n_l, n_{l-1}) shape (and transposed); draw jax.random.normal(keys[l-1], (n_{l-1}, n_l)) directly.",
    ),
    "he_nonzero_biases": Mistake(
        "initialize_parameters_he",
        '''
def initialize_parameters_he(key, layers_dims):
    parameters = {}
    L = len(layers_dims) - 1
    keys = jax.random.split(key, L)
    for l in range(1, L + 1):
        shape = (layers_dims[l - 1], layers_dims[l])
        scale = jnp.sqrt(2.0 / layers_dims[l - 1])
        parameters[f"W{l}"] = jax.random.normal(keys[l - 1], shape, dtype=jnp.float32) * scale
        parameters[f"b{l}"] = jnp.full((layers_dims[l],), 0.01, dtype=jnp.float32)
    return parameters
''',
        'the biases are not zero; they should be zeros.',
    ),
    "he_key_reused": Mistake(
        "initialize_parameters_he",
        '''
def initialize_parameters_he(key, layers_dims):
    parameters = {}
    L = len(layers_dims) - 1
    for l in range(1, L + 1):
        shape = (layers_dims[l - 1], layers_dims[l])
        scale = jnp.sqrt(2.0 / layers_dims[l - 1])
        parameters[f"W{l}"] = jax.random.normal(key, shape, dtype=jnp.float32) * scale
        parameters[f"b{l}"] = jnp.zeros((layers_dims[l],), dtype=jnp.float32)
    return parameters
''',
        'every layer draws from the same key; split it: keys = jax.random.split(key, L), layer l uses keys[l-1].',
    ),
}
