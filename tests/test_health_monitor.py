"""HealthMonitor end to end: pauses, cooldown, anomalies, meta-learning, reset."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nef_agents.errors import ConfigError
from nef_agents.health import (
    Baselines,
    HealthMonitor,
    MetaLearner,
    MonitorStep,
    PauseConfig,
    detect_anomalies,
    plateau_ratio,
    should_pause,
)

C = np.logspace(0, 3, 10)  # curvatures of an ill-conditioned quadratic, 1 .. 1e3


def _quad(x: np.ndarray) -> tuple[float, np.ndarray]:
    """f = 0.5 * sum(c_i x_i^2) and its gradient."""
    return 0.5 * float(C @ (x * x)), C * x


def _run(monitor: HealthMonitor, xs, losses, grads=None) -> list[MonitorStep]:
    out = []
    for i, (x, f) in enumerate(zip(xs, losses, strict=True)):
        g = None if grads is None else grads[i]
        out.append(monitor.observe(i, i + 1, f, x, g))
    return out


def _gd(lr: float, n: int) -> tuple[list, list, list]:
    x = np.ones(10)
    xs, fs, gs = [], [], []
    for _ in range(n):
        f, g = _quad(x)
        xs.append(x.copy()), fs.append(f), gs.append(g)
        x = x - lr * g
    return xs, fs, gs


def _triggers(steps: list[MonitorStep]) -> list[tuple[int, set[str]]]:
    return [(s.iteration, {r.trigger for r in s.pause.reasons}) for s in steps if s.pause.pause]


# --- pauses -----------------------------------------------------------------------------


def test_gd_with_too_large_step_on_ill_conditioned_quadratic_pauses_for_oscillation():
    """GD with lr = 1.9 / max(c) zig-zags along the stiffest axis: an oscillation pause fires."""
    steps = _run(HealthMonitor(meta=None), *_gd(1.9 / C.max(), 40))
    fired = _triggers(steps)
    assert fired, "no pause"
    assert "oscillation" in fired[0][1]
    assert steps[-1].trend.label == "oscillating"
    assert steps[-1].report.stability < 0.1


def test_flat_region_after_progress_pauses_for_plateau():
    """GD on max(0.5|x|^2, 2) makes progress, then sits still on the flat floor: a plateau pause fires there."""
    x, xs, fs, gs = np.full(4, 3.0), [], [], []
    for _ in range(60):
        f = max(0.5 * float(x @ x), 2.0)
        g = x.copy() if 0.5 * float(x @ x) > 2.0 else np.zeros(4)
        xs.append(x.copy()), fs.append(f), gs.append(g)
        x = x - 0.1 * g
    flat_from = next(i for i, f in enumerate(fs) if f == 2.0)
    steps = _run(HealthMonitor(meta=None), xs, fs, gs)
    plateau = [i for i, trig in _triggers(steps) if "plateau" in trig]
    assert plateau and plateau[0] > flat_from
    assert all(i > flat_from for i, _ in _triggers(steps))


def test_steadily_converging_newton_like_run_never_pauses():
    """Damped Newton (x <- 0.8 x) on the ill-conditioned quadratic: 80 iterations, loss down 1e15, no pause."""
    x, xs, fs, gs = np.ones(10), [], [], []
    for _ in range(80):
        f, g = _quad(x)
        xs.append(x.copy()), fs.append(f), gs.append(g)
        x = x - 0.2 * g / C  # H^{-1} g = x for this diagonal Hessian
    steps = _run(HealthMonitor(), xs, fs, gs)
    assert fs[-1] < 1e-14 * fs[0]
    assert _triggers(steps) == []
    assert all(s.pause.reasons == [] for s in steps)


def test_cooldown_keeps_pauses_off_consecutive_iterations():
    """With cooldown 3 an oscillating run pauses repeatedly, but never within 3 iterations of the last pause."""
    monitor = HealthMonitor(pause=PauseConfig(cooldown=3, warmup=5), meta=None)
    fired = [i for i, _ in _triggers(_run(monitor, *_gd(1.9 / C.max(), 40)))]
    assert len(fired) >= 3
    assert min(np.diff(fired)) == 4


def test_should_pause_blocks_during_warmup_and_cooldown_but_reports_reasons():
    """A firing criterion pauses only outside warmup and cooldown; blocked decisions still list it."""
    cfg = PauseConfig(warmup=5, cooldown=2)
    kw = {"losses": np.ones(3), "reversal_rate": 0.9, "health": 0.9, "config": cfg}
    early = should_pause(3, n_observed=3, **kw)
    assert (
        not early.pause and early.blocked == "warmup" and early.reasons[0].trigger == "oscillation"
    )
    assert not should_pause(11, n_observed=10, last_pause=9, **kw).pause
    late = should_pause(12, n_observed=10, last_pause=9, **kw)
    assert late.pause and late.blocked is None
    assert late.reasons[0].value == 0.9 and late.reasons[0].threshold == cfg.oscillation_threshold


def test_low_health_triggers_a_health_pause():
    """Overall health below the threshold is a pause reason carrying value and threshold."""
    decision = should_pause(50, losses=np.ones(3), reversal_rate=0.0, health=0.1, n_observed=50)
    assert decision.pause and [r.trigger for r in decision.reasons] == ["health"]


def test_plateau_ratio_is_constant_under_steady_geometric_convergence():
    """For L_t = q^t the ratio of consecutive windows' progress is q^W at any t; a stall gives 0."""
    q, w = 0.7, 10
    for start in (0, 30, 60):
        assert plateau_ratio(q ** np.arange(start, start + 21), w) == pytest.approx(q**w)
    stalled = np.concatenate([q ** np.arange(10), np.full(11, q**9)])
    assert plateau_ratio(stalled, w) == 0.0
    assert plateau_ratio(np.ones(20), w) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("plateau_window", 1),
        ("plateau_tol", 0.0),
        ("oscillation_threshold", 1.5),
        ("cooldown", 0),
        ("warmup", -1),
    ],
)
def test_pause_config_rejects_bad_values_naming_the_field(field, value):
    """Each out-of-range threshold raises ConfigError (a ValueError) whose message names the field."""
    with pytest.raises(ConfigError, match=field):
        PauseConfig(**{field: value})


# --- anomalies ----------------------------------------------------------------------------


def test_metric_far_from_its_baseline_is_flagged_with_severity():
    """Stability dropping from a steady 0.8 to 0.1 is 14 spread-floors away: flagged, severity 14/4."""
    base = Baselines(mean=(0.8, 0.5, 1.0, 0.7, 0.9), var=(0.0,) * 5, count=10)
    found, new = detect_anomalies([0.1, 0.5, 1.0, 0.7, 0.9], base, iteration=42)
    assert [(a.kind, a.metric, a.iteration) for a in found] == [("metric", "stability", 42)]
    assert found[0].severity == pytest.approx(0.7 / 0.05 / 4.0)
    assert found[0].baseline == 0.8 and new.count == 11 and new.mean[0] < 0.8
    quiet, _ = detect_anomalies([0.78, 0.5, 1.0, 0.7, 0.9], base, iteration=43)
    assert quiet == []


def test_young_baseline_flags_nothing():
    """Before the baseline has 5 observations no metric is called anomalous."""
    base = Baselines(mean=(0.8,) * 5, var=(0.0,) * 5, count=3)
    assert detect_anomalies([0.0] * 5, base, iteration=3)[0] == []


def test_failures_and_loss_spikes_are_flagged():
    """New failed evaluations and a loss jump far above the window's typical change are anomalies."""
    losses = np.concatenate([10.0 - 0.1 * np.arange(15), [20.0]])
    found, _ = detect_anomalies([1.0] * 5, Baselines.init(), iteration=7, losses=losses, n_failed=3)
    kinds = {a.kind: a for a in found}
    assert kinds["failure"].value == 3 and kinds["failure"].severity == 3
    assert kinds["spike"].value == pytest.approx(11.4) and kinds["spike"].severity > 1
    calm, _ = detect_anomalies([1.0] * 5, Baselines.init(), iteration=7, losses=losses[:-1])
    assert calm == []


def test_monitor_flags_a_spike_and_counts_nonfinite_losses_as_failures():
    """In a converging run, a sudden loss jump is a spike anomaly; a NaN loss a failure, kept out of the window."""
    monitor = HealthMonitor(meta=None)
    xs, fs, gs = _gd(0.1 / C.max(), 30)
    steps = _run(monitor, xs, fs, gs)
    assert all(a.kind != "spike" for s in steps for a in s.anomalies)
    jump = monitor.observe(30, 31, fs[-1] + 100.0, xs[-1] * 1.01, gs[-1])
    assert any(a.kind == "spike" for a in jump.anomalies)
    n_before = len(monitor.history)
    bad = monitor.observe(31, 32, float("nan"), xs[-1], None, n_failed=1)
    assert [(a.kind, a.value) for a in bad.anomalies if a.kind == "failure"] == [("failure", 2.0)]
    assert len(monitor.history) == n_before


def test_monitor_step_round_trips_through_json():
    """A MonitorStep is a pydantic record: dumped to JSON and read back it is equal."""
    steps = _run(HealthMonitor(), *_gd(1.9 / C.max(), 25))
    step = steps[-1]
    again = MonitorStep.model_validate(json.loads(step.model_dump_json()))
    assert again == step
    assert step.report.weights == pytest.approx(tuple(step.report.weights))
    assert sum(step.report.weights) == pytest.approx(1.0)


def test_reset_window_drops_stale_steps_but_keeps_cooldown():
    """After reset_window the window restarts empty; the last pause still holds its cooldown."""
    monitor = HealthMonitor(meta=None)
    _run(monitor, *_gd(1.9 / C.max(), 30))
    last = monitor.last_pause
    monitor.reset_window()
    assert len(monitor.history) == 0 and monitor.last_pause == last
    step = monitor.observe(30, 31, 1.0, np.zeros(10))
    assert step.report.n_points == 1 and not step.pause.pause


def test_monitor_rejects_a_tiny_window():
    """A window below 3 points is a configuration error naming `window`."""
    with pytest.raises(ConfigError, match="window"):
        HealthMonitor(window=2)


# --- meta-learner ---------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.lists(st.floats(0.0, 1.0), min_size=5, max_size=5),
            st.floats(-1e12, 1e12) | st.just(float("nan")),
        ),
        max_size=60,
    ),
    k=st.integers(1, 6),
    lr=st.floats(0.01, 5.0),
)
def test_meta_weights_stay_on_the_simplex(rows, k, lr):
    """Whatever the metrics and losses (NaN included), weights stay nonnegative and sum to 1."""
    meta = MetaLearner(k=k, lr=lr)
    for metrics, loss in rows:
        meta.observe(metrics, loss)
        w = meta.weights
        assert np.all(w >= 0.0) and w.sum() == pytest.approx(1.0, abs=1e-12)


def test_meta_moves_weight_to_the_only_predictor_of_improvement():
    """When only integration predicts the next-k improvement, its weight grows from 0.2 to the largest share."""
    rng = np.random.default_rng(11)
    meta = MetaLearner(k=5)
    loss = 0.0
    for _ in range(400):
        m = rng.random(5)
        meta.observe(m, loss)
        # The next step's improvement follows integration, plus a little noise.
        loss -= (m[4] - 0.5) + 0.05 * rng.normal()
    w = meta.weights
    assert int(np.argmax(w)) == 4
    assert w[4] > 0.5
    assert meta.correlations[4] > 0.2


def test_meta_state_round_trips_through_json():
    """to_dict -> JSON -> from_dict gives a learner that continues identically."""
    rng = np.random.default_rng(12)
    a = MetaLearner(k=3, lr=0.3)
    for _ in range(20):
        a.observe(rng.random(5), rng.normal())
    b = MetaLearner.from_dict(json.loads(json.dumps(a.to_dict())))
    for _ in range(10):
        m, f = rng.random(5), rng.normal()
        a.observe(m, f)
        b.observe(m, f)
    np.testing.assert_array_equal(a.weights, b.weights)
    with pytest.raises(ConfigError, match="missing"):
        MetaLearner.from_dict({"k": 3})


def test_monitor_reports_the_meta_learners_weights():
    """The report's weights are the meta-learner's weights at the time of the report, and they move."""
    rng = np.random.default_rng(13)
    meta = MetaLearner(k=2, lr=1.0)
    monitor = HealthMonitor(meta=meta)
    xs = rng.normal(size=(40, 3)).cumsum(axis=0)
    fs = rng.normal(size=40).cumsum()  # a wandering loss: the improvement target varies
    for i in range(39):
        monitor.observe(i, i + 1, fs[i], xs[i])
    expected = meta.weights
    step = monitor.observe(39, 40, fs[39], xs[39])
    np.testing.assert_allclose(step.report.weights, expected)
    assert not np.allclose(expected, 0.2)


# --- the monitor agrees with the pure functions --------------------------------------------


def test_monitor_report_and_trend_equal_the_pure_functions_on_its_window():
    """The monitor's shared-work path gives the same metrics and trend as assess/classify_trend on its window."""
    from nef_agents.health import assess, classify_trend

    monitor = HealthMonitor(meta=None)
    xs, fs, gs = _gd(1.5 / C.max(), 35)
    steps = _run(monitor, xs, fs, gs)
    h = monitor.history
    pure = assess(h.losses, h.points, h.grads, h.terms)
    np.testing.assert_allclose(steps[-1].report.as_array(), pure.as_array(), atol=1e-12)
    max_grad = max(float(np.linalg.norm(g)) for g in gs)
    trend = classify_trend(h.losses, h.points, h.grads, ref_grad_norm=max_grad)
    assert steps[-1].trend.label == trend.label
    assert steps[-1].trend.numbers == pytest.approx(trend.numbers)


def test_monitor_balance_reads_named_terms():
    """Per-term values fed to observe drive balance: one term carrying the change scores low."""
    rng = np.random.default_rng(14)
    even, skewed = HealthMonitor(meta=None), HealthMonitor(meta=None)
    for i in range(25):
        x = rng.normal(size=3)
        base = float(i % 7)
        s_even = even.observe(i, i, 3 * base, x, terms=np.array([base, base, base]))
        s_skew = skewed.observe(i, i, base, x, terms=np.array([base, 1e-3 * base, 0.0]))
    assert s_even.report.balance == pytest.approx(1.0)
    assert s_skew.report.balance < 0.01


def test_unrecovered_spike_drops_resilience_and_is_flagged_against_its_baseline():
    """After a spike that stays up, resilience falls from 1 to 0: a metric anomaly on resilience."""
    monitor = HealthMonitor(meta=None)
    xs, fs, gs = _gd(0.1 / C.max(), 30)
    _run(monitor, xs, fs, gs)
    monitor.observe(30, 31, fs[-1] + 100.0, xs[-1] * 1.01, gs[-1])
    after = monitor.observe(31, 32, fs[-1] + 100.0, xs[-1] * 1.02, gs[-1])
    assert after.report.resilience == 0.0
    flagged = [a for a in after.anomalies if a.kind == "metric" and a.metric == "resilience"]
    assert flagged and flagged[0].severity > 1.0
