"""Label the recent trend of a window, with the numbers behind the label."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from nef_agents.errors import ConfigError
from nef_agents.health.metrics import increase_rate_of, reversal_rate, row_cosines, tol_of
from nef_agents.health.models import Trend

STATIONARY_GRAD_RATIO = 1e-3  # gradient 1000x below its reference scale: at a stationary point
DIVERGING_EFFICIENCY = -0.5  # the loss path went mostly uphill
OSCILLATING_REVERSALS = 0.7  # a random walk reaches this in ~5% of 20-point windows
PLATEAU_LATE_SHARE = 1e-3  # the later half brought < 0.1% of the window's progress
PLATEAU_MAX_INCREASES = 0.25  # ... and the loss did not bounce about (that is noise, not a stall)
CONVERGING_EFFICIENCY = 0.5  # at least half of the loss path is net descent


def classify_trend(
    losses: ArrayLike,
    points: ArrayLike,
    grads: ArrayLike | None = None,
    *,
    ref_grad_norm: float | None = None,
    step_gram: np.ndarray | None = None,
) -> Trend:
    """Classify a window as converging, plateau, oscillating, noisy, diverging or stationary.

    Numbers (all dimensionless, unchanged by ``L -> aL + b``, ``G -> aG``):

    - ``n``: points in the window;
    - ``efficiency = (L_0 - L_end) / sum|dL|`` in [-1, 1] (0 if flat);
    - ``net = (L_0 - L_end) / (max L - min L)`` in [-1, 1] (0 if flat);
    - ``late_share``: share of the window's best-loss improvement made in its
      later half, in [0, 1] (0 when nothing improved);
    - ``increase_rate``, ``reversal_rate``: as in the stability metric;
    - ``flat``: 1 if the loss range is within float resolution, else 0;
    - ``grad_ratio = |g_end| / ref`` with ref the larger of ``ref_grad_norm``
      (e.g. the run's largest gradient norm) and the window's largest; only
      with grads.

    Rules, first match wins: fewer than 2 points -> plateau;
    grad_ratio <= 1e-3 -> stationary (local minimum or saddle); flat ->
    plateau; efficiency <= -0.5 -> diverging; reversal_rate >= 0.7 ->
    oscillating; late_share < 1e-3 with increase_rate < 0.25 -> plateau (a
    smooth stall; a geometric decrease by 1000x per half window counts too,
    its later half being invisible); efficiency >= 0.5 -> converging;
    otherwise noisy (ups and downs dominate, with or without progress).
    ``step_gram`` optionally supplies the steps' Gram matrix (see History).
    """
    loss = np.asarray(losses, dtype=float).ravel()
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[0] != loss.size:
        raise ConfigError(f"`points` must have shape ({loss.size}, d), got {pts.shape}")
    g = None if grads is None else np.asarray(grads, dtype=float)
    if g is not None and g.shape != pts.shape:
        raise ConfigError(f"`grads` must have shape {pts.shape}, got {g.shape}")
    if step_gram is not None:
        cos = row_cosines(None, step_gram)
    else:
        cos = row_cosines(pts[1:] - pts[:-1], None)
    vals = loss.tolist()
    return trend_from(vals, tol_of(vals) if vals else 0.0, cos, g, ref_grad_norm)


def trend_from(
    vals: list[float],
    tol: float,
    step_cos: list[float],
    g: np.ndarray | None,
    ref_grad_norm: float | None,
) -> Trend:
    """:func:`classify_trend` on prepared, unchecked parts (see ``metrics.report_from``)."""
    n = len(vals)
    numbers: dict[str, float] = {"n": float(n)}
    if n < 2:
        return Trend(label="plateau", numbers=numbers)
    path = sum(abs(b - a) for a, b in zip(vals, vals[1:], strict=False))
    span = max(vals) - min(vals)
    flat = span <= tol
    drop = vals[0] - vals[-1]
    best_mid = min(vals[: (n - 1) // 2 + 1])
    best_end = min(vals)
    gain = vals[0] - best_end
    numbers.update(
        efficiency=0.0 if flat else drop / path,
        net=0.0 if flat else drop / span,
        late_share=(best_mid - best_end) / gain if gain > tol else 0.0,
        increase_rate=increase_rate_of(vals, tol),
        reversal_rate=reversal_rate(step_cos),
        flat=float(flat),
    )
    if g is not None:
        last = math.sqrt(float(g[-1] @ g[-1]))
        ref = math.sqrt(float(np.einsum("ij,ij->i", g, g).max()))
        if ref_grad_norm is not None:
            ref = max(ref, float(ref_grad_norm))
        if ref > 0.0:
            numbers["grad_ratio"] = last / ref
    return Trend(label=_label(numbers), numbers=numbers)


def _label(x: dict[str, float]) -> str:
    if x.get("grad_ratio", 1.0) <= STATIONARY_GRAD_RATIO:
        return "stationary"
    if x["flat"]:
        return "plateau"
    if x["efficiency"] <= DIVERGING_EFFICIENCY:
        return "diverging"
    if x["reversal_rate"] >= OSCILLATING_REVERSALS:
        return "oscillating"
    if x["late_share"] < PLATEAU_LATE_SHARE and x["increase_rate"] < PLATEAU_MAX_INCREASES:
        return "plateau"
    if x["efficiency"] >= CONVERGING_EFFICIENCY:
        return "converging"
    return "noisy"
