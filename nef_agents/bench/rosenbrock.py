"""The seed's table extended: 2-D Rosenbrock, every optimizer, evaluations to targets.

GD at learning rate 1e-3 and the framework wrapping that GD run for 500
iterations (the seed experiment); lbfgs, adam, cmaes and ``engine="auto"``
run under the same evaluation budget, and scipy's L-BFGS-B, BFGS and
Nelder-Mead beside them. Every method sees the objective through one counting
wrapper; "evaluations to 1e-5" is the count at the first value below 1e-5.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from scipy.optimize import minimize as scipy_minimize

from nef_agents import functions as F
from nef_agents import minimize

TARGETS = (1e-5, 1e-8, 1e-12)
X0 = (-1.2, 1.0)
BUDGET = 5000


class Counter:
    """Counts calls and remembers the count at which each target was first reached."""

    def __init__(self, f: Any) -> None:
        self.f, self.n, self.hits = f, 0, {t: None for t in TARGETS}

    def __call__(self, x: np.ndarray) -> float:
        self.n += 1
        v = self.f(x)
        for t in TARGETS:
            if self.hits[t] is None and v < t:
                self.hits[t] = self.n
        return v


def rows() -> list[tuple[str, float, int, int, dict[float, int | None], float]]:
    fn = F.rosenbrock(2)
    out = []
    runs: list[tuple[str, dict[str, Any]]] = [
        ("gd (lr 1e-3), 500 iterations", dict(engine="gd", agents=False,
                                               options={"gd": {"learning_rate": 1e-3}, "framework": {"maxiter": 500}})),
        ("framework wrapping gd (lr 1e-3), 500 iterations", dict(
            engine=["gd", "framework"], options={"gd": {"learning_rate": 1e-3}, "framework": {"maxiter": 500}})),
        ("nef auto (framework)", dict()),
        ("lbfgs", dict(engine="lbfgs", agents=False)),
        ("adam (lr 1e-2)", dict(engine="adam", agents=False)),
        ("cmaes", dict(engine="cmaes", agents=False, jac=False)),
    ]
    for label, kw in runs:
        c = Counter(fn.f)
        use_jac = kw.pop("jac", True)
        t = time.perf_counter()
        r = minimize(c, X0, jac=fn.grad if use_jac else None, budget=BUDGET, seed=0, **kw)
        out.append((label, r.fun, r.nit, c.n, c.hits, time.perf_counter() - t))
    for method, opts in [("L-BFGS-B", {"ftol": 1e-15, "gtol": 1e-12, "maxfun": BUDGET}),
                         ("BFGS", {"gtol": 1e-12, "maxiter": BUDGET}),
                         ("Nelder-Mead", {"xatol": 1e-12, "fatol": 1e-15, "maxfev": BUDGET})]:
        c = Counter(fn.f)
        t = time.perf_counter()
        jac = fn.grad if method != "Nelder-Mead" else None
        r = scipy_minimize(c, np.array(X0), jac=jac, method=method, options=opts)
        out.append((f"scipy {method}", float(r.fun), int(r.nit), c.n, c.hits, time.perf_counter() - t))
    return out


def table() -> str:
    head = ("| method | final f | iterations | evaluations | to 1e-5 | to 1e-8 | to 1e-12 | wall s |\n"
            "|---|---|---|---|---|---|---|---|")
    body = [f"| {a} | {b:.3g} | {c} | {d} | " + " | ".join("-" if e[t] is None else str(e[t]) for t in TARGETS)
            + f" | {w:.3f} |" for a, b, c, d, e, w in rows()]
    return head + "\n" + "\n".join(body)


def main() -> None:
    print(f"2-D Rosenbrock from {X0}, budget {BUDGET} evaluations (gradient evaluations not counted)\n")
    print(table())


if __name__ == "__main__":
    main()
