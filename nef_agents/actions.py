"""Integration actions: functions from loop state to loop state.

The loop state is a frozen :class:`LoopState`; an action returns a new one and
never mutates the old, so the loop can keep the pre-decision state for a
rollback. Actions that must evaluate the objective (every re-initialisation of
an engine evaluates at its new point) say so in their docstring; the cost is
what ``problem.nfev`` advances by, and the loop records it.

Action parameters are validated by :func:`validate` with errors that name the
action and the parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from nef_agents.engines import Engine, EngineState, make_engine
from nef_agents.errors import ConfigError
from nef_agents.problem import Problem

Array = np.ndarray


@dataclass(frozen=True)
class LoopState:
    """Everything an action may change.

    engine_name, engine, state : the running engine and its state.
    engine_options : options per engine name (used when an action re-creates one).
    restarts : restarts and diversity injections so far.
    restart_values : best value reached by each finished local run (multimodality evidence).
    reset_window : True when the health window must restart (new trajectory).
    step_length : mean length of the recent steps in x units (set by the loop before a
        decision); what an engine switch hands over as the new engine's first step.
    """

    engine_name: str
    engine: Engine
    state: EngineState
    engine_options: Mapping[str, Mapping[str, Any]]
    restarts: int = 0
    restart_values: tuple[float, ...] = ()
    reset_window: bool = False
    step_length: float = 0.0


def start_engine(name: str, x0: Array, problem: Problem, rng: np.random.Generator,
                 options: Mapping[str, Mapping[str, Any]], hint: dict[str, Any] | None = None) -> tuple[Engine, EngineState]:
    """Create engine ``name`` with its options and initialise it at ``x0`` (evaluates at x0)."""
    engine = make_engine(name, **dict(options.get(name, {})))
    return engine, engine.init(problem.project(x0), problem, rng, hint)


def _scale(problem: Problem, center: Array) -> Array:
    """Per-coordinate length scale: the box width where finite, else max(1, |center_i|)."""
    width = problem.upper - problem.lower
    return np.where(np.isfinite(width), width, np.maximum(1.0, np.abs(center)))


def _best(loop: LoopState, problem: Problem) -> Array:
    return problem.best_x if problem.best_x is not None else loop.state.x


def _reinit(loop: LoopState, problem: Problem, rng: np.random.Generator, x: Array, name: str | None = None,
            hint: dict[str, Any] | None = None, **changes: Any) -> LoopState:
    name = name or loop.engine_name
    engine, state = start_engine(name, x, problem, rng, loop.engine_options, hint)
    return replace(loop, engine_name=name, engine=engine, state=state, reset_window=True, **changes)


def _same_engine_at(loop: LoopState, problem: Problem, rng: np.random.Generator, x: Array, scale_factor: float = 1.0,
                    **changes: Any) -> LoopState:
    """Re-initialise the running engine at ``x`` keeping its step knob (times ``scale_factor``).

    The knob (learning rate, first trial step, sigma) is restored exactly with
    ``rescale``, so its units never get mixed with a step length.
    """
    new = _reinit(loop, problem, rng, x, **changes)
    target = loop.state.step_scale * scale_factor
    if new.state.step_scale > 0 and math.isfinite(target) and target > 0:
        new = replace(new, state=new.engine.rescale(new.state, target / new.state.step_scale))
    return new


def act_continue(loop: LoopState, problem: Problem, rng: np.random.Generator) -> LoopState:
    """Leave everything as it is (no evaluations)."""
    return replace(loop, reset_window=False)


def act_rescale_step(loop: LoopState, problem: Problem, rng: np.random.Generator, factor: float) -> LoopState:
    """Multiply the engine's step scale by ``factor`` (no evaluations)."""
    return replace(loop, state=loop.engine.rescale(loop.state, factor), reset_window=False)


def act_switch_engine(loop: LoopState, problem: Problem, rng: np.random.Generator, name: str,
                      popsize: int | None = None) -> LoopState:
    """Start engine ``name`` at the best point; transfers the typical step length.

    The step length handed over is the mean norm of the recent steps (x units),
    which becomes the first line-search trial or the length of gd's first move.
    CMA-ES gets at least a tenth of the problem scale as sigma: a population
    started as small as a crawling quasi-Newton step could not see beyond the
    current basin, and CMA-ES shrinks a too-large sigma within a few
    generations. Evaluates at the best point (the new engine's ``init``).
    """
    step = _typical_step(loop, problem)
    if name == "cmaes":
        step = max(step, 0.1 * float(np.mean(_scale(problem, _best(loop, problem)))))
    hint: dict[str, Any] = {"step_scale": step}
    if popsize:
        hint["popsize"] = int(popsize)
    return _reinit(loop, problem, rng, _best(loop, problem), name=name, hint=hint)


def act_restart(loop: LoopState, problem: Problem, rng: np.random.Generator, radius: float = 0.5,
                engine: str | None = None, popsize: int | None = None) -> LoopState:
    """Restart at a point drawn uniformly from the box ``best ± radius * scale``, cut to the bounds.

    ``scale`` is the box width where finite, else max(1, |best_i|). Sampling
    inside the intersection (never clipping a draw) keeps restarts off the
    boundary; ``radius >= 1`` therefore means "anywhere in the box". Records
    the finished local run's value as multimodality evidence. Evaluates at the
    new start (the engine's ``init``).
    """
    center = _best(loop, problem)
    half = radius * _scale(problem, center)
    lo = np.maximum(problem.lower, center - half)
    hi = np.minimum(problem.upper, center + half)
    x = lo + (hi - lo) * rng.uniform(0.0, 1.0, center.size)
    hint: dict[str, Any] = {"step_scale": float(np.mean(hi - lo)) / 6.0}
    if popsize:
        hint["popsize"] = int(popsize)
    return _reinit(loop, problem, rng, x, name=engine, hint=hint, restarts=loop.restarts + 1,
                   restart_values=(*loop.restart_values, float(loop.state.f)))


def act_inject_diversity(loop: LoopState, problem: Problem, rng: np.random.Generator, sigma: float = 0.1) -> LoopState:
    """Perturb the current point by N(0, (sigma * scale)^2) per coordinate and re-initialise the engine.

    Unlike ``restart`` it keeps the current engine and its step scale; it is a
    small kick out of a collapsed direction. Evaluates at the new point.
    """
    x = loop.state.x + sigma * _scale(problem, loop.state.x) * rng.standard_normal(loop.state.x.size)
    return _same_engine_at(loop, problem, rng, x, restarts=loop.restarts + 1)


def act_rollback(loop: LoopState, problem: Problem, rng: np.random.Generator, step_factor: float = 0.5) -> LoopState:
    """Return to the best point seen, with the engine's step knob multiplied by ``step_factor``.

    Evaluates once at the best point (the engine's ``init``).
    """
    return _same_engine_at(loop, problem, rng, _best(loop, problem), step_factor)


def act_prune_noise(loop: LoopState, problem: Problem, rng: np.random.Generator, threshold: float = 1e-3) -> LoopState:
    """Soft-threshold the best point: x_i <- sign(x_i) max(|x_i| - t, 0), t = threshold * max|x|.

    Removes coordinates that only wander near zero (noise a sparse optimum does
    not need). Evaluates at the pruned point.
    """
    x = _best(loop, problem)
    t = threshold * max(float(np.max(np.abs(x))), 1e-300)
    pruned = np.sign(x) * np.maximum(np.abs(x) - t, 0.0)
    return _same_engine_at(loop, problem, rng, pruned)


def act_reweight_terms(loop: LoopState, problem: Problem, rng: np.random.Generator,
                       weights: Mapping[str, float]) -> LoopState:
    """Set the weights of adjustable penalty terms and re-initialise at the best point.

    The engine then minimises ``sum_k w_k t_k``; the reported objective stays the
    unweighted sum. Evaluates at the best point.
    """
    problem.set_term_weights(weights)
    return _same_engine_at(loop, problem, rng, _best(loop, problem))


def _typical_step(loop: LoopState, problem: Problem) -> float:
    """A step length in x units to hand over: the recent mean step, within (1e-8, 1] x the problem scale."""
    cap = float(np.mean(_scale(problem, loop.state.x)))
    s = float(loop.step_length)
    if not math.isfinite(s) or s <= 0:
        s = 0.1 * cap
    return float(np.clip(s, 1e-8 * cap, cap))


ACTIONS: dict[str, Callable[..., LoopState]] = {
    "continue": act_continue,
    "rescale_step": act_rescale_step,
    "switch_engine": act_switch_engine,
    "restart": act_restart,
    "inject_diversity": act_inject_diversity,
    "rollback": act_rollback,
    "prune_noise": act_prune_noise,
    "reweight_terms": act_reweight_terms,
}

_PARAMS: dict[str, set[str]] = {
    "continue": set(),
    "rescale_step": {"factor"},
    "switch_engine": {"name", "popsize"},
    "restart": {"radius", "engine", "popsize"},
    "inject_diversity": {"sigma"},
    "rollback": {"step_factor"},
    "prune_noise": {"threshold"},
    "reweight_terms": {"weights"},
}


def validate(action: str, params: Mapping[str, Any]) -> None:
    """Raise ConfigError for an unknown action or parameter, or a non-positive numeric parameter."""
    if action not in ACTIONS:
        raise ConfigError(f"unknown action {action!r}; choose from {sorted(ACTIONS)}")
    extra = set(params) - _PARAMS[action]
    if extra:
        raise ConfigError(f"action {action!r} has no parameter {sorted(extra)[0]!r}; valid: {sorted(_PARAMS[action])}")
    for key in ("factor", "radius", "sigma", "step_factor", "threshold"):
        if key in params and not (isinstance(params[key], int | float) and params[key] > 0 and math.isfinite(params[key])):
            raise ConfigError(f"action {action!r}: `{key}` must be a positive finite number, got {params[key]!r}")


def apply(action: str, params: Mapping[str, Any], loop: LoopState, problem: Problem,
          rng: np.random.Generator) -> LoopState:
    """Validate and apply ``action`` with ``params``; may raise BudgetExhausted while re-initialising."""
    validate(action, params)
    return ACTIONS[action](loop, problem, rng, **dict(params))
