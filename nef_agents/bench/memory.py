"""Benchmark of the SQLite memory store.

``python -m nef_agents.bench.memory [--records N] [--queries Q] [--batch B]``

Inserts N random-walk patterns (length 64, levels short + ultra, with payload
and health) in batches into a temporary store, then runs Q random k=5
``short`` queries under the root and reports batched insert throughput
(pattern extraction included), wall-clock query latency p50/p95 (and the
query thread's CPU time, which other processes on the machine do not
inflate), file size per record after VACUUM, and the fraction of candidates
the SAX index pruned (records never fetched / records under the prefix), as a
Markdown table with the targets (insert >= 5,000 records/s, p95 <= 5 ms,
pruned >= 90 %).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from nef_agents.memory import MemoryStore

PATHS = ("optimization/health_analytics/novel", "optimization/health_analytics/known",
         "optimization/engines/adam", "optimization/engines/lbfgs")  # fmt: skip
ACTIONS = ("continue", "rescale_step", "switch_engine", "restart")


def random_walks(rng: np.random.Generator, count: int, length: int) -> np.ndarray:
    """``count`` random walks of ``length`` standard-normal steps."""
    return rng.standard_normal((count, length)).cumsum(axis=1)


def run(records: int = 100_000, queries: int = 1_000, batch: int = 1_000, length: int = 64,
        k: int = 5, seed: int = 0) -> dict[str, float]:  # fmt: skip
    """Run the benchmark; return the measured numbers."""
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite"
        with MemoryStore(path) as store:
            t_insert = 0.0
            for start in range(0, records, batch):
                n = min(batch, records - start)
                curves = random_walks(rng, n, length)
                items = [
                    {"path": PATHS[(start + i) % len(PATHS)], "curve": curves[i],
                     "levels": ("short", "ultra"), "run_id": f"run-{(start + i) // 500}",
                     "payload": {"action": ACTIONS[i % len(ACTIONS)], "outcome": float(rng.normal())},
                     "health": rng.random(5)}
                    for i in range(n)
                ]  # fmt: skip
                t0 = time.perf_counter()
                store.store_many(items)
                t_insert += time.perf_counter() - t0
            store.vacuum()
            size = os.path.getsize(path)
            qcurves = random_walks(rng, queries, length)
            store.query("", qcurves[0], k=k)  # warm the word cache once
            lat, cpu, pruned = [], [], []
            for q in qcurves:
                c0, t0 = time.thread_time(), time.perf_counter()
                store.query("", q, k=k)
                lat.append(time.perf_counter() - t0)
                cpu.append(time.thread_time() - c0)
                pruned.append(store.last_query_stats["pruned"])
    lat_ms, cpu_ms = np.array(lat) * 1e3, np.array(cpu) * 1e3
    return {
        "records": records,
        "insert_rps": records / t_insert,
        "p50_ms": float(np.percentile(lat_ms, 50)),
        "p95_ms": float(np.percentile(lat_ms, 95)),
        "cpu_p50_ms": float(np.percentile(cpu_ms, 50)),
        "cpu_p95_ms": float(np.percentile(cpu_ms, 95)),
        "load_avg": os.getloadavg()[0],
        "bytes_per_record": size / records,
        "pruned": float(np.mean(pruned)),
        "pruned_min": float(np.min(pruned)),
    }


def table(res: dict[str, float]) -> str:
    """Markdown table of the results with targets."""
    ok = lambda b: "yes" if b else "**NO**"  # noqa: E731
    rows = [
        ("insert throughput (batched)", f"{res['insert_rps']:,.0f} records/s", ">= 5,000", ok(res["insert_rps"] >= 5000)),
        ("query k=5 latency p50", f"{res['p50_ms']:.2f} ms", "", ""),
        ("query k=5 latency p95", f"{res['p95_ms']:.2f} ms", "<= 5 ms", ok(res["p95_ms"] <= 5)),
        ("query k=5 CPU time p50 / p95", f"{res['cpu_p50_ms']:.2f} / {res['cpu_p95_ms']:.2f} ms", "", ""),
        ("file size per record", f"{res['bytes_per_record']:.0f} bytes", "", ""),
        ("candidates pruned (mean)", f"{res['pruned']:.2%}", ">= 90%", ok(res["pruned"] >= 0.9)),
        ("candidates pruned (worst query)", f"{res['pruned_min']:.2%}", "", ""),
    ]  # fmt: skip
    head = (
        f"Memory benchmark: {res['records']:,} records (short + ultra), random walks; "
        f"1-min load average {res['load_avg']:.1f} on {os.cpu_count()} CPUs"
    )
    out = [head, "",
           "| metric | value | target | met |", "|---|---:|---:|:---:|"]  # fmt: skip
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(table(run(args.records, args.queries, args.batch, seed=args.seed)))


if __name__ == "__main__":
    main()
