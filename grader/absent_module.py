"""Stands in, inside the worker's sandbox, for a module the assignment forbids.

The sandbox (:mod:`grader.bubblewrap`) leaves a forbidden module's files out; where a
folder is too large to recreate entry by entry, the module's folder is replaced by an empty
one holding only this file as its ``__init__.py`` (or this file is mounted over the
module's ``.py`` file). Importing it fails exactly as a missing module does.
"""

raise ModuleNotFoundError(f"No module named {__name__!r}", name=__name__)
