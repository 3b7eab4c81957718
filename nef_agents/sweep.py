"""Sweeps: many independent framework runs on a process pool or a Dask cluster.

A task is (scenario file, problem index, seed). A worker opens a read-only
snapshot of the memory store, runs the framework with the memory gateway in
``collect`` mode (its writes are kept, not written) and returns its summary
and the records it learned. The driver alone writes those records to the
store, in one transaction per task, because SQLite takes one writer well and
several poorly, and never over a network file system.

The same task function runs on a local ``ProcessPoolExecutor`` (default) or,
when a scheduler address is given, on ``dask.distributed`` (the optional
``distributed`` extra): scaling out changes a flag, not code. With Dask the
workers must see the scenario file and the snapshot at the same paths (a
shared folder), and the package must be installed on them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nef_agents.errors import ConfigError
from nef_agents.memory import MemoryStore, default_store_path
from nef_agents.memory.codec import to_jsonable
from nef_agents.memory.gateway import MemoryGateway
from nef_agents.runner import framework_run, make_run_id
from nef_agents.scenario import load_scenario, parse_seeds


@dataclass(frozen=True)
class SweepTask:
    """One framework run: the scenario file, which of its problems, the seed, the memory snapshot."""

    scenario_path: str
    problem_index: int
    seed: int
    snapshot: str | None
    run_id: str


def run_task(task: SweepTask) -> dict[str, Any]:
    """Worker side: run one task against a read-only snapshot; return summary and learned records."""
    sc = load_scenario(task.scenario_path)
    spec = sc.problems()[task.problem_index]
    store = MemoryStore(task.snapshot, readonly=True) if task.snapshot else None
    try:
        if store is None:
            from nef_agents.memory import InMemoryStore

            gateway = MemoryGateway(InMemoryStore(), mode="collect", run_id=task.run_id)
        else:
            gateway = MemoryGateway(store, mode="collect", run_id=task.run_id)
        res = framework_run(sc, spec, task.seed, memory=gateway, log=None, run_id=task.run_id)
    finally:
        if store is not None:
            store.close()
    learned = [{**item, "curve": np.asarray(item["curve"]).tolist(),
                "health": None if item["health"] is None else np.asarray(item["health"]).tolist()}
               for item in res.learned_records]
    return {
        "task": asdict(task), "problem": spec, "fun": float(res.fun), "nfev": int(res.nfev),
        "evals_to_target": res.get("evals_to_target"), "pauses": len(res.pauses), "decisions": len(res.decisions),
        "actions": [d["action"] for d in res.decisions], "wall": float(res.get("wall", 0.0)), "learned": learned,
    }


def _executor_map(fn: Callable[[SweepTask], dict[str, Any]], tasks: Sequence[SweepTask], workers: int | None,
                  scheduler: str | None, on_done: Callable[[dict[str, Any]], None] | None) -> list[dict[str, Any]]:
    if scheduler:
        try:
            from dask.distributed import Client
            from dask.distributed import as_completed as dask_completed
        except ImportError:
            raise ConfigError("`--scheduler` needs dask.distributed: pip install 'nef_agents[distributed]'") from None
        with Client(scheduler) as client:
            futures = client.map(fn, list(tasks), pure=False)
            out = []
            for fut in dask_completed(futures):
                r = fut.result()
                out.append(r)
                if on_done:
                    on_done(r)
            return out
    out = []
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        futures = [pool.submit(fn, t) for t in tasks]
        for fut in as_completed(futures):
            r = fut.result()
            out.append(r)
            if on_done:
                on_done(r)
    return out


def sweep(scenario_path: str | Path, *, seeds: Any = None, memory: str | Path | None = None, learn: bool = True,
          workers: int | None = None, scheduler: str | None = None, out_dir: str | Path | None = None,
          on_done: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run the scenario's framework for every (problem, seed) in parallel; write learned records once.

    ``memory``: the store (default as for ``nef run``); workers read a snapshot
    copied before the sweep, so every task sees the same memory. ``learn``:
    write the learned records to the store afterwards (the driver is the only
    writer). Returns and writes ``<out_dir>/sweep.json`` with per-task results
    and per-problem medians.
    """
    sc = load_scenario(scenario_path)  # validates before anything is created
    seed_list = parse_seeds(seeds) if seeds is not None else list(sc.seeds)
    mem_path = default_store_path(memory or sc.framework.memory.path)
    store = MemoryStore(mem_path)
    sweep_id = make_run_id()
    out = Path(out_dir or sc.outputs.dir or "logs") / f"sweep-{sweep_id}"
    with tempfile.TemporaryDirectory(prefix="nef-sweep-") as tmp:
        snapshot = Path(tmp) / "snapshot.sqlite"
        store.vacuum()  # folds the WAL into the main file so the copy is complete
        shutil.copy(mem_path, snapshot)
        tasks = [SweepTask(str(Path(scenario_path).resolve()), i, s, str(snapshot), f"{sweep_id}-p{i}-s{s}")
                 for i in range(len(sc.problems())) for s in seed_list]
        results = _executor_map(run_task, tasks, workers, scheduler, on_done)
    results.sort(key=lambda r: (r["task"]["problem_index"], r["task"]["seed"]))
    written = 0
    if learn and sc.framework.memory.mode == "rw":
        for r in results:
            if r["learned"]:
                written += len(store.store_many(r.pop("learned")))
            else:
                r.pop("learned")
    else:
        for r in results:
            r.pop("learned")
    store.close()
    summary = {"sweep_id": sweep_id, "scenario": sc.name, "memory": str(mem_path), "tasks": len(tasks),
               "records_written": written, "out_dir": str(out), "per_problem": _medians(results), "results": results}
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(to_jsonable(summary), indent=2, allow_nan=False))
    return summary


def _medians(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by: dict[int, list[dict[str, Any]]] = {}
    for r in results:
        by.setdefault(r["task"]["problem_index"], []).append(r)
    rows = []
    for i, rs in sorted(by.items()):
        hits = [r["evals_to_target"] for r in rs if r["evals_to_target"] is not None]
        rows.append({"problem_index": i, "problem": rs[0]["problem"], "runs": len(rs),
                     "median_fun": float(np.median([r["fun"] for r in rs])),
                     "median_nfev": float(np.median([r["nfev"] for r in rs])),
                     "reached_target": len(hits), "median_evals_to_target": float(np.median(hits)) if hits else None})
    return rows
