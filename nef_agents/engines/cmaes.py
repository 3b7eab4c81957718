"""CMA-ES through pycma's ask/tell interface.

One step = one generation: ask ``popsize`` points, evaluate them through the
Problem, tell pycma the values. Failed evaluations (``+inf``) are told as a
penalty, ``worst finite value + max(spread, 1e-9 max(1, |worst|))`` where
``spread`` = best-to-worst range of the generation, so they rank last without
poisoning pycma's arithmetic; when a whole generation fails every member gets
``1e300`` (a flat generation, which pycma answers by widening sigma).

Randomness: pycma's ``seed`` option reseeds numpy's *global* generator, so
instead its ``randn`` option is given a private ``numpy.random.Generator``
seeded from the engine's ``rng``; ``seed`` is set to NaN so pycma skips
seeding. The global state is never touched.

The pycma object is mutable and lives in the state (copying it every step
would cost more than the step): **cmaes states are not independent
snapshots**. An older state still shows its own ``x``, ``f`` and
``step_scale``, but stepping or rescaling it acts on the shared pycma object.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import cma
import numpy as np

from nef_agents.engines.base import EngineState
from nef_agents.engines.common import Option, OptionsEngine, positive, positive_int
from nef_agents.errors import BudgetExhausted
from nef_agents.problem import Problem

Array = np.ndarray

_ALL_FAILED = 1e300
# pycma stop keys that only say an iteration/evaluation/time cap was hit; the loop owns those.
_BUDGET_KEYS = frozenset({"maxfevals", "maxiter", "timeout"})


class _Randn:
    """``randn(*shape)`` for pycma from a private Generator (picklable, unlike a lambda)."""

    def __init__(self, seed: int) -> None:
        self.gen = np.random.default_rng(seed)

    def __call__(self, *shape: int) -> Array:
        return self.gen.standard_normal(shape)


@dataclass(frozen=True)
class CMAState(EngineState):
    """CMA-ES state: ``x`` = distribution mean (in bounds), ``f`` = best finite f of the
    last generation, ``step_scale`` = sigma, ``x_best`` = that generation's best point.

    ``es`` is the live, shared pycma object (see the module docstring).
    """

    es: Any = None
    x_best: Array | None = None
    popsize: int = 0
    n_failed: int = 0


class CMAES(OptionsEngine):
    """CMA-ES (pycma).

    Options: ``sigma0`` (None: ``0.3 * mean(upper - lower)`` when every bound is
    finite, else ``0.3 * max(1, |x0|_inf)``), ``popsize`` (None: pycma's
    ``4 + floor(3 ln d)``). ``hint`` may give ``step_scale`` (initial sigma) and
    ``popsize``, which win over the defaults but not over explicit options.
    Bounds go to pycma's ``bounds`` option (it handles infinite sides) and
    every evaluated point is projected as well, so no evaluation leaves the box.

    Budget: a step asks at most ``problem.remaining`` points; with fewer left
    than ``popsize`` it evaluates what remains, does not tell pycma, and is done
    ("budget exhausted"). ``init`` evaluates ``x0`` once so the state starts
    with a real ``f``.

    Done when pycma's ``stop()`` holds a key other than the budget caps
    ``maxfevals``/``maxiter``/``timeout``; ``done`` names the keys.
    """

    name: ClassVar[str] = "cmaes"
    uses_gradient: ClassVar[bool] = False
    OPTIONS: ClassVar[dict[str, Option]] = {
        "sigma0": Option(None, lambda v: v is None or positive(v), "None or a finite number > 0"),
        "popsize": Option(
            None, lambda v: v is None or (positive_int(v) and v >= 2), "None or an integer >= 2"
        ),
    }


    def init(
        self,
        x0: Array,
        problem: Problem,
        rng: np.random.Generator,
        hint: dict[str, Any] | None = None,
    ) -> CMAState:
        hint = hint or {}
        x = problem.project(np.asarray(x0, dtype=float))
        sigma0 = self.options["sigma0"] or hint.get("step_scale") or _default_sigma(problem, x)
        inopts: dict[str, Any] = {
            "seed": math.nan,  # NaN = do not call np.random.seed (global state)
            "randn": _Randn(int(rng.integers(1, 2**31 - 1))),
            "verbose": -9,
            "verb_log": 0,
            "verb_disp": 0,
            "maxiter": math.inf,
            "maxfevals": math.inf,
        }
        popsize = self.options["popsize"] or hint.get("popsize")
        if popsize:
            inopts["popsize"] = int(popsize)
        if problem.bounded:
            lower, upper = problem.lower.copy(), problem.upper.copy()
            fixed = np.flatnonzero(lower == upper)
            if fixed.size == x.size:
                f = problem.f(x)
                return CMAState(
                    x=x,
                    f=f,
                    g=None,
                    step_scale=0.0,
                    x_best=x,
                    popsize=0,
                    done="all variables fixed by the bounds",
                )
            if fixed.size:  # pycma rejects lower == upper; it fixes such variables itself
                inopts["fixed_variables"] = {int(i): float(lower[i]) for i in fixed}
                lower[fixed], upper[fixed] = lower[fixed] - 1.0, upper[fixed] + 1.0
            inopts["bounds"] = [list(lower), list(upper)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pycma warns on e.g. sigma0 large against the bounds
            es = cma.CMAEvolutionStrategy(x, float(sigma0), inopts)
        f = problem.f(x)
        return CMAState(
            x=x,
            f=f,
            g=None,
            step_scale=float(es.sigma),
            es=es,
            x_best=x if math.isfinite(f) else None,
            popsize=int(es.popsize),
        )

    def step(self, state: CMAState, problem: Problem) -> CMAState:
        if state.done is not None:
            return state
        es = state.es
        lam = int(es.popsize)
        k = lam if math.isinf(problem.remaining) else min(lam, int(problem.remaining))
        if k <= 0:
            problem.f(state.x)  # the Problem raises BudgetExhausted; the state stays valid
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X = es.ask()
        pts = [problem.project(np.asarray(xi, dtype=float)) for xi in X[:k]]
        fs: list[float] = []
        try:
            for p in pts:
                fs.append(problem.f(p))
        except BudgetExhausted:  # only if someone else spent evaluations meanwhile
            pass
        finite = [v for v in fs if math.isfinite(v)]
        n_failed = state.n_failed + len(fs) - len(finite)
        if finite:
            i = int(np.nanargmin(np.where(np.isfinite(fs), fs, np.nan)))
            f, x_best = fs[i], pts[i]
        else:
            f, x_best = state.f, state.x_best
        if len(fs) < lam:
            return replace(
                state,
                f=f,
                x_best=x_best,
                n_failed=n_failed,
                nit=state.nit + 1,
                done=f"budget exhausted ({len(fs)} of {lam} points evaluated)",
            )
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # e.g. pycma's flat-fitness warning
            es.tell(X, _penalized(fs))
            stop = es.stop()
        keys = sorted(set(stop) - _BUDGET_KEYS)
        mean = es.to_phenotype(es.mean, into_bounds=es.boundary_handler.repair)
        return replace(
            state,
            x=problem.project(np.asarray(mean, dtype=float)),
            f=f,
            x_best=x_best,
            n_failed=n_failed,
            nit=state.nit + 1,
            step_scale=float(es.sigma),
            done="pycma stop: " + ", ".join(keys) if keys else None,
        )

    def rescale(self, state: CMAState, factor: float) -> CMAState:
        """Multiply sigma by ``factor`` (in the shared pycma object) and clear ``done``."""
        if state.es is None:  # nothing to scale: every variable is fixed
            return state
        state.es.sigma *= factor
        return replace(state, step_scale=float(state.es.sigma), done=None)


def _default_sigma(problem: Problem, x: Array) -> float:
    if np.all(np.isfinite(problem.lower) & np.isfinite(problem.upper)):
        width = float(np.mean(problem.upper - problem.lower))
        if width > 0:
            return 0.3 * width
    return 0.3 * max(1.0, float(np.max(np.abs(x))))


def _penalized(fs: list[float]) -> list[float]:
    """Replace non-finite values by a finite penalty ranked after every finite value."""
    finite = [v for v in fs if math.isfinite(v)]
    if not finite:
        return [_ALL_FAILED] * len(fs)
    worst, best = max(finite), min(finite)
    pen = worst + max(worst - best, 1e-9 * max(1.0, abs(worst)))
    return [v if math.isfinite(v) else pen for v in fs]
