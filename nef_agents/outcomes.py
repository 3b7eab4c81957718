"""What a decision led to: measured ``k`` iterations after it was applied.

Rates are relative improvements of the best value per evaluation:

    r_before = (f_first - f_best) / |f_first| / evals      over the window before the pause
    r_after  = (f_best_at_decision - f_best_now) / |f_best_at_decision| / evals since

    score = clip(log10((r_after + eps) / (r_before + eps)), -3, 3) / 3      in [-1, 1]

with ``eps = 1e-9`` (a relative gain of one part in 10^9 per evaluation counts
as no progress). ``score > 0``: progress sped up; ``< 0``: it slowed down.
A local decision (a step change, an engine switch, a reweighting) is
*harmful* when the best value did not improve at all and the engine now sits
at a worse value than when the decision was taken. An exploratory decision
(restart, diversity injection) leaves the current basin on purpose, so it is
judged on the best value alone when its local run ends: positive as above if
it found a better point, -0.1 (spent evaluations, found nothing) otherwise,
and never harmful.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel

EPS = 1e-9


@dataclass
class PendingOutcome:
    """A decision waiting for its outcome (kept by the loop until iteration ``due``)."""

    decision_index: int
    action: str
    parameters: dict[str, Any]
    due: int
    iteration: int
    nfev: int
    best_before: float
    current_before: float
    rate_before: float
    curve: np.ndarray
    health: np.ndarray
    trend: str
    engine: str
    local: bool
    exploratory: bool = False


class Outcome(BaseModel):
    """The measured effect of one decision (see the module docstring for formulas)."""

    score: float
    gain: float
    rate_before: float
    rate_after: float
    evaluations: int
    harmful: bool


def measure_outcome(p: PendingOutcome, *, best_now: float, current_now: float, nfev_now: int) -> Outcome:
    """Compare progress since the decision with progress before it."""
    spent = max(1, nfev_now - p.nfev)
    denom = abs(p.best_before) if math.isfinite(p.best_before) and p.best_before != 0 else 1.0
    gain = (p.best_before - best_now) / denom if math.isfinite(p.best_before) else (1.0 if math.isfinite(best_now) else 0.0)
    gain = max(0.0, gain)
    rate_after = gain / spent
    score = float(np.clip(math.log10((rate_after + EPS) / (p.rate_before + EPS)), -3.0, 3.0) / 3.0)
    if p.exploratory:
        return Outcome(score=max(score, 0.05) if gain > 0 else -0.1, gain=gain, rate_before=p.rate_before,
                       rate_after=rate_after, evaluations=spent, harmful=False)
    worse_place = (not math.isfinite(current_now)) or current_now > p.current_before
    return Outcome(score=score, gain=gain, rate_before=p.rate_before, rate_after=rate_after, evaluations=spent,
                   harmful=gain <= 0.0 and worse_place)
