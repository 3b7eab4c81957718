"""``nef run SCENARIO``: run a scenario file and print the side-by-side comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nef_agents.cli.app import app, console, err_console, guarded
from nef_agents.errors import ConfigError


@app.command("run")
@guarded
def run_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (TOML), e.g. scenarios/rosenbrock.toml.")],
    seeds: Annotated[str | None, typer.Option("--seeds", help="Seeds to run: 0-4 or 0,1,2 (default: the scenario's).")] = None,
    memory: Annotated[Path | None, typer.Option("--memory", help="Memory store (default: scenario, $NEF_MEMORY, memory/nef.sqlite).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for run folders (default: scenario's outputs.dir, else logs/).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object (progress goes to stderr).")] = False,
    quick: Annotated[bool, typer.Option("--quick", help="Smoke test: budget <= 500, the first seed, the first problem.")] = False,
) -> None:
    """Run the framework and the scenario's baselines for every seed; write logs/<run_id>/."""
    from nef_agents.memory.codec import to_jsonable
    from nef_agents.runner import RunInterrupted, run_scenario
    from nef_agents.scenario import load_scenario, parse_seeds
    from nef_agents.scenario import quick as quick_copy

    sc = load_scenario(scenario)  # a bad file stops here, before any file or store is touched
    seed_list = None
    if seeds is not None:
        try:
            seed_list = parse_seeds(seeds)
        except ValueError as exc:
            raise ConfigError(f"--seeds: expected a range like 0-4 or a list like 0,1,2, got {seeds!r}") from exc
    if quick:
        sc = quick_copy(sc)
    shown = err_console if as_json else console
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=shown, transient=True)
    with bar:
        task = bar.add_task(f"{sc.name}", total=None)

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=f"{sc.name}: {label}")

        try:
            summary = run_scenario(sc, seeds=seed_list, memory=memory, out_dir=out, progress=progress)
        except RunInterrupted as stop:
            summary = stop.summary
            interrupted = True
        else:
            interrupted = False
    if as_json:
        print(json.dumps(to_jsonable(summary.model_dump()), allow_nan=False))
    else:
        for prob in summary.problems:
            console.print(_table(summary, prob))
        console.print(f"run folder: {summary.run_dir}", markup=False, highlight=False)
        console.print(f"files: {', '.join(summary.files)}", markup=False, highlight=False)
        if summary.plot_error:
            err_console.print(f"warning: plots failed: {summary.plot_error}", markup=False, highlight=False)
    if interrupted:
        err_console.print(f"interrupted; finished runs written to {summary.run_dir}", markup=False, highlight=False)
        raise typer.Exit(130)
    dead = _all_failed(summary)
    if dead:
        err_console.print(f"error: {scenario}: objective: every evaluation failed in every run of {dead}",
                          markup=False, highlight=False)
        raise typer.Exit(2)


def _all_failed(summary: Any) -> str | None:
    """'problem (first failure: reason)' when every run of every optimizer failed every evaluation, else None."""
    for prob in summary.problems:
        runs = [r for o in prob["optimizers"].values() for r in o.get("seeds", [])]
        if runs and all(r["status"] == 3 or r["best"] == float("inf") for r in runs):
            reason = next((r["message"] for r in runs if r["status"] == 3), "no finite value")
            return f"{prob['problem']} ({reason})"
    return None


def _table(summary: Any, prob: dict[str, Any]) -> Table:
    n = len(summary.seeds)
    bbob = prob["spec"].get("kind") == "bbob"
    target = f"; target {prob['target_label']}" if prob.get("target_label") else ""
    t = Table(title=f"{summary.scenario}: {prob['problem']}", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
              caption=f"medians over {n} seed{'s' if n != 1 else ''}; budget {summary.budget:,}{target}")
    t.add_column("optimizer", no_wrap=True)
    t.add_column("best f -\nf_opt" if bbob else "best f", justify="right", no_wrap=True)
    t.add_column("evals to\ntarget", justify="right", no_wrap=True)
    for col in ("iters", "pauses", "anomalies", "wall s"):
        t.add_column(col, justify="right", no_wrap=True)
    for name, o in prob["optimizers"].items():
        m = o["median"]
        reach = "-" if prob["f_target"] is None else f"{_fmt(m['evals_to_target'])} ({o['reached_target']}/{o['runs']})"
        t.add_row(name, _fmt(m["precision"] if bbob else m["best"]), reach, _fmt(m["iterations"]), _fmt(m["pauses"]),
                  _fmt(m["anomalies"]), f"{m['wall_time']:.2f}")
    return t


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if float(v).is_integer() and abs(v) < 1e7:
        return f"{int(v):,}"
    return f"{v:.3g}"
