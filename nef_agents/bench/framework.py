"""Framework benchmark: the seed experiment, auto vs scipy, and an ablation table.

Run ``python -m nef_agents.bench.framework [--seeds 10]``. Three parts:

1. The seed experiment: 2-D Rosenbrock from (-1.2, 1), plain GD at learning
   rate 1e-3 against the framework wrapping the same GD (schedule
   ``["gd", "framework"]``: GD until its first pause, then the agents), both
   capped at 500 iterations.
2. ``engine="auto"`` with the analytic gradient beside scipy L-BFGS-B
   (ftol 1e-15, gtol 1e-12) on the same start.
3. Ablation on built-in functions, ``--seeds`` seeds each (x0 uniform in the
   box from the seed): the framework with one memory store shared by all
   seeds, the framework without memory (a fresh in-memory store per run),
   without agents (pauses only), and the bare engines. Reported: median
   evaluations to the function's target (runs that miss count as the
   budget, shown with the number that reached it) and median final value.

Evaluation counts do not drift with machine load; wall times do, and are
only compared within one run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize as scipy_minimize

from nef_agents import functions as F
from nef_agents import minimize
from nef_agents.memory import InMemoryStore, MemoryStore

# function -> (dim, budget, target above f_opt, use gradient)
ABLATION: dict[str, tuple[int, int, float, bool]] = {
    "sphere": (10, 2000, 1e-8, True),
    "rosenbrock": (5, 5000, 1e-6, True),
    "ellipsoid": (10, 5000, 1e-8, True),
    "rastrigin": (5, 10000, 1e-2, True),
    "ackley": (5, 5000, 1e-3, False),
    "styblinski_tang": (5, 5000, 1e-3, True),
    "penalized_regression": (5, 3000, 1e-8, True),
}


def _evals_to(res: Any, target: float) -> int | None:
    return next((n for n, f in res.improvements if f <= target), None)


def seed_experiment() -> str:
    fn = F.rosenbrock(2)
    x0 = [-1.2, 1.0]
    rows = []
    for label, kw in [
        ("plain GD (lr 1e-3)", dict(engine="gd", agents=False)),
        ("framework wrapping GD", dict(engine=["gd", "framework"])),
    ]:
        t = time.perf_counter()
        r = minimize(
            fn.f,
            x0,
            jac=fn.grad,
            seed=0,
            budget=100_000,
            options={"gd": {"learning_rate": 1e-3}, "framework": {"maxiter": 500}},
            **kw,
        )
        wall = time.perf_counter() - t
        acts = ", ".join(f"{d['action']}@{d['iteration']}" for d in r.decisions[:6]) or "-"
        rows.append(
            f"| {label} | ({r.x[0]:.6f}, {r.x[1]:.6f}) | {r.fun:.3g} | {r.nit} | {r.nfev} | "
            f"{wall:.3f} | {len(r.pauses)} | {len(r.anomalies)} | {acts} |"
        )
    head = (
        "| run | final x | f | iterations | evaluations | wall s | pauses | anomalies | decisions |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    return head + "\n" + "\n".join(rows)


def auto_vs_scipy() -> str:
    fn = F.rosenbrock(2)
    x0 = np.array([-1.2, 1.0])
    rows = []
    r = minimize(fn.f, x0, jac=fn.grad, seed=0)
    rows.append(("nef_agents auto (lbfgs + agents)", r.fun, r.nfev, r.njev, _evals_to(r, 1e-12)))
    hits: list[int] = []
    count = {"n": 0}

    def f(x: np.ndarray) -> float:
        count["n"] += 1
        v = fn.f(x)
        if v < 1e-12 and not hits:
            hits.append(count["n"])
        return v

    s = scipy_minimize(
        f, x0, jac=fn.grad, method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12}
    )
    rows.append(("scipy L-BFGS-B", s.fun, s.nfev, s.njev, hits[0] if hits else None))
    out = ["| method | final f | nfev | njev | evaluations to f < 1e-12 |", "|---|---|---|---|---|"]
    out += [f"| {a} | {b:.3g} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    return "\n".join(out)


def ablation(seeds: int) -> str:
    out = [
        "| function (d, budget, target) | variant | median evals to target | reached | median final f - f_opt |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for name, (dim, budget, tol, use_grad) in ABLATION.items():
            fn = F.get(name, dim=dim)
            shared = MemoryStore(Path(tmp) / f"{name}.sqlite")
            variants: dict[str, dict[str, Any]] = {
                "framework (shared memory)": dict(memory=shared),
                "framework, no memory": dict(memory=None),
                "framework, no agents": dict(agents=False),
            }
            bare = ["lbfgs", "cmaes"] if use_grad else ["cmaes", "lbfgs"]
            for e in bare:
                variants[f"bare {e}"] = dict(engine=e, agents=False, memory=InMemoryStore())
            for label, kw in variants.items():
                evals, finals = [], []
                for seed in range(seeds):
                    lo, hi = fn.bounds
                    x0 = np.random.default_rng(1000 + seed).uniform(lo, hi, fn.dim) * 0.8
                    r = minimize(
                        fn.f,
                        x0,
                        jac=fn.grad if use_grad else None,
                        budget=budget,
                        seed=seed,
                        bounds=[fn.bounds] * fn.dim,
                        adjustable=fn.adjustable,
                        **kw,
                    )
                    evals.append(_evals_to(r, fn.f_opt + tol))
                    finals.append(r.fun - fn.f_opt)
                reached = sum(e is not None for e in evals)
                med = np.median([e if e is not None else budget for e in evals])
                out.append(
                    f"| {name} ({dim}, {budget}, {tol:g}) | {label} | {med:.0f} | {reached}/{seeds} | "
                    f"{np.median(finals):.3g} |"
                )
            shared.close()
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--skip-ablation", action="store_true")
    args = ap.parse_args(argv)
    print("## Seed experiment: 2-D Rosenbrock from (-1.2, 1), 500 iterations\n")
    print(seed_experiment())
    print("\n## engine='auto' beside scipy L-BFGS-B (analytic gradient)\n")
    print(auto_vs_scipy())
    if not args.skip_ablation:
        print(f"\n## Ablation, {args.seeds} seeds each\n")
        print(ablation(args.seeds))


if __name__ == "__main__":
    main()
