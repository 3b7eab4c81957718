"""The five health metrics of one window, and the pure :func:`assess`.

A window holds T iterates: losses ``L`` (T,), points ``X`` (T, d), optional
gradients ``G`` (T, d) and per-term values ``F`` (T, m). Steps are
``S_t = X_{t+1} - X_t`` (T-1, d). Every metric is dimensionless, in [0, 1],
1 = healthy, and with no evidence either way (too few points) it is 1.

Scale invariance: loss thresholds are relative to the window itself (see
:func:`loss_tolerance`), and everything else is a ratio of like quantities
(cosines, shares of energy), so ``L -> a L + b``, ``G -> a G``, ``F -> a F + b``
(a > 0) leaves every metric unchanged. Points are never rescaled.

Cost: O(T d) for the gradient cosines and energies, O(T^2 d) for the step
Gram matrix unless the caller passes it (:class:`History` keeps it updated in
O(T d) per point). No d x d matrix is ever formed. The loss-side work runs on
Python floats: T is small and numpy's per-call overhead would dominate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from nef_agents.errors import ConfigError
from nef_agents.health.models import METRIC_NAMES, HealthReport

DEFAULT_WEIGHTS: tuple[float, ...] = (0.2, 0.2, 0.2, 0.2, 0.2)

_REL_TOL = 1e-9  # a loss change below 1e-9 of the window's range is no change
_FP_TOL = 16 * np.finfo(float).eps  # ... nor is one below float resolution of |L|
_ZERO_REL = 1e-12  # a vector 1e12 times shorter than the window's longest is zero
_COS_TOL = 1e-12  # orthogonal steps (cos ~ +-1e-17 by rounding) are no reversal


def tol_of(vals: Sequence[float]) -> float:
    """:func:`loss_tolerance` of a non-empty list of floats."""
    lo, hi = min(vals), max(vals)
    return max(_REL_TOL * (hi - lo), _FP_TOL * max(abs(lo), abs(hi)))


def loss_tolerance(losses: ArrayLike) -> float:
    """Smallest loss change that counts, in loss units.

    ``tol = max(1e-9 * (max L - min L), 16 eps * max|L|)``: relative to the
    window's own range, so it scales with the objective and ignores shifts,
    and never below what float64 can resolve. 0.0 for an empty window.
    """
    vals = np.asarray(losses, dtype=float).ravel().tolist()
    return tol_of(vals) if vals else 0.0


def _cosines(sq: Sequence[float], dots: Sequence[float]) -> list[float]:
    """Consecutive cosines from squared norms (n) and consecutive dots (n-1)."""
    if len(sq) < 2:
        return []
    norms = [math.sqrt(s) if s > 0.0 else 0.0 for s in sq]
    small = _ZERO_REL * max(norms)
    out = []
    a = norms[0]
    for dot, b in zip(dots, norms[1:], strict=True):
        if a > small and b > small:
            c = dot / (a * b)
            out.append(1.0 if c > 1.0 else -1.0 if c < -1.0 else c)
        a = b
    return out


def consecutive_cosines(
    vectors: np.ndarray | None = None, gram: np.ndarray | None = None
) -> np.ndarray:
    """Cosines between consecutive rows, skipping pairs with a (relatively) zero row.

    Give the rows (n, d), O(n d), or their Gram matrix (n, n), O(n). A row
    counts as zero when its norm <= 1e-12 * the longest row's norm.
    """
    return np.array(row_cosines(vectors, gram))


def row_cosines(vectors: np.ndarray | None, gram: np.ndarray | None) -> list[float]:
    """:func:`consecutive_cosines` as a list (the Gram matrix wins when both are given)."""
    if gram is not None:
        return _cosines(np.diagonal(gram).tolist(), np.diagonal(gram, 1).tolist())
    if vectors is None or vectors.shape[0] < 2:
        return []
    sq = np.einsum("ij,ij->i", vectors, vectors).tolist()
    dots = np.einsum("ij,ij->i", vectors[:-1], vectors[1:]).tolist()
    return _cosines(sq, dots)


def reversal_rate(cosines: Sequence[float] | np.ndarray) -> float:
    """Share of consecutive step pairs pointing against each other (cos < 0); 0 if none."""
    c = list(cosines)
    return sum(1 for v in c if v < -_COS_TOL) / len(c) if c else 0.0


def increase_rate_of(vals: Sequence[float], tol: float) -> float:
    """Share of changes in ``vals`` above ``tol``; 0 with fewer than 2 values."""
    if len(vals) < 2:
        return 0.0
    ups = sum(1 for a, b in zip(vals, vals[1:], strict=False) if b - a > tol)
    return ups / (len(vals) - 1)


def increase_rate(losses: ArrayLike) -> float:
    """Share of the T-1 loss changes that are increases above :func:`loss_tolerance`; 0 if T < 2."""
    vals = np.asarray(losses, dtype=float).ravel().tolist()
    return increase_rate_of(vals, tol_of(vals)) if vals else 0.0


def stability(losses: ArrayLike, steps: np.ndarray, *, gram: np.ndarray | None = None) -> float:
    """``(1 - r) * (1 - i)``: r = reversal rate of steps, i = loss-increase rate.

    r is the share of consecutive step pairs with negative cosine (needs >= 3
    points; 0 otherwise), i the share of loss changes above the window's
    tolerance (needs >= 2 points). The product (rather than 1 - (r + i)/2)
    makes a pure zig-zag score 0 whether or not its loss still decreases.
    Unitless; a random walk scores about 0.5 * (1 - i) in any dimension.
    """
    r = reversal_rate(row_cosines(steps if gram is None else None, gram))
    return (1.0 - r) * (1.0 - increase_rate(losses))


def diversity(steps: np.ndarray, *, gram: np.ndarray | None = None) -> float:
    """Normalized participation ratio of the steps' singular values s_i.

    ``PR = (sum s_i^2)^2 / sum s_i^4 = tr(K)^2 / ||K||_F^2`` with K = S S^T the
    n x n step Gram matrix (n = T-1 steps), so no d x d work and no
    eigendecomposition. ``(PR - 1) / (min(n, d) - 1)`` clipped to [0, 1]:
    0 = all steps on one line, 1 = equal energy in min(n, d) directions.
    Isotropic Gaussian steps give E[PR] ~ n d / (n + d + 1), e.g. 0.70 for
    n = 19, d = 50. Edge cases: d = 1 or n < 2 (fewer than 3 points): 1.0
    (nothing to collapse); all steps zero: 0.0 (collapsed onto nothing).
    """
    n, d = steps.shape
    if d == 1 or n < 2:
        return 1.0
    k = steps @ steps.T if gram is None else gram
    tr = float(np.trace(k))
    if tr <= 0.0:
        return 0.0
    pr = tr * tr / float(np.vdot(k, k))
    return min(1.0, max(0.0, (pr - 1.0) / (min(n, d) - 1)))


def _resilience(vals: Sequence[float], tol: float) -> float:
    scores: list[float] = []
    level, start = 0.0, -1
    for t in range(1, len(vals)):
        if start < 0:
            if vals[t] > vals[t - 1] + tol:
                level, start = vals[t - 1], t
        elif vals[t] <= level + tol:
            scores.append(1.0 / (t - start))
            start = -1
    if 0 <= start < len(vals) - 1:
        scores.append(0.0)
    return sum(scores) / len(scores) if scores else 1.0


def resilience(losses: ArrayLike) -> float:
    """Mean recovery score over the window's loss spikes; 1.0 without spikes.

    A spike starts at t when ``L_t > L_{t-1} + tol`` (outside an ongoing one,
    tol from :func:`loss_tolerance`); it recovers at the first u > t with
    ``L_u <= L_{t-1} + tol``. Its score is ``1 / (u - t)`` (1 for recovery on
    the next iteration, 0.1 after 10), or 0 if it has not recovered by the end
    of the window. A spike on the window's last point has had no chance to
    recover and is not scored yet. Fewer than 3 points: 1.0.
    """
    vals = np.asarray(losses, dtype=float).ravel().tolist()
    return _resilience(vals, tol_of(vals)) if len(vals) >= 3 else 1.0


def balance(
    terms: np.ndarray | None = None,
    grads: np.ndarray | None = None,
    steps: np.ndarray | None = None,
) -> float:
    """Normalized entropy ``H(p) / log(n)`` of how energy is shared.

    With m >= 2 named terms (no per-term gradients are known):
    ``e_i = sum_t (F_{t+1,i} - F_{t,i})^2``, the energy of each term's change
    along the path (a directional-derivative energy; units term^2).
    Otherwise, over the d coordinates: ``e_j = sum_t G_tj^2`` (or steps when
    no gradient is known). ``p = e / sum e``. 1 = evenly shared, 0 = one
    term/coordinate holds all. Edge cases: n = 1 (one term or dimension 1),
    fewer than 2 rows of terms, or zero total energy: 1.0.
    """
    if terms is not None and terms.ndim == 2 and terms.shape[1] >= 2:
        if terms.shape[0] < 2:
            return 1.0
        dt = terms[1:] - terms[:-1]
        e = np.einsum("ij,ij->j", dt, dt)
    elif grads is not None:
        e = np.einsum("ij,ij->j", grads, grads)
    elif steps is not None and steps.shape[0] > 0:
        e = np.einsum("ij,ij->j", steps, steps)
    else:
        return 1.0
    total = float(e.sum())
    if e.size < 2 or total <= 0.0:
        return 1.0
    p = e / total
    p = p[p > 0.0]  # a share that underflows to 0 contributes 0 to the entropy (0 log 0 = 0)
    return min(1.0, max(0.0, float(-(p @ np.log(p))) / math.log(e.size)))


def integration(
    grads: np.ndarray | None = None,
    steps: np.ndarray | None = None,
    *,
    gram: np.ndarray | None = None,
) -> float:
    """``(1 + mean cos) / 2`` over consecutive gradients (steps if no gradient).

    1 = every gradient points where the previous one did, 0.5 = uncorrelated,
    0 = each reverses the last. Pairs with a zero vector are skipped; with no
    pair left (fewer than 2 gradients or 3 points): 1.0. ``gram`` is the
    steps' Gram matrix, used only when no gradient is given.
    """
    if grads is not None:
        cos = row_cosines(grads, None)
    else:
        cos = row_cosines(steps if gram is None else None, gram)
    return 1.0 if not cos else (1.0 + sum(cos) / len(cos)) / 2.0


def check_weights(weights: ArrayLike | None) -> np.ndarray:
    """Validate metric weights: 5 finite nonnegative numbers, sum > 0; returned normalized to sum 1."""
    if weights is None:
        return np.array(DEFAULT_WEIGHTS)
    w = np.asarray(weights, dtype=float)
    if w.shape != (5,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ConfigError(
            f"`weights` must be 5 finite nonnegative numbers with a positive sum "
            f"(order {METRIC_NAMES}), got {np.asarray(weights).tolist()!r}"
        )
    return w / w.sum()


def _check_rows(
    name: str, value: ArrayLike | None, rows: int, cols: int | None
) -> np.ndarray | None:
    if value is None:
        return None
    a = np.asarray(value, dtype=float)
    if a.ndim != 2 or a.shape[0] != rows or (cols is not None and a.shape[1] != cols):
        want = f"({rows}, {cols if cols is not None else 'm'})"
        raise ConfigError(f"`{name}` must have shape {want}, got {a.shape}")
    return a


def assess(
    losses: ArrayLike,
    points: ArrayLike,
    grads: ArrayLike | None = None,
    terms: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    *,
    iteration: int = 0,
    step_gram: np.ndarray | None = None,
) -> HealthReport:
    """Health of one window: the five metrics and ``overall = weights . metrics``.

    losses (T,), points (T, d), grads (T, d) or None, terms (T, m) or None;
    one row per iteration, oldest first. ``weights`` (5,) default 0.2 each,
    normalized to sum 1. ``step_gram`` optionally supplies ``S S^T`` for the
    T-1 steps (as :class:`History` maintains it). Raises ConfigError on
    mismatched shapes or bad weights.
    """
    loss = np.asarray(losses, dtype=float).ravel()
    t = loss.size
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[0] != t:
        raise ConfigError(f"`points` must have shape ({t}, d), got {pts.shape}")
    g = _check_rows("grads", grads, t, pts.shape[1])
    f = _check_rows("terms", terms, t, None)
    n_steps = max(t - 1, 0)
    if step_gram is not None and np.shape(step_gram) != (n_steps, n_steps):
        raise ConfigError(
            f"`step_gram` must have shape {(n_steps, n_steps)}, got {np.shape(step_gram)}"
        )
    w = check_weights(weights).tolist()
    steps = pts[1:] - pts[:-1]
    if step_gram is None and n_steps >= 2:
        step_gram = steps @ steps.T
    step_cos = row_cosines(None, step_gram) if step_gram is not None else []
    vals = loss.tolist()
    return report_from(
        vals, tol_of(vals) if vals else 0.0, steps, step_gram, step_cos, g, f, w, iteration
    )


def report_from(
    vals: list[float],
    tol: float,
    steps: np.ndarray,
    gram: np.ndarray | None,
    step_cos: list[float],
    g: np.ndarray | None,
    f: np.ndarray | None,
    w: list[float],
    iteration: int,
) -> HealthReport:
    """:func:`assess` on prepared, unchecked parts (losses as floats, their tolerance,
    steps, their Gram matrix and consecutive cosines), so a caller that also
    needs them (the monitor, for the trend) computes them once."""
    if g is not None:
        coherence = integration(g)
    else:
        coherence = (1.0 + sum(step_cos) / len(step_cos)) / 2.0 if step_cos else 1.0
    values = (
        (1.0 - reversal_rate(step_cos)) * (1.0 - increase_rate_of(vals, tol)),
        diversity(steps, gram=gram),
        _resilience(vals, tol) if len(vals) >= 3 else 1.0,
        balance(f, g, steps),
        coherence,
    )
    overall = min(1.0, max(0.0, sum(a * b for a, b in zip(w, values, strict=True))))
    return HealthReport(
        iteration=iteration,
        stability=values[0],
        diversity=values[1],
        resilience=values[2],
        balance=values[3],
        integration=values[4],
        overall=overall,
        weights=tuple(w),
        n_points=len(vals),
    )
