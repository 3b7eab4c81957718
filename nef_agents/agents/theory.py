"""TheoryAgent: reasons from curvature, step sizes, conditioning, gradient norm and term balance.

Rules (predicted gains in outcome-score units, [-1, 1]):

* oscillation (trigger, trend, or stability < 0.35): a first-order engine is
  taking steps beyond 2 / curvature; shrink by ``1 / (step_scale * curv_max)``
  when the curvature is known (else 0.3), or switch to lbfgs, whose line search
  picks the step;
* plateau or slow progress under gd/adam with a gradient that is still a
  sizeable share of its window maximum (grad_ratio > 1e-3): the step is too
  small; grow it 3x, or switch to lbfgs;
* diverging: cut the step by 5;
* lbfgs stalled on a noisy loss, or still crawling (slow) after a pause that
  was waited out once a tenth of an explicit budget is spent (quasi-Newton's
  head start is over; the cheap early progress is kept): switch to cmaes;
* lbfgs stopped on a failed line search or on f no longer changing, rather than
  on a small gradient: quasi-Newton curvature has run out of precision (or
  the function is not smooth there); continue with cmaes from the best point;
* an adjustable penalty holding more than 85% of the term-change energy:
  halve its weight (times share / (1 - share), capped) so the data term moves;
* the engine converged: stopping (``continue`` on a finished engine) is the
  theory's default; without a budget it is preferred.
"""

from __future__ import annotations

import math

from nef_agents.agents.base import GRADIENT_ENGINES, ProposalMaker, num, reasons
from nef_agents.blackboard import Blackboard, Critique, Proposal


class TheoryAgent:
    name = "theory"

    def propose(self, board: Blackboard) -> list[Proposal]:
        ctx, why = board.context, reasons(board)
        out = ProposalMaker(self.name)
        trend = board.trend.label
        curv = num(board, "curv_max")
        grad_ratio = num(board, "grad_ratio")
        if ctx.engine_done:
            gain = 0.3 if not ctx.budget_given else 0.05
            out.add("continue", gain, f"{ctx.engine} converged ({ctx.engine_done}); a stationary point is certified")
            imprecise = any(k in ctx.engine_done for k in ("line search", "stopped changing"))
            if ctx.engine == "lbfgs" and imprecise:
                out.add("switch_engine", 0.5, f"lbfgs ended with '{ctx.engine_done}', not a small gradient: "
                        "finite-difference curvature has run out of precision here; CMA-ES from the best "
                        "point learns the local shape from values alone", name="cmaes")
        oscillating = "oscillation" in why or trend == "oscillating" or board.health.stability < 0.35
        if oscillating and not ctx.engine_done:
            if ctx.engine in ("gd", "adam"):
                lr_curv = ctx.step_scale * curv
                factor = 0.3
                rationale = f"oscillation (stability {board.health.stability:.2f}) means steps overshoot"
                if math.isfinite(lr_curv) and lr_curv > 1.0:
                    factor = max(0.05, min(0.5, 1.0 / lr_curv))
                    rationale += f"; step x curvature = {lr_curv:.2f} > 1, so shrink to 1/{lr_curv:.2f}"
                out.add("rescale_step", 0.45, rationale, factor=round(factor, 6))
                out.add("switch_engine", 0.55, "oscillation in a valley: a quasi-Newton step with a "
                        "Wolfe line search chooses its own length", name="lbfgs")
            elif ctx.engine == "lbfgs":
                out.add("rescale_step", 0.25, "oscillation under lbfgs: a shorter first trial step", factor=0.5)
            # cmaes adapts sigma itself; its generation-best values zig-zag by nature.
        plateau = "plateau" in why or trend == "plateau"
        slow = plateau or "slow" in why
        if slow and not ctx.engine_done and not oscillating and ctx.engine in ("gd", "adam") \
                and not (grad_ratio < 1e-3):
            what = "plateau" if plateau else "slow progress"
            out.add("rescale_step", 0.35, f"{what} with gradient ratio {grad_ratio:.2g}: "
                    "the step is too small for the slope", factor=3.0)
            out.add("switch_engine", 0.5, f"{what} with a non-zero gradient: quasi-Newton "
                    "curvature scaling crosses flat valleys faster", name="lbfgs")
        elif "slow" in why and not ctx.engine_done and ctx.engine == "lbfgs" and ctx.last_action == "continue" \
                and ctx.budget_given and ctx.budget_left < 0.9:
            out.add("switch_engine", 0.3, "lbfgs is still crawling after the last pause was waited out: "
                    "finite-difference curvature is not paying off here; CMA-ES learns the shape from "
                    "values alone", name="cmaes")
        elif trend == "noisy" and plateau and not ctx.engine_done and ctx.engine == "lbfgs":
            out.add("switch_engine", 0.3, "lbfgs stalls while the loss bounces: the objective looks "
                    "noisy; a population method averages the noise out", name="cmaes")
        if trend == "diverging" and not ctx.engine_done:
            out.add("rescale_step", 0.5, "loss diverging: steps far too long", factor=0.2)
        self._balance(board, out)
        if not out.items:
            out.add("continue", 0.1, f"trend {trend}: nothing in the curvature or step history calls for a change")
        return out.items

    def _balance(self, board: Blackboard, out: ProposalMaker) -> None:
        ctx = board.context
        share, idx = num(board, "term_share_max"), num(board, "term_argmax")
        if not (ctx.adjustable and math.isfinite(share) and math.isfinite(idx) and share > 0.85):
            return
        names = ctx.term_names
        i = int(idx)
        if i >= len(names) or names[i] not in ctx.adjustable:
            return
        term = names[i]
        current = ctx.term_weights.get(term, 1.0)
        factor = max(0.05, min(0.5, (1.0 - share) / share * 4))
        out.add("reweight_terms", 0.4, f"penalty {term!r} holds {share:.0%} of the term energy; "
                f"lowering its weight lets the other terms move", weights={term: round(current * factor, 6)})

    def critique(self, board: Blackboard, proposal: Proposal) -> Critique:
        ctx, trend = board.context, board.trend.label
        grad_ratio = num(board, "grad_ratio")
        a = proposal.action
        score, reason = 0.0, "consistent with the curvature and step history"
        if a in ("restart", "inject_diversity") and not ctx.engine_done and trend in ("converging", "stationary"):
            score, reason = -0.6, f"the engine is still running and the trend is {trend}; leaving this basin wastes the descent"
        elif a == "restart" and ctx.engine_done:
            score, reason = 0.2, "the local run converged; only a restart can find a better basin"
        elif a == "rollback" and not board.anomalies and trend not in ("diverging", "oscillating"):
            score, reason = -0.3, "no failure or divergence to undo"
        elif a == "switch_engine" and proposal.parameters.get("name") == "cmaes" and ctx.engine in GRADIENT_ENGINES \
                and trend == "converging":
            score, reason = -0.4, "a gradient method is converging; a population method costs more here"
        elif a == "continue" and ctx.engine_done and ctx.restarts < ctx.max_restarts and ctx.budget_left > 0.1 \
                and ctx.budget_given and math.isfinite(grad_ratio):
            score, reason = -0.2, "budget remains; stopping at the first stationary point gives up on better basins"
        return Critique(critic=self.name, proposal_id=proposal.id, score=score, reason=reason)
