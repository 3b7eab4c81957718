"""Built-in test objectives with analytic gradients and known minima.

Each objective is a :class:`TestFunction`: ``f(x) -> float`` (or, for the
multi-term objective, a dict of named terms), ``grad(x) -> ndarray`` (or a dict
of per-term gradients), the minimizer ``x_opt(d)``, the minimum ``f_opt`` and a
conventional search box. ``get(name, dim=..., **params)`` builds one by name;
``REGISTRY`` lists the names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nef_agents.errors import ConfigError

Array = np.ndarray


@dataclass(frozen=True)
class TestFunction:
    """An objective with its gradient, minimizer and minimum value.

    ``fixed_dim`` is set for functions defined only in one dimension (2 for
    Himmelblau and Beale). ``adjustable`` names the terms a multi-term
    objective allows the optimizer to reweight (penalties, never the data term).
    """

    __test__ = False  # not a pytest class

    name: str
    f: Callable[[Array], Any]
    grad: Callable[[Array], Any]
    dim: int
    x_opt: Array
    f_opt: float
    bounds: tuple[float, float]
    fixed_dim: int | None = None
    adjustable: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)

    def __call__(self, x: Array) -> Any:
        return self.f(np.asarray(x, dtype=float))

    def total(self, x: Array) -> float:
        """Scalar value: the sum of the terms for a multi-term objective."""
        v = self.f(np.asarray(x, dtype=float))
        return float(sum(v.values())) if isinstance(v, Mapping) else float(v)


def _sphere(x: Array) -> float:
    return float(x @ x)


def _rosenbrock(x: Array) -> float:
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def _rosenbrock_grad(x: Array) -> Array:
    g = np.zeros_like(x)
    t = x[1:] - x[:-1] ** 2
    g[:-1] += -400.0 * x[:-1] * t - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * t
    return g


def _rastrigin(x: Array) -> float:
    return float(10.0 * x.size + np.sum(x**2 - 10.0 * np.cos(2 * np.pi * x)))


def _rastrigin_grad(x: Array) -> Array:
    return 2.0 * x + 20.0 * np.pi * np.sin(2 * np.pi * x)


def _ackley(x: Array) -> float:
    n = x.size
    r = np.sqrt(x @ x / n)
    return float(-20.0 * np.exp(-0.2 * r) - np.exp(np.sum(np.cos(2 * np.pi * x)) / n) + 20.0 + np.e)


def _ackley_grad(x: Array) -> Array:
    n = x.size
    r = np.sqrt(x @ x / n)
    # d/dx of -20 exp(-0.2 r) is 4 exp(-0.2 r) x / (n r); undefined at r = 0, where 0 is a subgradient.
    g1 = np.zeros_like(x) if r == 0 else 4.0 * np.exp(-0.2 * r) * x / (n * r)
    c = np.exp(np.sum(np.cos(2 * np.pi * x)) / n)
    g2 = c * 2 * np.pi * np.sin(2 * np.pi * x) / n
    return g1 + g2


def _himmelblau(x: Array) -> float:
    a = x[0] ** 2 + x[1] - 11.0
    b = x[0] + x[1] ** 2 - 7.0
    return float(a * a + b * b)


def _himmelblau_grad(x: Array) -> Array:
    a = x[0] ** 2 + x[1] - 11.0
    b = x[0] + x[1] ** 2 - 7.0
    return np.array([4.0 * a * x[0] + 2.0 * b, 2.0 * a + 4.0 * b * x[1]])


_BEALE_C = (1.5, 2.25, 2.625)


def _beale(x: Array) -> float:
    u, v = x
    return float(sum((c - u + u * v ** (i + 1)) ** 2 for i, c in enumerate(_BEALE_C)))


def _beale_grad(x: Array) -> Array:
    u, v = x
    gu = gv = 0.0
    for i, c in enumerate(_BEALE_C):
        k = i + 1
        r = c - u + u * v**k
        gu += 2.0 * r * (v**k - 1.0)
        gv += 2.0 * r * (k * u * v ** (k - 1))
    return np.array([gu, gv])


def _styblinski(x: Array) -> float:
    return float(0.5 * np.sum(x**4 - 16.0 * x**2 + 5.0 * x))


def _styblinski_grad(x: Array) -> Array:
    return 0.5 * (4.0 * x**3 - 32.0 * x + 5.0)


_STYBLINSKI_XOPT = -2.903534027771178  # root of 4x^3 - 32x + 5 = 0 giving the global minimum


def sphere(dim: int = 2) -> TestFunction:
    """f(x) = sum x_i^2; minimum 0 at the origin."""
    return TestFunction("sphere", _sphere, lambda x: 2.0 * x, dim, np.zeros(dim), 0.0, (-5.0, 5.0))


def rosenbrock(dim: int = 2) -> TestFunction:
    """f(x) = sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2; minimum 0 at (1, ..., 1)."""
    if dim < 2:
        raise ConfigError(f"rosenbrock needs dim >= 2, got {dim}")
    return TestFunction("rosenbrock", _rosenbrock, _rosenbrock_grad, dim, np.ones(dim), 0.0, (-5.0, 10.0))


def rastrigin(dim: int = 2) -> TestFunction:
    """f(x) = 10 d + sum x_i^2 - 10 cos(2 pi x_i); minimum 0 at the origin, ~10^d local minima."""
    return TestFunction("rastrigin", _rastrigin, _rastrigin_grad, dim, np.zeros(dim), 0.0, (-5.12, 5.12))


def ackley(dim: int = 2) -> TestFunction:
    """Ackley: -20 exp(-0.2 sqrt(mean x^2)) - exp(mean cos 2 pi x) + 20 + e; minimum 0 at the origin."""
    return TestFunction("ackley", _ackley, _ackley_grad, dim, np.zeros(dim), 0.0, (-32.768, 32.768))


def himmelblau(dim: int = 2) -> TestFunction:
    """(x^2 + y - 11)^2 + (x + y^2 - 7)^2; four global minima of 0, one at (3, 2)."""
    _require_dim("himmelblau", dim, 2)
    return TestFunction("himmelblau", _himmelblau, _himmelblau_grad, 2, np.array([3.0, 2.0]), 0.0, (-5.0, 5.0), fixed_dim=2)


def beale(dim: int = 2) -> TestFunction:
    """Beale: sum_k (c_k - x + x y^k)^2 with c = (1.5, 2.25, 2.625); minimum 0 at (3, 0.5)."""
    _require_dim("beale", dim, 2)
    return TestFunction("beale", _beale, _beale_grad, 2, np.array([3.0, 0.5]), 0.0, (-4.5, 4.5), fixed_dim=2)


def styblinski_tang(dim: int = 2) -> TestFunction:
    """0.5 sum x^4 - 16 x^2 + 5 x; minimum about -39.16617 d at x_i = -2.903534."""
    x_opt = np.full(dim, _STYBLINSKI_XOPT)
    return TestFunction("styblinski_tang", _styblinski, _styblinski_grad, dim, x_opt, _styblinski(x_opt), (-5.0, 5.0))


def ellipsoid(dim: int = 2, condition: float = 1e6) -> TestFunction:
    """f(x) = sum c_i x_i^2 with c_i = condition^(i/(d-1)); Hessian condition number = ``condition``."""
    if not condition >= 1.0:
        raise ConfigError(f"ellipsoid `condition` must be >= 1, got {condition}")
    c = condition ** (np.arange(dim) / max(dim - 1, 1))
    return TestFunction(
        "ellipsoid", lambda x: float(np.sum(c * x * x)), lambda x: 2.0 * c * x,
        dim, np.zeros(dim), 0.0, (-5.0, 5.0), params={"condition": condition},
    )


def noisy_sphere(dim: int = 2, noise: float = 0.01, seed: int = 0) -> TestFunction:
    """f(x) = |x|^2 (1 + noise * N(0,1)) + noise * |N(0,1)|: multiplicative and additive noise.

    The noise stream comes from its own ``numpy.random.Generator(seed)``, so a run
    with the same seed sees the same noise sequence. The true minimum is 0 at 0;
    the gradient returned is the noise-free 2x.
    """
    rng = np.random.default_rng(seed)

    def f(x: Array) -> float:
        z = rng.standard_normal(2)
        return float((x @ x) * (1.0 + noise * z[0]) + noise * abs(z[1]))

    return TestFunction("noisy_sphere", f, lambda x: 2.0 * x, dim, np.zeros(dim), 0.0, (-5.0, 5.0),
                        params={"noise": noise, "seed": seed})


def penalized_regression(dim: int = 5, n_obs: int = 20, l2: float = 1e-3, budget_cap: float = 1.0,
                         cap_weight: float = 1e3, seed: int = 0) -> TestFunction:
    """A multi-term objective: least squares data term plus two penalty terms.

    Terms (returned as a dict, total = their sum):
      - ``data``   = 0.5 |A x - b|^2 / n_obs, A ~ N(0,1) of shape (n_obs, dim);
      - ``ridge``  = l2 |x|^2;
      - ``budget`` = cap_weight * max(0, sum x - budget_cap)^2 (a soft constraint).
    ``ridge`` and ``budget`` are adjustable penalties. The large ``cap_weight``
    makes the problem stiff: the budget term dominates the gradient energy
    whenever the constraint is violated. The minimum is computed numerically
    once (it is a convex piecewise-quadratic problem).
    """
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n_obs, dim))
    x_true = rng.uniform(0.2, 1.0, dim)
    b = a @ x_true + 0.05 * rng.standard_normal(n_obs)

    def terms(x: Array) -> dict[str, float]:
        r = a @ x - b
        over = max(0.0, float(np.sum(x)) - budget_cap)
        return {"data": float(0.5 * r @ r / n_obs), "ridge": float(l2 * x @ x), "budget": cap_weight * over * over}

    def term_grads(x: Array) -> dict[str, Array]:
        over = max(0.0, float(np.sum(x)) - budget_cap)
        return {
            "data": a.T @ (a @ x - b) / n_obs,
            "ridge": 2.0 * l2 * x,
            "budget": np.full(dim, 2.0 * cap_weight * over),
        }

    from scipy.optimize import minimize as _scipy_minimize

    def total(x: Array) -> float:
        return sum(terms(x).values())

    def total_grad(x: Array) -> Array:
        return sum(term_grads(x).values())

    sol = _scipy_minimize(total, np.zeros(dim), jac=total_grad, method="BFGS", options={"gtol": 1e-12})
    return TestFunction(
        "penalized_regression", terms, term_grads, dim, sol.x, float(sol.fun), (-5.0, 5.0),
        adjustable=("ridge", "budget"),
        params={"n_obs": n_obs, "l2": l2, "budget_cap": budget_cap, "cap_weight": cap_weight, "seed": seed},
    )


REGISTRY: dict[str, Callable[..., TestFunction]] = {
    "sphere": sphere,
    "rosenbrock": rosenbrock,
    "rastrigin": rastrigin,
    "ackley": ackley,
    "himmelblau": himmelblau,
    "beale": beale,
    "styblinski_tang": styblinski_tang,
    "ellipsoid": ellipsoid,
    "noisy_sphere": noisy_sphere,
    "penalized_regression": penalized_regression,
}


def get(name: str, dim: int = 2, **params: Any) -> TestFunction:
    """Build a built-in objective by name; unknown names and parameters raise ConfigError."""
    try:
        factory = REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown function {name!r}; choose one of {sorted(REGISTRY)}") from None
    try:
        return factory(dim=dim, **params)
    except TypeError as exc:
        raise ConfigError(f"bad parameters for function {name!r}: {exc}") from None


def _require_dim(name: str, dim: int, need: int) -> None:
    if dim != need:
        raise ConfigError(f"{name} is defined for dim={need} only, got dim={dim}")
