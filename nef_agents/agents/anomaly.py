"""AnomalyAgent: reasons from anomalies, stagnation, multimodality, failures and memory.

Rules (predicted gains in outcome-score units, [-1, 1]):

* failed evaluations or a loss spike: roll back to the best point with half
  the step (the trajectory left the region where the objective is defined);
  failures that persist right after a rollback mean the objective itself is
  failing, so roll back again without shrinking the step;
* the engine stopped at a stationary point while budget and restarts remain:
  restart. The end values of finished local runs are the multimodality
  evidence: two or more distinct values mean several basins, so the next
  restart goes through CMA-ES with a doubled population (IPOP) and a wide
  radius; a restart that came back to the same value (and no explicit budget)
  means one basin, so stop;
* a plateau whose steps collapsed onto few directions (diversity < 0.2):
  inject diversity.

Critiques come from memory: an action whose remembered outcomes on the
nearest patterns average below -0.2 is opposed with that mean as the score,
and vetoed (-1) when at least two of those records were harmful; an action
that helped before is supported. The evidence ids go into the critique.
"""

from __future__ import annotations

import math

from nef_agents.agents.base import ProposalMaker, distinct_values, reasons
from nef_agents.blackboard import Blackboard, Critique, Proposal


class AnomalyAgent:
    name = "anomaly"

    def propose(self, board: Blackboard) -> list[Proposal]:
        ctx, why = board.context, reasons(board)
        out = ProposalMaker(self.name)
        kinds = {a.kind for a in board.anomalies}
        again = ctx.last_action == "rollback" and (ctx.since_last_decision or 0) <= 10
        if "failure" in kinds or ctx.recent_failures > 0 and board.trend.label in ("diverging", "noisy"):
            if again:
                out.add("rollback", 0.6, "failures persist right after a rollback: the objective itself is "
                        "failing; return to the best point and keep the step", step_factor=1.0)
            else:
                out.add("rollback", 0.6, f"{ctx.recent_failures} recent failed evaluations: return to the best "
                        "point with half the step", step_factor=0.5)
        if ("spike" in kinds or board.trend.label == "diverging") and not again:
            out.add("rollback", 0.5, "loss spike: return to the best point with half the step", step_factor=0.5)
        # Only a finished engine is a certified stationary point: a "stationary" trend while the
        # engine still runs is usually a long, flat valley (ill-conditioning), where leaving hurts.
        stationary = ctx.engine_done is not None
        if stationary:
            self._stationary(board, out)
        if board.trend.label == "plateau" and board.health.diversity < 0.2 and not stationary:
            out.add("inject_diversity", 0.3, f"plateau with diversity {board.health.diversity:.2f}: the steps "
                    "collapsed onto few directions", sigma=0.05)
        if "health" in why and not out.items:
            out.add("continue", 0.05, "health is low but no anomaly explains it")
        return out.items

    def _stationary(self, board: Blackboard, out: ProposalMaker) -> None:
        ctx = board.context
        values = [*ctx.restart_values, ctx.current_f]
        basins = distinct_values(values)
        can_restart = ctx.restarts < ctx.max_restarts and ctx.budget_left > 0.02
        if not can_restart:
            out.add("continue", 0.3, f"stationary; restarts {ctx.restarts}/{ctx.max_restarts}, "
                    f"budget left {ctx.budget_left:.0%}: nothing more to try")
            return
        if len(values) >= 2 and basins == 1 and (not ctx.budget_given or len(values) >= 4):
            out.add("continue", 0.5, f"{len(values)} local runs ended at the same value {ctx.current_f:.6g}: "
                    "one basin, stop")
            return
        if basins >= 2:
            # IPOP: each CMA-ES restart doubles the population of the previous one
            base = 4 + int(3 * math.log(ctx.dim))
            pop = 2 * ctx.cmaes_popsize if ctx.engine == "cmaes" and ctx.cmaes_popsize else 2 * base
            out.add("restart", 0.6, f"{basins} distinct local minima among {len(values)} runs: multimodal; "
                    "restart CMA-ES with a doubled population (IPOP) over a wide radius",
                    radius=0.5, engine="cmaes", popsize=int(pop))
            out.add("restart", 0.35, "multimodal: restart the local engine elsewhere", radius=0.5)
        else:
            radius = 0.5 if len(values) < 2 else 1.0
            out.add("restart", 0.45, f"stationary at {ctx.current_f:.6g} after {len(values)} local run(s) "
                    f"ending alike; probe another basin (radius {radius})", radius=radius)

    def critique(self, board: Blackboard, proposal: Proposal) -> Critique:
        stat = board.evidence.action_stats.get(proposal.action)
        if stat is not None and stat.n >= 2:
            if stat.harmful >= 2 and stat.mean_outcome < -0.2:
                return Critique(critic=self.name, proposal_id=proposal.id, score=-1.0, evidence=stat.ids,
                                reason=f"veto: on {stat.n} similar patterns {proposal.action} hurt "
                                       f"{stat.harmful} times (mean outcome {stat.mean_outcome:+.2f})")
            if stat.mean_outcome < -0.2:
                return Critique(critic=self.name, proposal_id=proposal.id, score=max(-1.0, stat.mean_outcome),
                                evidence=stat.ids, reason=f"memory: mean outcome {stat.mean_outcome:+.2f} "
                                f"over {stat.n} similar patterns")
            if stat.mean_outcome > 0.2:
                return Critique(critic=self.name, proposal_id=proposal.id, score=min(1.0, stat.mean_outcome),
                                evidence=stat.ids, reason=f"memory: helped before (mean outcome "
                                f"{stat.mean_outcome:+.2f} over {stat.n} similar patterns)")
        ctx = board.context
        if proposal.action == "rescale_step" and proposal.parameters.get("factor", 1.0) > 1.0 and ctx.recent_failures:
            return Critique(critic=self.name, proposal_id=proposal.id, score=-0.5,
                            reason="recent failed evaluations: longer steps risk more")
        return Critique(critic=self.name, proposal_id=proposal.id, score=0.0, reason="no anomaly or memory against it")
