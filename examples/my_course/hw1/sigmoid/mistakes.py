"""Known mistakes of ``hw1/sigmoid``: each stated once (its wrong source and its message)."""

from __future__ import annotations

from grader.spec import Mistake

MISTAKES = {
    "sign_flipped": Mistake(
        "sigmoid",
        '''
def sigmoid(z):
    return 1 / (1 + jnp.exp(z))
''',
        "it computes 1 / (1 + exp(z)): the sign of the exponent is flipped.",
    ),
}
