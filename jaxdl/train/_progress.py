"""Progress display as a callback: ``fit`` reports after every chunk, the callback shows it.

``fit(..., progress=...)`` takes ``True`` (a :class:`ProgressBar`), ``False`` (nothing) or any
callable ``progress(epoch, epochs, metrics)``; it is called on the host after every
compiled chunk (``epochs_per_chunk`` epochs) with the number of epochs done, the total, and
the last epoch's ``{"loss": ..., "dev_<name>": ...}`` as Python floats. A callback with a
``close()`` method is closed when ``fit`` returns or raises.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

import jax


class ProgressBar:
    """``fit``'s default progress display: a rich bar over epochs with the latest metrics.

    Drawn only when stdout is a terminal (or in Jupyter), and only by process 0 of a
    multi-process run; otherwise every call does nothing. Started by the first call, stopped
    by :meth:`close` (``fit`` calls it).

    >>> bar = ProgressBar()
    >>> bar(1, 10, {"loss": 0.69})   # nothing drawn under doctest (not a terminal)
    >>> bar.close()
    """

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None
        self._started = False

    def __call__(self, epoch: int, epochs: int, metrics: Mapping[str, float]) -> None:
        if not self._started:
            self._started = True
            self._bar = self._start(epochs)
        if self._bar is None:
            return
        text = "  ".join(f"{k} {val:.4g}" for k, val in metrics.items())
        self._bar.update(self._task, completed=epoch, description=text)

    def _start(self, epochs: int) -> Any:
        if jax.process_index() != 0:
            return None
        from rich.console import Console

        console = Console()
        if not ((console.is_terminal and sys.stdout.isatty()) or console.is_jupyter):
            return None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        bar = Progress(
            TextColumn("epoch"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        bar.start()
        self._task = bar.add_task("", total=epochs)
        return bar

    def close(self) -> None:
        """Stop drawing (the bar stays on screen); later calls start nothing new."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def progress_callback(progress: Any) -> Callable[[int, int, Mapping[str, float]], None] | None:
    """``fit``'s ``progress`` argument as a callback (``None`` for ``False``).

    Raises:
      TypeError: ``progress`` is neither a bool nor callable.
    """
    if progress is True:
        return ProgressBar()
    if progress is False:
        return None
    if not callable(progress):
        raise TypeError(
            "progress must be True, False or a callable progress(epoch, epochs, metrics), "
            f"got {type(progress).__name__} {progress!r}"
        )
    return progress
