"""The one door to the user's objective.

:class:`Problem` wraps ``fun`` (and optional ``jac``) so that every evaluation
is counted, projected into the bounds, guarded against exceptions and
non-finite values, compared with the best point seen, and refused once the
evaluation budget is spent. Engines and actions never call the user's function
any other way.

Conventions
-----------
* ``nfev`` counts calls of ``fun`` (finite-difference calls included); the
  budget caps ``nfev``. ``njev`` counts calls of the user's ``jac``.
* A failed evaluation (exception, NaN, inf, a value that is not a real number)
  is recorded in ``failures`` with its reason and returned to the engine as
  ``+inf``; it never becomes the best value.
* A user ``jac`` that fails three times in a row (raises, wrong shape,
  non-finite) is given up for finite differences; ``jac_disabled`` says why.
* Objectives may return named terms (a mapping ``name -> float``). The true
  objective is their sum. Terms listed as *adjustable* may be reweighted by the
  optimizer; engines then see ``sum_k w_k t_k`` while ``best_f`` always tracks
  the unweighted sum, so the result's ``fun`` is the user's objective.
"""

from __future__ import annotations

import bisect
import math
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nef_agents.errors import BudgetExhausted, ConfigError

Array = np.ndarray
_FD_EPS = np.finfo(float).eps ** (1.0 / 3.0)  # central-difference step: h = eps^(1/3) * max(1, |x_i|)
_FD_EPS_FORWARD = np.finfo(float).eps ** 0.5  # forward-difference step: h = eps^(1/2) * max(1, |x_i|)
_FD_SCHEMES = ("central", "forward")
JAC_PATIENCE = 3  # consecutive failed jac calls before falling back to finite differences


@dataclass(frozen=True)
class FailedEvaluation:
    """One evaluation that gave no usable value: when (``nfev``) and why."""

    nfev: int
    reason: str


def as_x0(x0: Any) -> Array:
    """Validate and convert a starting point to a 1-D float64 array.

    Ints and float32 are converted; a scalar becomes a 1-D array of length 1;
    zero-size, non-numeric, multi-dimensional or non-finite input raises
    ConfigError naming ``x0``.
    """
    try:
        arr = np.asarray(x0, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"`x0` must be a vector of real numbers, got {x0!r}") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ConfigError(f"`x0` must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ConfigError("`x0` is empty: zero-dimensional problems are not supported")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ConfigError(f"`x0[{bad[0]}]` must be finite, got {arr[bad[0]]}")
    return arr.copy()


def as_bounds(bounds: Any, dim: int) -> tuple[Array, Array]:
    """Convert scipy-style bounds into ``(lower, upper)`` float arrays of length ``dim``.

    Accepts ``None`` (unbounded), a sequence of ``(low, high)`` pairs with
    ``None`` meaning unbounded on that side, or an object with ``lb``/``ub``
    (``scipy.optimize.Bounds``). Errors name the offending index.
    """
    lower = np.full(dim, -np.inf)
    upper = np.full(dim, np.inf)
    if bounds is None:
        return lower, upper
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):
        lower = np.broadcast_to(np.asarray(bounds.lb, dtype=float), (dim,)).copy()
        upper = np.broadcast_to(np.asarray(bounds.ub, dtype=float), (dim,)).copy()
    else:
        if not isinstance(bounds, Sequence | np.ndarray) or len(bounds) != dim:
            n = len(bounds) if hasattr(bounds, "__len__") else "?"
            raise ConfigError(f"`bounds` must hold one (low, high) pair per dimension ({dim}), got {n}")
        for i, pair in enumerate(bounds):
            try:
                lo, hi = pair
            except (TypeError, ValueError):
                raise ConfigError(f"`bounds[{i}]` must be a (low, high) pair, got {pair!r}") from None
            try:
                lower[i] = -np.inf if lo is None else float(lo)
                upper[i] = np.inf if hi is None else float(hi)
            except (TypeError, ValueError):
                raise ConfigError(f"`bounds[{i}]` must hold numbers or None, got {pair!r}") from None
    for i in range(dim):
        if np.isnan(lower[i]) or np.isnan(upper[i]):
            raise ConfigError(f"`bounds[{i}]` must not be NaN, got ({lower[i]}, {upper[i]})")
        if lower[i] > upper[i]:
            raise ConfigError(f"`bounds[{i}]` must have lower <= upper, got ({lower[i]}, {upper[i]})")
    return lower, upper


class Problem:
    """Counted, guarded, bounded access to an objective.

    Parameters
    ----------
    fun : callable ``fun(x, *args)`` returning a real number (Python or numpy
        scalar, or a size-1 array) or a mapping of named terms.
    x0 : starting point; projected into the bounds with a warning if outside.
    jac : optional gradient ``jac(x, *args)`` returning an array, or a mapping of
        per-term gradients for a multi-term objective. Without it, central
        finite differences are used and their ``2 d`` evaluations count.
    bounds : see :func:`as_bounds`.
    budget : maximum number of ``fun`` calls; ``None`` = unlimited.
    adjustable : names of terms the optimizer may reweight.
    """

    def __init__(
        self,
        fun: Callable[..., Any],
        x0: Any,
        *,
        jac: Callable[..., Any] | None = None,
        bounds: Any = None,
        budget: int | None = None,
        args: tuple = (),
        adjustable: Sequence[str] = (),
    ) -> None:
        if not callable(fun):
            raise ConfigError(f"`fun` must be callable, got {type(fun).__name__}")
        if jac is not None and not callable(jac):
            raise ConfigError(f"`jac` must be callable or None, got {type(jac).__name__}")
        if budget is not None:
            if isinstance(budget, bool) or not isinstance(budget, int | np.integer) or budget < 1:
                raise ConfigError(f"`budget` must be a positive integer, got {budget!r}")
            budget = int(budget)
        x = as_x0(x0)
        self.dim = x.size
        self.lower, self.upper = as_bounds(bounds, self.dim)
        self.bounded = bool(np.isfinite(self.lower).any() or np.isfinite(self.upper).any())
        clipped = self.project(x)
        if not np.array_equal(clipped, x):
            i = int(np.flatnonzero(clipped != x)[0])
            warnings.warn(f"x0[{i}] = {x[i]} lies outside bounds; projected to {clipped[i]}",
                          stacklevel=_caller_stacklevel())
        self.x0 = clipped
        self._fun = fun
        self._jac = jac
        self._args = tuple(args)
        self.budget = budget
        self.adjustable = tuple(adjustable)
        self.term_weights: dict[str, float] = {}
        self.nfev = 0
        self.njev = 0
        self.failures: list[FailedEvaluation] = []
        self._failure_nfevs: list[int] = []  # nondecreasing, for failures_since
        self.best_x: Array | None = None
        self.best_f = math.inf
        self.best_nfev = 0
        self.last_terms: dict[str, float] | None = None
        self.improvements: list[tuple[int, float]] = []  # (nfev, best_f) at each strict improvement
        self.jac_disabled: str | None = None  # why the user's jac was given up for finite differences
        self._jac_failures = 0
        self._memo_f: tuple[bytes, float] | None = None  # last point asked through f() and its value
        # last gradient asked through grad(): ((point, scheme, rel_step), gradient); scheme and
        # rel_step are None for the user's jac
        self._memo_g: tuple[tuple[bytes, str | None, float | None], Array] | None = None

    # -- geometry ---------------------------------------------------------------------------
    def project(self, x: Array) -> Array:
        """Euclidean projection onto the box: ``clip(x, lower, upper)``."""
        return np.clip(x, self.lower, self.upper) if self.bounded else np.asarray(x, dtype=float)

    def require_finite_bounds(self, what: str) -> None:
        """Raise ConfigError naming the first unbounded index if ``what`` needs a finite box."""
        bad = np.flatnonzero(~(np.isfinite(self.lower) & np.isfinite(self.upper)))
        if bad.size:
            i = int(bad[0])
            raise ConfigError(f"{what} needs finite bounds; `bounds[{i}]` is ({self.lower[i]}, {self.upper[i]})")

    # -- budget -------------------------------------------------------------------------------
    @property
    def remaining(self) -> float:
        """Evaluations left (``inf`` without a budget)."""
        return math.inf if self.budget is None else self.budget - self.nfev

    @property
    def exhausted(self) -> bool:
        return self.budget is not None and self.nfev >= self.budget

    @property
    def n_failed(self) -> int:
        return len(self.failures)

    @property
    def has_gradient(self) -> bool:
        return self._jac is not None

    # -- evaluation ---------------------------------------------------------------------------
    def f(self, x: Array) -> float:
        """Evaluate at ``project(x)``; ``+inf`` on failure; BudgetExhausted when the budget is spent.

        Asking again for the point this method evaluated last returns the
        remembered value without calling the objective (and without counting):
        an engine started where a probe just looked costs nothing twice.
        """
        key = np.asarray(x, dtype=float).tobytes()
        if self._memo_f is not None and self._memo_f[0] == key:
            return self._memo_f[1]
        value = self._eval(x)
        self._memo_f = (key, value) if math.isfinite(value) else None
        return value

    def _eval(self, x: Array) -> float:
        """One counted evaluation (no memo)."""
        if self.budget is not None and self.nfev >= self.budget:
            raise BudgetExhausted(f"evaluation budget of {self.budget} reached")
        x = self.project(x)
        self.nfev += 1
        try:
            raw = self._fun(x.copy(), *self._args)
        except Exception as exc:  # the objective's errors are data, never a crash
            return self._fail(f"{type(exc).__name__}: {exc}")
        if isinstance(raw, float | int) and not isinstance(raw, bool):
            total = seen = float(raw)
            self.last_terms = None
        else:
            try:
                total, seen = self._coerce(raw)
            except (TypeError, ValueError) as exc:
                return self._fail(str(exc))
        if not math.isfinite(total):
            return self._fail(f"non-finite value {total}")
        if total < self.best_f:
            self.best_f = total
            self.best_x = x.copy()
            self.best_nfev = self.nfev
            self.improvements.append((self.nfev, total))
        return seen

    def _coerce(self, raw: Any) -> tuple[float, float]:
        """(true objective, value the engine sees) from a scalar, size-1 array or term mapping."""
        if isinstance(raw, Mapping):
            terms = {str(k): _to_float(v, f"term {k!r}") for k, v in raw.items()}
            if not terms:
                raise ValueError("objective returned an empty mapping of terms")
            self.last_terms = terms
            total = math.fsum(terms.values())
            if not math.isfinite(total):
                return total, total
            w = self.term_weights
            seen = total if not w else math.fsum(w.get(k, 1.0) * v for k, v in terms.items())
            return total, seen
        self.last_terms = None
        value = _to_float(raw, "objective value")
        return value, value

    def _fail(self, reason: str) -> float:
        self.failures.append(FailedEvaluation(self.nfev, reason))
        self._failure_nfevs.append(self.nfev)
        return math.inf

    def failures_since(self, nfev: int) -> int:
        """How many failures were recorded after evaluation number ``nfev`` (O(log n))."""
        return len(self._failure_nfevs) - bisect.bisect_right(self._failure_nfevs, nfev)

    def grad(
        self,
        x: Array,
        fx: float | None = None,
        rel_step: float | None = None,
        scheme: str = "central",
    ) -> Array | None:
        """Gradient at ``project(x)``: the user's ``jac`` or finite differences.

        Returns ``None`` when no finite gradient could be had (a failed ``jac``
        call or a failed difference), after recording the failure.

        Finite differences (no ``jac``) use ``h_i = rel max(1, |x_i|)``:

        * ``scheme="central"`` (the default): ``(f(x + h e_i) - f(x - h e_i)) / 2h``,
          ``2 d`` evaluations, ``rel = eps^(1/3)``; a one-sided difference (using
          ``fx`` when given) where a bound is within ``h``.
        * ``scheme="forward"``: ``(f(x + h e_i) - f(x)) / h``, ``d`` evaluations
          plus one at ``x`` unless ``fx`` is given, ``rel = eps^(1/2)``; a backward
          difference where ``x + h e_i`` would cross the upper bound.

        ``rel_step`` replaces the default ``rel`` (the smoothness probe of
        ``engine="auto"``, the lbfgs engine's refined steps). The last gradient is
        remembered per point, scheme and ``rel_step``: asking again with the same
        three is free, and a gradient of one scheme or step is never returned for
        another.
        """
        if scheme not in _FD_SCHEMES:
            raise ConfigError(f"`scheme` must be one of {list(_FD_SCHEMES)}, got {scheme!r}")
        xkey = np.asarray(x, dtype=float).tobytes()
        # a user jac does not depend on the scheme or the step
        key = (xkey, None, None) if self._jac is not None else (xkey, scheme, rel_step)
        if self._memo_g is not None and self._memo_g[0] == key:
            return self._memo_g[1].copy()
        g = self._grad(x, fx, rel_step, scheme)
        if g is not None:
            self._memo_g = (key, g.copy())
        return g

    def known_grad(self, x: Array) -> tuple[str, Array] | None:
        """The remembered gradient at exactly ``x`` (no evaluation), with how it was made.

        ``("jac", g)`` for the user's gradient; ``("central", g)`` or ``("forward", g)``
        for finite differences; ``None`` if the last gradient asked for was at
        another point. Lets an engine reuse a gradient a probe just paid for.
        """
        if self._memo_g is None:
            return None
        (xkey, scheme, _rel), g = self._memo_g
        if xkey != np.asarray(x, dtype=float).tobytes():
            return None
        if scheme is None:
            if self._jac is None:  # remembered from a jac given up since
                return None
            return "jac", g.copy()
        return scheme, g.copy()

    def _grad(self, x: Array, fx: float | None, rel_step: float | None, scheme: str = "central") -> Array | None:
        x = self.project(x)
        if self._jac is not None:
            self.njev += 1
            try:
                raw = self._jac(x.copy(), *self._args)
                if isinstance(raw, Mapping):
                    w = self.term_weights
                    g = sum(w.get(k, 1.0) * np.asarray(v, dtype=float) for k, v in raw.items())
                else:
                    g = np.asarray(raw, dtype=float)
                g = np.broadcast_to(g, (self.dim,)).astype(float) if g.size == self.dim else None
            except Exception as exc:
                return self._jac_failed(f"gradient {type(exc).__name__}: {exc}")
            if g is None:
                return self._jac_failed(f"gradient has wrong shape, expected ({self.dim},)")
            if not np.all(np.isfinite(g)):
                return self._jac_failed("non-finite gradient")
            self._jac_failures = 0
            return g
        if scheme == "forward":
            return self._fd_grad_forward(x, fx, _FD_EPS_FORWARD if rel_step is None else rel_step)
        return self._fd_grad(x, fx, _FD_EPS if rel_step is None else rel_step)

    def _jac_failed(self, reason: str) -> None:
        """Record a failed ``jac`` call; after 3 in a row, use finite differences from now on."""
        self._fail(reason)
        self._jac_failures += 1
        if self._jac_failures >= JAC_PATIENCE:
            self._jac = None
            self.jac_disabled = f"{JAC_PATIENCE} consecutive gradient failures (last: {reason}); using finite differences"
        return None

    def _fd_grad(self, x: Array, fx: float | None, rel: float) -> Array | None:
        g = np.empty(self.dim)
        h = rel * np.maximum(1.0, np.abs(x))
        for i in range(self.dim):
            up, down = x.copy(), x.copy()
            up[i] = x[i] + h[i]
            down[i] = x[i] - h[i]
            can_up, can_down = up[i] <= self.upper[i], down[i] >= self.lower[i]
            if can_up and can_down:
                g[i] = (self._eval(up) - self._eval(down)) / (2.0 * h[i])
            else:
                if fx is None:
                    fx = self.f(x)
                g[i] = (self._eval(up) - fx) / h[i] if can_up else (fx - self._eval(down)) / h[i]
            if not math.isfinite(g[i]):
                return None
        return g

    def _fd_grad_forward(self, x: Array, fx: float | None, rel: float) -> Array | None:
        """Forward differences ``(f(x + h e_i) - f(x)) / h``; backward at an upper bound."""
        if fx is None:
            fx = self.f(x)
        if not math.isfinite(fx):
            return None
        g = np.empty(self.dim)
        h = rel * np.maximum(1.0, np.abs(x))
        for i in range(self.dim):
            z = x.copy()
            if x[i] + h[i] <= self.upper[i]:
                z[i] = x[i] + h[i]
                g[i] = (self._eval(z) - fx) / h[i]
            else:
                z[i] = x[i] - h[i]
                g[i] = (fx - self._eval(z)) / h[i]
            if not math.isfinite(g[i]):
                return None
        return g

    def f_and_grad(self, x: Array) -> tuple[float, Array | None]:
        """``(f(x), grad(x))``; the gradient is ``None`` when f failed or it failed."""
        fx = self.f(x)
        if not math.isfinite(fx):
            return fx, None
        return fx, self.grad(x, fx)

    def set_term_weights(self, weights: Mapping[str, float]) -> None:
        """Reweight adjustable terms; a non-adjustable or unknown name raises ConfigError."""
        for k, w in weights.items():
            if k not in self.adjustable:
                raise ConfigError(f"term {k!r} is not adjustable; adjustable terms: {list(self.adjustable)}")
            if not (math.isfinite(w) and w >= 0):
                raise ConfigError(f"weight of term {k!r} must be finite and >= 0, got {w}")
        self.term_weights = {**self.term_weights, **{k: float(w) for k, w in weights.items()}}
        self._memo_f = self._memo_g = None  # remembered values were weighted the old way

    def true_value(self, x: Array) -> float:
        """The user's objective at ``x`` without counting or weighting (used only for checks)."""
        raw = self._fun(self.project(x).copy(), *self._args)
        if isinstance(raw, Mapping):
            return math.fsum(_to_float(v, "term") for v in raw.values())
        return _to_float(raw, "objective value")


def _caller_stacklevel() -> int:
    """Stack level of the first frame outside nef_agents (and scipy), so a warning points at the user's call."""
    frame, level = sys._getframe(1), 1
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not (name.startswith("nef_agents") or name.startswith("scipy")):
            return level
        frame, level = frame.f_back, level + 1
    return level


def _to_float(v: Any, what: str) -> float:
    """A real number from a Python/numpy scalar or a size-1 array; otherwise ValueError."""
    if isinstance(v, bool):
        raise ValueError(f"{what} must be a real number, got bool")
    if isinstance(v, float | int | np.floating | np.integer):
        return float(v)
    if isinstance(v, np.ndarray) and v.size == 1 and v.dtype.kind in "fiu":
        return float(v.reshape(()))
    raise ValueError(f"{what} must be a real number, got {type(v).__name__}")
