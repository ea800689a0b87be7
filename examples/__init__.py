"""Course experiments reproduced with jaxdl: one script per experiment (see README.md).

Run one as ``python examples/<name>.py [--quick] [--out DIR]`` or ``python -m examples.<name>``.
"""
