"""``nef sweep SCENARIO``: many framework runs across cores or a Dask cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nef_agents.cli.app import app, console, err_console, guarded


@app.command("sweep")
@guarded
def sweep_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (TOML).")],
    seeds: Annotated[str | None, typer.Option("--seeds", help="Seeds: 0-99 or 0,1,2 (default: the scenario's).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Local worker processes (default: cores).")] = None,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786.")] = None,
    memory: Annotated[Path | None, typer.Option("--memory", help="Memory store (read as a snapshot; learned records written once at the end).")] = None,
    no_learn: Annotated[bool, typer.Option("--no-learn", help="Do not write the learned records back.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the sweep folder (default: logs/).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
) -> None:
    """Run the framework for every problem and seed of a scenario in parallel."""
    from nef_agents.memory.codec import to_jsonable
    from nef_agents.scenario import load_scenario, parse_seeds
    from nef_agents.sweep import sweep

    sc = load_scenario(scenario)
    n = len(sc.problems()) * len(parse_seeds(seeds) if seeds else sc.seeds)
    shown = err_console if as_json else console
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=shown, transient=True) as bar:
        task = bar.add_task(f"sweep {sc.name}", total=n)
        summary = sweep(scenario, seeds=seeds, memory=memory, learn=not no_learn, workers=workers,
                        scheduler=scheduler, out_dir=out, on_done=lambda r: bar.advance(task))
    if as_json:
        slim = {k: v for k, v in summary.items() if k != "results"}
        print(json.dumps(to_jsonable(slim), allow_nan=False))
        return
    table = Table(title=f"sweep {sc.name}: {summary['tasks']} runs")
    for col in ("problem", "runs", "median f", "median nfev", "reached target", "median evals to target"):
        table.add_column(col)
    for row in summary["per_problem"]:
        e = row["median_evals_to_target"]
        table.add_row(str(row["problem"].get("label", row["problem_index"])), str(row["runs"]), f"{row['median_fun']:.4g}", f"{row['median_nfev']:.0f}",
                      str(row["reached_target"]), "-" if e is None else f"{e:.0f}")
    console.print(table)
    console.print(f"records written to {summary['memory']}: {summary['records_written']}")
    console.print(f"sweep folder: {summary['out_dir']}")
