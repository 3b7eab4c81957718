"""Sweeps: parallel workers on a memory snapshot, one writer at the end."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nef_agents.cli import app
from nef_agents.memory import MemoryStore
from nef_agents.sweep import SweepTask, run_task, sweep

SCENARIO = "scenarios/rastrigin-restarts.toml"


def test_sweep_matches_single_tasks_and_writes_learned_records_once(tmp_path):
    """Pool results equal the same tasks run in this process; the driver writes every learned record."""
    mem = tmp_path / "m.sqlite"
    MemoryStore(mem).close()
    summary = sweep(SCENARIO, seeds="0-1", memory=mem, workers=2, out_dir=tmp_path)
    assert summary["tasks"] == 2
    for r in summary["results"]:
        t = r["task"]
        # the snapshot was of an empty store, so an empty in-memory store gives the same answers
        again = run_task(SweepTask(t["scenario_path"], t["problem_index"], t["seed"], None, t["run_id"]))
        assert again["fun"] == r["fun"] and again["actions"] == r["actions"]
    with MemoryStore(mem, readonly=True) as s:
        assert s.count("") == summary["records_written"] > 0
    assert (tmp_path / f"sweep-{summary['sweep_id']}" / "sweep.json").exists()


def test_sweep_cli_json_and_bad_scenario_exit_codes(tmp_path):
    """`nef sweep --json` prints one JSON object; a missing scenario exits 2 and creates no store."""
    runner = CliRunner()
    mem = tmp_path / "m.sqlite"
    ok = runner.invoke(app, ["sweep", SCENARIO, "--seeds", "0", "--workers", "1", "--memory", str(mem),
                             "--out", str(tmp_path), "--json"])
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout.strip().splitlines()[-1])
    assert data["tasks"] == 1 and data["records_written"] >= 0
    bad = runner.invoke(app, ["sweep", str(tmp_path / "nope.toml"), "--memory", str(tmp_path / "other.sqlite")])
    assert bad.exit_code == 2
    assert not (tmp_path / "other.sqlite").exists()


def test_sweep_on_a_dask_scheduler_gives_the_pool_results(tmp_path):
    """Naming a Dask scheduler runs the same tasks there, with the same results."""
    distributed = pytest.importorskip("dask.distributed")
    mem = tmp_path / "m.sqlite"
    MemoryStore(mem).close()
    local = sweep(SCENARIO, seeds="0", memory=mem, workers=1, out_dir=tmp_path, learn=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cl:
        remote = sweep(SCENARIO, seeds="0", memory=mem, scheduler=cl.scheduler_address, out_dir=tmp_path, learn=False)
    assert [r["fun"] for r in remote["results"]] == [r["fun"] for r in local["results"]]
