"""Anomalies: metrics far from their running baselines, evaluation failures, loss spikes.

The baselines are explicit state (:class:`Baselines`): ``init`` builds one,
``update`` returns a new one, and :func:`detect_anomalies` takes the state in
and hands the next state back, so a test can build a state by hand.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from nef_agents.errors import ConfigError
from nef_agents.health.metrics import tol_of
from nef_agents.health.models import METRIC_NAMES, Anomaly

SPREAD_FLOOR = 0.05  # metrics live in [0, 1] and rates move in steps of 1/T: never trust sd < 0.05
MIN_COUNT = 5  # observations before a baseline is trusted


@dataclass(frozen=True)
class Baselines:
    """Exponentially weighted mean and variance of each metric (immutable).

    ``mean' = mean + a (x - mean)``, ``var' = (1 - a) (var + a (x - mean)^2)``
    (the EW variance), starting from the first observation with var = 0.
    ``alpha`` in (0, 1] sets the memory (~1/alpha observations). Tuples of
    floats rather than arrays: five numbers, and the state stays hashable.
    """

    mean: tuple[float, ...]
    var: tuple[float, ...]
    count: int = 0
    alpha: float = 0.1

    @classmethod
    def init(cls, n: int = len(METRIC_NAMES), alpha: float = 0.1) -> Baselines:
        """An empty baseline for ``n`` metrics."""
        if not 0.0 < alpha <= 1.0:
            raise ConfigError(f"`alpha` must be in (0, 1], got {alpha!r}")
        return cls(mean=(0.0,) * n, var=(0.0,) * n, count=0, alpha=alpha)

    def update(self, values: Sequence[float]) -> Baselines:
        """The baseline after one more observation (this one is unchanged)."""
        if self.count == 0:
            x = [float(v) for v in values]
            return Baselines(tuple(x), (0.0,) * len(x), 1, self.alpha)
        a = self.alpha
        c = 1.0 - a
        old_mean, old_var = self.mean, self.var
        if len(values) != len(old_mean):
            raise ValueError("zip() argument 2 is shorter/longer than argument 1")
        mean, var = [], []
        for i, v in enumerate(values):
            m = old_mean[i]
            d = float(v) - m
            ad = a * d
            mean.append(m + ad)
            var.append(c * (old_var[i] + ad * d))
        return Baselines(tuple(mean), tuple(var), self.count + 1, a)

    def zscores(self, values: Sequence[float]) -> list[float]:
        """``(x - mean) / max(sd, 0.05)`` per metric."""
        return [
            (float(v) - m) / max(math.sqrt(s), SPREAD_FLOOR)
            for v, m, s in zip(values, self.mean, self.var, strict=True)
        ]


def loss_spike(
    losses: ArrayLike | Sequence[float], factor: float = 5.0
) -> tuple[float, float, float] | None:
    """The last loss change if it is a spike: ``(jump, typical, severity)``, else None.

    typical = median |dL| over the window's earlier changes (at least 3),
    floored at :func:`loss_tolerance`; a spike is ``jump > factor * typical``
    with ``severity = jump / (factor * typical)`` (dimensionless, > 1).
    """
    vals = losses.tolist() if isinstance(losses, np.ndarray) else [float(v) for v in losses]
    if len(vals) < 5:
        return None
    dl = [b - a for a, b in zip(vals, vals[1:], strict=False)]
    jump = dl[-1]
    typical = max(statistics.median([abs(v) for v in dl[:-1]]), tol_of(vals))
    if typical <= 0.0 or jump <= factor * typical:
        return None
    return jump, typical, jump / (factor * typical)


def detect_anomalies(
    metrics: ArrayLike,
    baselines: Baselines,
    *,
    iteration: int,
    losses: ArrayLike | Sequence[float] | None = None,
    n_failed: int = 0,
    threshold: float = 4.0,
    spike_factor: float = 5.0,
    names: tuple[str, ...] = METRIC_NAMES,
) -> tuple[list[Anomaly], Baselines]:
    """Anomalies at ``iteration`` and the baselines updated with ``metrics``.

    - metric: ``|z| > threshold`` against the baseline *before* this update,
      once the baseline has seen ``MIN_COUNT`` observations;
      ``severity = |z| / threshold``;
    - failure: ``n_failed > 0`` new failed evaluations since the last call;
    - spike: :func:`loss_spike` on ``losses`` (the window, oldest first).
    """
    x = np.asarray(metrics, dtype=float).ravel().tolist()
    if len(x) != len(baselines.mean) or len(names) != len(x):
        raise ConfigError(f"`metrics` must have {len(baselines.mean)} entries, got {len(x)}")
    if threshold <= 0:
        raise ConfigError(f"`threshold` must be > 0, got {threshold!r}")
    found: list[Anomaly] = []
    if baselines.count >= MIN_COUNT:
        for i, z in enumerate(baselines.zscores(x)):
            if abs(z) > threshold:
                found.append(
                    Anomaly(
                        kind="metric",
                        metric=names[i],
                        value=x[i],
                        baseline=baselines.mean[i],
                        severity=abs(z) / threshold,
                        iteration=iteration,
                    )
                )
    if n_failed > 0:
        found.append(
            Anomaly(
                kind="failure",
                metric="evaluations",
                value=float(n_failed),
                baseline=0.0,
                severity=float(n_failed),
                iteration=iteration,
            )
        )
    if losses is not None:
        spike = loss_spike(losses, spike_factor)
        if spike is not None:
            jump, typical, sev = spike
            found.append(
                Anomaly(
                    kind="spike",
                    metric="loss",
                    value=jump,
                    baseline=typical,
                    severity=sev,
                    iteration=iteration,
                )
            )
    return found, baselines.update(x)
