"""Trusted helper functions the worker may bind into a student's namespace (``Case.replace``).

When a graded function calls other graded functions of the same file (``model`` calls
``forward_propagation``), a mistake in a helper would also sink the caller's part. A case can
ask the worker to run the caller with these versions of the helpers instead, so each mistake
costs only its own part. They are written with plain ``jax`` (no ``jaxdl`` module a policy
may forbid), and student code may not import ``grader`` at all.
"""
