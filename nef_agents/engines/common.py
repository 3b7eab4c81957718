"""Helpers the engines share: option parsing, the base class, stationarity and safe steps."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple

import numpy as np

from nef_agents.errors import ConfigError
from nef_agents.problem import Problem

Array = np.ndarray


class Option(NamedTuple):
    """One engine option: its default, a validity check and what a valid value is."""

    default: Any
    check: Callable[[Any], bool]
    must_be: str


def _is_real(v: Any) -> bool:
    return (
        isinstance(v, int | float | np.integer | np.floating)
        and not isinstance(v, bool)
        and math.isfinite(v)
    )


def positive(v: Any) -> bool:
    return _is_real(v) and v > 0


def unit_interval(v: Any) -> bool:
    """0 <= v < 1 (momentum, Adam betas)."""
    return _is_real(v) and 0 <= v < 1


def positive_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 1


def parse_options(
    engine: str, given: Mapping[str, Any], spec: Mapping[str, Option]
) -> dict[str, Any]:
    """Defaults overlaid with ``given``; unknown names and invalid values raise ConfigError naming them."""
    for k in given:
        if k not in spec:
            raise ConfigError(
                f"unknown option {k!r} for engine {engine!r}; valid: {', '.join(spec)}"
            )
    out = {}
    for k, opt in spec.items():
        v = given.get(k, opt.default)
        if k in given and not opt.check(v):
            raise ConfigError(f"option {k!r} of engine {engine!r} must be {opt.must_be}, got {v!r}")
        out[k] = v
    return out


def pg_norm(problem: Problem, x: Array, g: Array) -> float:
    """Stationarity measure ``|x - P(x - g)|_inf``; equals ``|g|_inf`` without bounds."""
    if not problem.bounded:
        return float(np.max(np.abs(g)))
    return float(np.max(np.abs(x - problem.project(x - g))))


def step_to_finite(
    problem: Problem, x: Array, delta: Array, tries: int
) -> tuple[Array, float, Array, int] | None:
    """Evaluate ``P(x + delta)``, halving ``delta`` after each failure (``+inf`` f or no gradient).

    Returns ``(x_new, f_new, g_new, halvings)`` for the first point with a finite
    value and gradient, or ``None`` after ``tries`` failures. May raise
    BudgetExhausted (from the Problem).
    """
    for k in range(tries):
        xt = problem.project(x + delta)
        if np.array_equal(xt, x):
            return None  # the step underflowed or points out of the box: nothing new to try
        ft, gt = problem.f_and_grad(xt)
        if math.isfinite(ft) and gt is not None:
            return xt, ft, gt, k
        delta = 0.5 * delta
    return None


class OptionsEngine:
    """Base of the engines: validated options from the class's ``OPTIONS`` table."""

    name: ClassVar[str]
    OPTIONS: ClassVar[dict[str, Option]] = {}

    def __init__(self, **options: Any) -> None:
        self.options = parse_options(self.name, options, self.OPTIONS)


def initial_done(problem: Problem, x: Array, f: float, g: Array | None, gtol: float) -> str | None:
    if not math.isfinite(f) or g is None:
        return "no finite value and gradient at the start point"
    return "gradient norm below gtol" if pg_norm(problem, x, g) < gtol else None
