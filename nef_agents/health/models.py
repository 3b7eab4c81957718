"""Pydantic records the health package hands to the rest of the loop.

Arrays stay numpy inside the package; what crosses a boundary (blackboard,
decision log, memory) is one of these frozen models.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

METRIC_NAMES: tuple[str, ...] = ("stability", "diversity", "resilience", "balance", "integration")
"""Order of the five metrics everywhere a vector of them appears."""

TrendLabel = Literal["converging", "plateau", "oscillating", "noisy", "diverging", "stationary"]
PauseTrigger = Literal["plateau", "slow", "oscillation", "health"]
AnomalyKind = Literal["metric", "failure", "spike"]

_Unit = Field(ge=0.0, le=1.0)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HealthReport(_Frozen):
    """Five dimensionless metrics in [0, 1] (1 = healthy) and their weighted sum.

    ``overall = sum_i weights[i] * metric_i``; weights are on the simplex, so
    ``overall`` is in [0, 1] too. ``n_points`` is how many iterates the window held.
    """

    iteration: int
    stability: float = _Unit
    diversity: float = _Unit
    resilience: float = _Unit
    balance: float = _Unit
    integration: float = _Unit
    overall: float = _Unit
    weights: tuple[float, float, float, float, float]
    n_points: int = Field(default=0, ge=0)

    def as_array(self) -> np.ndarray:
        """The five metrics in :data:`METRIC_NAMES` order, shape (5,)."""
        return np.array(
            [self.stability, self.diversity, self.resilience, self.balance, self.integration]
        )


class Trend(_Frozen):
    """The recent trend's label and the dimensionless numbers that decided it."""

    label: TrendLabel
    numbers: dict[str, float]


class PauseReason(_Frozen):
    """One criterion that fired: its measured ``value`` against its ``threshold``."""

    trigger: PauseTrigger
    value: float
    threshold: float


class PauseDecision(_Frozen):
    """Whether to pause now.

    ``reasons`` lists every criterion that fired, even when ``blocked`` (warmup
    or cooldown) keeps ``pause`` False; act on ``pause``, read ``reasons``.
    """

    pause: bool
    reasons: list[PauseReason] = Field(default_factory=list)
    blocked: Literal["warmup", "cooldown"] | None = None


class Anomaly(_Frozen):
    """Something out of the ordinary at ``iteration``.

    kind ``metric``: a health metric far from its running baseline; ``value``
    and ``baseline`` are metric values, ``severity = |z| / threshold`` (>= 1).
    kind ``spike``: ``metric="loss"``, ``value`` the loss jump, ``baseline`` the
    window's typical |change| (loss units); ``severity = jump / (factor * typical)``.
    kind ``failure``: ``metric="evaluations"``, ``value`` the count of new
    failed evaluations, ``baseline`` 0, ``severity`` = that count.
    """

    kind: AnomalyKind
    metric: str
    value: float
    baseline: float
    severity: float = Field(ge=0.0)
    iteration: int


class MonitorStep(_Frozen):
    """Everything :meth:`HealthMonitor.observe` learned about one iteration."""

    iteration: int
    nfev: int
    report: HealthReport
    anomalies: list[Anomaly]
    pause: PauseDecision
    trend: Trend


_set = object.__setattr__


def trusted(cls: type[_Frozen], values: dict) -> _Frozen:
    """``cls.model_construct(**values)`` for values already valid by construction.

    ``values`` must name every field, in declaration order, with values of the
    declared types (Python ints, floats, tuples, lists of models): no
    validation or copying happens. What ``model_construct`` does for a model
    without aliases, extras or private attributes, at a fraction of its cost;
    the public constructors still validate.
    """
    m = cls.__new__(cls)
    _set(m, "__dict__", values)
    _set(m, "__pydantic_fields_set__", set(values))
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", None)
    return m
