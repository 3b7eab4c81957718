"""Health metrics on trajectories with known answers; scale and dimension invariance."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nef_agents.errors import ConfigError
from nef_agents.health import (
    METRIC_NAMES,
    History,
    assess,
    balance,
    classify_trend,
    diversity,
    integration,
    resilience,
    stability,
)


def _line(t: int, d: int = 2) -> np.ndarray:
    """Points moving along e_1 with shrinking steps (a straight descent)."""
    pts = np.zeros((t, d))
    pts[:, 0] = 0.9 ** np.arange(t)
    return pts


def _zigzag(t: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """x_t = (-0.95)^t e_1: every step reverses the previous one; loss x^2 keeps falling."""
    x = (-0.95) ** np.arange(t)
    pts = np.column_stack([x, np.zeros(t)])
    return x**2, pts


def _spike(recover_after: int | None, t: int = 20, at: int = 4) -> np.ndarray:
    """A decreasing loss with one jump at ``at`` that returns below its pre-jump level after ``recover_after`` steps."""
    loss = 10.0 - 0.1 * np.arange(t)
    end = t if recover_after is None else at + recover_after
    loss[at:end] += 5.0
    return loss


# --- stability, trend on known shapes -------------------------------------------------


def test_zigzag_has_stability_near_zero_and_oscillating_trend():
    """Steps alternating sign give reversal rate 1, so stability 0, and the trend reads oscillating."""
    loss, pts = _zigzag()
    assert stability(loss, np.diff(pts, axis=0)) == pytest.approx(0.0, abs=1e-12)
    assert classify_trend(loss, pts).label == "oscillating"


def test_geometric_decrease_is_converging_with_stability_one():
    """A monotone geometric decrease along one line: no reversal, no increase, trend converging."""
    pts = _line(20)
    loss = 0.5 * pts[:, 0] ** 2
    report = assess(loss, pts)
    assert report.stability == pytest.approx(1.0)
    trend = classify_trend(loss, pts)
    assert trend.label == "converging"
    assert trend.numbers["efficiency"] == pytest.approx(1.0)


def test_flat_loss_is_plateau():
    """A constant loss while the points move is a plateau."""
    pts = np.random.default_rng(0).normal(size=(20, 3)).cumsum(axis=0)
    assert classify_trend(np.full(20, 3.25), pts).label == "plateau"


def test_rising_loss_is_diverging():
    """A loss that climbs every iteration is diverging."""
    pts = _line(20)
    assert classify_trend(1.2 ** np.arange(20), pts).label == "diverging"


def test_vanishing_gradient_is_stationary():
    """A gradient 10^4 times smaller than its window maximum marks a stationary point."""
    pts = _line(20)
    grads = np.outer(10.0 ** -np.linspace(0, 4.5, 20), [1.0, 0.0])
    trend = classify_trend(0.5 * pts[:, 0] ** 2, pts, grads)
    assert trend.label == "stationary"
    assert trend.numbers["grad_ratio"] < 1e-3


def test_random_walk_loss_is_noisy():
    """A loss that wanders up and down with no net direction is noisy."""
    rng = np.random.default_rng(3)
    pts = rng.normal(size=(20, 5)).cumsum(axis=0)
    loss = np.array([5, 4, 6, 3, 5, 4, 6, 5, 4, 5, 6, 4, 5, 3, 5, 6, 4, 5, 4, 4.5])
    assert classify_trend(loss, pts).label == "noisy"


# --- diversity --------------------------------------------------------------------------


def test_steps_along_one_direction_have_diversity_zero():
    """Steps of any lengths and signs along one direction in 50-D: participation ratio 1, diversity 0."""
    rng = np.random.default_rng(1)
    u = rng.normal(size=50)
    steps = np.outer(rng.normal(size=19), u)
    assert diversity(steps) == pytest.approx(0.0, abs=1e-9)
    noisy = steps + 1e-3 * rng.normal(size=steps.shape)
    assert diversity(noisy) < 0.05


def test_isotropic_steps_have_high_diversity_matching_theory():
    """Gaussian steps, d=50, 20 points (19 steps): E[PR] = n d/(n+d+1) gives 0.70 after normalization.

    (PR - 1)/(min(n, d) - 1) is not 1 for random steps because their singular
    values spread (Marchenko-Pastur); the per-window spread is ~0.02, so 0.6
    is a safe lower bound and the mean must sit within 0.03 of theory.
    """
    rng = np.random.default_rng(2)
    n, d = 19, 50
    values = [diversity(rng.normal(size=(n, d))) for _ in range(200)]
    expected = (n * d / (n + d + 1) - 1) / (n - 1)
    assert min(values) > 0.6
    assert np.mean(values) == pytest.approx(expected, abs=0.03)


def test_diversity_edge_cases():
    """Dimension 1 and fewer than 3 points give 1.0; all-zero steps give 0.0."""
    assert diversity(np.ones((10, 1))) == 1.0
    assert diversity(np.ones((1, 5))) == 1.0
    assert diversity(np.zeros((10, 5))) == 0.0


def test_diversity_uses_gram_of_the_small_side():
    """A precomputed window Gram matrix gives the same diversity as the steps."""
    steps = np.random.default_rng(4).normal(size=(19, 300))
    assert diversity(steps, gram=steps @ steps.T) == pytest.approx(diversity(steps))


# --- resilience -------------------------------------------------------------------------


def test_fast_recovery_scores_higher_than_slow_and_none_scores_zero():
    """A spike recovered in 2 steps beats one recovered in 10; one never recovered scores 0."""
    fast, slow, never = resilience(_spike(2)), resilience(_spike(10)), resilience(_spike(None))
    assert fast == pytest.approx(0.5)
    assert slow == pytest.approx(0.1)
    assert never == 0.0
    assert resilience(10.0 - np.arange(20.0)) == 1.0


def test_spike_on_last_point_is_not_scored_yet():
    """A jump on the final iteration has had no chance to recover, so resilience stays 1."""
    loss = 10.0 - np.arange(20.0)
    loss[-1] += 50.0
    assert resilience(loss) == 1.0


# --- balance and integration -----------------------------------------------------------


def test_dominant_term_scores_lower_balance_than_shared_terms():
    """Three terms: one holding 99% of the change energy scores below three sharing it evenly."""
    rng = np.random.default_rng(5)
    path = rng.normal(size=(20, 1)).cumsum(axis=0)
    even = path * np.array([1.0, 1.0, 1.0])
    skewed = path * np.sqrt(np.array([0.99, 0.005, 0.005]))
    assert balance(terms=even) == pytest.approx(1.0)
    assert balance(terms=skewed) < 0.1


def test_dominant_coordinate_scores_lower_balance_than_shared_coordinates():
    """Gradient energy concentrated in one of ten coordinates scores below an isotropic gradient."""
    rng = np.random.default_rng(6)
    g_even = rng.normal(size=(20, 10))
    g_skewed = g_even * np.array([30.0] + [1.0] * 9)
    assert balance(grads=g_skewed) < 0.3 < 0.9 < balance(grads=g_even)


def test_balance_falls_back_to_steps_without_gradient():
    """With no gradient and no terms, balance measures the steps' coordinate energy."""
    steps = np.zeros((19, 4))
    steps[:, 2] = 1.0
    assert balance(steps=steps) == 0.0


def test_integration_reads_gradient_coherence():
    """Identical consecutive gradients give 1, alternating ones 0, orthogonal ones 0.5."""
    g = np.tile([1.0, 2.0], (10, 1))
    assert integration(g) == pytest.approx(1.0)
    assert integration(g * (-1.0) ** np.arange(10)[:, None]) == pytest.approx(0.0)
    assert integration(np.array([[1.0, 0], [0, 1.0], [1.0, 0]])) == pytest.approx(0.5)


# --- assess, edge cases and cost ------------------------------------------------------


@pytest.mark.parametrize("t", [0, 1, 2])
def test_tiny_windows_report_full_health(t):
    """With fewer than 3 points there is no evidence of ill health: every metric is 1."""
    report = assess(np.arange(t, dtype=float)[::-1], np.zeros((t, 3)))
    assert report.as_array().tolist() == [1.0] * 5
    assert report.n_points == t


def test_assess_overall_is_the_weighted_sum():
    """overall equals the weights (normalized to sum 1) dotted with the five metrics."""
    loss, pts = _zigzag()
    weights = [2.0, 0.0, 0.0, 0.0, 2.0]
    report = assess(loss, pts, weights=weights)
    assert report.weights == (0.5, 0.0, 0.0, 0.0, 0.5)
    assert report.overall == pytest.approx(0.5 * report.stability + 0.5 * report.integration)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"points": np.zeros((4, 2))}, "points"),
        ({"grads": np.zeros((5, 3))}, "grads"),
        ({"terms": np.zeros(5)}, "terms"),
        ({"weights": [1, 1, 1]}, "weights"),
        ({"weights": [1, -1, 1, 1, 1]}, "weights"),
    ],
)
def test_assess_rejects_bad_shapes_naming_the_field(kwargs, field):
    """Mismatched shapes or bad weights raise ConfigError (a ValueError) naming the argument."""
    args = {"losses": np.ones(5), "points": np.zeros((5, 2)), **kwargs}
    with pytest.raises(ConfigError, match=f"`{field}`"):
        assess(**args)


def test_assess_never_forms_a_d_by_d_matrix():
    """d = 60000 (a d x d float matrix would need 29 GB): assess still runs on the window."""
    rng = np.random.default_rng(7)
    pts = rng.normal(size=(20, 60_000))
    report = assess(rng.random(20), pts, grads=rng.normal(size=pts.shape))
    assert 0.0 <= report.overall <= 1.0


# --- History ------------------------------------------------------------------------------


def test_history_keeps_the_last_capacity_rows_and_their_step_gram():
    """After wrapping, the window holds the newest rows, steps are their diffs, the Gram matches."""
    rng = np.random.default_rng(8)
    h = History(capacity=5)
    xs = rng.normal(size=(12, 3))
    for i, x in enumerate(xs):
        h.append(float(i), x, grad=2 * x)
    assert len(h) == 5
    np.testing.assert_array_equal(h.losses, np.arange(7.0, 12.0))
    np.testing.assert_array_equal(h.points, xs[-5:])
    np.testing.assert_allclose(h.steps, np.diff(xs[-5:], axis=0))
    np.testing.assert_allclose(h.step_gram, h.steps @ h.steps.T)
    np.testing.assert_array_equal(h.grads, 2 * xs[-5:])


def test_history_returns_copies_and_hides_partial_gradients():
    """Returned arrays do not change under later appends; grads is None unless every row has one."""
    h = History(capacity=3)
    h.append(1.0, [0.0, 0.0], grad=[1.0, 1.0])
    before = h.points
    h.append(2.0, [1.0, 0.0])
    h.append(3.0, [2.0, 0.0], grad=[1.0, 1.0])
    h.append(4.0, [3.0, 0.0], grad=[1.0, 1.0])
    np.testing.assert_array_equal(before, [[0.0, 0.0]])
    assert h.grads is None  # the row without a gradient is still in the window
    h.append(5.0, [4.0, 0.0], grad=[1.0, 1.0])
    assert h.grads is not None and h.grads.shape == (3, 2)


def test_history_rejects_a_dimension_change():
    """A point of a different dimension raises ConfigError naming `x`; clear() allows it."""
    h = History()
    h.append(1.0, np.zeros(3))
    with pytest.raises(ConfigError, match="`x`"):
        h.append(1.0, np.zeros(4))
    h.clear()
    h.append(1.0, np.zeros(4))
    assert h.dim == 4


def test_history_rejects_a_tiny_capacity():
    """A window that cannot hold one step is a configuration error."""
    with pytest.raises(ConfigError, match="capacity"):
        History(capacity=1)


# --- invariances ----------------------------------------------------------------------------

_AFFINE = [(1e6, 0.0), (1.0, 123_457.0), (1e6, -98_765.0), (2.0**-10, 5.0)]


@settings(max_examples=60, deadline=None)
@given(
    losses=st.lists(st.integers(-1000, 1000), min_size=1, max_size=25),
    d=st.integers(1, 6),
    m=st.integers(2, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_metrics_and_trend_unchanged_by_scaling_or_shifting_the_objective(losses, d, m, seed):
    """L -> aL + b, G -> aG, F -> aF + b (a = 1e6 and others) leaves every metric and the trend label unchanged."""
    rng = np.random.default_rng(seed)
    loss = np.array(losses, dtype=float)
    t = loss.size
    pts = rng.normal(size=(t, d)).cumsum(axis=0)
    grads = rng.integers(-50, 51, size=(t, d)).astype(float)
    terms = rng.integers(-100, 101, size=(t, m)).astype(float)
    base = assess(loss, pts, grads, terms).as_array()
    base_steps = assess(loss, pts).as_array()
    label = classify_trend(loss, pts, grads).label
    for a, b in _AFFINE:
        np.testing.assert_allclose(
            assess(a * loss + b, pts, a * grads, a * terms + b).as_array(), base, atol=1e-12
        )
        np.testing.assert_allclose(assess(a * loss + b, pts).as_array(), base_steps, atol=1e-12)
        assert classify_trend(a * loss + b, pts, a * grads).label == label


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), t=st.integers(3, 25))
def test_metrics_unchanged_by_scaling_real_valued_trajectories(seed, t):
    """On a noisy real-valued descent, multiplying by 1e6 or shifting by 1e3 changes no metric beyond 1e-9."""
    rng = np.random.default_rng(seed)
    pts = rng.normal(size=(t, 4)).cumsum(axis=0)
    loss = np.cumsum(rng.normal(-0.5, 1.0, size=t))
    grads = rng.normal(size=(t, 4))
    base = assess(loss, pts, grads).as_array()
    for a, b in [(1e6, 0.0), (1.0, 1e3), (1e6, 1e3)]:
        np.testing.assert_allclose(assess(a * loss + b, pts, a * grads).as_array(), base, atol=1e-9)


def test_same_trajectory_in_2d_and_200d_gives_the_same_shape_metrics():
    """A 2-D path embedded isometrically in 200-D keeps stability, resilience, integration and trend."""
    rng = np.random.default_rng(9)
    t = np.arange(20)
    pts2 = np.column_stack([np.cos(t) * 0.9**t, np.sin(1.3 * t) * 0.9**t])
    pts2 += 0.05 * rng.normal(size=(20, 2))
    loss = 0.5 * (pts2**2).sum(axis=1)
    loss[7] += 0.3  # a spike, so resilience is exercised
    q, _ = np.linalg.qr(rng.normal(size=(200, 2)))
    pts200 = pts2 @ q.T
    r2, r200 = assess(loss, pts2), assess(loss, pts200)
    for name in ("stability", "resilience", "integration"):
        assert getattr(r200, name) == pytest.approx(getattr(r2, name), abs=1e-12), name
    assert classify_trend(loss, pts200).label == classify_trend(loss, pts2).label


def test_random_walk_stability_does_not_depend_on_dimension():
    """Isotropic random-walk steps reverse half the time in any dimension: mean stability ~0.5 in 2-D and 200-D."""
    rng = np.random.default_rng(10)
    loss = -np.arange(20.0)
    means = {}
    for d in (2, 200):
        means[d] = np.mean([stability(loss, rng.normal(size=(19, d))) for _ in range(300)])
    assert means[2] == pytest.approx(0.5, abs=0.03)
    assert means[200] == pytest.approx(0.5, abs=0.03)


def test_report_metric_names_and_order():
    """as_array follows METRIC_NAMES order."""
    loss, pts = _zigzag()
    report = assess(loss, pts)
    assert report.as_array().tolist() == [getattr(report, n) for n in METRIC_NAMES]
