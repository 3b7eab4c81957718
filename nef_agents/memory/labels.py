"""Labels of the ``ultra`` level: trend, action and outcome sign of a window."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["trend_label", "trend_labels", "outcome_sign", "make_labels"]


def trend_labels(x: np.ndarray) -> list[str]:
    """Coarse trend of each row of a finite ``(m, n)`` matrix (fallback labels).

    With ``r = (x_last - x_first) / (max - min)``, ``e = |x_last - x_first| /
    sum |diff x|`` (net over total movement) and ``f`` the fraction of sign
    changes among consecutive non-zero differences: ``oscillating`` if
    ``f > 0.5`` and ``e < 0.25``; else ``converging`` if ``r < -0.5``,
    ``diverging`` if ``r > 0.5``; else ``plateau`` (also for a constant row).
    """
    m, n = x.shape
    if n < 2:
        return ["plateau"] * m
    lo, hi = x.min(axis=1), x.max(axis=1)
    span = hi - lo
    flat = span <= 1e-12 * np.maximum(np.maximum(np.abs(lo), np.abs(hi)), 1e-300)
    diff = np.diff(x, axis=1)
    net = x[:, -1] - x[:, 0]
    r = net / np.where(flat, 1.0, span)
    swing = np.abs(net) < 0.25 * np.abs(diff).sum(axis=1)
    out = []
    for i in range(m):
        if flat[i]:
            out.append("plateau")
            continue
        if swing[i]:  # only a window that goes nowhere net can oscillate
            d = diff[i][diff[i] != 0] > 0
            if d.size > 1 and np.count_nonzero(d[1:] != d[:-1]) > 0.5 * (d.size - 1):
                out.append("oscillating")
                continue
        out.append("converging" if r[i] < -0.5 else "diverging" if r[i] > 0.5 else "plateau")
    return out


def trend_label(curve: Any) -> str:
    """:func:`trend_labels` of one window (non-finite points interpolated first)."""
    from nef_agents.memory.patterns import clean_curve  # patterns imports this module

    return trend_labels(clean_curve(curve)[None, :])[0]


def outcome_sign(outcome: Any) -> str | None:
    """``'+'`` (helped), ``'-'`` (hurt), ``'0'``; ``None`` for a missing or NaN outcome."""
    try:
        v = float(outcome)
    except (TypeError, ValueError):
        return None
    if math.isnan(v):
        return None
    return "+" if v > 0 else "-" if v < 0 else "0"


def make_labels(
    curve: Any, payload: Mapping[str, Any] | None = None, labels: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Labels of the ``ultra`` level: ``trend``, ``action``, ``outcome`` (sign).

    Taken from ``payload`` keys ``trend``/``action``/``outcome`` when present,
    overridden by explicit ``labels``; ``trend`` falls back to :func:`trend_label`.
    """
    out: dict[str, str] = {}
    payload = payload or {}
    if "trend" in payload and payload["trend"] is not None:
        out["trend"] = str(payload["trend"])
    if "action" in payload and payload["action"] is not None:
        out["action"] = str(payload["action"])
    sign = outcome_sign(payload.get("outcome")) if "outcome" in payload else None
    if sign is not None:
        out["outcome"] = sign
    for k, v in (labels or {}).items():
        if v is not None:
            out[str(k)] = str(v)
    if "trend" not in out and curve is not None:
        out["trend"] = trend_label(curve)
    return out
