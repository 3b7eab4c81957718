"""Gradient descent with optional heavy-ball momentum.

Update (``P`` = projection onto the box, ``v_t = x_t - x_{t-1}``)::

    x_{t+1} = P(x_t - lr * g_t + momentum * v_t)

One ``f_and_grad`` per step. A step that lands on a failed evaluation (``+inf``
or no gradient) is halved from the last good point, up to ``max_backtracks``
times, and the velocity is reset; if nothing works the state is marked done and
``x`` stays at the last good point.

This module also holds the small helpers the other engines share (option
parsing, the finite-value backtracking, the projected-gradient norm).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from nef_agents.engines.base import EngineState, rescale_scale
from nef_agents.engines.common import (
    Option,
    OptionsEngine,
    initial_done,
    pg_norm,
    positive,
    positive_int,
    step_to_finite,
    unit_interval,
)
from nef_agents.problem import Problem

Array = np.ndarray


# -- the engine -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GDState(EngineState):
    """``velocity`` = ``x_t - x_{t-1}`` (zero after a backtrack); ``step_scale`` = learning rate."""

    velocity: Array | None = None


class GD(OptionsEngine):
    """Gradient descent, optionally with heavy-ball momentum.

    Options: ``learning_rate`` (1e-3), ``momentum`` (0.0, in [0, 1)), ``gtol``
    (1e-10: done when ``|x - P(x - g)|_inf < gtol``), ``max_backtracks`` (30).
    ``hint["step_scale"]`` (a step length in x units) sets the learning rate to
    ``step_scale / |g_0|_2`` so the first step has that length.
    """

    name: ClassVar[str] = "gd"
    uses_gradient: ClassVar[bool] = True
    OPTIONS: ClassVar[dict[str, Option]] = {
        "learning_rate": Option(1e-3, positive, "a finite number > 0"),
        "momentum": Option(0.0, unit_interval, "a number in [0, 1)"),
        "gtol": Option(1e-10, positive, "a finite number > 0"),
        "max_backtracks": Option(30, positive_int, "an integer >= 1"),
    }


    def init(
        self,
        x0: Array,
        problem: Problem,
        rng: np.random.Generator,
        hint: dict[str, Any] | None = None,
    ) -> GDState:
        x = problem.project(np.asarray(x0, dtype=float))
        f, g = problem.f_and_grad(x)
        lr = float(self.options["learning_rate"])
        if hint and hint.get("step_scale") and g is not None and np.any(g):
            lr = float(hint["step_scale"]) / float(np.linalg.norm(g))
        done = initial_done(problem, x, f, g, self.options["gtol"])
        return GDState(x=x, f=f, g=g, step_scale=lr, done=done, velocity=np.zeros_like(x))

    def step(self, state: GDState, problem: Problem) -> GDState:
        if state.done is not None:
            return state
        if state.g is None:
            return replace(state, done="no finite value and gradient at x")
        v = state.velocity if state.velocity is not None else np.zeros_like(state.x)
        delta = -state.step_scale * state.g + self.options["momentum"] * v
        got = step_to_finite(problem, state.x, delta, self.options["max_backtracks"])
        if got is None:
            return replace(
                state,
                nit=state.nit + 1,
                velocity=np.zeros_like(state.x),
                done="no finite value along the step (backtracking failed)",
            )
        x, f, g, halvings = got
        done = "gradient norm below gtol" if pg_norm(problem, x, g) < self.options["gtol"] else None
        # After a backtrack the old velocity points into the failed region; restart the ball.
        vel = x - state.x if halvings == 0 else np.zeros_like(x)
        return replace(state, x=x, f=f, g=g, nit=state.nit + 1, velocity=vel, done=done)

    def rescale(self, state: GDState, factor: float) -> GDState:
        """Multiply the learning rate by ``factor``."""
        return rescale_scale(state, factor)
