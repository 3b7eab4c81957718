"""The Agent protocol and small helpers the two agents share."""

from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

from nef_agents.blackboard import Blackboard, Critique, Proposal

GRADIENT_ENGINES = ("gd", "adam", "lbfgs")


@runtime_checkable
class Agent(Protocol):
    """Reads a blackboard; proposes actions; critiques another agent's proposal."""

    name: str

    def propose(self, board: Blackboard) -> list[Proposal]: ...

    def critique(self, board: Blackboard, proposal: Proposal) -> Critique: ...


class ProposalMaker:
    """Numbers proposals ``<agent>-<n>`` in the order an agent makes them (deterministic ids)."""

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.items: list[Proposal] = []

    def add(self, action: str, gain: float, rationale: str, evidence: list[int] | None = None,
            **parameters: Any) -> None:
        if any(p.action == action and p.parameters == parameters for p in self.items):
            return
        self.items.append(Proposal(id=f"{self.agent}-{len(self.items) + 1}", agent=self.agent, action=action,
                                   parameters=parameters, predicted_gain=round(float(gain), 6),
                                   rationale=rationale, evidence=list(evidence or [])))


def reasons(board: Blackboard) -> set[str]:
    """Names of the pause triggers that fired (plus ``engine_done`` when the engine stopped)."""
    out = {r.trigger for r in board.pause_reasons}
    if board.context.engine_done:
        out.add("engine_done")
    return out


def num(board: Blackboard, key: str) -> float:
    """An analysis number, NaN when absent."""
    v = board.evidence.analysis.get(key, math.nan)
    return float(v) if v is not None else math.nan


def distinct_values(values: list[float], rel: float = 1e-6) -> int:
    """How many clusters the local-run end values form (relative tolerance ``rel``)."""
    clusters: list[float] = []
    for v in sorted(v for v in values if math.isfinite(v)):
        if not clusters or abs(v - clusters[-1]) > rel * max(1.0, abs(v)):
            clusters.append(v)
    return len(clusters)
