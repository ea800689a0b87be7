"""The case modules of ``week3/batch_norm`` and ``week3/hyperparameter_tuning``, in process.

No worker here (the end-to-end runs are ``test_assignments.py``): the reference solution's
functions are called directly, with the cases' trusted helpers bound into its namespace the
way the worker binds them, and judged by the same :mod:`grader.judge` functions as the engine.

- the builders give the same number of hidden cases for two seeds;
- every visible case's expected value is what the reference solution returns (and its
  validator accepts it); no known mistake's wrong answer or symptom matches a right answer;
- each mistake of ``tests/mistakes/week3_*.py`` (except the ones only time shows), substituted
  for its function, fails its part's cases with its ``HINTS`` text in the first failure;
- the trusted helpers agree with ``jaxdl`` and with the reference solution;
- the training loops (``model``, ``model_with_batchnorm``): the parent's replays are the
  solutions' loops; :func:`grader.case_tools.trajectory_problem` and ``trajectory_verdict``
  follow the trajectory rule (a run of an ``accepted`` loop passes); a returned batch-norm state
  equal to the initial one is named as the loss called with train=False or the state thrown away. (Correct loops written other ways are in the corpus of
  ``alternatives/``, graded end to end by ``test_alternatives.py``.)
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
    cases = [*part.visible(), *part.hidden(SEED)]
    if function in SLOW_PARTS:  # the hidden case trains briefly on a few hundred digits, the visible one on all
        cases = [*part.hidden(SEED), *part.visible()]
    for case in cases:
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


# ------------------------------------------------------------------ training loops (trajectories)


def _training_problem(m: int = 70):
    """``m`` digits, one-hot labels: two batches of 32 and one of ``m - 64``."""
    import jaxdl

    X, y, _, _ = jaxdl.datasets.digits(seed=3)
    return np.asarray(X)[:m], np.eye(10, dtype=np.float32)[np.asarray(y)[:m]]


def test_training_replays_are_the_solutions_loops():
    """The parent's replays (trusted.train, trusted.train_with_batchnorm), run in float32, give
    the reference solution's numbers: the same loop, so the same costs and parameters."""
    X, Y = _training_problem()
    key = jax.random.key(4)
    T = registry.module("week3/jax_intro", "trusted")
    sol = _solution("week3/jax_intro", "replay")
    initial, params, batch_losses = T.train(key, X, Y, 0.003, 2, 32, dtype=np.float32)
    want_params, want_costs = sol.model(key, X, Y, X, Y, learning_rate=0.003, num_epochs=2, minibatch_size=32,
                                        print_cost=False)
    costs = registry.module("week3/jax_intro")._costs(batch_losses, "example", 32)
    np.testing.assert_allclose(costs, want_costs, rtol=1e-6)
    assert [[n for _, n in epoch] for epoch in batch_losses] == [[32, 32, 6]] * 2
    init_key = jax.random.split(key)[0]
    for k, want in sol.initialize_parameters(init_key, [64, 25, 12, 10]).items():  # exactly the student's start
        np.testing.assert_array_equal(initial[k], want)
    for k in want_params:
        np.testing.assert_allclose(params[k], want_params[k], rtol=1e-6, atol=1e-7)

    T = registry.module("week3/batch_norm", "trusted")
    sol = _solution("week3/batch_norm", "replay")
    initial, trained, batch_costs = T.train_with_batchnorm(key, X, Y, 0.003, 2, 32, dtype=np.float32)
    want_params, want_state, want_costs = sol.model_with_batchnorm(key, X, Y, learning_rate=0.003, num_epochs=2,
                                                                   minibatch_size=32, print_cost=False)
    costs = registry.module("week3/batch_norm")._costs(batch_costs, "example", 32)
    np.testing.assert_allclose(costs, want_costs, rtol=1e-6)
    assert sorted(trained) == sorted({**want_params, **want_state})
    for k, want in {**want_params, **want_state}.items():
        np.testing.assert_allclose(trained[k], want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="optimizer_state must be one of"):
        T.train_with_batchnorm(key, X, Y, 0.003, 1, 32, optimizer_state="reset")


def test_trajectory_problem_follows_the_bound():
    from grader import case_tools

    steps = np.array([10, 20])
    ref = [2.0, 1.5]
    tol = [case_tools.trajectory_tolerance(t) for t in steps]
    assert tol[0] < tol[1] == case_tools.tolerance(np.float32, cond=case_tools.STEP_GROWTH * 20)["rtol"]
    assert case_tools.trajectory_problem([2.0 * (1 + 0.9 * tol[0]), 1.5 * (1 - 0.9 * tol[1])], ref, steps) is None
    msg = case_tools.trajectory_problem([2.0, 1.5 * (1 + 1.1 * tol[1])], ref, steps)
    assert msg.startswith("costs[1] is ") and "allowed" in msg
    for malformed in ([2.0], [2.0, "x"], [[2.0, 1.5]], None, [2.0, 10**400], [2.0, 1.5 + 0j], [[2.0], [1.5, 1.0]]):
        assert case_tools.trajectory_problem(malformed, ref, steps) == "costs must be a list of 2 numbers, one per epoch"
    assert case_tools.trajectory_problem([2.0, np.nan], ref, steps) == "the costs contain NaN or infinity"
    initial, reference = {"W": np.zeros(4)}, {"W": np.full(4, 0.5)}  # moved by 1.0
    near = {"W": reference["W"] + 0.4 * tol[1]}                          # 0.8 * tol of the way off
    far = {"W": reference["W"] + 0.6 * tol[1]}
    assert case_tools.trajectory_problem(ref, ref, steps, [("parameters", near, reference, initial)]) is None
    assert "the returned parameters differ" in case_tools.trajectory_problem(
        ref, ref, steps, [("parameters", far, reference, initial)])


def test_trajectory_verdict_names_the_nearest_known_mistake():
    from grader import case_tools

    steps = np.array([10, 20])
    initial = {"W": np.zeros(4)}
    runs = {"documented": ([2.0, 1.5], {"W": np.full(4, 0.5)}),
            "stateless": ([2.1, 1.8], {"W": np.full(4, 0.3)}),
            "per batch": ([2.2, 1.6], {"W": np.full(4, 0.5)})}
    kink = {"W": np.array([0.5, 0.5, 0.5, 0.51])}  # the float32 replay past a kink (trajectory rule)
    replays = []

    def replay(variant, dtype):
        replays.append((variant, np.dtype(dtype).name))
        costs, trained = runs[variant]
        if variant == "documented" and dtype == np.float32:
            trained = kink
        return initial, trained, costs, steps

    mistakes = [("state not carried", ["stateless"]), ("cost per mini-batch", ["per batch"])]

    def verdict(costs, trained, accepted=()):
        replays.clear()
        return case_tools.trajectory_verdict(costs, trained, replay, "documented", mistakes, "CONVENTIONS",
                                             accepted=accepted)

    assert verdict(*runs["documented"]) is None
    assert replays == [("documented", "float64")]  # a passing run costs one replay
    assert verdict([2.0, 1.5], kink) is None        # follows the float32 replay
    assert verdict(*runs["stateless"]) == "state not carried"
    assert ("stateless", "float32") in replays and ("stateless", "float64") not in replays
    assert verdict([2.2, 1.6], {"W": np.full(4, 0.5)}) == "cost per mini-batch"
    # as far from a known mistake as from the documented loop (an unknown mistake): not named
    assert verdict([2.1, 1.55], {"W": np.full(4, 0.5)}).endswith("; CONVENTIONS")
    # near a mistake but beyond NAMING_SLACK bounds of it: not named, the conventions follow
    tol = case_tools.trajectory_tolerance(20)
    off = {"W": np.full(4, 0.3 + 0.3 * 2 * case_tools.NAMING_SLACK * tol)}
    msg = verdict([2.1, 1.8], off)
    assert msg.startswith("costs[0] is 2.1 where the replay of the documented loop gives 2 ")
    assert msg.endswith("; CONVENTIONS")
    # a loop that is right too (accepted): its run passes, replayed only for a run off the documented one
    assert verdict(*runs["documented"], accepted=["per batch"]) is None
    assert replays == [("documented", "float64")]
    assert verdict(*runs["per batch"], accepted=["per batch"]) is None
    assert ("per batch", "float64") in replays


def test_unchanged_state_names_the_loss_in_eval_mode_or_the_discarded_state():
    """``model_with_batchnorm``'s visible case: a returned state equal to the initial one is the
    loss called with train=False when the run is that loop (here the parent's own float32 run of
    it, which the mistake's source reproduces: ``test_each_mistake_fails_its_part_with_its_hint``),
    else the state thrown away."""
    bn = _module("week3/batch_norm")
    T = registry.module("week3/batch_norm", "trusted")
    case = next(p for p in bn.ASSIGNMENT.parts if p.function == "model_with_batchnorm").visible()[0]
    key, X, Y = case.args
    kw = case.kwargs
    initial, trained, batch_costs = T.train_with_batchnorm(key, X, Y, kw["learning_rate"], kw["num_epochs"],
                                                           kw["minibatch_size"], dtype=np.float32, train=False)
    params = {k: np.asarray(v) for k, v in trained.items() if not k.startswith(("mean", "var"))}
    state = {k: np.asarray(v) for k, v in trained.items() if k.startswith(("mean", "var"))}
    assert all(np.array_equal(state[k], initial[k]) for k in state)  # eval mode never updates it
    costs = bn._costs(batch_costs, "example", kw["minibatch_size"])
    assert case.validate((params, state, costs)) == bn.HINTS["model_loss_in_eval_mode"]
    start = {k: np.asarray(initial[k]) for k in params}
    assert case.validate((start, state, costs)) == bn.HINTS["model_discards_state"]
