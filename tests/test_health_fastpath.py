"""The monitor's incremental window agrees with the pure functions on the window it holds."""

from __future__ import annotations

import numpy as np
import pytest

from nef_agents.health import (
    Baselines,
    HealthMonitor,
    History,
    PauseConfig,
    assess,
    classify_trend,
    detect_anomalies,
    should_pause,
)


def _naive(rows):
    """(losses, points, grads or None, terms or None) of the window, built by hand."""
    loss = np.array([r[0] for r in rows])
    pts = np.array([r[1] for r in rows])
    grads = None if any(r[2] is None for r in rows) else np.array([r[2] for r in rows])
    terms = None if any(r[3] is None for r in rows) else np.array([r[3] for r in rows])
    return loss, pts, grads, terms


def test_history_ring_matches_a_naive_window_through_many_wraps():
    """Points, steps, Gram, grads and terms stay in window order after wrapping 7 times."""
    rng = np.random.default_rng(21)
    h, rows = History(capacity=6), []
    for i in range(45):
        x = rng.normal(size=4)
        g = None if i % 9 == 0 else rng.normal(size=4)
        t = None if i % 13 == 5 else rng.normal(size=3)
        h.append(float(i), x, g, t)
        rows = [*rows, (float(i), x, g, t)][-6:]
        loss, pts, grads, terms = _naive(rows)
        np.testing.assert_array_equal(h.losses, loss)
        np.testing.assert_array_equal(h.points, pts)
        np.testing.assert_allclose(h.steps, np.diff(pts, axis=0))
        np.testing.assert_allclose(h.step_gram, h.steps @ h.steps.T, atol=1e-12)
        assert (h.grads is None) == (grads is None)
        if grads is not None:
            np.testing.assert_array_equal(h.grads, grads)
        assert (h.terms is None) == (terms is None)
        if terms is not None:
            np.testing.assert_array_equal(h.terms, terms)


@pytest.mark.parametrize("d", [1, 2, 10, 60])
def test_monitor_equals_the_pure_functions_with_partial_grads_terms_and_resets(d):
    """Every step: report, trend, anomalies and pause equal assess/classify_trend/
    detect_anomalies/should_pause on the monitor's window and state."""
    rng = np.random.default_rng(d)
    cfg = PauseConfig(slow_tol=0.05, warmup=3, cooldown=2)
    monitor = HealthMonitor(window=8, pause=cfg, meta=None)
    x, f = rng.normal(size=d), 50.0
    recent: list[float] = []
    max_grad = 0.0
    for i in range(120):
        if i == 60:
            monitor.reset_window()
            recent, max_grad = [], 0.0
        x = x + 0.1 * rng.normal(size=d) * (1 if i % 7 else -3)
        f = f * 0.97 + rng.normal() * (5.0 if i % 17 == 0 else 0.1)
        g = None if i % 11 == 3 else rng.normal(size=d)
        t = None if i % 10 == 4 else np.abs(rng.normal(size=3)) + i % 4
        base, last_pause = monitor.baselines, monitor.last_pause
        step = monitor.observe(i, i, f, x, g, terms=t)
        recent = [*recent, f][-(2 * cfg.plateau_window + 1) :]
        if g is not None:
            max_grad = max(max_grad, float(np.linalg.norm(g)))
        h = monitor.history
        pure = assess(h.losses, h.points, h.grads, h.terms, iteration=i)
        np.testing.assert_allclose(step.report.as_array(), pure.as_array(), atol=1e-12)
        assert step.report.overall == pytest.approx(pure.overall, abs=1e-12)
        trend = classify_trend(h.losses, h.points, h.grads, ref_grad_norm=max_grad or None)
        assert step.trend.label == trend.label
        assert step.trend.numbers == pytest.approx(trend.numbers, abs=1e-12)
        found, new_base = detect_anomalies(
            step.report.as_array(), base, iteration=i, losses=h.losses
        )
        assert [(a.kind, a.metric) for a in step.anomalies] == [(a.kind, a.metric) for a in found]
        for a, b in zip(step.anomalies, found, strict=True):
            assert (a.value, a.baseline, a.severity) == pytest.approx(
                (b.value, b.baseline, b.severity), abs=1e-12
            )
        assert monitor.baselines.mean == pytest.approx(new_base.mean, abs=1e-12)
        decision = should_pause(
            i,
            losses=recent,
            reversal_rate=trend.numbers.get("reversal_rate", 0.0),
            health=pure.overall,
            n_observed=len(h) if i < 60 else i - 59,
            last_pause=last_pause,
            config=cfg,
        )
        assert (step.pause.pause, step.pause.blocked) == (decision.pause, decision.blocked)
        assert [(r.trigger, r.threshold) for r in step.pause.reasons] == [
            (r.trigger, r.threshold) for r in decision.reasons
        ]
        assert [r.value for r in step.pause.reasons] == pytest.approx(
            [r.value for r in decision.reasons], abs=1e-12
        )


def test_nonfinite_rows_stay_out_and_records_still_validate():
    """NaN/inf in loss, x, grad or terms: the row (or its grad/terms) is dropped and
    every returned record survives a validating round trip."""
    from nef_agents.health import MonitorStep

    monitor = HealthMonitor(window=5)
    rng = np.random.default_rng(3)
    for i in range(40):
        x = rng.normal(size=3)
        g = rng.normal(size=3)
        loss = float(rng.normal())
        if i % 5 == 1:
            x[1] = np.nan
        if i % 6 == 2:
            g[0] = np.inf
        if i % 7 == 3:
            loss = float("inf")
        n_before = len(monitor.history)
        step = monitor.observe(i, i, loss, x, g, terms=np.array([1.0, np.nan]))
        again = MonitorStep.model_validate(step.model_dump())
        assert again == step
        bad = not np.isfinite(loss) or not np.isfinite(x).all()
        assert len(monitor.history) == (n_before if bad else min(n_before + 1, 5))
        assert monitor.history.terms is None
    assert Baselines.init().count == 0
