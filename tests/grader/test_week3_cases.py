"""The case modules of ``week3/batch_norm`` and ``week3/hyperparameter_tuning``, in process.

No worker here (the end-to-end runs are ``test_assignments.py``): the reference solution's
functions are called directly, with the cases' trusted helpers bound into its namespace the
way the worker binds them, and judged by the same :mod:`grader.judge` functions as the engine.

- the builders give the same number of hidden cases for two seeds;
- every visible case's expected value is what the reference solution returns (and its
  validator accepts it); no known mistake's wrong answer or symptom matches a right answer;
- each mistake of ``tests/mistakes/week3_*.py`` (except the ones only time shows), substituted
  for its function, fails its part's cases with its ``HINTS`` text in the first failure;
- the trusted helpers agree with ``jaxdl`` and with the reference solution.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

from grader import judge, registry
from grader.spec import UNSET

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENTS = ("week3/batch_norm", "week3/hyperparameter_tuning")
# Parts too slow for the quick in-process run (a full training); the end-to-end tests run them.
SLOW_PARTS = {"model_with_batchnorm"}
# Mistakes only the time limit shows (same numbers, slower); see the tuning module's docstring.
TIME_ONLY = {"train_many_python_loop"}
SEED = 11


def _module(assignment_id: str):
    return registry.module(assignment_id)


def _solution(assignment_id: str, name: str = "", mistake: str | None = None):
    path = registry.load(assignment_id).solution_path
    spec = importlib.util.spec_from_file_location(f"_sol_{assignment_id.replace('/', '_')}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module._assignment_id = assignment_id  # where _bound finds its trusted.py
    if mistake is not None:
        mistakes = registry.mistakes(assignment_id)
        exec(compile(textwrap.dedent(mistakes[mistake][1]), f"<mistake {mistake}>", "exec"), module.__dict__)
    return module


@contextlib.contextmanager
def _bound(module, replace, assignment_id):
    """Bind trusted helpers into ``module`` for one call, as the worker does."""
    saved = {}
    try:
        for name, spec in replace.items():
            mod_name, _, attr = spec.partition(":")
            saved[name] = module.__dict__.get(name)
            module.__dict__[name] = getattr(registry.module(assignment_id, mod_name), attr)
        yield
    finally:
        for name, value in saved.items():
            module.__dict__[name] = value


def _call(module, function: str, case, args=None):
    fn = module.__dict__[function]
    args = case.args if args is None else args
    args = jax.tree.map(lambda x: x, args)  # fresh containers, as decoded from the wire
    with _bound(module, case.replace, module._assignment_id), (jax.enable_x64(True) if case.x64 else contextlib.nullcontext()):
        if case.jit:
            fn = jax.jit(fn, static_argnames=case.static_argnames, static_argnums=case.static_argnums)
        if function in case.replace:  # a trusted wrapper bound over the function itself (the worker's rule)
            fn = functools.partial(module.__dict__[function], fn)
        out = fn(*args, **dict(case.kwargs))
        return judge.to_numpy(jax.block_until_ready(out))


def _judge(module, function: str, case) -> str | None:
    """The engine's verdict on one case (``grader.engine.Grader._run_case``), in process."""
    out = _call(module, function, case)
    if case.expected is not UNSET:
        expected = judge.resolve(case.expected)
        msg = judge.compare(out, expected, rtol=case.rtol, atol=case.atol, check_dtype=case.check_dtype)
        if msg is not None:
            hint = judge.diagnose(out, case.mistakes, rtol=case.rtol, atol=case.atol, check_dtype=case.check_dtype)
            return f"Wrong result: {hint or msg}"
    if case.key_args is not None:
        if not judge.identical(out, _call(module, function, case)):
            return "same key, different results"
        if judge.identical(out, _call(module, function, case, case.key_args)):
            return "different keys, same result"
    if case.validate is not None:
        msg = case.validate(out)
        if msg:
            return f"validate: {msg}"
    return None


def _parts(assignment_id: str):
    return [p for p in _module(assignment_id).ASSIGNMENT.parts if p.function not in SLOW_PARTS]


@pytest.fixture(scope="module", params=list(ASSIGNMENTS))
def assignment_id(request):
    return request.param


def test_hidden_case_counts_do_not_depend_on_the_seed(assignment_id):
    for part in _module(assignment_id).ASSIGNMENT.parts:
        assert part.visible(), part.function
        assert len(part.hidden(1)) == len(part.hidden(2)) > 0, part.function


def test_points_and_hints(assignment_id):
    module = _module(assignment_id)
    assert module.ASSIGNMENT.max_score == {"week3/batch_norm": 60, "week3/hyperparameter_tuning": 50}[assignment_id]
    mistakes = registry.mistakes(assignment_id)
    assert set(module.HINTS) == set(mistakes)
    assert all(module.HINTS[slug] == m.message for slug, m in mistakes.items())


def test_visible_cases_match_the_reference_solution(assignment_id):
    sol = _solution(assignment_id, "visible")
    for part in _parts(assignment_id):
        for case in part.visible():
            assert _judge(sol, part.function, case) is None, (part.function, case.label)


@pytest.mark.slow
def test_hidden_cases_match_the_reference_solution(assignment_id):
    sol = _solution(assignment_id, "hidden")
    for part in _parts(assignment_id):
        for case in part.hidden(SEED):
            assert _judge(sol, part.function, case) is None, (part.function, case.label)


def test_no_mistake_matches_a_right_answer(assignment_id):
    hints = _module(assignment_id).HINTS
    for part in _parts(assignment_id):
        for case in [*part.visible(), *part.hidden(SEED)]:
            if case.expected is UNSET:
                continue
            expected = judge.resolve(case.expected)
            for message, wrong in case.mistakes:
                if message == hints.get("random_search_best_by_train_cost") and "flipped" not in case.label:
                    continue  # on a true dev set the two choices often agree (the flipped case separates them)
                wrong = judge.resolve(wrong)
                if isinstance(wrong, judge.Symptom):
                    assert not wrong.test(expected), (part.function, case.label, message)
                else:
                    assert judge.compare(wrong, expected, rtol=case.rtol, atol=case.atol) is not None, \
                        (part.function, case.label, message)


def _mistake_params():
    params = []
    for assignment_id in ASSIGNMENTS:
        for slug, (function, _, _) in registry.mistakes(assignment_id).items():
            if slug in TIME_ONLY:
                continue
            marks = [pytest.mark.slow] if function in SLOW_PARTS else []
            params.append(pytest.param(assignment_id, slug, function, id=slug, marks=marks))
    return params


@pytest.mark.parametrize("assignment_id,slug,function", _mistake_params())
def test_each_mistake_fails_its_part_with_its_hint(assignment_id, slug, function):
    module = _module(assignment_id)
    part = next(p for p in module.ASSIGNMENT.parts if p.function == function)
    sol = _solution(assignment_id, slug, mistake=slug)
    for case in [*part.visible(), *part.hidden(SEED)]:
        try:
            verdict = _judge(sol, function, case)
        except Exception as exc:  # noqa: BLE001 - the worker would report it as raising
            verdict = f"raised {type(exc).__name__}: {exc}"
        if verdict is not None:
            assert module.HINTS[slug] in verdict, (slug, case.label, verdict)
            return
    pytest.fail(f"mistake {slug} passed every case of {function}")


# ------------------------------------------------------------------ trusted helpers


def test_trusted_batch_norm_agrees_with_jaxdl_and_the_solution():
    import jax.numpy as jnp
    import jaxdl

    bn = registry.module("week3/batch_norm")
    _bn_inputs, _bn_net, _bn_np = bn._bn_inputs, bn._bn_net, bn._bn_np
    T = registry.module("week3/batch_norm", "trusted")

    sol = _solution("week3/batch_norm", "trusted")
    r = np.random.default_rng(0)
    for train in (True, False):
        gamma, beta, Z, rm, rv = _bn_inputs(r, 9, 5, tiny=0)
        out, mean, var, cache = T.batchnorm_forward(gamma, beta, Z, rm, rv, train)
        y, state = jaxdl.nn.batchnorm({"gamma": gamma, "beta": beta}, {"mean": rm, "var": rv}, Z, train=train)
        np.testing.assert_allclose(out, y, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(mean, state["mean"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(var, state["var"], rtol=1e-5, atol=1e-6)
        for got, want in zip((out, mean, var), _bn_np(gamma, beta, Z, rm, rv, train)[:3]):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(cache["Z_norm"], _bn_np(gamma, beta, Z, rm, rv, train)[3]["Z_norm"],
                                   rtol=1e-5, atol=1e-5)
    dims = [6, 5, 4, 3]
    params, state = _bn_net(r, dims)
    X = r.normal(size=(7, 6)).astype(np.float32)
    L = len(dims) - 1
    plain = {k: v for k, v in params.items() if k.startswith("W") or k == f"b{L}"}
    plain.update({f"b{l}": jnp.zeros((dims[l],), jnp.float32) for l in range(1, L)})
    bn = ([{"gamma": params[f"gamma{l}"], "beta": params[f"beta{l}"]} for l in range(1, L)],
          [{"mean": state[f"mean{l}"], "var": state[f"var{l}"]} for l in range(1, L)])
    for train in (True, False):
        logits, new_state = T.forward_propagation_with_batchnorm(params, state, X, train)
        ref_logits, ref_state = jaxdl.nn.mlp_apply(plain, X, batchnorm=bn, train=train)
        np.testing.assert_allclose(logits, ref_logits, rtol=1e-4, atol=1e-4)
        for l in range(1, L):
            np.testing.assert_allclose(new_state[f"mean{l}"], ref_state[l - 1]["mean"], rtol=1e-4, atol=1e-5)
        sol_logits, sol_state = sol.forward_propagation_with_batchnorm(params, state, X, train)
        np.testing.assert_array_equal(logits, sol_logits)
    key = jax.random.key(3)
    for a, b in zip(T.initialize_parameters_with_batchnorm(key, dims),
                    sol.initialize_parameters_with_batchnorm(key, dims)):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


def test_trusted_tuning_helpers_equal_the_solution():
    tuning = registry.module("week3/hyperparameter_tuning")
    NUM_STEPS, _moons = tuning.NUM_STEPS, tuning._moons
    T = registry.module("week3/hyperparameter_tuning", "trusted")

    sol = _solution("week3/hyperparameter_tuning", "trusted")
    X, y, Xd, yd = _moons()
    Y, Yd = y.astype(np.float32), yd.astype(np.float32)
    key = jax.random.key(5)
    np.testing.assert_array_equal(T.sample_learning_rates(key, 7, 1e-3, 3.0),
                                  sol.sample_learning_rates(key, 7, 1e-3, 3.0))
    np.testing.assert_array_equal(T.sample_betas(key, 7, 0.8, 0.99), sol.sample_betas(key, 7, 0.8, 0.99))
    best, trials = T.coarse_to_fine(key, X, Y, Xd, Yd, 8, 2, num_steps=NUM_STEPS)
    sol_best, sol_trials = sol.coarse_to_fine(key, X, Y, Xd, Yd, 8, 2, num_steps=NUM_STEPS)
    assert judge.compare(judge.to_numpy((best, trials)), judge.to_numpy((sol_best, sol_trials)),
                         rtol=1e-6, atol=0) is None


def test_flipped_dev_set_separates_dev_accuracy_from_train_cost():
    """The flipped-dev case names the "best by train cost" mistake for every seed tried."""
    mod = _module("week3/hyperparameter_tuning")
    part = next(p for p in mod.ASSIGNMENT.parts if p.function == "random_search")
    for seed in range(1, 9):
        case = next(c for c in part.hidden(seed) if "flipped" in c.label)
        expected = judge.resolve(case.expected)
        wrong = judge.resolve(case.mistakes[0][1])
        assert judge.compare(wrong, expected) is not None, seed


def test_distribution_checks_accept_the_reference_whatever_the_range():
    mod = _module("week3/hyperparameter_tuning")
    sol = _solution("week3/hyperparameter_tuning", "ks")
    parts = {p.function: p for p in mod.ASSIGNMENT.parts}
    for seed in range(1, 6):
        for name in ("sample_learning_rates", "sample_betas"):
            case = parts[name].hidden(seed)[-1]
            assert case.validate is not None
            assert case.validate(_call(sol, name, case)) is None, (name, seed)
