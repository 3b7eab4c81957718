"""``nef replay``: a decision log's timeline, its verification and its decision graph."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from nef_agents.cli.app import app, console, err_console, guarded
from nef_agents.errors import ConfigError


@app.command("replay")
@guarded
def replay_cmd(
    source: Annotated[
        Path, typer.Argument(help="A run folder (its decisions.jsonl) or a decision log file.")
    ],
    only: Annotated[
        str | None, typer.Option("--only", help="Show only pauses, anomalies or decisions.")
    ] = None,
    start: Annotated[int | None, typer.Option("--from", help="First iteration to show.")] = None,
    stop: Annotated[int | None, typer.Option("--to", help="Last iteration to show.")] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify", help="Re-execute every run and compare its decisions with the log."
        ),
    ] = False,
    graph: Annotated[
        Path | None,
        typer.Option("--graph", help="Write the decision graph as GraphML to this file."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document instead of a table.")
    ] = False,
) -> None:
    """Print a run's timeline; --verify re-executes it and checks every decision (exit 1 on a difference)."""
    from nef_agents import replay
    from nef_agents.memory.codec import to_jsonable

    if only is not None and only not in replay.ONLY:
        raise ConfigError(f"--only must be one of {', '.join(sorted(replay.ONLY))}, got {only!r}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        events = replay.load_events(source)
    for w in caught:  # a truncated log still replays, but the user must know
        err_console.print(f"warning: {w.message}", markup=False, highlight=False)
    rows = replay.timeline(events, only=only, start=start, stop=stop)
    report = replay.verify(events) if verify else None
    graph_path = (
        replay.write_graphml(replay.decision_graph(events), graph) if graph is not None else None
    )

    if as_json:
        doc: dict[str, Any] = {
            "source": str(source),
            "events": len(events),
            "timeline": [r.to_dict() for r in rows],
        }
        if report is not None:
            doc["verify"] = report.to_dict()
        if graph_path is not None:
            doc["graph"] = str(graph_path)
        print(json.dumps(to_jsonable(doc), default=str))
    else:
        _print_rows(rows, len(events))
        if graph_path is not None:
            console.print(f"decision graph written to {graph_path}", markup=False, highlight=False)
        if report is not None:
            console.print(
                ("" if report.ok else "DIFFERENCE: ") + report.summary(),
                markup=False,
                highlight=False,
            )
    if report is not None and not report.ok:
        raise typer.Exit(1)


def _print_rows(rows: list[Any], n_events: int) -> None:
    if not rows:
        console.print(f"no matching events ({n_events} events in the log)")
        return
    many_runs = len({r.run_id for r in rows}) > 1
    table = Table(title=f"{len(rows)} of {n_events} events")
    if many_runs:
        table.add_column("run")
    for col, just in (("iter", "right"), ("nfev", "right"), ("event", "left"), ("what", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in rows:
        cells = [
            str(r.iteration),
            str(r.nfev),
            r.event,
            escape(r.description),
        ]  # '[id]' is not markup
        table.add_row(*([r.run_id] if many_runs else []), *cells)
    console.print(table)
