"""Correct alternative formulations of the graded functions (test data; see
``tests/grader/test_alternatives.py``). One file per assignment: ``<week>_<name>.py``."""
