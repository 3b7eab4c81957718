"""Agents and arbiter on hand-built blackboards."""

from __future__ import annotations

import numpy as np

from nef_agents.agents import AnomalyAgent, TheoryAgent, arbitrate, deliberate
from nef_agents.analysis import ActionStat, Evidence, Snapshot
from nef_agents.blackboard import Blackboard, Proposal, RunContext
from nef_agents.health import Anomaly, HealthReport, PauseReason, Trend


def board(trend="plateau", reasons=("plateau",), engine="gd", done=None, stability=0.9, diversity=0.5,
          anomalies=(), stats=None, analysis=None, restarts=0, restart_values=(), current_f=1.0,
          budget_given=True, **ctx):
    health = HealthReport(iteration=10, stability=stability, diversity=diversity, resilience=1.0, balance=1.0,
                          integration=0.9, overall=0.8, weights=(0.2,) * 5)
    snap = Snapshot(losses=np.linspace(2, 1, 10), points=np.zeros((10, 2)), grads=None, terms=None,
                    nfevs=np.arange(10.0), bests=np.linspace(2, 1, 10))
    context = RunContext(engine=engine, step_scale=1e-3, engine_done=done, dim=2, has_gradient=True, bounded=False,
                         adjustable=ctx.pop("adjustable", []), term_weights={}, term_names=ctx.pop("term_names", []),
                         budget_left=0.5, budget_given=budget_given, restarts=restarts, max_restarts=10,
                         restart_values=list(restart_values), best_f=current_f, current_f=current_f,
                         n_failed=ctx.pop("n_failed", 0), recent_failures=ctx.pop("recent_failures", 0))
    ev = Evidence(novel=True, nearest_distance=None, analysis=analysis or {"grad_ratio": 0.5, "curv_max": float("nan")},
                  action_stats=stats or {})
    return Blackboard(iteration=10, nfev=10, health=health, trend=Trend(label=trend, numbers={}),
                      anomalies=list(anomalies),
                      pause_reasons=[PauseReason(trigger=r, value=0.0, threshold=1.0) for r in reasons],
                      snapshot=snap, context=context, evidence=ev)


def test_theory_proposes_smaller_step_or_lbfgs_when_gd_oscillates():
    """Oscillating gd: rescale below 1 with the factor from step x curvature, or switch to lbfgs."""
    b = board(trend="oscillating", reasons=("oscillation",), stability=0.1,
              analysis={"grad_ratio": 0.9, "curv_max": 4000.0})
    props = {p.action: p for p in TheoryAgent().propose(b)}
    assert props["rescale_step"].parameters["factor"] == 0.25  # 1 / (1e-3 * 4000)
    assert props["switch_engine"].parameters["name"] == "lbfgs"


def test_theory_proposes_larger_step_on_plateau_with_gradient():
    """Plateau with a sizeable gradient under gd: grow the step or switch to quasi-Newton."""
    props = {p.action: p for p in TheoryAgent().propose(board())}
    assert props["rescale_step"].parameters["factor"] > 1
    assert "switch_engine" in props


def test_anomaly_rolls_back_after_failed_evaluations():
    """Failure anomalies lead to a rollback proposal."""
    an = Anomaly(kind="failure", metric="evaluations", value=3, baseline=0, severity=3, iteration=10)
    props = AnomalyAgent().propose(board(trend="noisy", reasons=(), anomalies=[an], recent_failures=3))
    assert props[0].action == "rollback"


def test_anomaly_restarts_with_cmaes_when_local_runs_end_in_different_basins():
    """Two distinct end values = multimodal: restart through CMA-ES with a larger population."""
    b = board(trend="stationary", reasons=(), engine="lbfgs", done="gradient norm below gtol",
              restarts=1, restart_values=(5.0,), current_f=3.0)
    props = AnomalyAgent().propose(b)
    best = max(props, key=lambda p: p.predicted_gain)
    assert best.action == "restart" and best.parameters["engine"] == "cmaes" and best.parameters["popsize"] >= 8


def test_anomaly_stops_when_restarts_return_to_the_same_value_without_budget():
    """Same end value twice and no explicit budget: stop (continue on a finished engine)."""
    b = board(trend="stationary", reasons=(), engine="lbfgs", done="gradient norm below gtol",
              restarts=1, restart_values=(3.0,), current_f=3.0, budget_given=False)
    d = deliberate(b).decision
    assert d.chosen.action == "continue"


def test_anomaly_vetoes_an_action_memory_marks_harmful():
    """Two harmful remembered outcomes give a -1 critique citing the record ids."""
    stats = {"rescale_step": ActionStat(action="rescale_step", n=3, mean_outcome=-0.8, harmful=3, ids=[4, 7, 9])}
    b = board(stats=stats)
    prop = next(p for p in TheoryAgent().propose(b) if p.action == "rescale_step")
    crit = AnomalyAgent().critique(b, prop)
    assert crit.score == -1.0 and crit.evidence == [4, 7, 9]
    d = deliberate(b).decision
    assert d.chosen.action != "rescale_step" and "vetoed" in d.rationale


def test_arbiter_breaks_ties_by_action_then_agent_name():
    """Equal scores: the alphabetically first action wins, whatever the proposal order."""
    b = board()
    p1 = Proposal(id="theory-1", agent="theory", action="switch_engine", predicted_gain=0.5, rationale="x")
    p2 = Proposal(id="anomaly-1", agent="anomaly", action="restart", predicted_gain=0.5, rationale="y")
    assert arbitrate(b, [p1, p2], []).chosen.id == "anomaly-1"
    assert arbitrate(b, [p2, p1], []).chosen.id == "anomaly-1"


def test_memory_evidence_shifts_the_arbiters_choice():
    """An action that helped before outranks an equal one with no record."""
    stats = {"switch_engine": ActionStat(action="switch_engine", n=8, mean_outcome=0.9, harmful=0, ids=[1])}
    b = board(stats=stats)
    p1 = Proposal(id="theory-1", agent="theory", action="switch_engine", predicted_gain=0.3, rationale="x")
    p2 = Proposal(id="anomaly-1", agent="anomaly", action="restart", predicted_gain=0.5, rationale="y")
    assert arbitrate(b, [p1, p2], []).chosen.action == "switch_engine"


def test_deliberation_is_deterministic():
    """The same blackboard gives the same decision and scores."""
    b = board(trend="oscillating", reasons=("oscillation",), stability=0.1)
    assert deliberate(b).decision == deliberate(b).decision
