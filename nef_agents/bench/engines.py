"""Engine benchmark: evaluations to reach f targets on 2-D Rosenbrock, and Problem.f overhead.

Run ``python -m nef_agents.bench.engines``. Every method, ours and scipy's, sees
the same objective through the same counting wrapper, which logs each ``f`` and
``grad`` call in order. For a target ``tau``:

* ``nfev`` = index of the first ``f`` call with value ``< tau``;
* ``njev`` = gradient calls made before the next ``f`` call (so the gradient at
  the hitting point counts when the method evaluated it there);
* ``nit``  = the first iteration (engine step / scipy callback) whose
  cumulative ``nfev`` reaches that index.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize

from nef_agents import functions
from nef_agents.engines import make_engine
from nef_agents.errors import BudgetExhausted
from nef_agents.problem import Problem

Array = np.ndarray
TARGETS = (1e-5, 1e-8, 1e-12)
X0 = (-1.2, 1.0)

# name -> (engine, options, budget). gd and adam need thousands of steps on this valley.
ENGINE_RUNS: dict[str, tuple[str, dict[str, Any], int]] = {
    "gd (lr 1e-3, momentum 0.9)": ("gd", {"learning_rate": 1e-3, "momentum": 0.9}, 20000),
    "adam (lr 1e-2)": ("adam", {}, 20000),
    "lbfgs": ("lbfgs", {}, 2000),
    "cmaes (seed 0)": ("cmaes", {}, 20000),
}
SCIPY_RUNS: dict[str, tuple[str, dict[str, Any]]] = {
    "scipy L-BFGS-B (ftol 1e-15, gtol 1e-12)": (
        "L-BFGS-B",
        {"ftol": 1e-15, "gtol": 1e-12, "maxfun": 20000},
    ),
    "scipy BFGS (gtol 1e-12)": ("BFGS", {"gtol": 1e-12}),
}


@dataclass
class Recorder:
    """Wraps ``f`` and ``grad``; ``events`` is the call sequence, ``'f'`` or ``'g'``."""

    fn: functions.TestFunction
    events: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    iter_nfev: list[int] = field(default_factory=list)  # cumulative nfev after each iteration

    def f(self, x: Array) -> float:
        self.events.append("f")
        v = self.fn.f(x)
        self.values.append(v)
        return v

    def grad(self, x: Array) -> Array:
        self.events.append("g")
        return self.fn.grad(x)

    def mark_iteration(self, *_: Any) -> None:
        self.iter_nfev.append(len(self.values))

    def reach(self, target: float) -> tuple[int, int, int] | None:
        """``(nit, nfev, njev)`` at the first f below ``target``, or None."""
        hit = next((i for i, v in enumerate(self.values) if v < target), None)
        if hit is None:
            return None
        nfev = hit + 1
        njev, seen_f = 0, 0
        for e in self.events:
            if e == "f":
                seen_f += 1
                if seen_f > nfev:
                    break
            else:
                njev += 1
        nit = next((k + 1 for k, n in enumerate(self.iter_nfev) if n >= nfev), len(self.iter_nfev))
        return nit, nfev, njev


def run_engine(engine: str, options: dict[str, Any], budget: int, seed: int = 0) -> Recorder:
    rec = Recorder(functions.get("rosenbrock", dim=2))
    eng = make_engine(engine, **options)
    pr = Problem(rec.f, X0, jac=rec.grad if eng.uses_gradient else None, budget=budget)
    try:
        state = eng.init(pr.x0, pr, np.random.default_rng(seed))
        while state.done is None and min(rec.values) >= min(TARGETS):
            state = eng.step(state, pr)
            rec.mark_iteration()
    except BudgetExhausted:
        rec.mark_iteration()
    return rec


def run_scipy(method: str, options: dict[str, Any]) -> Recorder:
    rec = Recorder(functions.get("rosenbrock", dim=2))
    minimize(
        rec.f,
        np.array(X0),
        jac=rec.grad,
        method=method,
        options=options,
        callback=rec.mark_iteration,
    )
    return rec


def overhead(n: int = 200_000, dim: int = 10, chunks: int = 10) -> tuple[float, float, float]:
    """Seconds for ``n`` direct calls and ``n`` ``Problem.f`` calls (interleaved chunks), and the ratio."""
    fn = functions.get("rosenbrock", dim=dim)
    # Two alternating points: Problem remembers the last point asked for, and a benchmark
    # that asked for one point over and over would time that memo, not an evaluation.
    xs = (np.linspace(-1.0, 1.0, dim), np.linspace(-0.9, 1.1, dim))
    pr = Problem(fn.f, xs[0])
    f_direct, f_problem = fn.f, pr.f
    direct = wrapped = 0.0
    per = n // chunks
    for _ in range(chunks):  # interleave so clock drift and turbo affect both sides alike
        t = time.perf_counter()
        for i in range(per):
            f_direct(xs[i & 1])
        direct += time.perf_counter() - t
        t = time.perf_counter()
        for i in range(per):
            f_problem(xs[i & 1])
        wrapped += time.perf_counter() - t
    return direct, wrapped, wrapped / direct


def report() -> str:
    """The markdown report: the evaluation table, the lbfgs/L-BFGS-B ratio and the overhead."""
    recs = {label: run_engine(*spec) for label, spec in ENGINE_RUNS.items()}
    recs |= {label: run_scipy(*spec) for label, spec in SCIPY_RUNS.items()}
    head = " | ".join(f"f<{t:.0e}: nit / nfev / njev" for t in TARGETS)
    lines = [
        "2-D Rosenbrock from (-1.2, 1), analytic gradient (cmaes uses none).",
        "",
        f"| method | {head} |",
        "|---" * (1 + len(TARGETS)) + "|",
    ]
    for label, rec in recs.items():
        cells = []
        for t in TARGETS:
            r = rec.reach(t)
            cells.append("not reached" if r is None else " / ".join(map(str, r)))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    ours = recs["lbfgs"].reach(1e-12)
    ref = recs[next(iter(SCIPY_RUNS))].reach(1e-12)
    lines.append("")
    if ours and ref:
        ratio = ours[2] / ref[2]
        verdict = "meets" if ratio <= 1.1 else "MISSES"
        lines.append(
            f"lbfgs / scipy L-BFGS-B gradient evaluations to f<1e-12: {ours[2]} / {ref[2]} "
            f"= {ratio:.2f} ({verdict} the 1.1 target)"
        )
    else:
        lines.append(f"lbfgs or L-BFGS-B did not reach f<1e-12 (lbfgs {ours}, L-BFGS-B {ref})")
    direct, wrapped, ratio = overhead()
    n = 200_000
    verdict = "meets" if ratio < 2.0 else "MISSES"
    lines += [
        "",
        f"Problem.f overhead, 10-D Rosenbrock, {n} calls each: direct {direct:.3f} s "
        f"({1e6 * direct / n:.2f} us/call), Problem.f {wrapped:.3f} s ({1e6 * wrapped / n:.2f} us/call), "
        f"ratio {ratio:.2f} ({verdict} the < 2x target)",
    ]
    return "\n".join(lines)


def main() -> None:
    print(report())


if __name__ == "__main__":
    main()
