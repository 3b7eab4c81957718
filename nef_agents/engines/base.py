"""The Engine protocol: a step-wise local method over an explicit, immutable state.

An engine is a pair of pure-ish functions (the optax shape):

* ``init(x0, problem, rng, hint=None) -> state`` evaluates what it needs at
  ``x0`` and returns the first state;
* ``step(state, problem) -> state`` performs one iteration.

All evaluations go through the :class:`~nef_agents.problem.Problem`, which may
raise :class:`~nef_agents.errors.BudgetExhausted` at any call; the loop catches
it and keeps the problem's best point. States are frozen dataclasses, so a test
can build one by hand and step it once, and the loop can keep an old state for
a rollback.

``hint`` carries what transfers on an engine switch: ``{"step_scale": float}``
(a typical step length in x units) and optionally ``{"popsize": int}``.
``rescale(state, factor)`` multiplies the engine's step scale (learning rate,
initial line-search step, or CMA-ES sigma) by ``factor``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from nef_agents.problem import Problem

Array = np.ndarray


@dataclass(frozen=True)
class EngineState:
    """What every engine exposes after a step.

    x : the engine's current point (CMA-ES: the distribution mean).
    f : the value the engine associates with this iteration (CMA-ES: best of the
        generation); ``inf`` if it failed.
    g : gradient at ``x`` when the engine computed one, else ``None``.
    nit : iterations done by this engine instance.
    step_scale : the engine's step-size knob in x units (learning rate x |g| is
        not used; it is the knob itself: gd/adam learning rate, lbfgs first trial
        step, cmaes sigma).
    done : ``None`` while the engine can make progress; otherwise a reason such
        as ``"gradient norm below tol"`` or ``"line search failed"``.
    """

    x: Array
    f: float
    g: Array | None
    nit: int = 0
    step_scale: float = 1.0
    done: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Engine(Protocol):
    """A step-wise local optimizer; see the module docstring for the contract."""

    name: ClassVar[str]
    uses_gradient: ClassVar[bool]

    def init(self, x0: Array, problem: Problem, rng: np.random.Generator,
             hint: dict[str, Any] | None = None) -> EngineState: ...

    def step(self, state: EngineState, problem: Problem) -> EngineState: ...

    def rescale(self, state: EngineState, factor: float) -> EngineState: ...


def rescale_scale(state: EngineState, factor: float) -> EngineState:
    """Default ``rescale``: multiply ``step_scale`` and clear a ``done`` flag."""
    return replace(state, step_scale=state.step_scale * factor, done=None)
