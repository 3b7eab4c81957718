"""Health of a run: five metrics in [0, 1], trend, anomalies, pause decisions.

Layer 2: imports numpy, scipy, pydantic and :mod:`nef_agents.errors` only; the
loop feeds it plain numpy arrays.
"""

from __future__ import annotations

from nef_agents.health.anomalies import Baselines, detect_anomalies, loss_spike
from nef_agents.health.history import History
from nef_agents.health.meta import MetaLearner
from nef_agents.health.metrics import (
    DEFAULT_WEIGHTS,
    assess,
    balance,
    diversity,
    integration,
    loss_tolerance,
    resilience,
    stability,
)
from nef_agents.health.models import (
    METRIC_NAMES,
    Anomaly,
    HealthReport,
    MonitorStep,
    PauseDecision,
    PauseReason,
    Trend,
)
from nef_agents.health.monitor import HealthMonitor
from nef_agents.health.pause import PauseConfig, plateau_ratio, should_pause
from nef_agents.health.trend import classify_trend

__all__ = [
    "DEFAULT_WEIGHTS",
    "METRIC_NAMES",
    "Anomaly",
    "Baselines",
    "HealthMonitor",
    "HealthReport",
    "History",
    "MetaLearner",
    "MonitorStep",
    "PauseConfig",
    "PauseDecision",
    "PauseReason",
    "Trend",
    "assess",
    "balance",
    "classify_trend",
    "detect_anomalies",
    "diversity",
    "integration",
    "loss_spike",
    "loss_tolerance",
    "plateau_ratio",
    "resilience",
    "should_pause",
    "stability",
]
