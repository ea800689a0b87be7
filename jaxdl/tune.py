"""Hyperparameter search: search spaces, random search, coarse-to-fine, "caviar" training.

The course's advice, as code: sample at random (not on a grid), on the right scale (learning
rate on a log scale, ``beta`` through ``1 - beta`` on a log scale), then zoom in on the region
of the best trials ("coarse to fine"). With enough compute, train many models at once
("caviar" rather than "panda"): here, the trials whose hyperparameters are numbers are
trained *together* in one jitted ``jax.vmap`` program.

Search spaces (each has ``sample(key, n)``)::

    LogUniform(1e-4, 1)          # 10**r, r ~ U[-4, 0]                 learning rate
    OneMinusLogUniform(0.9, 0.999)  # 1 - 10**r, r ~ U[-3, -1]         momentum / Adam beta
    Uniform(0.5, 1.0)            # keep probability, ...
    Choice([[2, 8, 1], [2, 16, 1]])  # anything; static (grouped) by default

The trial function: ``train_fn(hparams, key) -> metrics``. ``hparams`` is a dict with one
entry per space. Values of ``LogUniform``/``Uniform``/``OneMinusLogUniform`` (and of
``Choice(..., static=False)``) arrive as float32 scalar JAX arrays -- traced under ``vmap``,
so use them only in arithmetic (learning rate, beta, lambda, dropout rate), never as Python
numbers or shapes. ``Choice`` values (``static=True``, the default) arrive as the Python
objects themselves (layer sizes, batch size, optimizer name...). ``key`` is the trial's own
PRNG key. ``metrics`` is a scalar or a dict of scalars (e.g. built with
:func:`jaxdl.train.evaluate`); it may call :func:`jaxdl.train.fit`, which runs under ``vmap``.

``random_search`` groups the trials by their static values and, within each group, runs all
trials in one ``jax.jit(jax.vmap(train_fn))`` call (``vmap=False``: one at a time; same
numbers). Results come back as a :class:`Table` sorted by the chosen metric, best first.
"""

from __future__ import annotations

import io
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import _validate as v
from jaxdl import nn
from jaxdl._reuse import ByValue, reused

__all__ = [
    "Space",
    "LogUniform",
    "Uniform",
    "OneMinusLogUniform",
    "Choice",
    "Table",
    "random_search",
    "coarse_to_fine",
    "sample_trials",
]


# --------------------------------------------------------------------------- spaces


def _check_real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise TypeError(f"{name} must be a finite real number, got {type(value).__name__} {value!r}")
    return float(value)


def _uniform01(key: Any, n: int) -> np.ndarray:
    v.check_key("key", key)
    v.check_positive_int("n", n)
    return np.asarray(jax.random.uniform(key, (n,), jnp.float32), np.float64)


class Space:
    """Base class of the continuous search spaces.

    A continuous space is uniform in a *unit scale* ``u = to_unit(x)`` between
    ``to_unit(low)`` and ``to_unit(high)``; :meth:`sample` draws ``u`` uniformly and maps it
    back. ``static`` is False: sampled values are traced (vmapped) numbers.
    """

    low: float
    high: float
    static = False

    def to_unit(self, x: Any) -> np.ndarray:
        raise NotImplementedError

    def from_unit(self, u: Any) -> np.ndarray:
        raise NotImplementedError

    def sample(self, key: Any, n: int) -> np.ndarray:
        """``n`` independent samples, a float64 NumPy array ``(n,)`` within ``[low, high]``."""
        u = _uniform01(key, n)
        a, b = sorted((float(self.to_unit(self.low)), float(self.to_unit(self.high))))
        x = self.from_unit(a + (b - a) * u)
        return np.clip(x, self.low, self.high)

    def zoom(self, values: Sequence[float], margin: float = 0.1) -> Space:
        """The sub-range around ``values`` (the best trials' values); see :func:`coarse_to_fine`.

        In the unit scale: ``[min(u), max(u)]`` widened by ``margin`` times the current
        width on each side, clipped to the current range.
        """
        u = np.asarray(self.to_unit(np.asarray(values, np.float64)), np.float64)
        a, b = sorted((float(self.to_unit(self.low)), float(self.to_unit(self.high))))
        pad = margin * (b - a)
        lo_u, hi_u = max(a, float(u.min()) - pad), min(b, float(u.max()) + pad)
        x1, x2 = sorted((float(self.from_unit(lo_u)), float(self.from_unit(hi_u))))
        return type(self)(max(self.low, x1), min(self.high, x2))


@dataclass(frozen=True)
class LogUniform(Space):
    """``x = 10**r`` with ``r`` uniform in ``[log10(low), log10(high)]`` (``0 < low < high``).

    The course's learning-rate sampler: ``LogUniform(1e-4, 1)`` is ``r = -4 * rand();
    alpha = 10**r``. Each decade gets the same number of samples.

    >>> LogUniform(1e-4, 1.0).sample(jax.random.key(0), 3).shape
    (3,)
    """

    low: float
    high: float

    def __post_init__(self):
        low, high = _check_real("low", self.low), _check_real("high", self.high)
        if not 0 < low < high:
            raise ValueError(f"LogUniform needs 0 < low < high, got low={low!r}, high={high!r}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def to_unit(self, x):
        return np.log10(x)

    def from_unit(self, u):
        return np.power(10.0, u)


@dataclass(frozen=True)
class OneMinusLogUniform(Space):
    """``x = 1 - 10**r``, ``r`` uniform in ``[log10(1 - high), log10(1 - low)]`` (``0 <= low < high < 1``).

    The course's "sample 1 - beta on a log scale": ``OneMinusLogUniform(0.9, 0.999)`` is
    ``r ~ U[-3, -1]; beta = 1 - 10**r``, so ``beta`` in [0.9, 0.99] and in [0.99, 0.999] are
    equally likely (the average window ``1/(1 - beta)`` is log-uniform between 10 and 1000).

    >>> b = OneMinusLogUniform(0.9, 0.999).sample(jax.random.key(0), 1000)
    >>> bool(((b >= 0.9) & (b <= 0.999)).all())
    True
    """

    low: float
    high: float

    def __post_init__(self):
        low, high = _check_real("low", self.low), _check_real("high", self.high)
        if not 0 <= low < high < 1:
            raise ValueError(f"OneMinusLogUniform needs 0 <= low < high < 1, got low={low!r}, high={high!r}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def to_unit(self, x):
        return np.log10(1.0 - np.asarray(x, np.float64))

    def from_unit(self, u):
        return 1.0 - np.power(10.0, u)


@dataclass(frozen=True)
class Uniform(Space):
    """``x`` uniform in ``[low, high]`` (``low < high``), e.g. a keep probability or L2 ``lambda``.

    >>> Uniform(0.5, 1.0).sample(jax.random.key(0), 2).shape
    (2,)
    """

    low: float
    high: float

    def __post_init__(self):
        low, high = _check_real("low", self.low), _check_real("high", self.high)
        if not low < high:
            raise ValueError(f"Uniform needs low < high, got low={low!r}, high={high!r}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def to_unit(self, x):
        return np.asarray(x, np.float64)

    def from_unit(self, u):
        return np.asarray(u, np.float64)


@dataclass(frozen=True)
class Choice:
    """One of ``options``, uniformly: layer sizes, mini-batch size, activation, ...

    ``static=True`` (default): the value is a Python object passed to ``train_fn`` as is
    (it may change shapes); trials are grouped by it. ``static=False``: all options must be
    real numbers and the value is a traced float32 scalar, vmapped like a continuous one.

    >>> Choice([32, 64, 128]).sample(jax.random.key(0), 2)   # doctest: +SKIP
    [64, 32]
    """

    options: Sequence[Any]
    static: bool = True
    _options: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if isinstance(self.options, (str, bytes)) or not isinstance(self.options, Sequence):
            raise TypeError(f"options must be a sequence (list or tuple), got {type(self.options).__name__}")
        if len(self.options) == 0:
            raise ValueError("options must not be empty, got []")
        if not isinstance(self.static, bool):
            raise TypeError(f"static must be a bool, got {type(self.static).__name__}")
        if not self.static:
            for i, o in enumerate(self.options):
                _check_real(f"options[{i}] (static=False needs numbers)", o)
        object.__setattr__(self, "_options", tuple(self.options))

    def sample_indices(self, key: Any, n: int) -> np.ndarray:
        """``n`` option indices, int ``(n,)``, uniform over ``range(len(options))``."""
        v.check_key("key", key)
        v.check_positive_int("n", n)
        return np.asarray(jax.random.randint(key, (n,), 0, len(self._options)))

    def sample(self, key: Any, n: int) -> list[Any]:
        """``n`` options (a list of the option objects)."""
        return [self._options[i] for i in self.sample_indices(key, n)]

    def zoom(self, values: Sequence[Any], margin: float = 0.1) -> Choice:
        """Keep the options that occur in ``values`` (original order)."""
        keep = [o for o in self._options if any(_same(o, x) for x in values)]
        return Choice(keep or list(self._options), static=self.static)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays and the like
        return a is b


_SPACE_TYPES = (Space, Choice)


def _check_space(space: Any) -> dict[str, Any]:
    if not isinstance(space, Mapping) or not space:
        raise TypeError(
            f"space must be a non-empty dict name -> LogUniform/Uniform/OneMinusLogUniform/Choice, got {space!r}"
        )
    for name, s in space.items():
        if not isinstance(name, str):
            raise TypeError(f"space keys must be str, got {name!r}")
        if not isinstance(s, _SPACE_TYPES):
            raise TypeError(
                f"space[{name!r}] must be LogUniform, Uniform, OneMinusLogUniform or Choice, got {type(s).__name__}"
            )
    return dict(space)


# --------------------------------------------------------------------------- table


def _sort_key(metric: str, mode: str) -> Callable[[dict], tuple]:
    def key(row):
        value = float(row[metric])
        if math.isnan(value):
            return (1, 0.0)
        return (0, -value if mode == "max" else value)

    return key


class Table(Sequence):
    """Trial results, best first: a sequence of row dicts with a rich rendering.

    Each row holds ``"trial"`` (index in sampling order), the hyperparameters (floats for
    numeric ones, the option object for static choices), the metrics returned by
    ``train_fn`` (floats), and ``"round"`` for :func:`coarse_to_fine`.

    >>> t = Table([{"trial": 0, "lr": 0.1, "acc": 0.5}, {"trial": 1, "lr": 0.01, "acc": 0.9}], metric="acc")
    >>> t.best["lr"], len(t)
    (0.01, 2)
    """

    def __init__(self, rows: Sequence[Mapping[str, Any]], *, metric: str, mode: str = "max"):
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        rows = [dict(r) for r in rows]
        for r in rows:
            if metric not in r:
                raise ValueError(f"metric {metric!r} is not a column of the results, got columns {sorted(r)}")
        self.metric = metric
        self.mode = mode
        self.rows = sorted(rows, key=_sort_key(metric, mode))

    def __getitem__(self, i):
        return self.rows[i]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def best(self) -> dict[str, Any]:
        """The best row (by ``metric`` and ``mode``)."""
        return self.rows[0]

    @property
    def columns(self) -> list[str]:
        cols: list[str] = []
        for r in self.rows:
            cols.extend(c for c in r if c not in cols)
        return cols

    def column(self, name: str) -> list[Any]:
        """The values of one column, in table order (best first)."""
        return [r.get(name) for r in self.rows]

    def to_list(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.rows]

    def __rich__(self):
        from rich.table import Table as RichTable

        t = RichTable(title=f"{len(self)} trials, sorted by {self.metric} ({self.mode})")
        cols = self.columns
        for c in cols:
            t.add_column(c, style="bold" if c == self.metric else None, justify="right")
        for r in self.rows:
            t.add_row(*(_fmt(r.get(c)) for c in cols))
        return t

    def __str__(self) -> str:
        from rich.console import Console

        buf = io.StringIO()
        Console(file=buf, width=120, color_system=None).print(self)
        return buf.getvalue()

    def __repr__(self) -> str:
        return f"Table({len(self)} rows, metric={self.metric!r}, mode={self.mode!r}, best={self.best if self.rows else None})"


def _fmt(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


# --------------------------------------------------------------------------- search


def sample_trials(space: Mapping[str, Any], *, key: Any, n_trials: int) -> tuple[list[dict[str, Any]], Any]:
    """The hyperparameters and keys :func:`random_search` uses, without training.

    Key convention: ``sample_key, trial_key = jax.random.split(key)``; dimension ``i`` (in
    the dict's order) is sampled with ``jax.random.fold_in(sample_key, i)``;
    trial ``t`` trains with ``jax.random.split(trial_key, n_trials)[t]``.

    Returns ``(trials, keys)``: a list of ``n_trials`` dicts (Python floats / option objects)
    and the stacked trial keys.
    """
    space = _check_space(space)
    v.check_key("key", key)
    v.check_positive_int("n_trials", n_trials)
    sample_key, trial_key = jax.random.split(key)
    columns = {}
    for i, (name, s) in enumerate(space.items()):
        k = jax.random.fold_in(sample_key, i)
        if isinstance(s, Choice):
            columns[name] = s.sample(k, n_trials)
        else:
            columns[name] = [float(x) for x in s.sample(k, n_trials)]
    trials = [{name: columns[name][t] for name in space} for t in range(n_trials)]
    return trials, jax.random.split(trial_key, n_trials)


def _metric_dict(out: Any) -> dict[str, np.ndarray]:
    if isinstance(out, Mapping):
        return {str(k): np.asarray(val) for k, val in out.items()}
    return {"metric": np.asarray(out)}


def random_search(
    train_fn: Callable[[dict[str, Any], Any], Any],
    space: Mapping[str, Any],
    *,
    key: Any,
    n_trials: int,
    metric: str | None = None,
    mode: str = "max",
    vmap: bool = True,
) -> Table:
    """Sample ``n_trials`` hyperparameter settings from ``space``, train each, rank them.

    Args:
      train_fn: ``train_fn(hparams, key) -> metric or dict of metrics`` (module docstring):
        numeric hyperparameters arrive as float32 scalars (traced), static ``Choice``
        values as Python objects. It must be jit-compatible (it is compiled once per
        group of static values).
      space: dict name -> ``LogUniform``/``Uniform``/``OneMinusLogUniform``/``Choice``.
      key: PRNG key; sampling and trial keys follow :func:`sample_trials`.
      n_trials: number of trials (int > 0).
      metric: the metric to sort by (a key of ``train_fn``'s dict); default: the only
        metric, or ``"metric"`` when ``train_fn`` returns a scalar.
      mode: ``"max"`` (accuracy; default) or ``"min"`` (loss).
      vmap: ``True`` (caviar): trials sharing the static values run together in one
        ``jax.jit(jax.vmap(train_fn))`` call. ``False``: one jitted call per trial
        (pandas). Same results up to float rounding. Which is faster depends on the
        device: vmapping pays off when the extra trials fill idle parallel lanes (a GPU or
        TPU, or big enough layers); for tiny models on a CPU one trial at a time can win
        (64 trials of the course's [2, 5, 2, 1] moons network, 200 epochs, on 2 cores: 0.54 s
        vmapped, 0.42 s one after another; see ``benchmarks/``).

    The compiled programs are kept (the last 16, keyed on the ``train_fn`` object, the
    static values -- by value, element by element for lists and arrays, or by identity,
    never by their printed form -- and ``vmap``): a later search with the same ``train_fn`` -- another
    round of :func:`coarse_to_fine`, a notebook cell run again -- neither traces nor
    compiles. As with ``jax.jit``, a ``train_fn`` reading globals changed in between keeps
    the values it was traced with.

    Returns:
      A :class:`Table`, best first; a NaN metric sorts last.

    Example::

        def train_fn(hp, key):
            params = init_mlp(key, hp["layers"])
            state, _ = fit(loss, params, adam(hp["lr"], beta1=hp["beta1"]), X, Y,
                           key=key, epochs=50, progress=False)
            return evaluate(apply, state.params, X_dev, Y_dev)      # {"accuracy", "loss"}

        table = random_search(train_fn, {"lr": LogUniform(1e-4, 1e-1),
                                         "beta1": OneMinusLogUniform(0.8, 0.99),
                                         "layers": Choice([[2, 8, 1], [2, 16, 1]])},
                              key=jax.random.key(0), n_trials=16, metric="accuracy")
        print(table); table.best
    """
    if not callable(train_fn):
        raise TypeError(f"train_fn must be callable, got {type(train_fn).__name__}")
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    if not isinstance(vmap, bool):
        raise TypeError(f"vmap must be a bool, got {type(vmap).__name__}")
    if metric is not None and not isinstance(metric, str):
        raise TypeError(f"metric must be a str (a key of train_fn's result), got {type(metric).__name__}")
    space = _check_space(space)
    trials, keys = sample_trials(space, key=key, n_trials=n_trials)

    static_names = [n for n, s in space.items() if isinstance(s, Choice) and s.static]
    numeric_names = [n for n in space if n not in static_names]

    # group by the static choices (by option index: options may be unhashable, e.g. lists)
    groups: dict[tuple, list[int]] = {}
    for t, hp in enumerate(trials):
        gid = tuple(
            next(i for i, o in enumerate(space[n]._options) if o is hp[n] or _same(o, hp[n])) for n in static_names
        )
        groups.setdefault(gid, []).append(t)

    metrics: list[dict[str, float] | None] = [None] * n_trials
    for gid, members in groups.items():
        static_hp = {n: space[n]._options[i] for n, i in zip(static_names, gid)}
        program = _trial_program(train_fn, ByValue(static_hp), vmap)
        numeric = {n: jnp.asarray([trials[t][n] for t in members], jnp.float32) for n in numeric_names}
        group_keys = keys[np.asarray(members)]
        if vmap:
            out = _metric_dict(program(numeric, group_keys))
            for j, t in enumerate(members):
                metrics[t] = {k: _scalar(val[j], k) for k, val in out.items()}
        else:
            for j, t in enumerate(members):
                out = _metric_dict(program({n: a[j] for n, a in numeric.items()}, group_keys[j]))
                metrics[t] = {k: _scalar(val, k) for k, val in out.items()}

    names = list(metrics[0])
    if metric is None:
        if len(names) != 1:
            raise ValueError(f"train_fn returns several metrics {names}: choose one with metric=...")
        metric = names[0]
    elif metric not in names:
        raise ValueError(f"metric={metric!r} is not one of train_fn's metrics {names}")
    rows = []
    for t, hp in enumerate(trials):
        clash = set(hp) & set(metrics[t])
        if clash:
            raise ValueError(f"metric names {sorted(clash)} clash with hyperparameter names")
        rows.append({"trial": t, **hp, **metrics[t]})
    return Table(rows, metric=metric, mode=mode)


@reused(16)
def _trial_program(train_fn: Callable, static_hp: ByValue, vmap: bool) -> Callable:
    """``jax.jit(jax.vmap(run))`` (or ``jax.jit(run)``) for one group of trials, reused across calls.

    Keyed on the ``train_fn`` object, the static values (``static_hp`` wraps the dict and
    compares by value: options may be unhashable lists or arrays, compared element by
    element; objects without a value equality by identity -- never by ``repr``, which NumPy
    truncates) and ``vmap``, so repeated searches --
    the rounds of :func:`coarse_to_fine`, a notebook cell run again -- skip tracing and
    compiling, as ``jax.jit`` of a module-level function would. The last 16 are kept.
    """
    static = static_hp.value

    def run(numeric_hp, trial_key):
        return train_fn({**static, **numeric_hp}, trial_key)

    if not vmap:
        return jax.jit(run)
    vmapped = jax.jit(jax.vmap(run))

    def program(numeric_hp, trial_keys):
        with nn.small_products_as_dots():  # read while tracing
            return vmapped(numeric_hp, trial_keys)

    return program


def _scalar(x: Any, name: str) -> float:
    a = np.asarray(x)
    if a.shape != ():
        raise ValueError(f"train_fn must return scalar metrics, got {name!r} of shape {a.shape}")
    return float(a)


def coarse_to_fine(
    train_fn: Callable[[dict[str, Any], Any], Any],
    space: Mapping[str, Any],
    *,
    key: Any,
    n_trials: int,
    rounds: int = 2,
    top_k: int | None = None,
    margin: float = 0.1,
    metric: str | None = None,
    mode: str = "max",
    vmap: bool = True,
) -> tuple[Table, list[dict[str, Any]]]:
    """Random search in ``rounds`` rounds, each zoomed in on the best trials of the previous one.

    Zoom rule (applied after every round, to that round's trials):
      1. keep the ``top_k`` best trials (default ``max(2, n_trials // 4)``);
      2. each continuous dimension shrinks, in its sampling scale (``log10 x`` for
         ``LogUniform``, ``log10(1 - x)`` for ``OneMinusLogUniform``, ``x`` for ``Uniform``),
         to ``[min, max]`` of those trials' values widened by ``margin`` (default 0.1) times
         the current width on each side, clipped to the current range -- so a range never
         grows;
      3. each ``Choice`` keeps only the options used by those trials.

    Round ``r`` (0-based) samples with ``jax.random.fold_in(key, r)``.

    Returns:
      ``(table, spaces)``: one :class:`Table` of all trials of all rounds (column
      ``"round"``), best first; and ``spaces``, ``rounds + 1`` dicts: ``spaces[r]`` was
      searched in round ``r``, ``spaces[rounds]`` is the zoom after the last round (where
      to look next).
    """
    space = _check_space(space)
    v.check_positive_int("rounds", rounds)
    v.check_positive_int("n_trials", n_trials)
    if top_k is None:
        top_k = max(2, n_trials // 4)
    v.check_positive_int("top_k", top_k)
    top_k = min(top_k, n_trials)
    v.check_range("margin", margin, 0.0, low_inclusive=False)
    spaces = [space]
    rows: list[dict[str, Any]] = []
    for r in range(rounds):
        table = random_search(
            train_fn, spaces[-1], key=jax.random.fold_in(key, r), n_trials=n_trials, metric=metric, mode=mode, vmap=vmap
        )
        metric = table.metric
        rows.extend({"round": r, **row} for row in table.rows)
        best = table.rows[:top_k]
        spaces.append({n: s.zoom([row[n] for row in best], margin) for n, s in spaces[-1].items()})
    return Table(rows, metric=metric, mode=mode), spaces
