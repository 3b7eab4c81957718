"""Optimizers the BBOB harness compares: established peers and nef's own variants.

Every entry of :data:`OPTIMIZERS` is a *runner*
``run(fun, x0, lower, upper, budget, seed, **kw) -> None``. A runner only calls
``fun``; counting, best-so-far tracking and the hard stop belong to the harness's
recorder, which raises :class:`BudgetReached` on the first call past the budget.
Runners also guard ``fun`` themselves (same exception, same budget) so they stop
when called with a plain function, and they return normally when the budget is
spent. Keyword arguments a runner does not use (``memory`` for peers) are ignored.

Randomness: one ``numpy.random.Generator(seed)`` per task, never the global
state. The exception is pycma, which seeds and draws from ``numpy.random``'s
global state internally; we hand it an integer seed drawn from the task's
generator, so runs stay reproducible per task (each task runs in one process).

Adding an optimizer is one decorated function here (or one ``OPTIMIZERS[name] =
runner`` anywhere before :func:`nef_agents.bench.bbob.run_bbob` is called; with a
process pool the entry must exist in the worker too, i.e. at import time).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from scipy.optimize import minimize as scipy_minimize

from nef_agents.errors import ConfigError

Objective = Callable[[np.ndarray], float]


class Runner(Protocol):
    def __call__(
        self,
        fun: Objective,
        x0: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        budget: int,
        seed: int,
        **kw: Any,
    ) -> None: ...


class BudgetReached(BaseException):
    """The evaluation budget is spent; raised instead of evaluating once more.

    A ``BaseException`` (like ``KeyboardInterrupt``) on purpose: optimizers that
    turn an objective's ``Exception`` into a failed evaluation (nef's Problem
    does) or retry must not swallow the harness's stop signal.
    """


OPTIMIZERS: dict[str, Runner] = {}


def register(name: str) -> Callable[[Runner], Runner]:
    """Add a runner to :data:`OPTIMIZERS` under ``name``."""

    def deco(run: Runner) -> Runner:
        OPTIMIZERS[name] = run
        return run

    return deco


class Recorder:
    """Counting wrapper of an objective with a hard budget; the harness's and the runners' guard.

    ``nfev`` counts evaluations made (never more than ``budget``); ``trace``
    holds ``(nfev, f)`` at each strict improvement of the best f (``best``, at
    ``best_x``); ``overrun`` counts calls refused past the budget, each with
    :class:`BudgetReached`. Peers wrap ``fun`` in their own Recorder with the
    same budget, so the harness's never refuses them; nef should never be
    refused either, it is given the budget.
    """

    def __init__(self, fun: Objective, budget: int) -> None:
        self.fun, self.budget = fun, int(budget)
        self.nfev, self.overrun = 0, 0
        self.best, self.best_x = math.inf, None
        self.trace: list[tuple[int, float]] = []

    def __call__(self, x: Any) -> float:
        if self.nfev >= self.budget:
            self.overrun += 1
            raise BudgetReached
        self.nfev += 1
        x = np.array(x, dtype=float)
        f = float(self.fun(x))
        if f < self.best:  # NaN is never an improvement
            self.best, self.best_x = f, x
            self.trace.append((self.nfev, f))
        return f

    @property
    def remaining(self) -> int:
        return self.budget - self.nfev


def _peer(name: str) -> Callable[[Callable[..., None]], Runner]:
    """Register a peer core ``core(fun, x0, lower, upper, rng)`` that may loop forever.

    The wrapper converts the arguments, guards ``fun`` with the budget, builds the
    task's generator and returns once :class:`BudgetReached` is raised.
    """

    def deco(core: Callable[..., None]) -> Runner:
        @functools.wraps(core)
        def run(fun, x0, lower, upper, budget, seed, **kw) -> None:  # noqa: ANN001
            guard = Recorder(fun, budget)
            lo, up = np.asarray(lower, float), np.asarray(upper, float)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # scipy/pycma chatter per restart
                    core(guard, np.array(x0, float), lo, up, np.random.default_rng(seed))
            except BudgetReached:
                pass

        OPTIMIZERS[name] = run
        return run

    return deco


def fd_gradient(fun: Objective, x: np.ndarray, fx: float) -> np.ndarray:
    """Forward-difference gradient: D evaluations, step sqrt(eps)*max(1, |x_i|)."""
    h = np.sqrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(x))
    g = np.empty_like(x)
    for i in range(x.size):
        xi = x.copy()
        xi[i] += h[i]
        g[i] = (fun(xi) - fx) / h[i]
    return g


def _lbfgsb(fun: Recorder, x0, lower, upper, rng) -> None:
    """scipy L-BFGS-B (2-point FD gradient, step 1e-8) from x0, then uniform restarts.

    ftol = 10*eps (factr 10, "extremely high accuracy"): the default 2.2e-9 is
    relative to |f|, and bbob's offset f_opt (|f_opt| up to 1000) turns it into
    an absolute 1e-7..1e-6 that ends runs on ill-conditioned functions at
    precisions around 1e-3 (measured: D=10 fraction 0.42 -> 0.48).
    """
    bounds = list(zip(lower, upper, strict=True))
    opts = {"maxfun": fun.budget, "maxiter": fun.budget, "ftol": 10 * np.finfo(float).eps}
    x = x0
    while True:
        scipy_minimize(fun, x, method="L-BFGS-B", bounds=bounds, options=opts)
        x = rng.uniform(lower, upper)


def _nelder_mead(fun: Recorder, x0, lower, upper, rng) -> None:
    """scipy Nelder-Mead (adaptive coefficients, box-bounded) with uniform restarts.

    The initial simplex spans 10% of the box per coordinate (scipy's default
    5% of |x_i| collapses to 0.00025 at the box centre). xatol/fatol are tight
    (1e-10/1e-12) so a restart is not declared before the 1e-8 targets.
    """
    n = x0.size
    step = 0.1 * (upper - lower)
    bounds = list(zip(lower, upper, strict=True))
    x = x0
    while True:
        simplex = np.tile(x, (n + 1, 1))
        for i in range(n):
            # step inwards when the outward vertex would leave the box
            simplex[i + 1, i] += step[i] if x[i] + step[i] <= upper[i] else -step[i]
        scipy_minimize(
            fun,
            x,
            method="Nelder-Mead",
            bounds=bounds,
            options={
                "initial_simplex": simplex,
                "maxfev": fun.budget,
                "maxiter": fun.budget,
                "xatol": 1e-10,
                "fatol": 1e-12,
                "adaptive": True,
            },
        )
        x = rng.uniform(lower, upper)


def _cma_ipop(fun: Recorder, x0, lower, upper, rng, sigma_frac: float = 0.2) -> None:
    """pycma IPOP-CMA-ES: ``fmin2(restarts=9, incpopsize=2)``, sigma0 = 0.2*(ub-lb).

    The first run starts at x0, each restart at a uniform point of the box. When
    the 9 restarts end before the budget, a fresh IPOP sequence starts (popsize
    reset). No box handling: BBOB functions are defined everywhere.
    """
    import cma

    sigma0 = sigma_frac * float(np.mean(upper - lower))
    starts = iter([x0])

    def start() -> np.ndarray:  # pycma calls a callable x0 once per (re)start
        x = next(starts, None)
        return rng.uniform(lower, upper) if x is None else x

    while True:
        opts = {
            "maxfevals": fun.remaining,
            "seed": int(rng.integers(1, 2**31 - 1)),
            "verbose": -9,
            "verb_log": 0,  # pycma would otherwise write outcmaes/ into the cwd
            "verb_disp": 0,
        }
        cma.fmin2(fun, start, sigma0, opts, restarts=9, incpopsize=2)


def _adam(fun: Recorder, x0, lower, upper, rng, lr: float = 0.1) -> None:
    """Adam (lr 0.1, betas 0.9/0.999) on forward-difference gradients, clipped to the box."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    x, m, v, t = x0, np.zeros_like(x0), np.zeros_like(x0), 0
    while True:
        g = fd_gradient(fun, x, fun(x))
        t += 1
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = np.clip(x - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps), lower, upper)


def _gd(fun: Recorder, x0, lower, upper, rng) -> None:
    """Normalized gradient descent on FD gradients with Armijo backtracking.

    The step length s (start 0.1*box width) doubles after an accepted step and
    halves after a rejected one; a step x - s*g/|g| is accepted when f drops by
    at least 1e-4*s*|g|. A fixed learning rate diverges on BBOB's badly scaled
    functions, hence the line search. Below s = 1e-12 (stalled) it restarts at
    a uniform point of the box.
    """
    width = float(np.mean(upper - lower))
    x = x0
    while True:
        s, fx = 0.1 * width, fun(x)
        g = fd_gradient(fun, x, fx)
        while s > 1e-12 * width:
            gn = float(np.linalg.norm(g))
            if not np.isfinite(gn) or gn == 0.0:
                break
            y = np.clip(x - s * g / gn, lower, upper)
            fy = fun(y)
            if fy <= fx - 1e-4 * s * gn:
                x, fx, s = y, fy, min(2 * s, width)
                g = fd_gradient(fun, x, fx)
            else:
                s *= 0.5
        x = rng.uniform(lower, upper)


_peer("lbfgsb")(_lbfgsb)
_peer("nelder-mead")(_nelder_mead)
_peer("cma-ipop")(_cma_ipop)
_peer("adam")(_adam)
_peer("gd")(_gd)


@_peer("portfolio")
def _portfolio(fun: Recorder, x0, lower, upper, rng, switch_per_dim: int = 100) -> None:
    """Fixed switch: L-BFGS-B (+restarts) for min(100*D, budget) evaluations, then
    CMA-ES IPOP started from the best point seen so far for the rest."""
    phase1 = Recorder(fun, min(switch_per_dim * x0.size, fun.budget))
    try:
        _lbfgsb(phase1, x0, lower, upper, rng)
    except BudgetReached:
        pass
    start = fun.best_x if fun.best_x is not None else x0
    _cma_ipop(fun, start, lower, upper, rng)


def _bounds(lower: np.ndarray, upper: np.ndarray) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in zip(lower, upper, strict=True)]


def _nef(agents: bool, use_memory: bool) -> Runner:
    """Runner for ``nef_agents.minimize`` with default settings and the task's budget.

    ``memory`` comes from the harness: a path to a fresh per-task store (or a
    snapshot of a warmed one); ``use_memory=False`` passes ``memory=None``.
    """

    def run(fun, x0, lower, upper, budget, seed, memory=None, **kw) -> None:  # noqa: ANN001
        from nef_agents import minimize  # lazy: the optimizer lives in a higher layer

        guard = Recorder(fun, budget)
        try:
            minimize(
                guard,
                np.array(x0, float),
                bounds=_bounds(lower, upper),
                budget=int(budget),
                seed=int(seed),
                agents=agents,
                memory=memory if use_memory else None,
            )
        except BudgetReached:
            pass  # nef overran its own budget; the recorder has stopped it

    return run


register("nef")(_nef(agents=True, use_memory=True))
register("nef-noagents")(_nef(agents=False, use_memory=True))
register("nef-nomemory")(_nef(agents=True, use_memory=False))

PEER_NAMES: tuple[str, ...] = ("lbfgsb", "nelder-mead", "cma-ipop", "adam", "gd", "portfolio")
NEF_NAMES: tuple[str, ...] = ("nef", "nef-noagents", "nef-nomemory")


def check_optimizers(names: tuple[str, ...] | list[str]) -> None:
    """Raise ConfigError for unknown names, or for nef variants when ``minimize`` is missing."""
    for name in names:
        if name not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {name!r}; known: {', '.join(sorted(OPTIMIZERS))}")
    if any(n in NEF_NAMES for n in names):
        try:
            from nef_agents import minimize  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                f"optimizer 'nef' needs nef_agents.minimize, not importable: {exc}"
            ) from exc
