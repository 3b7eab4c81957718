"""minimize and scipy_method: the scipy-compatible contract."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from hypothesis import given, settings
from hypothesis import strategies as st

from nef_agents import functions as F
from nef_agents import minimize, scipy_method
from nef_agents.errors import ConfigError

ROSEN = F.rosenbrock(2)
ENGINE_CASES = {  # engine: (options, budget, target on 2-D Rosenbrock from (-1.2, 1))
    "lbfgs": ({}, 200, 1e-10),
    "cmaes": ({}, 4000, 1e-8),
    "adam": ({"learning_rate": 0.02}, 20000, 1e-3),
    "gd": ({"learning_rate": 1e-3, "momentum": 0.9}, 20000, 1e-3),
}


@pytest.mark.parametrize("engine", sorted(ENGINE_CASES))
def test_each_engine_reaches_rosenbrock_minimum_through_minimize(engine):
    """minimize with every engine gets below its stated target on 2-D Rosenbrock."""
    opts, budget, target = ENGINE_CASES[engine]
    res = minimize(ROSEN.f, [-1.2, 1.0], jac=ROSEN.grad, engine=engine, budget=budget, seed=1,
                   options=opts, agents=False)
    assert res.fun < target, res.message
    assert res.nfev <= budget


def test_result_fun_equals_objective_at_returned_x():
    """The returned fun is exactly f(x) for the returned x."""
    res = minimize(ROSEN.f, [-1.2, 1.0], jac=ROSEN.grad, engine="lbfgs", seed=0)
    assert res.fun == ROSEN.f(res.x)


def test_same_seed_gives_identical_results_and_global_state_is_untouched():
    """Same seed, same result; numpy's global random state is never used."""
    fn = F.rastrigin(3)
    state = np.random.get_state()[1].copy()
    a = minimize(fn.f, [2.0, 2.0, 2.0], engine="cmaes", budget=1500, seed=0)
    b = minimize(fn.f, [2.0, 2.0, 2.0], engine="cmaes", budget=1500, seed=0)
    assert a.fun == b.fun and np.array_equal(a.x, b.x)
    assert [d["action"] for d in a.decisions] == [d["action"] for d in b.decisions]
    assert np.array_equal(np.random.get_state()[1], state)


def test_objective_raising_and_nan_keeps_best_finite_value():
    """Failures are counted; fun is the best finite value seen."""
    def f(x):
        if x[0] > 0.5:
            raise RuntimeError("model blew up")
        if x[1] > 0.5:
            return float("nan")
        return float((x[0] - 0.4) ** 2 + (x[1] - 0.4) ** 2)

    res = minimize(f, [0.0, 0.0], engine="cmaes", budget=600, seed=3)
    assert np.isfinite(res.fun) and res.fun < 1e-3
    assert res.failed_evaluations > 0
    assert res.fun == f(res.x)


def test_run_where_every_evaluation_fails_reports_why():
    """An objective that always fails ends with success=False and a message naming the failure."""
    res = minimize(lambda x: float("nan"), [1.0, 1.0], engine="cmaes", budget=50, seed=0)
    assert not res.success and res.status == 3
    assert "every one of" in res.message and "non-finite" in res.message
    assert res.failed_evaluations == res.nfev == 50


def test_nfev_within_budget_and_x_within_bounds():
    """The budget caps nfev and the result lies in the box."""
    fn = F.rastrigin(4)
    bounds = [(-1.0, 0.5)] * 4
    res = minimize(fn.f, [0.3] * 4, bounds=bounds, budget=777, seed=5)
    assert res.nfev <= 777
    assert np.all(res.x >= -1.0) and np.all(res.x <= 0.5)


@pytest.mark.parametrize("seed", [0, 1, 2**31, 2**63 - 1])
def test_every_nonnegative_integer_seed_is_valid(seed):
    """Seed 0 and very large seeds work."""
    res = minimize(F.sphere(2).f, [1.0, 1.0], engine="cmaes", budget=200, seed=seed)
    assert np.isfinite(res.fun)


def test_bad_arguments_raise_value_errors_naming_them():
    """Unknown engines, options and bad seeds are reported by name."""
    with pytest.raises(ConfigError, match="unknown engine 'bfgs'"):
        minimize(F.sphere(2).f, [1.0, 1.0], engine="bfgs")
    with pytest.raises(ValueError, match="seed"):
        minimize(F.sphere(2).f, [1.0, 1.0], seed=-1)
    with pytest.raises(ValueError, match="lr"):
        minimize(F.sphere(2).f, [1.0, 1.0], engine="gd", options={"lr": 0.1})


def test_scipy_minimize_accepts_scipy_method_with_intermediate_result_callback():
    """scipy.optimize.minimize(method=scipy_method) runs and the callback gets intermediate_result."""
    seen = []

    def cb(intermediate_result):
        seen.append(intermediate_result.fun)

    res = scipy.optimize.minimize(ROSEN.f, [-1.2, 1.0], jac=ROSEN.grad, method=scipy_method, callback=cb,
                                  options={"engine": "lbfgs", "seed": 0, "maxfev": 500})
    assert res.fun < 1e-10 and len(seen) == res.nit


def test_callback_stop_iteration_ends_with_status_99_and_best_point():
    """A callback raising StopIteration stops the run; the best point so far is returned."""
    def cb(intermediate_result):
        if intermediate_result.nit >= 3:
            raise StopIteration

    res = scipy.optimize.minimize(ROSEN.f, [-1.2, 1.0], jac=ROSEN.grad, method=scipy_method, callback=cb)
    assert res.status == 99 and not res.success and res.nit == 3
    assert res.fun == ROSEN.f(res.x) and res.fun < ROSEN.f(np.array([-1.2, 1.0]))


def test_old_style_callback_receives_x():
    """A callback(xk) gets the current point."""
    xs = []
    minimize(ROSEN.f, [-1.2, 1.0], jac=ROSEN.grad, engine="lbfgs", callback=lambda xk: xs.append(xk), seed=0)
    assert xs and all(x.shape == (2,) for x in xs)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(0, 10_000))
def test_result_never_worse_than_start_on_random_quadratics(d, s):
    """On random convex quadratics f(x) = 0.5 x'Ax - b'x, result.fun <= f(x0)."""
    rng = np.random.default_rng(s)
    m = rng.standard_normal((d, d))
    a = m @ m.T + 0.1 * np.eye(d)
    b = rng.standard_normal(d)
    x0 = rng.uniform(-3, 3, d)

    def f(x):
        return float(0.5 * x @ a @ x - b @ x)

    res = minimize(f, x0, jac=lambda x: a @ x - b, budget=300, seed=s)
    assert res.fun <= f(x0)
    assert res.nfev <= 300


def test_schedule_runs_gd_then_hands_over_to_the_framework():
    """engine=['gd', 'framework'] starts with gd and lets the agents switch after the first pause."""
    res = minimize(ROSEN.f, [-1.2, 1.0], jac=ROSEN.grad, engine=["gd", "framework"], budget=3000, seed=0,
                   options={"gd": {"learning_rate": 1e-3}})
    assert res.engines[0]["engine"] == "gd"
    assert res.decisions, "the framework phase should take at least one decision"


def test_adjustable_must_name_terms_the_objective_returns():
    """`adjustable` naming a term the objective does not return is a ValueError naming the argument."""
    with pytest.raises(ValueError, match="`adjustable` names \\['pen'\\]"):
        minimize(lambda x: {"data": float(x @ x)}, [1.0, 2.0], adjustable=("pen",), seed=0)


def test_x0_outside_bounds_warning_points_at_the_callers_line():
    """The projection warning is attributed to the user's call, not to a line inside the package."""
    with pytest.warns(UserWarning, match=r"x0\[0\]") as rec:
        minimize(lambda x: float(x @ x), [5.0, 0.0], bounds=[(-1, 1), (-1, 1)], seed=0)
    assert rec[0].filename == __file__


def test_flaky_objective_never_loops_forever():
    """An objective that raises 30% of the time ends the run (no endless rollbacks that evaluate nothing)."""
    rng = np.random.default_rng(1)

    def sometimes(x):
        if rng.random() < 0.3:
            raise ValueError("flaky")
        return float(np.sum((x - 0.3) ** 2))

    res = minimize(sometimes, [1.0, 2.0], engine="lbfgs", seed=0, budget=300)
    assert res.nfev <= 300 and res.nit < 2000
    assert res.fun < 1e-8 and res.failed_evaluations > 0


def test_always_failing_objective_without_budget_ends_with_status_3():
    """With no budget, an objective that always fails stops after a bounded number of tries with status 3."""
    res = minimize(lambda x: float("nan"), [-1.2, 1.0], seed=0)
    assert res.status == 3 and not res.success
    assert res.nfev <= 1100 and "every one of" in res.message
