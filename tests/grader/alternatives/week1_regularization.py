"""Correct alternative formulations for ``week1/regularization`` (``{slug: (function, source)}``)."""

ALTERNATIVES = {
    "l2_cost_loop_over_weights": ("compute_cost_with_regularization", '''
def compute_cost_with_regularization(A3, Y, parameters, lambd):
    m = Y.shape[0]
    squares = sum(jnp.sum(W * W) for k, W in sorted(parameters.items()) if k.startswith("W"))
    return compute_cost(A3, Y) + squares * (lambd / 2) / m
'''),
}
