"""Adam (Kingma & Ba, 2015) with bias correction, over a Problem.

Update at step ``t = 1, 2, ...`` (elementwise, ``P`` = projection onto the box)::

    m_t = beta1 m_{t-1} + (1 - beta1) g_t          v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    m^_t = m_t / (1 - beta1^t)                      v^_t = v_t / (1 - beta2^t)
    x_{t+1} = P(x_t - lr * m^_t / (sqrt(v^_t) + eps))

One ``f_and_grad`` per step. A step onto a failed evaluation is halved from the
last good point (up to ``max_backtracks`` times); the moments keep ``g_t``.
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


@dataclass(frozen=True)
class AdamState(EngineState):
    """First and second moment estimates ``m``, ``v`` after ``t`` updates; ``step_scale`` = lr."""

    m: Array | None = None
    v: Array | None = None
    t: int = 0


class Adam(OptionsEngine):
    """Adam with bias correction.

    Options: ``learning_rate`` (1e-2: the first step moves every coordinate by
    about ``lr``, a sensible scale for objectives whose interesting region is
    O(1) wide; optax-style 1e-3 is very slow on the built-in test functions),
    ``beta1`` (0.9), ``beta2`` (0.999), ``eps`` (1e-8), ``gtol`` (1e-10 on
    ``|x - P(x - g)|_inf``), ``max_backtracks`` (30). ``hint["step_scale"]`` (a
    step length in x units) sets ``lr = step_scale / sqrt(d)``, because Adam's
    first step is ``lr * sign(g)``, of length ``lr sqrt(d)``.
    """

    name: ClassVar[str] = "adam"
    uses_gradient: ClassVar[bool] = True
    OPTIONS: ClassVar[dict[str, Option]] = {
        "learning_rate": Option(1e-2, positive, "a finite number > 0"),
        "beta1": Option(0.9, unit_interval, "a number in [0, 1)"),
        "beta2": Option(0.999, unit_interval, "a number in [0, 1)"),
        "eps": Option(1e-8, positive, "a finite number > 0"),
        "gtol": Option(1e-10, positive, "a finite number > 0"),
        "max_backtracks": Option(30, positive_int, "an integer >= 1"),
    }


    def init(
        self,
        x0: Array,
        problem: Problem,
        rng: np.random.Generator,
        hint: dict[str, Any] | None = None,
    ) -> AdamState:
        x = problem.project(np.asarray(x0, dtype=float))
        f, g = problem.f_and_grad(x)
        lr = float(self.options["learning_rate"])
        if hint and hint.get("step_scale"):
            lr = float(hint["step_scale"]) / np.sqrt(x.size)
        done = initial_done(problem, x, f, g, self.options["gtol"])
        return AdamState(
            x=x, f=f, g=g, step_scale=lr, done=done, m=np.zeros_like(x), v=np.zeros_like(x), t=0
        )

    def step(self, state: AdamState, problem: Problem) -> AdamState:
        if state.done is not None:
            return state
        if state.g is None:
            return replace(state, done="no finite value and gradient at x")
        o = self.options
        b1, b2, t = o["beta1"], o["beta2"], state.t + 1
        g = state.g
        m = b1 * state.m + (1.0 - b1) * g
        v = b2 * state.v + (1.0 - b2) * g * g
        m_hat = m / (1.0 - b1**t)
        v_hat = v / (1.0 - b2**t)
        delta = -state.step_scale * m_hat / (np.sqrt(v_hat) + o["eps"])
        got = step_to_finite(problem, state.x, delta, o["max_backtracks"])
        if got is None:
            return replace(
                state,
                nit=state.nit + 1,
                m=m,
                v=v,
                t=t,
                done="no finite value along the step (backtracking failed)",
            )
        x, f, g_new, _ = got
        done = "gradient norm below gtol" if pg_norm(problem, x, g_new) < o["gtol"] else None
        return replace(state, x=x, f=f, g=g_new, nit=state.nit + 1, m=m, v=v, t=t, done=done)

    def rescale(self, state: AdamState, factor: float) -> AdamState:
        """Multiply the learning rate by ``factor``."""
        return rescale_scale(state, factor)
