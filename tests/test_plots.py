"""plot_run: PNGs of a run folder (loss, health, 2-D trajectory) and clear errors on bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nef_agents import functions as F
from nef_agents import minimize
from nef_agents.cli import app
from nef_agents.errors import ConfigError
from nef_agents.plots import _objective, plot_run

COLUMNS = (
    "optimizer,problem,seed,iteration,nfev,f,best_f,stability,diversity,resilience,balance,"
    "integration,overall,event,x"
).split(",")
SCENARIO = """objective = {{ function = "{name}" }}
dimension = {dim}
x0 = {x0}
budget = 300
seeds = [0, 1]
"""


def recorder(rows: list[dict]):
    """A minimize callback (scipy's intermediate_result form) appending each iteration to ``rows``."""

    def callback(intermediate_result):
        rows.append(dict(intermediate_result))

    return callback


def make_run_dir(root: Path, name: str = "rosenbrock", dim: int = 2) -> Path:
    """A run folder like runner.run_scenario writes: framework + gd baseline, two seeds each."""
    fn = F.get(name, dim=dim)
    x0 = [-1.2] + [1.0] * (dim - 1)
    run = root / f"{name}-{dim}"
    run.mkdir()
    (root / f"{name}.toml").write_text(SCENARIO.format(name=name, dim=dim, x0=x0))
    rows = []
    for opt in ("framework", "gd"):
        for seed in (0, 1):
            trace: list[dict] = []
            res = minimize(
                fn.f,
                x0,
                jac=fn.grad,
                budget=300,
                seed=seed,
                engine="lbfgs" if opt == "framework" else "gd",
                agents=opt == "framework",
                options=None if opt == "framework" else {"learning_rate": 1e-3},
                callback=recorder(trace),
            )
            events = {p["iteration"]: "pause" for p in res.pauses}
            events |= {a["iteration"]: "anomaly" for a in res.anomalies if "iteration" in a}
            events |= {d["iteration"]: f"decision:{d['action']}" for d in res.decisions}
            for it, t in enumerate(trace, start=1):
                health = (
                    list(res.health[it - 1])
                    if opt == "framework" and it <= len(res.health)
                    else [""] * 6
                )
                x = " ".join(repr(float(v)) for v in t["x"]) if dim <= 10 else ""
                rows.append(
                    [
                        opt,
                        name,
                        seed,
                        it,
                        t["nfev"],
                        t["fun"],
                        t["best_fun"],
                        *health,
                        events.get(it, ""),
                        x,
                    ]
                )
    with (run / "trajectory.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        w.writerows(rows)
    (run / "summary.json").write_text(json.dumps({"scenario_path": str(root / f"{name}.toml")}))
    return run


def test_two_dimensional_run_gives_three_non_empty_pngs(tmp_path: Path) -> None:
    """loss.png, health.png and trajectory.png are written and non-empty; the objective is rebuilt."""
    run = make_run_dir(tmp_path)
    paths = plot_run(run)
    assert [p.name for p in paths] == ["loss.png", "health.png", "trajectory.png"]
    assert all(p.parent == run and p.stat().st_size > 1000 for p in paths)
    assert _objective(run / "summary.json", "rosenbrock", "0") is not None


def test_higher_dimension_has_no_trajectory_and_cli_prints_paths(tmp_path: Path) -> None:
    """A 3-D run gives loss and health only; `nef plot` prints each written path."""
    run = make_run_dir(tmp_path, dim=3)
    res = CliRunner().invoke(app, ["plot", str(run), "--json"])
    assert res.exit_code == 0, res.output
    names = [Path(p).name for p in json.loads(res.stdout)]
    assert names == ["loss.png", "health.png"]


def test_without_a_rebuildable_objective_the_paths_are_still_drawn(tmp_path: Path) -> None:
    """No summary.json: trajectory.png is a plain path plot, not an error; values <= 0 still plot."""
    run = make_run_dir(tmp_path, name="styblinski_tang")
    (run / "summary.json").unlink()
    assert [p.name for p in plot_run(run)] == ["loss.png", "health.png", "trajectory.png"]


def test_missing_files_and_columns_name_the_file(tmp_path: Path) -> None:
    """A folder without trajectory.csv, or a CSV without best_f, is a ConfigError naming the file; CLI exit 2."""
    with pytest.raises(ConfigError, match="trajectory.csv"):
        plot_run(tmp_path)
    (tmp_path / "trajectory.csv").write_text("optimizer,problem,seed,nfev\nframework,p,0,1\n")
    with pytest.raises(ConfigError, match=r"trajectory.csv: missing column\(s\) best_f"):
        plot_run(tmp_path)
    res = CliRunner().invoke(app, ["plot", str(tmp_path)])
    assert res.exit_code == 2 and "best_f" in res.stderr


def test_run_scenario_folder_plots(tmp_path: Path) -> None:
    """A folder written by runner.run_scenario plots again after its PNGs are removed."""
    from nef_agents.runner import run_scenario
    from nef_agents.scenario import load_scenario

    (tmp_path / "s.toml").write_text(
        SCENARIO.format(name="himmelblau", dim=2, x0=[0.0, 0.0])
        + 'baselines = ["lbfgs"]\n[outputs]\nplots = false\n'
    )
    run_scenario(
        load_scenario(tmp_path / "s.toml"), memory=tmp_path / "m.sqlite", out_dir=tmp_path / "logs"
    )
    (run,) = (tmp_path / "logs").iterdir()
    assert [p.name for p in plot_run(run)] == ["loss.png", "health.png", "trajectory.png"]
