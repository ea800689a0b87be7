"""Correct alternative formulations for ``week1/initialization`` (``{slug: (function, source)}``)."""

ALTERNATIVES = {
    "he_math_sqrt_scale_first": ("initialize_parameters_he", '''
def initialize_parameters_he(key, layers_dims):
    import math
    L = len(layers_dims) - 1
    keys = jax.random.split(key, L)
    parameters = {}
    for l in range(1, L + 1):
        std = math.sqrt(2 / layers_dims[l - 1])
        parameters["W" + str(l)] = std * jax.random.normal(keys[l - 1], (layers_dims[l - 1], layers_dims[l]))
        parameters["b" + str(l)] = jnp.zeros(layers_dims[l])
    return parameters
'''),
}
