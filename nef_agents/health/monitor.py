"""HealthMonitor: one call per iteration ties the window, metrics, trend, anomalies and pauses together."""

from __future__ import annotations

import math
from collections import deque
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from nef_agents.errors import ConfigError
from nef_agents.health.anomalies import Baselines, detect_anomalies
from nef_agents.health.history import History
from nef_agents.health.meta import MetaLearner
from nef_agents.health.metrics import check_weights, report_from, row_cosines, tol_of
from nef_agents.health.models import METRIC_NAMES, MonitorStep
from nef_agents.health.pause import PauseConfig, should_pause
from nef_agents.health.trend import trend_from


class HealthMonitor:
    """Watches a run through a sliding window; a pass-through that never changes the run.

    ``window``: iterates in the window (>= 3). ``pause``: pause thresholds.
    ``anomaly_threshold``: z-score beyond which a metric is anomalous.
    ``meta``: a :class:`MetaLearner` adapting the weights, ``"auto"`` (default)
    for a fresh one, or None to keep ``weights`` (default 0.2 each) fixed.

    State kept between calls: the window, the last 2W+1 losses for the
    plateau test, the largest gradient norm since the last reset (the
    reference scale for "stationary"), the metric baselines, the last pause
    iteration and the meta-learner. :meth:`reset_window` drops the first
    three (after a restart or engine switch); baselines, pause cooldown and
    learned weights carry over.
    """

    def __init__(
        self,
        window: int = 20,
        pause: PauseConfig | None = None,
        anomaly_threshold: float = 4.0,
        meta: MetaLearner | None | Literal["auto"] = "auto",
        *,
        weights: ArrayLike | None = None,
        spike_factor: float = 5.0,
        baseline_alpha: float = 0.1,
    ) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 3:
            raise ConfigError(f"`window` must be an integer >= 3, got {window!r}")
        if not anomaly_threshold > 0:
            raise ConfigError(f"`anomaly_threshold` must be > 0, got {anomaly_threshold!r}")
        if not spike_factor > 0:
            raise ConfigError(f"`spike_factor` must be > 0, got {spike_factor!r}")
        self.config = pause if pause is not None else PauseConfig()
        self.anomaly_threshold = float(anomaly_threshold)
        self.spike_factor = float(spike_factor)
        if isinstance(meta, str) and meta != "auto":
            raise ConfigError(f"`meta` must be a MetaLearner, None or 'auto', got {meta!r}")
        self.meta = MetaLearner() if isinstance(meta, str) else meta
        self._fixed_weights = check_weights(weights)
        self.history = History(window)
        self.baselines = Baselines.init(alpha=baseline_alpha)
        self.last_pause: int | None = None
        self._recent: deque[float] = deque(maxlen=2 * self.config.plateau_window + 1)
        self._n_observed = 0
        self._max_grad = 0.0

    @property
    def weights(self) -> np.ndarray:
        """Weights the next report will use, shape (5,), summing to 1."""
        return self.meta.weights if self.meta is not None else self._fixed_weights.copy()

    def reset_window(self) -> None:
        """Start a fresh window (after a restart or engine switch) so stale steps don't count."""
        self.history.clear()
        self._recent.clear()
        self._n_observed = 0
        self._max_grad = 0.0

    def observe(
        self,
        iteration: int,
        nfev: int,
        loss: float,
        x: np.ndarray,
        grad: np.ndarray | None = None,
        terms: np.ndarray | None = None,
        n_failed: int = 0,
    ) -> MonitorStep:
        """Take in one iteration and return its report, anomalies, pause decision and trend.

        ``n_failed``: new failed evaluations since the last call. A non-finite
        ``loss`` or ``x`` is not added to the window and counts as one more
        failure; a non-finite ``grad`` or ``terms`` is dropped for this row.
        """
        xv = np.asarray(x, dtype=float)
        finite = math.isfinite(loss) and bool(np.isfinite(xv).all())
        if finite:
            g = None if grad is None else np.asarray(grad, dtype=float)
            if g is not None and not np.isfinite(g).all():
                g = None
            f = None if terms is None else np.asarray(terms, dtype=float)
            if f is not None and not np.isfinite(f).all():
                f = None
            self.history.append(loss, xv, g, f)
            self._recent.append(float(loss))
            self._n_observed += 1
            if g is not None:
                gv = g.ravel()
                self._max_grad = max(self._max_grad, math.sqrt(float(gv @ gv)))
        else:
            n_failed += 1
        # Views of the window, each derived quantity computed once and shared by
        # the report and the trend (their public functions recompute them).
        window_loss, _, steps, gram, grads, window_terms = self.history.views()
        vals = window_loss.tolist()
        tol = tol_of(vals) if vals else 0.0
        step_cos = row_cosines(None, gram)
        weights = (
            self.meta.weights_list() if self.meta is not None else self._fixed_weights.tolist()
        )
        report = report_from(
            vals, tol, steps, gram, step_cos, grads, window_terms, weights, iteration
        )
        metrics = [getattr(report, name) for name in METRIC_NAMES]
        trend = trend_from(vals, tol, step_cos, grads, self._max_grad or None)
        anomalies, self.baselines = detect_anomalies(
            metrics,
            self.baselines,
            iteration=iteration,
            losses=vals if finite else None,
            n_failed=n_failed,
            threshold=self.anomaly_threshold,
            spike_factor=self.spike_factor,
        )
        decision = should_pause(
            iteration,
            losses=list(self._recent),
            reversal_rate=trend.numbers.get("reversal_rate", 0.0),
            health=report.overall,
            n_observed=self._n_observed,
            last_pause=self.last_pause,
            config=self.config,
        )
        if decision.pause:
            self.last_pause = iteration
        if self.meta is not None and finite:
            self.meta.observe(metrics, float(loss))
        return MonitorStep(
            iteration=iteration,
            nfev=nfev,
            report=report,
            anomalies=anomalies,
            pause=decision,
            trend=trend,
        )
