"""COCO/BBOB benchmark harness: every optimizer, the same budget, every evaluation counted.

A task is one (optimizer, function, dimension, instance). The worker rebuilds
the cocoex problem (problems are not picklable), wraps it in a
:class:`~nef_agents.bench.peers.Recorder` that counts every call, keeps the
best-so-far trace and raises :class:`~nef_agents.bench.peers.BudgetReached`
on the first call past
``budget = budget_multiplier * D``, and calls the optimizer's runner from
:data:`~nef_agents.bench.peers.OPTIMIZERS` with ``x0 = problem.initial_solution``
and the box ``[lower_bounds, upper_bounds]`` (``[-5, 5]^D`` on bbob).

Instances are instance *numbers* as in the problem ids (``bbob_f001_i03_d05``),
selected with the suite option ``instances: ...``; cocoex 2.8's
``instance_indices`` would map 6..15 to instance numbers 71..80.

f_opt: cocoex 2.8 exposes neither f_opt nor the final target value (its
``Problem._f0`` refers to a missing attribute). :func:`~nef_agents.bench.ecdf.bbob_fopt` recomputes it
with BBOB's own recipe; the test suite checks it against the ``Fopt`` that
cocoex's observer writes into its data files, and every task cross-checks it
with ``problem.final_target_hit`` (reached f_opt + 1e-8 or not).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nef_agents.bench import ecdf
from nef_agents.bench.ecdf import bbob_fopt
from nef_agents.bench.peers import (
    OPTIMIZERS,
    PEER_NAMES,
    BudgetReached,
    Recorder,
    check_optimizers,
)
from nef_agents.errors import ConfigError

log = logging.getLogger(__name__)

SUITE = "bbob"
BBOB_DIMS = (2, 3, 5, 10, 20, 40)
DEFAULT_OPTIMIZERS: tuple[str, ...] = ("nef", *PEER_NAMES)
DEFAULTS: dict[str, Any] = {
    "dims": (2, 5, 10),
    "instances": (1, 2, 3),
    "functions": tuple(range(1, 25)),
    "budget_multiplier": 1000,
}
QUICK: dict[str, Any] = {
    "dims": (2,),
    "instances": (1,),
    "functions": (1, 6, 10, 15, 20),
    "budget_multiplier": 100,
}
Progress = Callable[[int, int, dict], None]


@dataclass(frozen=True)
class Task:
    """One run. ``memory`` is ``(mode, path)``: mode ``fresh`` (empty temporary
    store), ``snapshot`` (temporary copy of the store at path), ``shared`` (the
    store at path itself) or ``none``. Runners without memory ignore it."""

    optimizer: str
    function: int
    dim: int
    instance: int
    budget: int
    seed: int
    label: str = ""
    memory: tuple[str, str | None] = ("fresh", None)


def _snapshot(src: Path, dst: Path) -> None:
    """Consistent copy of an SQLite store (backup API: safe with a WAL journal)."""
    try:
        with closing(sqlite3.connect(f"file:{src}?mode=ro", uri=True)) as s:
            with closing(sqlite3.connect(dst)) as d:
                s.backup(d)
    except sqlite3.DatabaseError:  # not SQLite: a plain copy is the best we can do
        shutil.copy2(src, dst)


@contextmanager
def _task_memory(mode: str, path: str | None) -> Iterator[Path | None]:
    if mode == "none":
        yield None
    elif mode == "shared":
        yield Path(str(path))
    else:
        with tempfile.TemporaryDirectory(prefix="nef-bbob-") as tmp:
            store = Path(tmp) / "nef.sqlite"
            if mode == "snapshot" and path and Path(path).exists():
                _snapshot(Path(path), store)
            yield store


def run_task(task: Task) -> dict:
    """Run one task in this process; returns a JSON-ready dict with the raw trace."""
    import cocoex

    suite = cocoex.Suite(
        SUITE,
        f"instances: {task.instance}",
        f"dimensions: {task.dim} function_indices: {task.function}",
    )
    problem = suite.get_problem_by_function_dimension_instance(
        task.function, task.dim, task.instance
    )
    fopt = bbob_fopt(task.function, task.instance)
    rec, error = Recorder(problem, task.budget), None
    t0 = time.perf_counter()
    with _task_memory(*task.memory) as memory:
        try:
            OPTIMIZERS[task.optimizer](
                rec,
                np.array(problem.initial_solution),
                np.array(problem.lower_bounds),
                np.array(problem.upper_bounds),
                task.budget,
                task.seed,
                memory=memory,
            )
        except BudgetReached:
            pass
        except Exception as exc:  # one broken run must not sink the benchmark
            error = f"{type(exc).__name__}: {exc}"
            log.warning("bbob task %s failed: %s", task, error)
    seconds = time.perf_counter() - t0
    hit = bool(problem.final_target_hit)
    result = {
        **asdict(task),
        "label": task.label or task.optimizer,
        "problem_id": problem.id,
        "fopt": fopt,
        "nfev": rec.nfev,
        "overrun": rec.overrun,
        "best_f": rec.best,
        "best_precision": rec.best - fopt,
        "final_target_hit": hit,
        "fopt_consistent": hit == (rec.best <= fopt + 1e-8),
        "seconds": round(seconds, 4),
        "error": error,
        "trace": rec.trace,
    }
    problem.free()
    return result


def _execute(tasks: Sequence[Task], workers: int, progress: Progress | None) -> list[dict]:
    """Run tasks, the most expensive (largest budget) first so cores stay busy."""
    order = sorted(tasks, key=lambda t: -t.budget)
    results: list[dict] = []

    def done(r: dict) -> None:
        results.append(r)
        if progress is not None:
            progress(len(results), len(order), r)

    if workers <= 1 or len(order) <= 1:
        for t in order:
            done(run_task(t))
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(order))) as pool:
            for fut in as_completed([pool.submit(run_task, t) for t in order]):
                done(fut.result())
    return results


@dataclass
class BenchResult:
    """Raw task results plus their aggregation (see :mod:`nef_agents.bench.ecdf`)."""

    config: dict
    tasks: list[dict]
    summary: dict
    ecdf: dict
    wall_seconds: float
    json_path: Path | None = None
    png_paths: list[Path] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def errors(self) -> list[dict]:
        return [t for t in self.tasks if t["error"]]


def _finish(
    config: dict,
    tasks: list[dict],
    labels: Sequence[str],
    out_dir: Path | None,
    wall: float,
    extra: dict | None = None,
) -> BenchResult:
    rank = {lab: k for k, lab in enumerate(labels)}
    tasks = sorted(
        tasks,
        key=lambda t: (rank.get(t["label"], len(rank)), t["dim"], t["function"], t["instance"]),
    )
    res = BenchResult(
        config, tasks, ecdf.summarize(tasks), ecdf.ecdf_curves(tasks), wall, extra=extra or {}
    )
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for dim in sorted({t["dim"] for t in tasks}):
            res.png_paths.append(ecdf.plot_ecdf(res.ecdf, dim, out_dir / f"ecdf_d{dim}.png"))
        res.json_path = out_dir / "results.json"
        doc = {
            "config": config,
            "wall_seconds": wall,
            "summary": res.summary,
            "ecdf": res.ecdf,
            **res.extra,
            "tasks": tasks,
        }
        tmp = res.json_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, default=float))
        tmp.replace(res.json_path)  # never leave a half-written results file
        (out_dir / "tables.md").write_text(format_tables(res))
    return res


def _ints(
    name: str, values: Iterable[int], allowed: Iterable[int] | None = None
) -> tuple[int, ...]:
    out = tuple(int(v) for v in values)
    if not out:
        raise ConfigError(f"`{name}` must not be empty")
    ok = set(allowed) if allowed is not None else None
    for v in out:
        if (ok is not None and v not in ok) or v < 1:
            raise ConfigError(
                f"`{name}` holds {v}, allowed: {sorted(ok) if ok else 'integers >= 1'}"
            )
    return out


def _seed_for(seed: int, function: int, dim: int, instance: int) -> int:
    """Per-problem seed, shared by all optimizers (common random numbers)."""
    return int(np.random.SeedSequence([seed, function, dim, instance]).generate_state(1)[0])


def _settings(dims, instances, functions, budget_multiplier, quick: bool) -> dict[str, Any]:  # noqa: ANN001
    base = QUICK if quick else DEFAULTS
    given = {
        "dims": dims,
        "instances": instances,
        "functions": functions,
        "budget_multiplier": budget_multiplier,
    }
    s = {k: base[k] if v is None else v for k, v in given.items()}
    s["dims"] = _ints("dims", s["dims"], BBOB_DIMS)
    s["functions"] = _ints("functions", s["functions"], range(1, 25))
    s["instances"] = _ints("instances", s["instances"])
    if not float(s["budget_multiplier"]) > 0:
        raise ConfigError(f"`budget_multiplier` must be > 0, got {s['budget_multiplier']!r}")
    return s


def _tasks(s: dict, optimizer: str, instances: Sequence[int], seed: int, label: str = "",
           memory: tuple[str, str | None] = ("fresh", None)) -> list[Task]:  # fmt: skip
    """Tasks of one optimizer label over ``s``'s dims and functions."""
    return [
        Task(optimizer, f, d, i, max(1, round(s["budget_multiplier"] * d)),
             _seed_for(seed, f, d, i), label, memory)  # fmt: skip
        for d in s["dims"] for f in s["functions"] for i in instances
    ]  # fmt: skip


def _workers(workers: int | None) -> int:
    n = (os.cpu_count() or 1) if workers is None else int(workers)
    if n < 1:
        raise ConfigError(f"`workers` must be >= 1, got {workers!r}")
    return n


def run_bbob(
    dims: Sequence[int] | None = None,
    instances: Sequence[int] | None = None,
    budget_multiplier: float | None = None,
    optimizers: Sequence[str] = DEFAULT_OPTIMIZERS,
    workers: int | None = None,
    out_dir: Path | str | None = Path("bench-out/bbob"),
    functions: Iterable[int] | None = None,
    quick: bool = False,
    progress: Progress | None = None,
    seed: int = 0,
) -> BenchResult:
    """Run ``optimizers`` on bbob: every (function, dim, instance), budget
    ``budget_multiplier * D`` evaluations each.

    ``None`` means the default: dims (2, 5, 10), instances (1, 2, 3), functions
    1..24, multiplier 1000; with ``quick=True``: dims (2,), instance 1,
    functions (1, 6, 10, 15, 20), multiplier 100. ``workers`` processes
    (default: all cores; 1 runs in this process). Writes ``results.json``,
    ``tables.md`` and ``ecdf_d{D}.png`` to ``out_dir`` unless it is None.
    ``progress(done, total, task_result)`` is called as tasks finish.
    """
    s = _settings(dims, instances, functions, budget_multiplier, quick)
    names = tuple(optimizers)
    check_optimizers(names)
    n_workers = _workers(workers)
    tasks = [t for o in names for t in _tasks(s, o, s["instances"], seed)]
    t0 = time.perf_counter()
    results = _execute(tasks, n_workers, progress)
    wall = time.perf_counter() - t0
    config = {**s, "optimizers": names, "workers": n_workers, "seed": seed, "suite": SUITE}
    return _finish(config, results, names, None if out_dir is None else Path(out_dir), wall)


def warm_memory_experiment(
    dims: Sequence[int] = (2, 5),
    functions: Iterable[int] = range(1, 25),
    warm_instances: Sequence[int] = (1, 2, 3),
    eval_instances: Sequence[int] = (4, 5, 6),
    budget_multiplier: float = 1000,
    optimizer: str = "nef",
    store: Path | str | None = None,
    workers: int | None = None,
    out_dir: Path | str | None = Path("bench-out/bbob-warm"),
    seed: int = 0,
    progress: Progress | None = None,
) -> BenchResult:
    """Does a warmed memory help? Ablation of nef's memory on unseen instances.

    Warm phase: ``optimizer`` runs on ``warm_instances`` sequentially in this
    process, all writing to one store (``store``, default
    ``out_dir/warm-memory.sqlite``; SQLite takes one writer). Evaluation phase,
    in parallel: on ``eval_instances``, label ``<optimizer>+warm`` gets a private
    snapshot copy of the warmed store per task, ``<optimizer>+empty`` an empty
    one; same seeds for both. What the evaluation runs learn is discarded.

    NOTE: needs ``nef_agents.minimize(..., memory=path)``; untested until it exists.
    """
    check_optimizers([optimizer])
    s = _settings(dims, eval_instances, functions, budget_multiplier, quick=False)
    warm = _ints("warm_instances", warm_instances)
    out = None if out_dir is None else Path(out_dir)
    store_path = Path(store) if store else (out or Path(tempfile.mkdtemp())) / "warm-memory.sqlite"
    store_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    warm_tasks = _tasks(
        s, optimizer, warm, seed, f"{optimizer} (warm-up)", ("shared", str(store_path))
    )
    warm_results = _execute(warm_tasks, 1, progress)  # one writer for the one store
    labels = (f"{optimizer}+warm", f"{optimizer}+empty")
    memories = (("snapshot", str(store_path)), ("fresh", None))
    tasks = [
        t
        for lab, mem in zip(labels, memories, strict=True)
        for t in _tasks(s, optimizer, s["instances"], seed, lab, mem)
    ]
    results = _execute(tasks, _workers(workers), progress)
    wall = time.perf_counter() - t0
    config = {**s, "warm_instances": warm, "optimizers": labels, "store": str(store_path)}
    return _finish(config, results, labels, out, wall, {"warm_tasks": warm_results})


def format_tables(result: BenchResult) -> str:
    """Markdown report: settings line, overall and per-group tables, problems found."""
    c = result.config
    head = (
        f"bbob: dims {list(c['dims'])}, instances {list(c['instances'])}, "
        f"{len(c['functions'])} functions, budget {c['budget_multiplier']:g}·D, "
        f"{len(result.tasks)} runs, wall {result.wall_seconds:.1f} s\n\n"
    )
    notes = []
    if result.errors:
        first = result.errors[0]
        notes.append(
            f"- {len(result.errors)} runs failed, e.g. {first['label']} on "
            f"{first['problem_id']}: {first['error']}"
        )
    bad = [t for t in result.tasks if not t["fopt_consistent"]]
    if bad:
        notes.append(f"- f_opt disagrees with cocoex's final_target_hit on {len(bad)} runs")
    over = [t for t in result.tasks if t["label"].startswith("nef") and t["overrun"]]
    if over:
        notes.append(f"- nef tried to evaluate past its budget in {len(over)} runs (stopped)")
    tail = ("\n" + "\n".join(notes) + "\n") if notes else ""
    return head + ecdf.markdown_tables(result.summary) + tail


def _parse_ints(text: str) -> tuple[int, ...]:
    """``"1-3,5"`` -> (1, 2, 3, 5)."""
    out: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, _, hi = part.partition("-")
        try:
            out.extend(range(int(lo), int(hi or lo) + 1))
        except ValueError as exc:
            raise ConfigError(f"cannot read {text!r} as integers like 1-3,5") from exc
    return tuple(out)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m nef_agents.bench.bbob``; exit 0 ok, 2 bad input, 1 failure."""
    p = argparse.ArgumentParser(
        prog="python -m nef_agents.bench.bbob", description=__doc__.split("\n")[0]
    )
    p.add_argument("--dims", type=str, help="e.g. 2,5,10 (default 2,5,10; quick 2)")
    p.add_argument("--instances", type=str, help="instance numbers, e.g. 1-3")
    p.add_argument("--functions", type=str, help="bbob function ids, e.g. 1-24")
    p.add_argument("--budget-multiplier", type=float, help="evaluations per dimension (1000)")
    p.add_argument("--optimizers", type=str, default=",".join(DEFAULT_OPTIMIZERS))
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--out", type=Path, default=Path("bench-out/bbob"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args(argv)

    def progress(done: int, total: int, r: dict) -> None:
        if done == total or done % max(1, total // 20) == 0:
            msg = f"[{done}/{total}] {r['label']} {r['problem_id']} {r['seconds']:.2f}s"
            print(msg, file=sys.stderr)

    try:
        res = run_bbob(
            dims=_parse_ints(a.dims) if a.dims else None,
            instances=_parse_ints(a.instances) if a.instances else None,
            functions=_parse_ints(a.functions) if a.functions else None,
            budget_multiplier=a.budget_multiplier,
            optimizers=tuple(o for o in a.optimizers.split(",") if o),
            workers=a.workers,
            out_dir=a.out,
            quick=a.quick,
            progress=progress,
            seed=a.seed,
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - CLI boundary: one line, exit 1
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(format_tables(res))
    print(f"results: {res.json_path}\nplots: {', '.join(map(str, res.png_paths))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
