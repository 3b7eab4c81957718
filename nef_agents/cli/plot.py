"""``nef plot``: PNG figures of a run folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from nef_agents.cli.app import app, console, guarded


@app.command("plot")
@guarded
def plot_cmd(
    run_dir: Annotated[
        Path,
        typer.Argument(help="A run folder written by `nef run` (trajectory.csv, summary.json)."),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the written paths as a JSON list.")
    ] = False,
) -> None:
    """Write loss.png, health.png (and trajectory.png for 2-D problems) into RUN_DIR and print their paths."""
    from nef_agents.plots import plot_run

    paths = plot_run(run_dir)
    if as_json:
        print(json.dumps([str(p) for p in paths]))
        return
    for p in paths:
        console.print(str(p), markup=False, highlight=False)
