"""Benchmark the health monitor: time per observe, and its share of a cheap L-BFGS loop.

Run ``python -m nef_agents.bench.health``. Prints two markdown tables:

1. microseconds per :meth:`HealthMonitor.observe` at d = 2, 10, 100, 1000
   (window 20, with a gradient, meta-learner on), on a noisy descent;
2. the monitor's share of a whole loop: ``scipy.optimize.minimize(method=
   "L-BFGS-B")`` on the numpy Rosenbrock function, whose callback hands the
   current x, f and gradient to ``observe``. Monitor time and total wall time
   are measured side by side in the same runs; share = monitor / total.

Timings use one BLAS thread (the module re-executes itself with
``OPENBLAS_NUM_THREADS=1`` etc. unless they are set).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize, rosen, rosen_der

from nef_agents.health import HealthMonitor

_BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def time_observe(d: int, *, window: int = 20, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Microseconds per ``observe`` once the window is full: (median, min) over 10 batches.

    The median is the typical cost; the min is the least disturbed by other
    processes on a shared machine.
    """
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n + window, d)).cumsum(axis=0) * 0.1
    fs = np.cumsum(rng.normal(-0.2, 1.0, size=n + window)) + 1e3
    gs = rng.normal(size=(n + window, d))
    monitor = HealthMonitor(window=window)
    for i in range(window):
        monitor.observe(i, i, float(fs[i]), xs[i], gs[i])
    batch = max(n // 10, 1)
    means = []
    for b in range(10):
        lo = window + b * batch
        start = time.perf_counter()
        for i in range(lo, lo + batch):
            monitor.observe(i, i, float(fs[i]), xs[i], gs[i])
        means.append((time.perf_counter() - start) / batch * 1e6)
    return float(np.median(means)), min(means)


def _lbfgs_run(x0: np.ndarray) -> tuple[int, float, float]:
    """One L-BFGS-B run on Rosenbrock from ``x0``: (iterations, total s, monitor s)."""
    monitor = HealthMonitor()
    cache: dict[str, object] = {}
    nfev = iters = 0
    monitor_time = 0.0

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

    t0 = time.perf_counter()
    minimize(fun, x0, jac=True, method="L-BFGS-B", callback=callback, options={"maxiter": 5000})
    return iters, time.perf_counter() - t0, monitor_time


def lbfgs_share(d: int, *, runs: int = 20, seed: int = 0) -> dict[str, float]:
    """L-BFGS-B on d-D Rosenbrock, ``runs`` random starts in [-2, 2]^d, monitor in the callback.

    Returns iterations per run, total and monitor microseconds per iteration,
    and the monitor's share of the total wall time of the same runs.
    """
    rng = np.random.default_rng(seed)
    iters, total, mon = 0, 0.0, 0.0
    for _ in range(runs):
        i, t, m = _lbfgs_run(rng.uniform(-2.0, 2.0, size=d))
        iters, total, mon = iters + i, total + t, mon + m
    return {
        "iterations": iters / runs,
        "total_us": total / iters * 1e6,
        "monitor_us": mon / iters * 1e6,
        "share": mon / total,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Print the two tables."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="observe calls timed per dimension")
    parser.add_argument("--runs", type=int, default=20, help="L-BFGS runs per dimension")
    args = parser.parse_args(argv)

    print("| d | window | us per observe (median of 10 batches) | fastest batch |")
    print("|---:|---:|---:|---:|")
    for d in (2, 10, 100, 1000):
        med, best = time_observe(d, n=args.n)
        print(f"| {d} | 20 | {med:.1f} | {best:.1f} |")
    print()
    print(
        "| Rosenbrock d | L-BFGS-B iters/run | loop us/iter (incl. monitor) "
        "| monitor us/iter | rest of loop us/iter | monitor share |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for d in (2, 10, 100):
        r = lbfgs_share(d, runs=args.runs)
        print(
            f"| {d} | {r['iterations']:.0f} | {r['total_us']:.1f} | {r['monitor_us']:.1f} "
            f"| {r['total_us'] - r['monitor_us']:.1f} | {100 * r['share']:.1f}% |"
        )
    print()
    print(
        "Share = monitor time / total wall time of the same minimize() calls. A 5% share "
        "needs the rest of an iteration to cost at least 19x the monitor's time."
    )


if __name__ == "__main__":
    # One BLAS thread: on a shared machine, threaded BLAS on tiny arrays
    # spin-waits and makes timings swing by 100x. The variables only take
    # effect before numpy loads, so re-run this module once with them set.
    if any(v not in os.environ for v in _BLAS_THREADS):
        env = {**os.environ, **{v: os.environ.get(v, "1") for v in _BLAS_THREADS}}
        os.execve(
            sys.executable, [sys.executable, "-m", "nef_agents.bench.health", *sys.argv[1:]], env
        )
    main()
