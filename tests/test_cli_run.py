"""`nef run` end to end: every shipped scenario writes a complete run folder; bad input writes nothing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nef_agents import runner
from nef_agents.cli import app
from nef_agents.decisionlog import read_log
from nef_agents.memory import MemoryStore
from nef_agents.report import TRAJECTORY_COLUMNS
from nef_agents.scenario import load_scenario, quick

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
HEADER = ("optimizer,problem,seed,iteration,nfev,f,best_f,stability,diversity,resilience,balance,integration,"
          "overall,event,x")


def nef(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_quick_run_of_each_shipped_scenario_writes_the_whole_run_folder(path, tmp_path):
    """--quick --json: one JSON object on stdout naming run_dir, which holds every run-folder file."""
    res = nef("run", path, "--quick", "--memory", tmp_path / "m.sqlite", "--out", tmp_path / "runs", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)  # nothing but the JSON object on stdout
    run_dir = Path(out["run_dir"])
    assert run_dir.parent == tmp_path / "runs" and out["interrupted"] is False
    events = list(read_log(run_dir / "decisions.jsonl"))
    assert events and events[0]["event"] == "run_started"
    assert events[0]["optimizer"] == "framework" and events[0]["scenario"]["name"] == out["scenario"]
    lines = (run_dir / "trajectory.csv").read_text().splitlines()
    assert lines[0] == HEADER and ",".join(TRAJECTORY_COLUMNS) == HEADER
    rows = list(csv.DictReader(lines))
    sc = load_scenario(path)
    assert {r["optimizer"] for r in rows} == {"framework", *sc.baselines}
    fw = [r for r in rows if r["optimizer"] == "framework"]
    assert fw and all(r["overall"] != "" for r in fw)
    assert all(r["overall"] == "" for r in rows if r["optimizer"] != "framework")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["run_dir"] == out["run_dir"] and summary["budget"] <= 500
    assert len(summary["problems"]) == 1  # --quick keeps the first problem of a bbob list
    assert set(summary["problems"][0]["optimizers"]) == {"framework", *sc.baselines}
    assert "framework" in (run_dir / "insights.md").read_text()
    assert all(int(r["nfev"]) <= summary["budget"] for r in rows)


def test_table_output_lists_every_optimizer(tmp_path):
    """Without --json the table shows the framework and each baseline and the run folder."""
    path = ROOT / "scenarios" / "ellipsoid-oscillation.toml"
    res = nef("run", path, "--quick", "--memory", tmp_path / "m.sqlite", "--out", tmp_path / "runs")
    assert res.exit_code == 0, res.output
    for name in ["framework", *load_scenario(path).baselines]:
        assert name in res.stdout
    assert "run folder:" in res.stdout and str(tmp_path / "runs") in res.stdout


def test_bad_scenario_exits_2_and_touches_neither_memory_nor_out_dir(tmp_path):
    """A bad file: exit 2, one error line per problem, an existing store byte-identical, no out dir, no new store."""
    bad = tmp_path / "bad.toml"
    bad.write_text('budget = 10\nx0 = [1.0, 2.0]\n[objective]\nfunction = "rosenbruck"\n')
    store = tmp_path / "m.sqlite"
    MemoryStore(store).close()
    before = store.read_bytes()
    res = nef("run", bad, "--memory", store, "--out", tmp_path / "runs")
    assert res.exit_code == 2
    assert "objective.function" in res.output and "rosenbruck" in res.output
    assert store.read_bytes() == before and not (tmp_path / "runs").exists()
    res = nef("run", bad, "--memory", tmp_path / "fresh.sqlite", "--out", tmp_path / "runs")
    assert res.exit_code == 2 and not (tmp_path / "fresh.sqlite").exists() and not (tmp_path / "runs").exists()


def test_bad_seeds_option_exits_2(tmp_path):
    """--seeds that are not a range or a list are bad input."""
    res = nef("run", ROOT / "scenarios" / "rosenbrock.toml", "--seeds", "a-b", "--memory", tmp_path / "m.sqlite",
              "--out", tmp_path / "runs")
    assert res.exit_code == 2 and not (tmp_path / "runs").exists()


def test_interrupt_writes_finished_runs_and_exits_130(tmp_path, monkeypatch):
    """Ctrl-C after the first run: summary marked interrupted with that run, exit 130."""
    real = runner.baseline_run

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "baseline_run", stop)
    res = nef("run", ROOT / "scenarios" / "rosenbrock.toml", "--quick", "--memory", tmp_path / "m.sqlite",
              "--out", tmp_path / "runs", "--json")
    monkeypatch.setattr(runner, "baseline_run", real)
    assert res.exit_code == 130
    summary = json.loads(res.stdout)
    assert summary["interrupted"] is True
    assert list(summary["problems"][0]["optimizers"]) == ["framework"]
    assert (Path(summary["run_dir"]) / "summary.json").exists()


def test_framework_run_is_deterministic_and_logs_what_a_replay_needs(tmp_path):
    """Same seed and memory, same decisions; run_started holds scenario, path, problem and optimizer."""
    sc = quick(load_scenario(ROOT / "scenarios" / "rosenbrock.toml"))
    spec = sc.problems()[0]
    a = runner.framework_run(sc, spec, 0, memory=None, log=tmp_path / "a.jsonl", run_id="a")
    b = runner.framework_run(sc, spec, 0, memory=None, log=None, run_id="b")
    assert [d["action"] for d in a.decisions] == [d["action"] for d in b.decisions] and a.fun == b.fun
    start = next(read_log(tmp_path / "a.jsonl"))
    assert start["optimizer"] == "framework" and start["problem"] == spec
    assert start["scenario_path"] == str(sc.source)
    sc2, spec2 = runner.from_context(start)
    assert spec2 == spec and sc2.model_dump() == sc.model_dump()
