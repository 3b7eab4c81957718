"""Limited-memory BFGS: two-loop recursion plus scipy's strong-Wolfe line search.

Direction (Nocedal & Wright, Alg. 7.4): with the last ``m`` pairs
``s_i = x_{i+1} - x_i``, ``y_i = g_{i+1} - g_i``, ``rho_i = 1 / y_i's_i``::

    q = g;  for i newest..oldest: a_i = rho_i s_i'q;  q -= a_i y_i
    r = gamma q,  gamma = s'y / y'y of the newest pair          (initial Hessian H0 = gamma I)
    for i oldest..newest: b = rho_i y_i'r;  r += (a_i - b) s_i
    d = -r

The step ``x+ = P(x + alpha d)`` comes from ``scipy.optimize.line_search``
(strong Wolfe, ``c1 = 1e-4``, ``c2 = 0.9``). Every point the line search asks
for is evaluated at most once per step (``f`` and ``grad`` are cached
separately, so a point that fails the Armijo test costs no gradient). When it
fails along a quasi-Newton direction, the step is retried once along steepest
descent scaled by ``gamma`` (the memory is kept); only that retry, or a step
without pairs, falls back to Armijo backtracking, and if that fails too the
engine is done ("line search failed").

Pairs with ``s'y <= eps y'y`` (``eps`` = machine epsilon) are skipped, as in
L-BFGS-B (they would break positive definiteness); a quasi-Newton direction that
is not a descent direction resets the memory.

Finite-difference gradients (no ``jac``) start as forward differences (``d``
evaluations, ``h_i = eps^(1/2) max(1, |x_i|)``, as scipy's L-BFGS-B): far from a
minimizer their ``O(sqrt(eps))`` error does not matter and they buy twice the
iterations of central ones. Once precision matters -- a Wolfe search fails, or a
step decreases f by at most ``1e-8 max(1, |f|)``, or is shorter than ``1e3``
forward steps -- the engine re-differences the gradient at its point centrally
and keeps central differences for the rest of its run (``fd_scheme`` in the
state). The Problem's central differences use
``h_i = eps^(1/3) max(1, |x_i|)``. Across the floor of a narrow valley whose
curvature changes on a scale below ``h`` (bbob f10/f12: condition 1e6 and the
T_osz/T_asy transforms) their truncation error is of the order of the gradient
itself, and a fixed ``h`` stalls the search or creates false stationary points.
So the engine lowers the relative step (passed as ``Problem.grad(rel_step=)``,
same ``2 d`` evaluations per gradient) toward ``eps^(1/2)``: to the relative
length of an accepted step shorter than ``h``, and by 100x (re-differencing at
``x``) whenever a Wolfe search fails, before any fallback.

Bounds (a projected variant, not L-BFGS-B): trial points are projected onto the
box, components of ``d`` that push a variable already at its bound further out
are zeroed, and stationarity is measured by ``|x - P(x - g)|_inf``. Curvature
pairs are taken from projected steps as they are, so on problems whose active
set keeps changing this can be much slower than scipy's L-BFGS-B.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import line_search

from nef_agents.engines.base import EngineState
from nef_agents.engines.common import (
    Option,
    OptionsEngine,
    initial_done,
    pg_norm,
    positive,
    positive_int,
)
from nef_agents.errors import ConfigError
from nef_agents.problem import Problem

Array = np.ndarray
_EPS = float(np.finfo(float).eps)
_FD_REL_MAX = _EPS ** (1.0 / 3.0)  # the Problem's central-difference step
_FD_REL_MIN = _EPS**0.5
_FD_REL_FORWARD = _EPS**0.5  # the Problem's forward-difference step
# Switch from forward to central differences (for good) once precision matters: the last
# step decreased f by at most _SWITCH_FTOL max(1, |f|), or its relative length
# max_i |s_i| / max(1, |x_i|) was below _SWITCH_STEP forward steps, or a Wolfe search failed.
_SWITCH_FTOL = 1e-8
_SWITCH_STEP = 1e3


class _GradientFailed(Exception):
    """Raised inside the line search when the Problem returns no gradient."""


@dataclass(frozen=True)
class LBFGSState(EngineState):
    """Memory and next move of L-BFGS.

    ``s_hist``/``y_hist``: curvature pairs, oldest first (tuples of arrays never
    mutated, so old states stay valid). ``direction``: the search direction for
    the next step. ``alpha0``: the first trial step along it, so ``step_scale`` =
    ``alpha0 |direction|_2`` is the length of the next first trial step in x
    units. ``stall``: consecutive steps whose relative f change was below ``ftol``.
    ``f_prev``: f before the last successful step (for the first trial step after
    a memory reset). ``retry``: the current direction is the steepest-descent retry
    after a failed line search. ``fd_rel``: relative finite-difference step passed
    to :meth:`Problem.grad` (``None``: the Problem's default ``eps^(1/3)``); used
    with central differences only. ``fd_scheme``: the finite-difference scheme of
    the gradients (``"forward"`` until precision matters, then ``"central"`` for
    the rest of the run; irrelevant with a user gradient).
    """

    s_hist: tuple[Array, ...] = ()
    y_hist: tuple[Array, ...] = ()
    direction: Array | None = None
    alpha0: float = 1.0
    stall: int = 0
    f_prev: float | None = None
    retry: bool = False
    fd_rel: float | None = None
    fd_scheme: str = "central"


class LBFGS(OptionsEngine):
    """L-BFGS with a strong-Wolfe line search.

    Options: ``history`` (10 pairs), ``gtol`` (1e-10, absolute, on
    ``|x - P(x - g)|_inf``), ``ftol`` (1e-15: done after 2 consecutive steps with
    ``|f - f+| <= ftol max(|f|, |f+|, 1)``), ``c1`` (1e-4), ``c2`` (0.9),
    ``max_backtracks`` (30, for the Armijo fallback).

    First trial step: with curvature pairs, ``alpha = 1`` (the quasi-Newton
    step, or the ``gamma``-scaled steepest-descent step). Without (after a
    reset): scipy's ``min(1, 1.01 * 2 (f - f_prev) / g'd)``, so the first trial
    repeats the last decrease; on the first step ``alpha = min(1, 1/|d|_2)``,
    a first move of length ``min(|g|_2, 1)`` as in scipy's BFGS/L-BFGS-B, and
    ``hint["step_scale"]`` replaces that length. ``rescale(state, k)`` multiplies
    the next line search's first trial step only: later steps return to the
    natural step of 1, which is what makes quasi-Newton fast.
    """

    name: ClassVar[str] = "lbfgs"
    uses_gradient: ClassVar[bool] = True
    OPTIONS: ClassVar[dict[str, Option]] = {
        "history": Option(10, positive_int, "an integer >= 1"),
        "gtol": Option(1e-10, positive, "a finite number > 0"),
        "ftol": Option(1e-15, positive, "a finite number > 0"),
        "c1": Option(1e-4, lambda v: positive(v) and v < 0.5, "a number in (0, 0.5)"),
        "c2": Option(0.9, lambda v: positive(v) and v < 1, "a number in (0, 1)"),
        "max_backtracks": Option(30, positive_int, "an integer >= 1"),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if not self.options["c1"] < self.options["c2"]:
            c1, c2 = self.options["c1"], self.options["c2"]
            raise ConfigError(
                f"options 'c1' < 'c2' required for engine 'lbfgs', got c1={c1}, c2={c2}"
            )

    # -- protocol -------------------------------------------------------------------------------
    def init(
        self,
        x0: Array,
        problem: Problem,
        rng: np.random.Generator,
        hint: dict[str, Any] | None = None,
    ) -> LBFGSState:
        x = problem.project(np.asarray(x0, dtype=float))
        scheme = "central" if problem.has_gradient else "forward"
        f = problem.f(x)
        g = None
        if math.isfinite(f):
            known = problem.known_grad(x)  # e.g. the central gradient of engine="auto"'s probe
            if known is not None and known[0] in ("jac", "central", scheme):
                g = known[1]
            else:
                g = problem.grad(x, fx=f, scheme=scheme)
        done = initial_done(problem, x, f, g, self.options["gtol"])
        if g is None:
            return LBFGSState(
                x=x,
                f=f,
                g=None,
                done=done,
                step_scale=0.0,
                direction=np.zeros_like(x),
                fd_scheme=scheme,
            )
        d = _mask(problem, x, g, -g)
        dn = float(np.linalg.norm(d))
        length = float(hint["step_scale"]) if hint and hint.get("step_scale") else min(1.0, dn)
        alpha0 = length / dn if dn > 0 else 1.0
        return LBFGSState(
            x=x,
            f=f,
            g=g,
            done=done,
            direction=d,
            alpha0=alpha0,
            step_scale=alpha0 * dn,
            fd_scheme=scheme,
        )

    def step(self, state: LBFGSState, problem: Problem) -> LBFGSState:
        if state.done is not None:
            return state
        if state.g is None or state.direction is None:
            return replace(state, done="no finite value and gradient at x")
        o = self.options
        x, f, g = state.x, state.f, state.g
        forward = not problem.has_gradient and state.fd_scheme == "forward"
        refinable = not problem.has_gradient and (
            forward or (state.fd_rel or _FD_REL_MAX) > _FD_REL_MIN
        )
        got = self._line_search(
            problem,
            x,
            f,
            g,
            state.alpha0 * state.direction,
            None if forward else state.fd_rel,
            fallback=not refinable and (state.retry or not state.s_hist),
            scheme="forward" if forward else "central",
        )
        if got is None:
            if forward:
                # Forward differences (error ~ sqrt(eps) f'') are too coarse for the scale the
                # search works at: central differences at x from now on, then try again. The
                # curvature pairs made of forward differences are dropped with them.
                gc = problem.grad(x, fx=f, rel_step=state.fd_rel, scheme="central")
                if gc is None:
                    return replace(state, nit=state.nit + 1, done="line search failed")
                switched = replace(state, g=gc, fd_scheme="central", retry=False)
                return self._with_direction(problem, switched, (), (), state.nit + 1)
            if refinable:
                # A finite-difference gradient too coarse for the scale the search works at
                # (truncation error across a narrow valley): refine it and try again.
                rel = max(_FD_REL_MIN, 0.01 * (state.fd_rel or _FD_REL_MAX))
                gr = problem.grad(x, fx=f, rel_step=rel)
                if gr is None:
                    return replace(state, nit=state.nit + 1, done="line search failed")
                refined = replace(state, g=gr, fd_rel=rel, retry=False)
                return self._with_direction(problem, refined, state.s_hist, state.y_hist, state.nit + 1)
            if state.s_hist and not state.retry:
                # the quasi-Newton model may be stale: retry once along steepest descent, keeping it
                return self._with_direction(
                    problem, state, state.s_hist, state.y_hist, nit=state.nit + 1, steepest=True
                )
            return replace(state, nit=state.nit + 1, done="line search failed")
        xn, fn, gn = got
        s = xn - x
        fd_rel, fd_scheme = state.fd_rel, state.fd_scheme
        if not problem.has_gradient:
            fd_rel = _fd_rel_after(fd_rel, s, xn)
        if forward and _precision_matters(f, fn, s, xn):
            # from here on the forward-difference error would steer the search: re-difference
            # centrally at the new point, keep central differences for the rest of the run, and
            # drop the curvature pairs made of forward differences (measured on bbob: a few more
            # targets of 1e-8 reached than when keeping them)
            gc = problem.grad(xn, fx=fn, rel_step=fd_rel, scheme="central")
            if gc is not None:
                gn, fd_scheme = gc, "central"
                state = replace(state, s_hist=(), y_hist=())
        y = gn - g
        S, Y = state.s_hist, state.y_hist
        sy = float(s @ y)
        if sy > _EPS * float(y @ y) and math.isfinite(sy):
            S, Y = (S + (s,))[-o["history"] :], (Y + (y,))[-o["history"] :]
        stall = state.stall + 1 if abs(f - fn) <= o["ftol"] * max(abs(f), abs(fn), 1.0) else 0
        done = None
        if pg_norm(problem, xn, gn) <= o["gtol"]:
            done = "gradient norm below gtol"
        elif stall >= 2:
            done = "f stopped changing"
        moved = replace(
            state,
            x=xn,
            f=fn,
            g=gn,
            stall=stall,
            done=done,
            f_prev=f,
            retry=False,
            fd_rel=fd_rel,
            fd_scheme=fd_scheme,
        )
        return self._with_direction(problem, moved, S, Y, nit=state.nit + 1)

    def rescale(self, state: LBFGSState, factor: float) -> LBFGSState:
        """Multiply the next first trial step (``alpha0`` and ``step_scale``) by ``factor``."""
        return replace(
            state, alpha0=state.alpha0 * factor, step_scale=state.step_scale * factor, done=None
        )

    # -- internals ------------------------------------------------------------------------------
    def _with_direction(
        self,
        problem: Problem,
        state: LBFGSState,
        S: tuple[Array, ...],
        Y: tuple[Array, ...],
        nit: int,
        steepest: bool = False,
    ) -> LBFGSState:
        """Attach the next direction and first trial step.

        The quasi-Newton direction gets the trial step 1. A steepest-descent
        direction (``steepest``: the retry after a failed line search, which keeps
        the memory; or a quasi-Newton direction that is not a descent direction,
        which drops it) is scaled by ``gamma = s'y / y'y`` of the newest pair, so
        its trial step 1 is again a Newton-like step. Without any pair, the trial
        step follows scipy's rule ``min(1, 1.01 * 2 (f - f_prev) / g'd)`` (a step
        that would repeat the last decrease), or a first move of length
        ``min(|g|, 1)`` when there is no previous step.
        """
        g = state.g
        gamma = _gamma(S, Y)
        d = None
        if S and not steepest:
            d = _mask(problem, state.x, g, -_two_loop(g, S, Y))
            if not (np.all(np.isfinite(d)) and d @ g < 0):
                d = None
                if not state.retry:
                    S, Y = (), ()
        if d is None:
            d = _mask(problem, state.x, g, -(gamma or 1.0) * g)
        dn = float(np.linalg.norm(d))
        if gamma is not None:
            alpha0 = 1.0
        else:
            alpha0 = min(1.0, 1.0 / dn) if dn > 0 else 1.0
            slope = float(g @ d)
            if state.f_prev is not None and slope < 0:
                a = 1.01 * 2.0 * (state.f - state.f_prev) / slope
                if math.isfinite(a) and a > 0:
                    alpha0 = min(1.0, a)
        return replace(
            state,
            s_hist=S,
            y_hist=Y,
            direction=d,
            alpha0=alpha0,
            step_scale=alpha0 * dn,
            nit=nit,
            retry=steepest,
        )

    def _line_search(
        self,
        problem: Problem,
        x: Array,
        f: float,
        g: Array,
        p: Array,
        fd_rel: float | None,
        fallback: bool = True,
        scheme: str = "central",
    ) -> tuple[Array, float, Array] | None:
        """A point ``P(x + alpha p)`` with finite f and gradient satisfying Wolfe, else Armijo; or None.

        ``fallback=False`` skips the Armijo backtracking (the caller will refine a
        finite-difference gradient first).
        """
        o = self.options
        fs: dict[bytes, float] = {x.tobytes(): f}
        gs: dict[bytes, Array] = {x.tobytes(): g}

        def fun(z: Array) -> float:
            z = problem.project(z)
            k = z.tobytes()
            if k not in fs:
                fs[k] = problem.f(z)
            return fs[k]

        def jac(z: Array) -> Array:
            z = problem.project(z)
            k = z.tobytes()
            if k not in gs:
                gz = problem.grad(z, fx=fs.get(k), rel_step=fd_rel, scheme=scheme)
                if gz is None:
                    raise _GradientFailed
                gs[k] = gz
            return gs[k]

        def accept(alpha: float) -> tuple[Array, float, Array] | None:
            xt = problem.project(x + alpha * p)
            if np.array_equal(xt, x):
                return None
            ft = fun(xt)
            if not math.isfinite(ft):
                return None
            try:
                return xt, ft, jac(xt)
            except _GradientFailed:
                return None

        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter(
                    "ignore"
                )  # LineSearchWarning and inf arithmetic are handled below
                alpha = line_search(fun, jac, x, p, gfk=g, old_fval=f, c1=o["c1"], c2=o["c2"])[0]
        except _GradientFailed:
            alpha = None
        if alpha is not None and math.isfinite(alpha) and alpha > 0:
            got = accept(alpha)
            if got is not None:
                return got
        if not fallback:
            return None
        # Armijo backtracking along the projected path; points the line search tried are free.
        alpha = 1.0
        slope_ok = g @ p < 0
        for _ in range(o["max_backtracks"]):
            xt = problem.project(x + alpha * p)
            if np.array_equal(xt, x):
                break
            ft = fun(xt)
            if math.isfinite(ft) and (
                ft <= f + o["c1"] * (g @ (xt - x)) or not slope_ok and ft < f
            ):
                got = accept(alpha)
                if got is not None:
                    return got
            alpha *= 0.5
        return None


def _gamma(S: tuple[Array, ...], Y: tuple[Array, ...]) -> float | None:
    """``s'y / y'y`` of the newest pair (the initial inverse-Hessian scale), or None without pairs."""
    if not S:
        return None
    gam = float(S[-1] @ Y[-1]) / float(Y[-1] @ Y[-1])
    return gam if math.isfinite(gam) and gam > 0 else None


def _fd_rel_after(rel: float | None, s: Array, x: Array) -> float | None:
    """The finite-difference step for the next gradients after an accepted step ``s`` to ``x``.

    Central differences use ``h_i = rel max(1, |x_i|)``. When the engine moves by
    less than that, it resolves f on a finer scale than its gradient does, and the
    truncation error of the differences (large where the curvature changes fast,
    e.g. across the floor of a narrow valley) can stall it; ``rel`` then follows the
    step down to ``eps^(1/2)``, below which rounding would dominate. It never grows
    back past the Problem's default ``eps^(1/3)``.
    """
    cur = _FD_REL_MAX if rel is None else rel
    size = float(np.max(np.abs(s) / np.maximum(1.0, np.abs(x))))
    if size >= cur or not math.isfinite(size):
        return rel
    return max(_FD_REL_MIN, size)


def _precision_matters(f: float, fn: float, s: Array, xn: Array) -> bool:
    """Whether the step ``s`` (f -> fn, to ``xn``) calls for central differences from now on.

    Yes when f decreased by at most ``1e-8 max(1, |fn|)`` (forward differences,
    error ~ ``sqrt(eps) |f''| max(1, |x|)``, cannot resolve much further decrease),
    or when the step was shorter than ``1e3`` forward-difference steps
    (relative to ``max(1, |x_i|)``).
    """
    if abs(f - fn) <= _SWITCH_FTOL * max(1.0, abs(fn)):
        return True
    size = float(np.max(np.abs(s) / np.maximum(1.0, np.abs(xn))))
    return not math.isfinite(size) or size < _SWITCH_STEP * _FD_REL_FORWARD


def _two_loop(g: Array, S: tuple[Array, ...], Y: tuple[Array, ...]) -> Array:
    """``H g`` for the L-BFGS inverse-Hessian approximation built from the pairs ``(S, Y)``."""
    q = g.copy()
    rho = [1.0 / (y @ s) for s, y in zip(S, Y, strict=True)]
    a = [0.0] * len(S)
    for i in range(len(S) - 1, -1, -1):
        a[i] = rho[i] * (S[i] @ q)
        q -= a[i] * Y[i]
    r = (S[-1] @ Y[-1]) / (Y[-1] @ Y[-1]) * q
    for i in range(len(S)):
        b = rho[i] * (Y[i] @ r)
        r += (a[i] - b) * S[i]
    return r


def _mask(problem: Problem, x: Array, g: Array, d: Array) -> Array:
    """Zero the components of ``d`` for variables at a bound whose gradient pushes them out of the box."""
    if not problem.bounded:
        return d
    active = ((x <= problem.lower) & (g > 0)) | ((x >= problem.upper) & (g < 0))
    return np.where(active, 0.0, d) if active.any() else d
