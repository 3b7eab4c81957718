"""``nef memory``: look into the pattern memory (tree, stats, query, show) and move it (export, import).

Every command takes ``--memory PATH`` (else ``$NEF_MEMORY``, else
``memory/nef.sqlite``) and ``--json`` (one JSON document on stdout). Reading
commands open the store read-only and never create it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from nef_agents.cli.app import app, console, guarded
from nef_agents.errors import ConfigError, StoreError

memory_app = typer.Typer(
    no_args_is_help=True, help="Query, show, export and import the pattern memory."
)
app.add_typer(memory_app, name="memory")

MemoryOpt = Annotated[
    Path | None,
    typer.Option("--memory", help="Store file (default: $NEF_MEMORY, else memory/nef.sqlite)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def open_store(path: Path | None, *, write: bool = False) -> Any:
    """The store at ``path`` (resolved like MemoryStore does); reading never creates it."""
    from nef_agents.memory import MemoryStore, default_store_path

    target = default_store_path(path)
    if not write and target != ":memory:" and not Path(target).exists():
        raise StoreError(
            f"memory store {target} does not exist (give --memory PATH or set NEF_MEMORY)"
        )
    return MemoryStore(target, readonly=not write)


def _emit(doc: Any) -> None:
    from nef_agents.memory.codec import to_jsonable

    print(json.dumps(to_jsonable(doc), ensure_ascii=False))


def record_dict(rec: Any, distance: float | None = None, *, arrays: bool = False) -> dict[str, Any]:
    """A record as plain data; ``arrays`` adds the PAA, health and full curves."""
    d: dict[str, Any] = {
        "id": rec.id, "path": rec.path, "run_id": rec.run_id, "created_at": rec.created_iso,
        "tags": list(rec.tags), "labels": dict(rec.labels), "levels": list(rec.levels), "length": rec.length,
        "sax": rec.sax, "payload": rec.payload,
    }  # fmt: skip
    if distance is not None:
        d["distance"] = distance
    if arrays:
        d |= {
            "paa": rec.paa,
            "health": rec.health,
            "full": rec.full,
            "health_series": rec.health_series,
        }
    return d


@memory_app.command("tree")
@guarded
def tree_cmd(memory: MemoryOpt = None, as_json: JsonOpt = False) -> None:
    """The path hierarchy with record counts (subtree / own)."""
    with open_store(memory) as store:
        g = store.tree()

    def node(p: str) -> dict[str, Any]:
        return {
            "path": p,
            "count": g.nodes[p]["count"],
            "own": g.nodes[p]["own"],
            "children": [node(c) for c in sorted(g.successors(p))],
        }

    doc = node("")
    if as_json:
        _emit(doc)
        return
    root = Tree(f"(root) {doc['count']} records")

    def add(parent: Tree, n: dict[str, Any]) -> None:
        for c in n["children"]:
            own = f", {c['own']} here" if c["own"] and c["children"] else ""
            add(
                parent.add(f"{escape(c['path'].rsplit('/', 1)[-1])}  [dim]{c['count']}{own}[/dim]"),
                c,
            )

    add(root, doc)
    console.print(root)


@memory_app.command("stats")
@guarded
def stats_cmd(memory: MemoryOpt = None, as_json: JsonOpt = False) -> None:
    """Counts of records, paths, runs and levels."""
    with open_store(memory) as store:
        doc = {"memory": str(store.path), **store.stats()}
    if as_json:
        _emit(doc)
        return
    for k, v in doc.items():
        console.print(f"{k}: {v}", markup=False, highlight=False)


def read_pattern(path: Path) -> np.ndarray:
    """A curve from a JSON list (or {"curve": [...]}) or text/CSV with one number a line (last column)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--pattern {path}: cannot read ({exc.strerror or exc})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        obj = None
    if isinstance(obj, dict):
        obj = obj.get("curve")
    if isinstance(obj, list):
        try:
            vals = [float(v) for v in obj]
        except (TypeError, ValueError):
            raise ConfigError(f"--pattern {path}: the JSON list must hold numbers only") from None
    else:
        vals = []
        for n, line in enumerate(text.splitlines(), start=1):
            cell = line.strip().rstrip(",").split(",")[-1].strip()
            if not cell or cell.startswith("#"):
                continue
            try:
                vals.append(float(cell))
            except ValueError:
                if vals or n > 1:  # only a first-line header may be non-numeric
                    raise ConfigError(f"--pattern {path}:{n}: {cell!r} is not a number") from None
    if len(vals) < 2:
        raise ConfigError(f"--pattern {path}: need at least 2 numbers, got {len(vals)}")
    return np.asarray(vals, dtype=float)


def like_pattern(store: Any, spec: str, path: str) -> np.ndarray:
    """The curve of the record run ``RUN_ID`` stored (nearest ``payload.iteration`` when one is given)."""
    run_id, _, it = spec.partition("/")
    recs = store.by_run(run_id, path) or store.by_run(run_id)
    if not recs:
        raise ConfigError(f"--like {spec}: no record in memory was stored by run {run_id!r}")
    if it:
        try:
            target = int(it)
        except ValueError:
            raise ConfigError(f"--like {spec}: ITERATION must be an integer, got {it!r}") from None
        with_it = [
            r
            for r in recs
            if isinstance(r.payload, dict) and isinstance(r.payload.get("iteration"), int)
        ]
        if with_it:
            recs = sorted(with_it, key=lambda r: (abs(r.payload["iteration"] - target), r.id))
    rec = recs[0]
    curve = rec.full if rec.full is not None else rec.paa
    if curve is None:
        raise ConfigError(
            f"--like {spec}: record {rec.id} has neither a full curve nor a PAA vector"
        )
    return np.asarray(curve, dtype=float)


@memory_app.command("query")
@guarded
def query_cmd(
    path: Annotated[
        str, typer.Argument(help="Path prefix, e.g. optimization/decisions ('' = everything).")
    ] = "",
    like: Annotated[
        str | None,
        typer.Option(
            "--like", help="RUN_ID or RUN_ID/ITERATION: use that run's stored curve as pattern."
        ),
    ] = None,
    pattern: Annotated[
        Path | None,
        typer.Option("--pattern", help="File with the pattern: JSON list or one number a line."),
    ] = None,
    level: Annotated[
        str, typer.Option("--level", help="Compression to compare at: ultra, short or full.")
    ] = "short",
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="How many records.")] = 5,
    memory: MemoryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The k records under PATH nearest to a pattern, or the latest k without one."""
    if like is not None and pattern is not None:
        raise ConfigError("give --like or --pattern, not both")
    with open_store(memory) as store:
        if like is None and pattern is None:
            hits = [(r, None) for r in store.latest(path, k=k)]
        else:
            curve = (
                read_pattern(pattern) if pattern is not None else like_pattern(store, like, path)
            )
            hits = [
                (m.record, m.distance) for m in store.query(path, curve, compression=level, k=k)
            ]
    rows = [record_dict(r, d) for r, d in hits]
    if as_json:
        _emit(
            {"path": path, "level": level if (like or pattern) else None, "k": k, "results": rows}
        )
        return
    if not rows:
        console.print(f"no records under {path or '(root)'!r}", markup=False, highlight=False)
        return
    table = Table(
        title=f"{'nearest' if (like or pattern) else 'latest'} {len(rows)} under {escape(path or '(root)')}"
    )
    for col in ("id", "path", "distance", "run", "action", "outcome", "created"):
        table.add_column(col, overflow="fold")
    for r in rows:
        pay = r["payload"] if isinstance(r["payload"], dict) else {}
        dist = "" if r.get("distance") is None else f"{r['distance']:.4g}"
        out = pay.get("outcome")
        table.add_row(
            str(r["id"]),
            escape(r["path"]),
            dist,
            escape(str(r["run_id"] or "")),
            escape(str(pay.get("action", ""))),
            f"{out:.3g}" if isinstance(out, int | float) else escape(str(out or "")),
            r["created_at"][:19],
        )
    console.print(table)


@memory_app.command("show")
@guarded
def show_cmd(
    record_id: Annotated[int, typer.Argument(help="Record id.")],
    memory: MemoryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One record in full."""
    with open_store(memory) as store:
        rec = store.get(record_id)
    doc = record_dict(rec, arrays=True)
    if as_json:
        _emit(doc)
        return
    for key, v in doc.items():
        if isinstance(v, np.ndarray):
            v = np.array2string(v, precision=4, threshold=12)
        elif isinstance(v, dict | list):
            v = json.dumps(v, default=str)
        console.print(f"{key}: {v}", markup=False, highlight=False)


@memory_app.command("export")
@guarded
def export_cmd(
    path: Annotated[str, typer.Argument(help="Subtree to export ('' = everything).")] = "",
    fmt: Annotated[
        str, typer.Option("--format", help="jsonl (re-importable) or md (a digest).")
    ] = "jsonl",
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
    memory: MemoryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export the subtree at PATH as JSON lines or Markdown."""
    if fmt not in ("jsonl", "md"):
        raise ConfigError(f"--format must be jsonl or md, got {fmt!r}")
    with open_store(memory) as store:
        text = store.export(path, format=fmt)
        n = store.count(path)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")  # never leave a half-written export behind
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    if as_json:
        _emit(
            {
                "path": path,
                "format": fmt,
                "records": n,
                "out": None if out is None else str(out),
                "text": text if out is None else None,
            }
        )
    elif out is not None:
        console.print(f"exported {n} records to {out}", markup=False, highlight=False)
    else:
        print(text, end="")


@memory_app.command("import")
@guarded
def import_cmd(
    file: Annotated[Path, typer.Argument(help="A JSON-lines file written by `nef memory export`.")],
    memory: MemoryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add the records of an exported JSON-lines file (they get new ids)."""
    if not file.is_file():
        raise ConfigError(f"import: {file} is not a file")
    with open_store(memory, write=True) as store:
        n = store.import_(file)
        where = str(store.path)
    if as_json:
        _emit({"imported": n, "memory": where})
    else:
        console.print(f"imported {n} records into {where}", markup=False, highlight=False)
