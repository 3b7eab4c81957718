"""When to pause the run and call the agents: named criteria, thresholds fixed at construction."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nef_agents.errors import ConfigError
from nef_agents.health.models import PauseDecision, PauseReason

_FP_TOL = 16 * np.finfo(float).eps


class PauseConfig(BaseModel):
    """Pause thresholds. Bad values raise ConfigError naming the field.

    - ``plateau_window`` (W >= 2 iterations) and ``plateau_tol`` in (0, 1):
      plateau when :func:`plateau_ratio` < tol. Steady linear convergence
      with loss ratio q per iteration never fires unless q^W < tol (with the
      defaults, q < 0.5: the loss more than halving every iteration);
    - ``oscillation_threshold`` in (0, 1]: reversal rate above which the run
      oscillates (a random walk's is ~0.5; it exceeds 0.75 in ~1.5% of windows);
    - ``health_threshold`` in [0, 1): overall health below which to pause;
    - ``slow_tol`` in (0, 1) or None (off): see :func:`slow_ratio`;
    - ``cooldown`` >= 1: iterations after a pause during which no pause fires;
    - ``warmup`` >= 0: observations (since the last window reset) before any pause.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    plateau_window: int = Field(default=10, ge=2)
    plateau_tol: float = Field(default=1e-3, gt=0.0, lt=1.0)
    oscillation_threshold: float = Field(default=0.75, gt=0.0, le=1.0)
    health_threshold: float = Field(default=0.25, ge=0.0, lt=1.0)
    slow_tol: float | None = Field(default=None, gt=0.0, lt=1.0)
    cooldown: int = Field(default=10, ge=1)
    warmup: int = Field(default=10, ge=0)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "?"
            raise ConfigError(
                f"`PauseConfig.{field}`: {err['msg']}, got {err.get('input')!r}"
            ) from exc


def plateau_ratio(losses: ArrayLike | Sequence[float], window: int) -> float | None:
    """Best-loss progress of the last W iterations relative to the W before.

    With b the running minimum of the last 2W+1 losses:
    ``(b[-W-1] - b[-1]) / (b[-2W-1] - b[-W-1])``, dimensionless, >= 0.
    Steady geometric convergence (loss ratio q per iteration) keeps it at
    q^W however long it runs; a stall drives it to 0. When the earlier
    window made no progress either (within float resolution) the ratio is 0
    (flat from the start), or inf if only the later one did. None with
    fewer than 2W+1 losses.
    """
    vals = losses.tolist() if isinstance(losses, np.ndarray) else [float(v) for v in losses]
    if len(vals) < 2 * window + 1:
        return None
    b = list(itertools.accumulate(vals[-(2 * window + 1) :], min))
    floor = _FP_TOL * max(abs(b[0]), abs(b[-1]))
    earlier = b[0] - b[window]
    later = b[window] - b[-1]
    if earlier <= floor:
        return 0.0 if later <= floor else float("inf")
    return max(later, 0.0) / earlier


def slow_ratio(losses: ArrayLike, window: int) -> float | None:
    """Relative improvement of the best loss over the last W iterations.

    With b the running minimum of the last W+1 losses:
    ``(b[0] - b[-1]) / |b[0]|``, dimensionless, >= 0 (``inf`` when b[0] = 0 and
    it improved). Unlike :func:`plateau_ratio` this measures speed, not
    deceleration: steady convergence at 1% per W iterations is slow here and
    not a plateau there. It depends on the loss's offset, so it is a trigger
    for the framework only, never a health metric. None with fewer than W+1
    losses.
    """
    loss = np.asarray(losses, dtype=float).ravel()
    if loss.size < window + 1:
        return None
    b = np.minimum.accumulate(loss[-(window + 1) :])
    gain = float(b[0] - b[-1])
    if b[0] == 0.0:
        return float("inf") if gain > 0 else 0.0
    return max(gain, 0.0) / abs(float(b[0]))


def should_pause(
    iteration: int,
    *,
    losses: ArrayLike | Sequence[float],
    reversal_rate: float,
    health: float,
    n_observed: int,
    last_pause: int | None = None,
    config: PauseConfig | None = None,
) -> PauseDecision:
    """Decide whether to pause at ``iteration``.

    ``losses``: recent losses, oldest first (at least 2W+1 for the plateau
    test); ``reversal_rate``: share of reversing step pairs in the window;
    ``health``: overall health; ``n_observed``: observations since the window
    was last reset; ``last_pause``: iteration of the last pause, if any.

    Criteria (each reported with value and threshold when it fires):
    plateau (:func:`plateau_ratio` < plateau_tol), slow progress
    (:func:`slow_ratio` < slow_tol, when set and no plateau fired), oscillation
    (reversal_rate > oscillation_threshold), health (health < health_threshold).
    ``pause`` is True when one fires, unless ``n_observed < warmup`` or
    ``iteration - last_pause <= cooldown`` (then ``blocked`` says which), so
    pauses never fire on consecutive iterations.
    """
    cfg = config if config is not None else PauseConfig()
    reasons: list[PauseReason] = []
    ratio = plateau_ratio(losses, cfg.plateau_window)
    if ratio is not None and ratio < cfg.plateau_tol:
        reasons.append(PauseReason(trigger="plateau", value=ratio, threshold=cfg.plateau_tol))
    if cfg.slow_tol is not None and not reasons:
        slow = slow_ratio(losses, cfg.plateau_window)
        if slow is not None and slow < cfg.slow_tol:
            reasons.append(PauseReason(trigger="slow", value=slow, threshold=cfg.slow_tol))
    if reversal_rate > cfg.oscillation_threshold:
        reasons.append(
            PauseReason(
                trigger="oscillation", value=reversal_rate, threshold=cfg.oscillation_threshold
            )
        )
    if health < cfg.health_threshold:
        reasons.append(PauseReason(trigger="health", value=health, threshold=cfg.health_threshold))
    blocked = None
    if n_observed < cfg.warmup:
        blocked = "warmup"
    elif last_pause is not None and iteration - last_pause <= cfg.cooldown:
        blocked = "cooldown"
    return PauseDecision(pause=bool(reasons) and blocked is None, reasons=reasons, blocked=blocked)
