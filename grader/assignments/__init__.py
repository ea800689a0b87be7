"""One module per assignment, each exposing ``ASSIGNMENT`` (see :mod:`grader.registry`)."""
