"""The two agents and the arbiter; :func:`deliberate` runs one pause end to end."""

from __future__ import annotations

from nef_agents.agents.anomaly import AnomalyAgent
from nef_agents.agents.arbiter import arbitrate, combined_score
from nef_agents.agents.base import Agent
from nef_agents.agents.theory import TheoryAgent
from nef_agents.blackboard import Blackboard

__all__ = ["Agent", "AnomalyAgent", "TheoryAgent", "arbitrate", "combined_score", "deliberate"]


def deliberate(board: Blackboard, agents: tuple[Agent, ...] | None = None) -> Blackboard:
    """Each agent proposes; each critiques every other agent's proposals; the arbiter decides.

    Returns a new blackboard with proposals, critiques and the decision filled in.
    """
    agents = agents or (TheoryAgent(), AnomalyAgent())
    proposals = [p for a in agents for p in a.propose(board)]
    critiques = [a.critique(board, p) for a in agents for p in proposals if p.agent != a.name]
    decision = arbitrate(board, proposals, critiques)
    return board.model_copy(update={"proposals": proposals, "critiques": critiques, "decision": decision})
