# %% [markdown]
# # Homework 1 · The sigmoid function (10 points)
#
# Write `sigmoid(z) = 1 / (1 + exp(-z))`, elementwise, for an array `z` of any shape. Check
# your work with `grader test hw1/sigmoid`; hand it in with `grader submit hw1/sigmoid`.

# %%
import jax.numpy as jnp


# %%
def sigmoid(z):
    """The logistic function of ``z`` (any shape, float32 in, float32 out)."""
    ### BEGIN SOLUTION
    return 1 / (1 + jnp.exp(-z))
    ### END SOLUTION
