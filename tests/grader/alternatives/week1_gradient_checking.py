"""Correct alternative formulations for ``week1/gradient_checking`` (``{slug: (function, source)}``)."""

ALTERNATIVES = {
    "backward_theta_free": ("backward_propagation", '''
def backward_propagation(x, theta):
    return x
'''),
}
