"""Run a scenario: the framework and every baseline, for every problem and seed.

:func:`framework_run` is the one function that runs the framework for one seed;
it passes the scenario, its path and the problem spec to ``minimize`` as
``context`` so the decision log's ``run_started`` event holds everything a
replay needs (:func:`framework_kwargs` rebuilds the call from that event).
:func:`baseline_run` runs one baseline under the same budget, counting every
evaluation. :func:`run_scenario` runs them all in this process (the memory
store has a single writer) and writes the run folder through
:mod:`nef_agents.report`.
"""

from __future__ import annotations

import functools
import math
import os
import secrets
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult

from nef_agents import functions, report
from nef_agents.errors import ConfigError
from nef_agents.memory import MemoryStore, default_store_path
from nef_agents.optimizer import minimize
from nef_agents.scenario import (
    ENGINE_BASELINES,
    SCIPY_METHODS,
    Scenario,
    parse_seeds,
    resolve_import,
    scenario_from_dict,
)

GRADIENT_METHODS = {"L-BFGS-B", "BFGS", "CG", "TNC", "SLSQP"}
Progress = Callable[[int, int, str], None]


@dataclass
class Objective:
    """A problem spec made concrete for one seed: callables, start, box and targets."""

    fun: Callable[..., Any]
    jac: Callable[..., Any] | None
    x0: np.ndarray
    bounds: list[tuple[float, float]] | None
    adjustable: tuple[str, ...] = ()
    f_target: float | None = None
    f_opt: float | None = None
    close: Callable[[], None] = field(default=lambda: None)


def build_objective(sc: Scenario, spec: Mapping[str, Any], seed: int) -> Objective:
    """Objective, start point and bounds of ``spec`` for ``seed`` (x0 from ``init`` is seeded)."""
    kind, dim = spec["kind"], spec["dimension"]
    box: tuple[np.ndarray, np.ndarray] | None = None
    if kind == "bbob":
        import cocoex  # imported late: only bbob scenarios need it

        from nef_agents.bench.bbob import bbob_fopt

        suite = cocoex.Suite(spec["suite"], f"instances: {spec['instance']}", "")
        prob = suite.get_problem_by_function_dimension_instance(spec["function"], dim, spec["instance"])
        box = (np.array(prob.lower_bounds, float), np.array(prob.upper_bounds, float))
        f_opt = bbob_fopt(spec["function"], spec["instance"])
        obj = Objective(lambda x: float(prob(x)), None, np.array(prob.initial_solution, float),
                        list(zip(*box, strict=True)), f_opt=f_opt, close=prob.free)
        obj._keep = suite  # type: ignore[attr-defined]  # the problem must not outlive its suite
        if sc.target is not None:
            obj.f_target = f_opt + sc.target  # for bbob, target is a precision above f_opt
    elif kind == "function":
        fn = functions.get(spec["function"], dim=dim, **spec.get("params", {}))
        box = (np.full(fn.dim, fn.bounds[0]), np.full(fn.dim, fn.bounds[1]))
        adj = tuple(sc.objective.adjustable) if sc.objective.adjustable is not None else fn.adjustable
        obj = Objective(fn.f, fn.grad, np.zeros(fn.dim), None, adj, sc.target, fn.f_opt)
    else:
        folder = sc.source.parent if sc.source else None
        params = spec.get("params") or {}
        fun = resolve_import(spec["import"], folder)
        jac = resolve_import(spec["gradient"], folder) if spec.get("gradient") else None
        if params:
            fun = functools.partial(fun, **params)
            jac = functools.partial(jac, **params) if jac is not None else None
        obj = Objective(fun, jac, np.zeros(dim), None, tuple(sc.objective.adjustable or ()), sc.target)
    if sc.bounds is not None:
        pairs = sc.bounds * dim if len(sc.bounds) == 1 else sc.bounds
        obj.bounds = [(float(lo), float(hi)) for lo, hi in pairs]
        box = (np.array([p[0] for p in obj.bounds]), np.array([p[1] for p in obj.bounds]))
    obj.x0 = _start(sc, dim, box, seed, obj.x0 if kind == "bbob" else None)
    return obj


def _start(sc: Scenario, dim: int, box: tuple[np.ndarray, np.ndarray] | None, seed: int,
           default: np.ndarray | None) -> np.ndarray:
    if sc.x0 is not None:
        return np.array(sc.x0, float)
    ini = sc.init
    if ini is None:
        if default is not None:
            return default
        rule = "uniform" if sc.objective.function is not None else "center"
        lo, hi = box if box is not None else (None, None)
    else:
        if ini.rule == "fixed":
            return np.broadcast_to(np.array(ini.value, float), (dim,)).copy()
        rule = ini.rule
        lo = np.full(dim, ini.low) if ini.low is not None else (box[0] if box is not None else None)
        hi = np.full(dim, ini.high) if ini.high is not None else (box[1] if box is not None else None)
    if lo is None or hi is None or not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ConfigError(f"init rule {rule!r} needs a finite box: give bounds, init.low/high or x0")
    if rule == "center":
        return (lo + hi) / 2.0
    return np.random.default_rng(seed).uniform(lo, hi)


def framework_kwargs(sc: Scenario, spec: Mapping[str, Any], obj: Objective, seed: int) -> dict[str, Any]:
    """Every ``minimize`` argument of the framework run except memory, log, run id and callback."""
    fw = sc.framework
    options: dict[str, Any] = {name: dict(opts) for name, opts in fw.options.items()}
    options["framework"] = fw.settings()
    return dict(
        fun=obj.fun, x0=obj.x0, jac=obj.jac, bounds=obj.bounds, engine=fw.engine, budget=sc.budget,
        tol=fw.tol, seed=seed, options=options, agents=fw.agents, memory_mode=fw.memory.mode,
        adjustable=obj.adjustable, pause=fw.pause.model_dump(exclude_none=True),
        context={"scenario": sc.to_context(), "scenario_path": str(sc.source) if sc.source else None,
                 "problem": dict(spec), "optimizer": "framework"},
    )


def from_context(event: Mapping[str, Any]) -> tuple[Scenario, dict[str, Any]]:
    """(scenario, problem spec) from a logged ``run_started`` event of a framework run."""
    path = event.get("scenario_path")
    return scenario_from_dict(dict(event["scenario"]), path), dict(event["problem"])


def framework_run(sc: Scenario, problem_spec: Mapping[str, Any], seed: int, *, memory: Any = None,
                  log: Any = None, run_id: str | None = None) -> OptimizeResult:
    """The framework on one problem for one seed; deterministic given the seed and the memory's answers.

    The result also carries ``trajectory`` (rows of iteration, nfev, f, best_f,
    x), ``evals_to_target``, ``f_target`` and ``wall``.
    """
    obj = build_objective(sc, problem_spec, seed)
    trace = _Trace()
    t0 = time.perf_counter()
    try:
        res = minimize(**framework_kwargs(sc, problem_spec, obj, seed), memory=memory, log=log, run_id=run_id,
                       callback=trace)
    finally:
        obj.close()
    return _finish(res, trace.rows, obj, time.perf_counter() - t0)


def baseline_run(sc: Scenario, problem_spec: Mapping[str, Any], name: str, seed: int) -> OptimizeResult:
    """One baseline under the scenario's budget: a project engine without agents, or ``scipy:<method>``."""
    obj = build_objective(sc, problem_spec, seed)
    opts = dict(sc.baseline_options.get(name, {}))
    t0 = time.perf_counter()
    try:
        if name in ENGINE_BASELINES:
            trace = _Trace()
            res = minimize(obj.fun, obj.x0, jac=obj.jac, bounds=obj.bounds, engine=name, budget=sc.budget,
                           seed=seed, agents=False, options={name: opts} if opts else None, callback=trace)
            rows = trace.rows
        elif name.startswith("scipy:") and name[6:] in SCIPY_METHODS:
            res, rows = _scipy_run(name[6:], obj, sc.budget, opts)
        else:
            raise ConfigError(f"unknown baseline {name!r}")
    finally:
        obj.close()
    return _finish(res, rows, obj, time.perf_counter() - t0)


class _Trace:
    """``minimize`` callback keeping one row per iteration."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, float, float, np.ndarray]] = []

    def __call__(self, intermediate_result: OptimizeResult) -> None:
        r = intermediate_result
        self.rows.append((int(r.nit), int(r.nfev), float(r.fun), float(r.best_fun), np.array(r.x, float)))


class _BudgetStop(Exception):
    """Raised by the counting wrapper on the first call past the budget (scipy has no hard cap)."""


class _Counted:
    """Counts evaluations, sums named terms, projects onto the box, keeps the best; failures become inf."""

    def __init__(self, fun: Callable[..., Any], budget: int, bounds: list[tuple[float, float]] | None) -> None:
        self.fun, self.budget = fun, budget
        self.lo, self.hi = (None, None) if bounds is None else (np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds]))
        self.nfev, self.failed = 0, 0
        self.best_f, self.best_x = math.inf, None
        self.improvements: list[tuple[int, float]] = []
        self.recent: dict[bytes, float] = {}  # last values by point, for the trajectory's f

    def __call__(self, x: Any) -> float:
        if self.nfev >= self.budget:
            raise _BudgetStop
        x = np.asarray(x, float)
        if self.lo is not None:
            x = np.clip(x, self.lo, self.hi)
        self.nfev += 1
        try:
            v = self.fun(x.copy())
            f = float(sum(v.values())) if isinstance(v, Mapping) else float(v)
        except Exception:  # the objective's errors are data, as in Problem
            f = math.nan
        if not math.isfinite(f):
            self.failed += 1
            f = math.inf
        if f < self.best_f:
            self.best_f, self.best_x = f, x.copy()
            self.improvements.append((self.nfev, f))
        if len(self.recent) > 256:
            self.recent.clear()
        self.recent[x.tobytes()] = f
        return f


def _scipy_run(method: str, obj: Objective, budget: int, opts: dict[str, Any]) -> tuple[OptimizeResult, list]:
    from scipy.optimize import minimize as scipy_minimize

    caps, takes_bounds = SCIPY_METHODS[method]
    for key in caps:
        opts[key] = min(int(opts.get(key, budget)), budget)
    counted = _Counted(obj.fun, budget, obj.bounds)
    jac = None
    if method in GRADIENT_METHODS and obj.jac is not None:
        user_jac = obj.jac

        def jac(x: np.ndarray) -> np.ndarray:
            g = user_jac(np.asarray(x, float))
            return np.asarray(sum(g.values()) if isinstance(g, Mapping) else g, float)

    rows: list[tuple[int, int, float, float, np.ndarray]] = []

    def callback(xk: np.ndarray, *_: Any) -> None:
        x = np.asarray(xk, float)
        rows.append((len(rows) + 1, counted.nfev, counted.recent.get(x.tobytes(), math.nan), counted.best_f, x.copy()))

    message, status = "", 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's warnings about bounds/convergence are reported in `message`
        try:
            r = scipy_minimize(counted, obj.x0, jac=jac, method=method, bounds=obj.bounds if takes_bounds else None,
                               options=opts, callback=callback)
            message, status = str(r.message), int(r.status)
        except _BudgetStop:
            message, status = f"evaluation budget of {budget} reached", 1
    x = counted.best_x if counted.best_x is not None else obj.x0
    res = OptimizeResult(x=x, fun=counted.best_f, nit=len(rows), nfev=counted.nfev, status=status, message=message,
                         success=status == 0, failed_evaluations=counted.failed, improvements=counted.improvements,
                         pauses=None, anomalies=None, decisions=[], health=np.zeros((0, 6)), wall_time=None)
    return res, rows


def _finish(res: OptimizeResult, rows: list, obj: Objective, wall: float) -> OptimizeResult:
    res["trajectory"] = rows
    res["wall"] = wall
    res["f_target"] = obj.f_target
    res["f_opt"] = obj.f_opt
    res["evals_to_target"] = None
    if obj.f_target is not None:
        res["evals_to_target"] = next((int(n) for n, f in res.improvements if f <= obj.f_target), None)
    return res


# -- the whole scenario --------------------------------------------------------------------------
class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_scenario`, after the finished runs were written; ``summary`` describes them."""

    def __init__(self, summary: report.RunSummary) -> None:
        super().__init__(f"interrupted; finished runs written to {summary.run_dir}")
        self.summary = summary


def make_run_id() -> str:
    """``YYYYmmdd-HHMMSS-xxxxxx``: sortable by time, unique by the random tail."""
    return f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def run_scenario(sc: Scenario, *, seeds: Any = None, memory: str | os.PathLike[str] | None = None,
                 out_dir: str | os.PathLike[str] | None = None, progress: Progress | None = None,
                 on_result: Callable[[dict[str, Any]], None] | None = None) -> report.RunSummary:
    """Run the framework and every baseline for every problem and seed; write ``<out_dir>/<run_id>/``.

    ``memory``: store path (default: the scenario's ``framework.memory.path``,
    else ``$NEF_MEMORY``, else ``memory/nef.sqlite``). ``out_dir`` defaults to
    the scenario's ``outputs.dir``, else ``logs/``. ``progress(done, total,
    label)`` is called after each run; ``on_result(record)`` with each run's
    record. On KeyboardInterrupt the finished runs are written (summary marked
    ``interrupted``) and :class:`RunInterrupted` (a KeyboardInterrupt) is raised.
    """
    seed_list = sc.seeds if seeds is None else parse_seeds(seeds)
    problems = sc.problems()
    mem_path = default_store_path(memory or sc.framework.memory.path)
    store = MemoryStore(mem_path, readonly=sc.framework.memory.mode == "ro")  # opened before any folder exists
    run_id = make_run_id()
    run_dir = Path(out_dir or sc.outputs.dir or "logs") / run_id
    optimizers = ["framework", *sc.baselines]
    total, done = len(problems) * len(seed_list) * len(optimizers), 0
    records: list[dict[str, Any]] = []
    started = datetime.now().isoformat(timespec="seconds")
    interrupted = False
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
        traj = report.TrajectoryWriter(run_dir / "trajectory.csv" if sc.outputs.trajectory else None)
        try:
            for spec in problems:
                tag = f"-{spec['label']}" if len(problems) > 1 else ""
                for seed in seed_list:
                    for name in optimizers:
                        if name == "framework":
                            res = framework_run(sc, spec, seed, memory=store, log=run_dir / "decisions.jsonl",
                                                run_id=f"{run_id}{tag}-s{seed}")
                        else:
                            res = baseline_run(sc, spec, name, seed)
                        rec = report.record(name, spec, seed, res)
                        traj.write(name, spec["label"], seed, res, framework=name == "framework")
                        records.append(rec)
                        done += 1
                        if on_result is not None:
                            on_result(rec)
                        if progress is not None:
                            progress(done, total, f"{spec['label']} seed {seed} {name}")
        except KeyboardInterrupt:
            interrupted = True
        finally:
            traj.close()
    finally:
        store.close()
    summary = report.write_run(sc, run_dir, records, seeds=seed_list, memory=str(mem_path), started=started,
                               interrupted=interrupted, run_id=run_id)
    if interrupted:
        raise RunInterrupted(summary)
    return summary
