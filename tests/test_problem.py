"""Problem: counting, guarding, bounds, budget and input validation."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nef_agents.errors import BudgetExhausted, ConfigError
from nef_agents.problem import Problem


def sphere(x):
    return float(x @ x)


def test_counts_function_and_gradient_evaluations_separately():
    """Analytic gradients count in njev, not nfev."""
    p = Problem(sphere, [1.0, 2.0], jac=lambda x: 2 * x)
    p.f(p.x0)
    p.grad(p.x0)
    p.grad(p.x0 + 1.0)
    assert (p.nfev, p.njev) == (1, 2)


def test_asking_again_for_the_last_point_is_free():
    """f and grad at the point just asked for are remembered, not recomputed or counted."""
    calls = []
    p = Problem(lambda x: calls.append(1) or float(x @ x), [1.0, 2.0])
    assert p.f(p.x0) == p.f(p.x0) == 5.0
    g1, g2 = p.grad(p.x0), p.grad(p.x0)
    assert len(calls) == p.nfev == 5 and np.array_equal(g1, g2)
    p.f(p.x0 + 1.0)
    assert p.nfev == 6


def test_finite_difference_gradient_counts_two_evaluations_per_coordinate():
    """Central differences cost 2 d evaluations and match the analytic gradient."""
    p = Problem(sphere, [1.0, -2.0, 0.5])
    g = p.grad(p.x0)
    assert p.nfev == 6
    np.testing.assert_allclose(g, 2 * p.x0, rtol=1e-6)


@pytest.mark.parametrize(
    "fun, reason",
    [
        (lambda x: float("nan"), "non-finite"),
        (lambda x: float("inf"), "non-finite"),
        (lambda x: 1 / 0, "ZeroDivisionError"),
        (lambda x: "abc", "real number"),
        (lambda x: np.array([1.0, 2.0]), "real number"),
        (lambda x: None, "real number"),
    ],
)
def test_bad_objective_values_become_recorded_failures(fun, reason):
    """Exceptions, NaN, inf and non-numbers give +inf to the engine, a failure record, and no best."""
    p = Problem(fun, [0.0])
    assert p.f(p.x0) == math.inf
    assert p.n_failed == 1 and reason in p.failures[0].reason
    assert p.best_x is None and p.best_f == math.inf


@pytest.mark.parametrize("value", [np.float32(2.5), np.float64(2.5), np.array(2.5), np.array([2.5]), 2, np.int64(2)])
def test_numpy_scalars_and_size_one_arrays_are_accepted(value):
    """Size-1 arrays and numpy scalars count as real numbers."""
    p = Problem(lambda x: value, [0.0])
    assert p.f(p.x0) == float(np.asarray(value).reshape(()))
    assert p.n_failed == 0


def test_best_point_tracks_lowest_finite_value():
    """The best point is the lowest finite value seen, never a failed one."""
    vals = iter([3.0, float("nan"), 1.0, 2.0])
    p = Problem(lambda x: next(vals), [0.0])
    for x in ([0.0], [1.0], [2.0], [3.0]):
        p.f(np.array(x))
    assert p.best_f == 1.0 and p.best_x.tolist() == [2.0]


def test_budget_stops_evaluation_exactly():
    """No evaluation happens past the budget; BudgetExhausted is raised instead."""
    calls = []
    p = Problem(lambda x: calls.append(1) or 1.0, [0.0], budget=3)
    for k in range(3):
        p.f(p.x0 + k)
    with pytest.raises(BudgetExhausted):
        p.f(p.x0 + 3)
    assert len(calls) == 3 and p.nfev == 3


def test_points_are_projected_into_bounds_before_evaluation():
    """The objective only ever sees points inside the box."""
    seen = []
    p = Problem(lambda x: seen.append(x.copy()) or 0.0, [0.0, 0.0], bounds=[(-1, 1), (0, 2)])
    p.f(np.array([5.0, -3.0]))
    assert seen[0].tolist() == [1.0, 0.0]


def test_x0_outside_bounds_is_projected_with_warning():
    """x0 outside the box is clipped and the user is warned."""
    with pytest.warns(UserWarning, match=r"x0\[1\]"):
        p = Problem(sphere, [0.0, 9.0], bounds=[(-1, 1), (-1, 1)])
    assert p.x0.tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    "bounds, match",
    [
        ([(0, 1), (2, -1)], r"bounds\[1\].*lower <= upper"),
        ([(0, 1)], r"one \(low, high\) pair per dimension"),
        ([(0, 1), (float("nan"), 1)], r"bounds\[1\].*NaN"),
        ([(0, 1), "ab"], r"bounds\[1\]"),
    ],
)
def test_bad_bounds_raise_errors_naming_the_index(bounds, match):
    """Bad bounds raise ConfigError (a ValueError) naming the offending index."""
    with pytest.raises(ValueError, match=match):
        Problem(sphere, [0.0, 0.0], bounds=bounds)


def test_int_and_float32_x0_are_converted_to_float64():
    """Integer and float32 starting points become float64 vectors."""
    assert Problem(sphere, [1, 2]).x0.dtype == np.float64
    assert Problem(sphere, np.array([1, 2], dtype=np.float32)).x0.dtype == np.float64


@pytest.mark.parametrize("x0, match", [([], "zero-dimensional"), ([[1.0], [2.0]], "one-dimensional"),
                                       ([1.0, float("nan")], r"x0\[1\]"), ("abc", "vector of real")])
def test_bad_x0_is_rejected_with_a_named_error(x0, match):
    """Empty, 2-D, non-finite or non-numeric x0 is rejected."""
    with pytest.raises(ConfigError, match=match):
        Problem(sphere, x0)


def test_require_finite_bounds_names_first_unbounded_index():
    """Methods that need a finite box say which coordinate is unbounded."""
    p = Problem(sphere, [0.0, 0.0], bounds=[(-1, 1), (None, 1)])
    with pytest.raises(ConfigError, match=r"bounds\[1\]"):
        p.require_finite_bounds("uniform restarts")


def test_named_terms_sum_to_the_objective_and_reweighting_changes_only_the_engine_view():
    """Engines see weighted terms; best_f stays the unweighted sum."""
    p = Problem(lambda x: {"data": 1.0, "pen": 2.0}, [0.0], adjustable=("pen",))
    assert p.f(p.x0) == 3.0
    p.set_term_weights({"pen": 0.5})
    assert p.f(p.x0) == 2.0
    assert p.best_f == 3.0
    with pytest.raises(ConfigError, match="not adjustable"):
        p.set_term_weights({"data": 0.1})


def test_gradient_failure_returns_none_and_is_recorded():
    """A jac that raises or returns NaN gives None and a failure record."""
    p = Problem(sphere, [1.0], jac=lambda x: np.array([float("nan")]))
    assert p.grad(p.x0) is None and "non-finite gradient" in p.failures[0].reason


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=6), st.integers(1, 20))
def test_nfev_never_exceeds_budget_and_best_is_finite(xs, budget):
    """Over random points and budgets: nfev <= budget, best is the min of finite values seen."""
    vals = []
    p = Problem(lambda x: vals.append(float(np.sum(x))) or float(np.sum(x)), [0.0] * len(xs), budget=budget)
    with warnings.catch_warnings():
        for k in range(budget + 5):
            try:
                p.f(np.asarray(xs) + k)
            except BudgetExhausted:
                break
    assert p.nfev <= budget and p.best_f == min(vals)


def _smooth(x):
    return float(np.sum(np.exp(0.3 * x)) + x @ x + x[0] * x[-1])


def _smooth_grad(x):
    g = 0.3 * np.exp(0.3 * x) + 2 * x
    g[0] += x[-1]
    g[-1] += x[0]
    return g


def test_forward_differences_cost_d_evaluations_with_fx_and_d_plus_1_without():
    """Forward differences: d evaluations given f(x), d + 1 without; ~1e-6 relative accuracy."""
    x0 = np.array([1.0, -2.0, 0.5, 3.0])
    p = Problem(_smooth, x0)
    g = p.grad(p.x0, fx=_smooth(x0), scheme="forward")
    assert p.nfev == 4
    np.testing.assert_allclose(g, _smooth_grad(x0), rtol=1e-6)
    q = Problem(_smooth, x0)
    g2 = q.grad(q.x0, scheme="forward")
    assert q.nfev == 5
    np.testing.assert_allclose(g2, _smooth_grad(x0), rtol=1e-6)


def test_forward_difference_steps_backward_at_the_upper_bound():
    """At an upper bound the forward step would leave the box: it steps backward instead."""
    seen = []
    p = Problem(lambda x: seen.append(x.copy()) or _smooth(x), [1.0, 0.5], bounds=[(-2, 1.0), (-2, 2)])
    g = p.grad(p.x0, scheme="forward")
    assert all(np.all(z <= [1.0, 2.0]) for z in seen) and p.nfev == 3
    np.testing.assert_allclose(g, _smooth_grad(p.x0), rtol=1e-6)


def test_memo_never_returns_one_scheme_for_another():
    """The remembered gradient is keyed by point, scheme and step: asking again is free,
    asking for another scheme at the same point differences again."""
    x0 = np.array([1.0, -2.0, 0.5])
    p = Problem(_smooth, x0)
    fx = p.f(p.x0)
    gf = p.grad(p.x0, fx=fx, scheme="forward")
    assert p.nfev == 1 + 3
    assert np.array_equal(p.grad(p.x0, fx=fx, scheme="forward"), gf) and p.nfev == 4
    gc = p.grad(p.x0, fx=fx)  # central
    assert p.nfev == 4 + 6 and not np.array_equal(gc, gf)
    assert p.known_grad(p.x0)[0] == "central" and p.known_grad(p.x0 + 1.0) is None
    assert np.array_equal(p.grad(p.x0), gc) and p.nfev == 10
    p.grad(p.x0, fx=fx, scheme="forward")
    assert p.nfev == 13
    np.testing.assert_allclose(gc, _smooth_grad(x0), rtol=1e-9)
    with pytest.raises(ConfigError, match="scheme"):
        p.grad(p.x0, scheme="backward")
