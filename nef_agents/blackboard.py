"""The shared surface of one pause: what the agents read and what they write.

The loop fills the read side (health, trend, anomalies, pause reasons, a
snapshot of the window, the run context and the memory evidence); the agents
add proposals and critiques; the arbiter adds the decision. Everything but the
numpy snapshot is a pydantic model, so a blackboard can be logged and replayed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nef_agents.analysis import Evidence, Snapshot
from nef_agents.health import Anomaly, HealthReport, PauseReason, Trend


class RunContext(BaseModel):
    """Facts about the run at the pause that are not in the window."""

    engine: str
    step_scale: float
    engine_done: str | None
    dim: int
    has_gradient: bool
    bounded: bool
    adjustable: list[str]
    term_weights: dict[str, float]
    term_names: list[str]
    budget_left: float = Field(ge=0.0, le=1.0)
    budget_given: bool = True
    restarts: int
    max_restarts: int
    restart_values: list[float]
    best_f: float
    current_f: float
    n_failed: int
    recent_failures: int
    cmaes_popsize: int | None = None  # population of the running CMA-ES, if that is the engine
    last_action: str | None = None
    since_last_decision: int | None = None


class Proposal(BaseModel):
    """An action an agent proposes, with the gain it predicts (in outcome-score units, [-1, 1])."""

    id: str
    agent: str
    action: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    predicted_gain: float
    rationale: str
    evidence: list[int] = Field(default_factory=list)


class Critique(BaseModel):
    """One agent's view of another's proposal: score in [-1, 1] (-1 = veto)."""

    critic: str
    proposal_id: str
    score: float = Field(ge=-1.0, le=1.0)
    reason: str
    evidence: list[int] = Field(default_factory=list)


class Decision(BaseModel):
    """The arbiter's choice, the combined score of every proposal, and why."""

    chosen: Proposal
    score: float
    runner_up: Proposal | None
    runner_up_score: float | None
    scores: dict[str, float]
    rationale: str


class Blackboard(BaseModel):
    """One pause: inputs for the agents, then their proposals, critiques and the decision."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    iteration: int
    nfev: int
    health: HealthReport
    trend: Trend
    anomalies: list[Anomaly]
    pause_reasons: list[PauseReason]
    snapshot: Snapshot
    context: RunContext
    evidence: Evidence
    proposals: list[Proposal] = Field(default_factory=list)
    critiques: list[Critique] = Field(default_factory=list)
    decision: Decision | None = None
