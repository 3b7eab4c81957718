"""The optimizer loop and ``minimize``.

One run: a :class:`~nef_agents.problem.Problem` guards the objective, an
engine steps, the :class:`~nef_agents.health.HealthMonitor` reads each
iteration, and when it pauses (or the engine stalls, or an anomaly needs an
answer) the two agents deliberate on a blackboard and one action is applied.
``outcome_k`` iterations later the decision's outcome is measured, a harmful
local action is rolled back, and pattern + action + outcome go to memory.
Every step of that is an event in the decision log.

Data flows one way: the loop owns the state; agents read the blackboard and
return proposals; actions map loop state to loop state; memory is read through
one query call and written through one store call (the gateway).
"""

from __future__ import annotations

import inspect
import math
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult

from nef_agents import __version__
from nef_agents import actions as A
from nef_agents.agents import deliberate
from nef_agents.analysis import deep_health_analysis, snapshot
from nef_agents.blackboard import Blackboard, RunContext
from nef_agents.config import FrameworkConfig
from nef_agents.decisionlog import DecisionLog
from nef_agents.engines import REGISTRY as ENGINES
from nef_agents.errors import BudgetExhausted, ConfigError
from nef_agents.health import HealthMonitor, MetaLearner, PauseConfig
from nef_agents.memory.gateway import MemoryGateway
from nef_agents.outcomes import PendingOutcome, measure_outcome
from nef_agents.problem import Problem
from nef_agents.schedule import AUTO, Phase, parse_schedule

META_KEY = "health.meta_weights"
# Less than 2% relative improvement over 10 iterations is slow for the framework: at that
# rate a tenfold reduction needs over 1,100 iterations, slower than any engine here should be.
DEFAULT_PAUSE = {"slow_tol": 0.02}
STATUS = {0: "converged", 1: "budget", 2: "maxiter", 3: "all_failed", 4: "target", 99: "callback"}
LOCAL_ACTIONS = {"rescale_step", "switch_engine", "prune_noise", "reweight_terms"}
EXPLORATORY_ACTIONS = {"restart", "inject_diversity"}
IDLE_LIMIT = 200  # iterations in a row without a new evaluation: nothing left that can make progress
FAIL_LIMIT = 1000  # evaluations (or 100 d) that all failed before the run gives up with status 3
EXPLORE_PATIENCE = 5  # exploratory outcomes wait up to this many times outcome_k, or until the engine stops


def choose_auto(problem: Problem) -> str:
    """``lbfgs`` with a gradient or when the objective looks smooth at x0, else ``cmaes``.

    The probe takes the forward-difference gradient g at x0 (d evaluations,
    which lbfgs then reuses as its first gradient) and one more point,
    x1 = x0 - a u with u = g / |g| and a = 1e-4 max(1, |x0|_inf), and asks
    whether the decrease matches the linear model:
    0.5 <= (f(x0) - f(x1)) / (a |g|) <= 1.5. Noise, plateaus and steps fail it.
    It costs one evaluation beyond what lbfgs spends at x0 anyway (the
    problem remembers f and g at x0, so the engine does not pay for them twice).
    """
    if problem.has_gradient:
        return "lbfgs"
    if problem.remaining < problem.dim + 3:
        return "cmaes"
    x0 = problem.x0
    f0 = problem.f(x0)
    g = problem.grad(x0, f0, scheme="forward") if math.isfinite(f0) else None
    if g is None:
        return "cmaes"
    norm = float(np.linalg.norm(g))
    if norm == 0.0 or not math.isfinite(norm):
        return "cmaes"
    a = 1e-4 * max(1.0, float(np.max(np.abs(x0))))
    f1 = problem._eval(x0 - a * g / norm)
    if not math.isfinite(f1):
        return "cmaes"
    ratio = (f0 - f1) / (a * norm)
    return "lbfgs" if 0.5 <= ratio <= 1.5 else "cmaes"


def _split_options(options: Mapping[str, Any] | None, phases: list[Phase]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Per-engine option dicts and framework settings from ``options``.

    ``{"gd": {...}, "lbfgs": {...}}`` sets engines by name; ``{"framework": {...}}``
    sets :class:`FrameworkConfig`; any other key goes to the first phase's engine.
    """
    per: dict[str, dict[str, Any]] = {}
    framework: dict[str, Any] = {}
    flat: dict[str, Any] = {}
    for k, v in (options or {}).items():
        if k in ENGINES:
            if not isinstance(v, Mapping):
                raise ConfigError(f"`options[{k!r}]` must be a mapping of engine settings, got {v!r}")
            per[k] = dict(v)
        elif k == "framework":
            framework = dict(v)
        else:
            flat[k] = v
    if flat:
        first = phases[0].engine
        if first == AUTO:
            raise ConfigError(f"unknown option(s) {sorted(flat)}: with engine='auto', engine settings go under the "
                              f"engine's name (options={{'lbfgs': {{...}}}}) and loop settings under 'framework'")
        per[first] = {**flat, **per.get(first, {})}
    return per, framework


class Run:
    """One optimization run; owns every piece of mutable state."""

    def __init__(self, problem: Problem, phases: list[Phase], engine_options: dict[str, dict[str, Any]],
                 cfg: FrameworkConfig, rng: np.random.Generator, seed: int, gateway: MemoryGateway | None,
                 log: DecisionLog, callback: Callable[..., Any] | None, target: float | None,
                 pause: PauseConfig | None, context: dict[str, Any], default_budget: bool = False) -> None:
        self.problem, self.phases, self.cfg, self.rng, self.seed = problem, phases, cfg, rng, seed
        self.engine_options = engine_options
        self.gateway, self.log, self.callback, self.target = gateway, log, callback, target
        self.context = context
        self.agents: tuple[Any, ...] | None = None
        weights = gateway.get_meta(META_KEY) if gateway is not None else None
        meta = MetaLearner.from_dict(weights) if weights else MetaLearner()
        self.initial_meta = meta.to_dict()
        self.monitor = HealthMonitor(window=cfg.window, pause=pause or PauseConfig(), meta=meta)
        self.health_rows: list[list[float]] = []
        self.nfevs: deque[int] = deque(maxlen=cfg.window)  # aligned with the health window
        self.bests: deque[float] = deque(maxlen=cfg.window)
        self.pauses: list[dict[str, Any]] = []
        self.anomalies: list[dict[str, Any]] = []
        self.decisions: list[dict[str, Any]] = []
        self.engines_used: list[dict[str, Any]] = []
        self.pending: PendingOutcome | None = None
        self.last_deliberation = -10**9
        self.it = 0
        self.default_budget = default_budget
        self.max_restarts = cfg.max_restarts if cfg.max_restarts is not None else (1 if default_budget else 10**6)

    # -- helpers ---------------------------------------------------------------------------------
    def emit(self, event: str, **fields: Any) -> None:
        it = fields.pop("iteration", self.it)
        nfev = fields.pop("nfev", self.problem.nfev)
        self.log.emit(event, iteration=it, nfev=nfev, **fields)

    def _flush_reads(self) -> None:
        if self.gateway is None:
            return
        for read in self.gateway.drain_reads():
            self.emit("memory_query", **read)

    def _start(self, phase: Phase) -> A.LoopState:
        name = choose_auto(self.problem) if phase.engine == AUTO else phase.engine
        engine, state = A.start_engine(name, self.problem.x0, self.problem, self.rng, self.engine_options)
        self._check_adjustable()
        self.engines_used.append({"iteration": self.it, "engine": name, "reason": "start"})
        self.emit("engine_switched", engine=name, previous=None, reason="start")
        return A.LoopState(engine_name=name, engine=engine, state=state, engine_options=self.engine_options)

    # -- the loop --------------------------------------------------------------------------------
    def execute(self) -> OptimizeResult:
        p = self.problem
        self.emit("run_started", seed=self.seed, versions={"nef_agents": __version__, "numpy": np.__version__},
                  budget=p.budget, dim=p.dim, phases=[ph.__dict__ for ph in self.phases],
                  engine_options=self.engine_options, config=self.cfg.model_dump(), meta_weights=self.initial_meta,
                  **self.context)
        t0 = time.perf_counter()
        # Overflow and NaN in the objective or the metrics are data here (failed evaluations,
        # anomalies), so numpy's floating-point warnings would only be noise.
        with np.errstate(all="ignore"):
            status, detail = self._loop()
        self._flush_reads()
        if self.gateway is not None:
            self.gateway.put_meta(META_KEY, self.monitor.meta.to_dict() if self.monitor.meta else None)
        if p.best_x is None:
            status, detail = 3, f"every one of {p.nfev} evaluations failed" + (
                f" (first: {p.failures[0].reason})" if p.failures else "")
        res = self._result(status, detail, time.perf_counter() - t0)
        self.emit("run_finished", status=res.status, message=res.message, fun=res.fun, x=res.x, nit=res.nit,
                  nfev=res.nfev, success=res.success)
        return res

    def _loop(self) -> tuple[int, str]:
        """(status, message) of the run; the budget can run out inside any step or action."""
        try:
            return self._iterate()
        except BudgetExhausted:
            return 1, self._budget_message()

    def _budget_message(self) -> str:
        return f"evaluation budget of {self.problem.budget} reached"

    def _iterate(self) -> tuple[int, str]:
        p, cfg = self.problem, self.cfg
        phase_idx, phase_iters, idle = 0, 0, 0
        loop = self._start(self.phases[0])
        while True:
            phase = self.phases[phase_idx]
            if phase.iterations is not None and phase_iters >= phase.iterations and phase_idx + 1 < len(self.phases):
                phase_idx, phase_iters = phase_idx + 1, 0
                loop = self._enter_phase(loop, self.phases[phase_idx])
                continue
            if cfg.maxiter is not None and self.it >= cfg.maxiter:
                return 2, f"iteration limit of {cfg.maxiter} reached"
            before = p.nfev
            try:
                state = loop.engine.step(loop.state, p)
            except BudgetExhausted:
                raise
            except Exception as exc:  # a numerical failure inside an engine's library ends that engine, not the run
                state = replace(loop.state, done=f"engine error: {type(exc).__name__}: {exc}")
            loop = replace(loop, state=state)
            self.it += 1
            idle = idle + 1 if p.nfev == before else 0
            if idle >= IDLE_LIMIT:
                status = 0 if p.best_x is not None else 3
                return status, f"stopped: {IDLE_LIMIT} iterations in a row made no new evaluation"
            if p.best_x is None and p.nfev >= max(FAIL_LIMIT, 100 * p.dim):
                return 3, f"every one of the first {p.nfev} evaluations failed (first: {p.failures[0].reason})"
            phase_iters += 1
            if loop.reset_window:
                self.monitor.reset_window()
                self.nfevs.clear()
                self.bests.clear()
                loop = replace(loop, reset_window=False)
            self.nfevs.append(p.nfev)
            self.bests.append(p.best_f)
            terms = None if p.last_terms is None else np.fromiter(p.last_terms.values(), float)
            obs = self.monitor.observe(self.it, p.nfev, state.f, state.x, state.g, terms=terms, n_failed=p.n_failed)
            self.health_rows.append([*obs.report.as_array().tolist(), obs.report.overall])
            for an in obs.anomalies:
                rec = an.model_dump()
                self.anomalies.append(rec)
                self.emit("anomaly", **rec)
            if self._callback(state):
                return 99, "`callback` raised `StopIteration`."
            if self.target is not None and p.best_f <= self.target:
                return 4, f"target value {self.target} reached"
            if self.pending is not None and (self.it >= self.pending.due or state.done is not None):
                loop = self._measure(loop, obs)
            urgent = any(a.kind in ("failure", "spike") for a in obs.anomalies)
            trouble = obs.pause.pause or state.done is not None or (urgent and phase.agents)
            if not trouble:
                continue
            open_phase_ends = not phase.agents and phase.iterations is None and phase_idx + 1 < len(self.phases)
            if not phase.agents and not obs.pause.pause and not open_phase_ends:
                return 0, f"converged: {state.done}"  # the engine finished and nobody deliberates: no pause
            reasons = [r.model_dump() for r in obs.pause.reasons]
            if state.done is not None:
                reasons.append({"trigger": "engine_done", "value": 1.0, "threshold": 1.0, "detail": state.done})
            if urgent and not obs.pause.pause:
                reasons.append({"trigger": "anomaly", "value": float(max(a.severity for a in obs.anomalies)),
                                "threshold": 1.0})
            self.pauses.append({"iteration": self.it, "nfev": p.nfev, "reasons": reasons})
            self.emit("pause", reasons=reasons, health=obs.report.model_dump(), trend=obs.trend.model_dump())
            if p.exhausted:
                return 1, self._budget_message()
            if not phase.agents:
                if open_phase_ends:
                    phase_idx, phase_iters = phase_idx + 1, 0  # an open-ended phase ends at its first pause
                    loop = self._enter_phase(loop, self.phases[phase_idx])
                    if not self.phases[phase_idx].agents:
                        continue  # else deliberate on this very pause
                elif state.done is not None:
                    return 0, f"converged: {state.done}"
                else:
                    continue
            if self.it - self.last_deliberation < cfg.min_gap and state.done is None:
                continue
            loop, stop = self._deliberate(loop, obs)
            if p.exhausted:
                return 1, self._budget_message()
            if stop:
                return 0, f"converged: {state.done}" if state.done else "converged: the agents chose to stop"

    def _check_adjustable(self) -> None:
        """`adjustable` must name terms the objective returns (known after the first evaluation)."""
        p = self.problem
        if not p.adjustable or p.best_x is None:
            return
        names = set(p.last_terms or ())
        unknown = [a for a in p.adjustable if a not in names]
        if unknown:
            have = sorted(names) if names else "a single value, no named terms"
            raise ConfigError(f"`adjustable` names {unknown} but the objective returns {have}")

    def _enter_phase(self, loop: A.LoopState, phase: Phase) -> A.LoopState:
        if phase.engine in (AUTO, loop.engine_name):
            return loop
        new = A.apply("switch_engine", {"name": phase.engine}, loop, self.problem, self.rng)
        self.engines_used.append({"iteration": self.it, "engine": phase.engine, "reason": "schedule"})
        self.emit("engine_switched", engine=phase.engine, previous=loop.engine_name, reason="schedule")
        return new

    def _callback(self, state: Any) -> bool:
        """Call the user's callback; True when it asked to stop (StopIteration)."""
        if self.callback is None:
            return False
        p = self.problem
        inter = OptimizeResult(x=state.x.copy(), fun=float(state.f), nit=self.it, nfev=p.nfev,
                               best_x=None if p.best_x is None else p.best_x.copy(), best_fun=p.best_f)
        try:
            if _wants_intermediate(self.callback):
                self.callback(intermediate_result=inter)
            else:
                self.callback(state.x.copy())
        except StopIteration:
            return True
        return False

    # -- deliberation ----------------------------------------------------------------------------
    def _deliberate(self, loop: A.LoopState, obs: Any) -> tuple[A.LoopState, bool]:
        p = self.problem
        self.last_deliberation = self.it
        h = self.monitor.history
        snap = snapshot(h.losses, h.points, h.grads, h.terms, np.array(self.nfevs), np.array(self.bests))
        evidence = deep_health_analysis(
            {"dim": p.dim, "engine": loop.engine_name, "trend": obs.trend.label,
             "novelty": self.cfg.novelty, "k": self.cfg.memory_k}, snap, self.gateway)
        self._flush_reads()
        ctx = RunContext(
            engine=loop.engine_name, step_scale=float(loop.state.step_scale), engine_done=loop.state.done,
            dim=p.dim, has_gradient=p.has_gradient, bounded=p.bounded, adjustable=list(p.adjustable),
            term_weights=dict(p.term_weights), budget_left=_frac_left(p), budget_given=not self.default_budget, restarts=loop.restarts,
            max_restarts=self.max_restarts, restart_values=list(loop.restart_values),
            best_f=p.best_f, current_f=float(loop.state.f), n_failed=p.n_failed,
            recent_failures=p.failures_since(p.nfev - 4 * self.cfg.window),
            term_names=list(p.last_terms) if p.last_terms else [],
            cmaes_popsize=int(getattr(loop.state, "popsize", 0) or 0) or None,
            last_action=self.decisions[-1]["action"] if self.decisions else None,
            since_last_decision=self.it - self.decisions[-1]["iteration"] if self.decisions else None,
        )
        board = Blackboard(iteration=self.it, nfev=p.nfev, health=obs.report, trend=obs.trend,
                           anomalies=list(obs.anomalies), pause_reasons=list(obs.pause.reasons),
                           snapshot=snap, context=ctx, evidence=evidence)
        board = deliberate(board, self.agents)
        step_len = evidence.analysis.get("step_norm", 0.0)
        loop = replace(loop, step_length=float(step_len) if math.isfinite(step_len) else 0.0)
        for prop in board.proposals:
            self.emit("proposal", **prop.model_dump())
        for crit in board.critiques:
            self.emit("critique", **crit.model_dump())
        d = board.decision
        assert d is not None  # deliberate always decides
        self.emit("decision", **d.model_dump())
        chosen = d.chosen
        if chosen.action == "continue" and loop.state.done is not None:
            self._record_decision(d, None)
            return loop, True
        before = p.nfev
        new = A.apply(chosen.action, chosen.parameters, loop, p, self.rng)
        spent = p.nfev - before
        self.emit("action_applied", action=chosen.action, parameters=chosen.parameters, evaluations=spent,
                  engine=new.engine_name)
        if new.engine_name != loop.engine_name:
            self.engines_used.append({"iteration": self.it, "engine": new.engine_name, "reason": chosen.action})
            self.emit("engine_switched", engine=new.engine_name, previous=loop.engine_name, reason=chosen.action)
        self.pending = PendingOutcome(
            decision_index=len(self.decisions), action=chosen.action, parameters=chosen.parameters,
            due=self.it + self.cfg.outcome_k * (EXPLORE_PATIENCE if chosen.action in EXPLORATORY_ACTIONS else 1),
            iteration=self.it, nfev=before, best_before=p.best_f,
            current_before=float(loop.state.f), rate_before=_rate_before(snap, before),
            curve=snap.losses.copy(), health=obs.report.as_array(), trend=obs.trend.label,
            engine=loop.engine_name, local=chosen.action in LOCAL_ACTIONS,
            exploratory=chosen.action in EXPLORATORY_ACTIONS)
        self._record_decision(d, spent)
        return new, False

    def _record_decision(self, d: Any, spent: int | None) -> None:
        c = d.chosen
        self.decisions.append({
            "iteration": self.it, "nfev": self.problem.nfev, "action": c.action, "parameters": c.parameters,
            "agent": c.agent, "score": d.score, "rationale": d.rationale, "evidence": c.evidence,
            "evaluations": spent, "outcome": None,
        })

    def _measure(self, loop: A.LoopState, obs: Any) -> A.LoopState:
        pend, self.pending = self.pending, None
        assert pend is not None
        p = self.problem
        out = measure_outcome(pend, best_now=p.best_f, current_now=float(loop.state.f), nfev_now=p.nfev)
        rolled = False
        if out.harmful and pend.local:
            loop = A.apply("rollback", {}, loop, p, self.rng)
            rolled = True
        self.decisions[pend.decision_index]["outcome"] = {**out.model_dump(), "rolled_back": rolled}
        self.emit("outcome", action=pend.action, rolled_back=rolled, **out.model_dump())
        curve = pend.curve[np.isfinite(pend.curve)]
        if self.gateway is not None and curve.size >= 2:
            rid = self.gateway.store_record(
                f"optimization/decisions/{pend.action}", curve=curve, health=pend.health,
                payload={"action": pend.action, "parameters": pend.parameters, "trend": pend.trend,
                         "outcome": out.score, "harmful": out.harmful, "engine": pend.engine, "dim": p.dim,
                         "rolled_back": rolled},
                labels={"trend": pend.trend, "action": pend.action,
                        "outcome": "+" if out.score > 0 else ("-" if out.score < 0 else "0")})
            self.emit("memory_write", path=f"optimization/decisions/{pend.action}", id=rid)
        return loop

    # -- result ----------------------------------------------------------------------------------
    def _result(self, status: int, detail: str, wall: float) -> OptimizeResult:
        p = self.problem
        x = p.best_x.copy() if p.best_x is not None else p.x0.copy()
        success = status in (0, 4)
        return OptimizeResult(
            x=x, fun=p.best_f, nit=self.it, nfev=p.nfev, njev=p.njev, success=success and p.best_x is not None,
            status=status, message=detail, failed_evaluations=p.n_failed,
            failures=[{"nfev": f.nfev, "reason": f.reason} for f in p.failures[:100]],
            health=np.asarray(self.health_rows, dtype=float).reshape(-1, 6),
            health_names=("stability", "diversity", "resilience", "balance", "integration", "overall"),
            pauses=self.pauses, anomalies=self.anomalies, decisions=self.decisions, engines=self.engines_used,
            improvements=list(p.improvements), meta_weights=self.monitor.meta.to_dict() if self.monitor.meta else None,
            run_id=self.log.run_id, seed=self.seed, wall_time=wall, jac_disabled=p.jac_disabled,
            learned_records=list(self.gateway.pending) if self.gateway is not None else [],
        )


def _frac_left(p: Problem) -> float:
    return 1.0 if p.budget is None else max(0.0, (p.budget - p.nfev) / p.budget)


def _rate_before(snap: Any, nfev_now: int) -> float:
    """Relative improvement of the window's best loss per evaluation before the pause."""
    losses = snap.losses[np.isfinite(snap.losses)]
    if losses.size < 2 or snap.nfevs.size < 2:
        return 0.0
    first, best = float(losses[0]), float(np.min(losses))
    spent = max(1, nfev_now - int(snap.nfevs[0]))
    return max(0.0, (first - best) / (abs(first) + 1e-300)) / spent


def _wants_intermediate(cb: Callable[..., Any]) -> bool:
    try:
        return set(inspect.signature(cb).parameters) == {"intermediate_result"}
    except (TypeError, ValueError):
        return False


def _open_memory(memory: Any, mode: str, run_id: str) -> MemoryGateway:
    from nef_agents.memory import InMemoryStore, MemoryStore

    if isinstance(memory, MemoryGateway):
        return memory
    if memory is None:
        return MemoryGateway(InMemoryStore(), mode="rw", run_id=run_id)
    if isinstance(memory, str | Path):
        return MemoryGateway(MemoryStore(memory, readonly=(mode == "ro")), mode=mode, run_id=run_id)
    if hasattr(memory, "query") and hasattr(memory, "store"):
        return MemoryGateway(memory, mode=mode, run_id=run_id)
    raise ConfigError(f"`memory` must be None, a path, a MemoryStore or a MemoryGateway, got {type(memory).__name__}")


def minimize(
    fun: Callable[..., Any],
    x0: Any,
    jac: Callable[..., Any] | None = None,
    bounds: Any = None,
    engine: str | list[Any] = "auto",
    budget: int | None = None,
    tol: float | None = None,
    seed: int | None = None,
    callback: Callable[..., Any] | None = None,
    options: Mapping[str, Any] | None = None,
    *,
    args: tuple = (),
    agents: bool | Sequence[Any] = True,
    memory: Any = None,
    memory_mode: str = "rw",
    log: str | Path | DecisionLog | None = None,
    target: float | None = None,
    adjustable: tuple[str, ...] = (),
    pause: PauseConfig | Mapping[str, Any] | None = None,
    run_id: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> OptimizeResult:
    """Minimize ``fun`` from ``x0``; a drop-in for ``scipy.optimize.minimize``'s common arguments.

    Returns a ``scipy.optimize.OptimizeResult`` whose ``x`` is the best finite
    point evaluated and ``fun == fun(x)`` exactly, with ``nit``, ``nfev``,
    ``njev``, ``success``, ``status`` (0 converged, 1 budget reached, 2 maxiter,
    3 every evaluation failed, 4 target reached, 99 callback stop),
    ``message`` (a run also ends after 200 iterations in a row without a new
    evaluation, and with status 3 once its first max(1000, 100 d) evaluations
    all failed), ``failed_evaluations`` and the run's ``health`` (iterations x
    6 array), ``pauses``, ``anomalies`` and ``decisions``.

    ``engine``: ``"auto"`` (lbfgs with a usable gradient, cmaes otherwise),
    an engine name, or a schedule (see :mod:`nef_agents.schedule`).
    ``options``: engine settings by name (``{"gd": {"learning_rate": 0.01}}``;
    flat keys go to the first engine), plus ``{"framework": {...}}`` for
    :class:`~nef_agents.config.FrameworkConfig`. ``tol`` sets the gradient
    tolerance of gradient engines. ``memory``: None (a fresh in-memory store),
    a path or a store; ``memory_mode``: ``rw``, ``ro`` or ``collect``.
    ``log``: a path for the JSON-lines decision log. ``agents=False`` keeps the
    health monitor and pauses but takes no decisions; a sequence of agent
    objects replaces the default pair (theory, anomaly). Every integer seed is
    valid; the global numpy random state is never touched.
    """
    custom_agents = None
    if not isinstance(agents, bool):
        custom_agents = tuple(agents)
        if not custom_agents or not all(hasattr(a, "propose") and hasattr(a, "critique") for a in custom_agents):
            raise ConfigError("`agents` must be True, False or a non-empty sequence of agents (propose/critique)")
        agents = True
    phases = parse_schedule(engine, agents, list(ENGINES))
    per_engine, fw = _split_options(options, phases)
    if tol is not None:
        if not (isinstance(tol, int | float) and tol > 0):
            raise ConfigError(f"`tol` must be a positive number, got {tol!r}")
        for name in ("gd", "adam", "lbfgs"):
            per_engine.setdefault(name, {}).setdefault("gtol", float(tol))
    try:
        cfg = FrameworkConfig(**fw)
    except Exception as exc:
        raise ConfigError(f"bad `options['framework']`: {exc}") from None
    if isinstance(pause, Mapping):
        pause = PauseConfig(**{**DEFAULT_PAUSE, **pause})
    elif pause is None:
        pause = PauseConfig(**DEFAULT_PAUSE)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    elif isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"`seed` must be a non-negative integer or None, got {seed!r}")
    seed = int(seed)
    default_budget = budget is None
    problem = Problem(fun, x0, jac=jac, bounds=bounds, budget=cfg.default_budget if default_budget else budget,
                      args=args, adjustable=adjustable)
    rid = run_id or uuid.uuid4().hex[:12]
    own_log = not isinstance(log, DecisionLog)
    dlog = log if isinstance(log, DecisionLog) else DecisionLog(log, rid)
    gateway = _open_memory(memory, memory_mode, dlog.run_id)
    try:
        run = Run(problem, phases, per_engine, cfg, np.random.default_rng(seed), seed, gateway, dlog,
                  callback, target, pause, dict(context or {}), default_budget)
        run.agents = custom_agents
        return run.execute()
    finally:
        if own_log:
            dlog.close()


def scipy_method(fun: Callable[..., Any], x0: Any, args: tuple = (), jac: Any = None, bounds: Any = None,
                 callback: Callable[..., Any] | None = None, **options: Any) -> OptimizeResult:
    """``scipy.optimize.minimize(fun, x0, method=nef_agents.scipy_method, options={...})``.

    Follows scipy's contract for a callable method: unknown keywords scipy
    passes (``hess``, ``hessp``, ``constraints``) are accepted and ignored when
    empty; ``jac`` that is not callable (``True`` is resolved by scipy; strings
    like ``'2-point'``) means finite differences. ``options`` may hold
    ``engine``, ``budget`` (or ``maxfev``), ``seed``, ``tol``, ``agents``,
    ``memory``, ``log`` and engine settings by name.
    """
    for key in ("hess", "hessp"):
        options.pop(key, None)
    cons = options.pop("constraints", None)
    if cons:
        raise ConfigError("nef_agents.scipy_method does not support `constraints`")
    kw: dict[str, Any] = {}
    for key in ("engine", "budget", "seed", "tol", "agents", "memory", "memory_mode", "log", "target"):
        if key in options:
            kw[key] = options.pop(key)
    if "maxfev" in options:
        kw.setdefault("budget", options.pop("maxfev"))
    if "maxiter" in options:
        options.setdefault("framework", {})["maxiter"] = options.pop("maxiter")
    options.pop("disp", None)
    return minimize(fun, x0, jac=jac if callable(jac) else None, bounds=bounds, args=tuple(args),
                    callback=callback, options=options or None, **kw)

