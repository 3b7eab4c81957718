"""The arbiter: one decision from proposals, critiques and memory evidence.

    score(p) = predicted_gain(p) + 0.5 * mean(critique scores of p)
               + 0.5 * mean_outcome(action) * n / (n + 2)

where ``mean_outcome`` and ``n`` come from memory (the distance-weighted mean
outcome of the nearest remembered decisions with that action; the n / (n+2)
factor shrinks thin evidence toward 0). A proposal with a critique of -1 is
vetoed unless every proposal is. Ties break deterministically by
(action name, agent name, proposal id).
"""

from __future__ import annotations

from nef_agents.blackboard import Blackboard, Critique, Decision, Proposal

CRITIQUE_WEIGHT = 0.5
MEMORY_WEIGHT = 0.5


def combined_score(board: Blackboard, p: Proposal, critiques: list[Critique]) -> float:
    mine = [c.score for c in critiques if c.proposal_id == p.id]
    crit = sum(mine) / len(mine) if mine else 0.0
    stat = board.evidence.action_stats.get(p.action)
    mem = stat.mean_outcome * stat.n / (stat.n + 2) if stat is not None else 0.0
    return round(p.predicted_gain + CRITIQUE_WEIGHT * crit + MEMORY_WEIGHT * mem, 9)


def arbitrate(board: Blackboard, proposals: list[Proposal], critiques: list[Critique]) -> Decision:
    if not proposals:
        raise ValueError("arbitrate needs at least one proposal")
    vetoed = {c.proposal_id for c in critiques if c.score <= -1.0}
    pool = [p for p in proposals if p.id not in vetoed] or list(proposals)
    scores = {p.id: combined_score(board, p, critiques) for p in proposals}
    ranked = sorted(pool, key=lambda p: (-scores[p.id], p.action, p.agent, p.id))
    best = ranked[0]
    runner = ranked[1] if len(ranked) > 1 else None
    parts = [f"{best.agent} proposed {best.action} ({best.rationale})",
             f"combined score {scores[best.id]:+.3f}"]
    if runner is not None:
        parts.append(f"over {runner.action} by {runner.agent} ({scores[runner.id]:+.3f})")
    if vetoed:
        parts.append(f"vetoed: {sorted(vetoed)}")
    return Decision(chosen=best, score=scores[best.id], runner_up=runner,
                    runner_up_score=None if runner is None else scores[runner.id], scores=scores,
                    rationale="; ".join(parts))
