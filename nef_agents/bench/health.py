"""Benchmark the health monitor: time per observe, and its share of a cheap L-BFGS loop.

Run ``python -m nef_agents.bench.health``. Prints two markdown tables:

1. microseconds per :meth:`HealthMonitor.observe` at d = 2, 10, 100, 1000
   (window 20, with a gradient, meta-learner on), on a noisy descent;
2. the monitor's share of a whole loop: ``scipy.optimize.minimize(method=
   "L-BFGS-B")`` on the numpy Rosenbrock function, whose callback hands the
   current x, f and gradient to ``observe``. Monitor time and total wall time
   are measured side by side in the same runs; share = monitor / total.
"""

from __future__ import annotations

import os

# One BLAS thread: on a shared machine, threaded BLAS on tiny arrays spin-waits
# and makes timings swing by 100x. Must be set before numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402

import numpy as np  # noqa: E402
from scipy.optimize import minimize, rosen, rosen_der  # noqa: E402

from nef_agents.health import HealthMonitor  # noqa: E402


def time_observe(d: int, *, window: int = 20, n: int = 2000, seed: int = 0) -> float:
    """Mean wall time of one ``observe`` in microseconds (after the window is full)."""
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n + window, d)).cumsum(axis=0) * 0.1
    fs = np.cumsum(rng.normal(-0.2, 1.0, size=n + window)) + 1e3
    gs = rng.normal(size=(n + window, d))
    monitor = HealthMonitor(window=window)
    for i in range(window):
        monitor.observe(i, i, float(fs[i]), xs[i], gs[i])
    start = time.perf_counter()
    for i in range(window, window + n):
        monitor.observe(i, i, float(fs[i]), xs[i], gs[i])
    return (time.perf_counter() - start) / n * 1e6


def lbfgs_share(d: int, *, runs: int = 20, seed: int = 0) -> dict[str, float]:
    """Run L-BFGS-B on d-D Rosenbrock ``runs`` times with the monitor in the callback.

    Returns iterations, total and monitor microseconds per iteration, and the
    monitor's share of the total wall time.
    """
    rng = np.random.default_rng(seed)
    total = monitor_time = 0.0
    iters = 0
    for _ in range(runs):
        monitor = HealthMonitor()
        cache: dict[str, object] = {}
        nfev = 0

        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
            nonlocal nfev
            f, g = float(rosen(x)), rosen_der(x)
            cache["x"], cache["f"], cache["g"] = x.copy(), f, g
            nfev += 1
            return f, g

        def callback(intermediate_result) -> None:  # scipy passes an OptimizeResult by this name
            nonlocal monitor_time, iters
            x = intermediate_result.x
            if not np.array_equal(cache.get("x"), x):  # the loop's cost, not the monitor's
                fun(x)
            t0 = time.perf_counter()
            monitor.observe(iters, nfev, cache["f"], x, cache["g"])
            monitor_time += time.perf_counter() - t0
            iters += 1

        x0 = rng.uniform(-2.0, 2.0, size=d)
        t0 = time.perf_counter()
        minimize(fun, x0, jac=True, method="L-BFGS-B", callback=callback, options={"maxiter": 5000})
        total += time.perf_counter() - t0
    return {
        "iterations": iters / runs,
        "total_us": total / iters * 1e6,
        "monitor_us": monitor_time / iters * 1e6,
        "share": monitor_time / total,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Print the two tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="observe calls timed per dimension")
    parser.add_argument("--runs", type=int, default=20, help="L-BFGS runs per dimension")
    args = parser.parse_args(argv)

    print("| d | window | us per observe |")
    print("|---:|---:|---:|")
    for d in (2, 10, 100, 1000):
        print(f"| {d} | 20 | {time_observe(d, n=args.n):.1f} |")
    print()
    print("| Rosenbrock d | L-BFGS-B iterations/run | loop us/iter (incl. monitor) | monitor us/iter | monitor share |")
    print("|---:|---:|---:|---:|---:|")
    for d in (2, 10, 100):
        r = lbfgs_share(d, runs=args.runs)
        print(
            f"| {d} | {r['iterations']:.0f} | {r['total_us']:.1f} | {r['monitor_us']:.1f} "
            f"| {100 * r['share']:.1f}% |"
        )


if __name__ == "__main__":
    main()
