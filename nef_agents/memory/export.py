"""Export a subtree as JSON lines or Markdown, and import JSON lines.

JSON lines: one record a line, strict JSON under the codec convention
(non-finite floats as ``{"__float__": "nan"}``), with ``full`` as
``{"curve": [...], "health_series": [...] | null}`` so it re-imports exactly.
Ids are not kept: imported records get new ids in the target store.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nef_agents.errors import ConfigError
from nef_agents.memory import codec
from nef_agents.memory.patterns import extract_pattern
from nef_agents.memory.records import parse_levels, validate_path
from nef_agents.memory.rows import encode_row

if TYPE_CHECKING:
    from nef_agents.memory.base import BaseStore

__all__ = ["export_jsonl", "export_markdown", "parse_jsonl"]

FORMAT = "nef-memory/1"


def export_jsonl(store: BaseStore, path: str = "") -> str:
    """Every record under ``path`` as one JSON object a line, by id."""
    lines = []
    for r in store.find(path):
        obj = {
            "format": FORMAT, "id": r.id, "path": r.path, "run_id": r.run_id,
            "created_at": r.created_at, "tags": list(r.tags), "payload": r.payload,
            "labels": r.labels, "levels": list(r.levels), "length": r.length,
            "segments": store.segments, "alphabet": store.alphabet, "sax": r.sax,
            "paa": r.paa, "health": r.health,
            "full": None if r.full is None else {"curve": r.full, "health_series": r.health_series},
        }  # fmt: skip
        lines.append(codec.dumps(obj))
    return "".join(line + "\n" for line in lines)


def _read_source(source: Any) -> str:
    if isinstance(source, os.PathLike):
        return Path(source).read_text(encoding="utf-8")
    if not isinstance(source, str):
        raise ConfigError(
            f"import_ takes JSON-lines text or a file path, got {type(source).__name__}"
        )
    stripped = source.lstrip()
    if stripped == "" or stripped.startswith("{"):
        return source
    p = Path(source)
    if not p.is_file():
        raise ConfigError(f"import_: {source!r} is neither JSON-lines text nor an existing file")
    return p.read_text(encoding="utf-8")


def _array(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=np.float64)


def _source_name(source: Any) -> str:
    """How to name the import source in an error: the file path, or 'JSON-lines text'."""
    if isinstance(source, os.PathLike):
        return str(source)
    if isinstance(source, str) and not source.lstrip().startswith("{") and Path(source).is_file():
        return source
    return "JSON-lines text"


def parse_jsonl(store: BaseStore, source: Any) -> list[dict[str, Any]]:
    """Encoded rows for ``store`` from exported JSON lines; :class:`ConfigError` names the line."""
    rows = []
    for n, line in enumerate(_read_source(source).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = codec.loads(line)
            if not isinstance(obj, dict) or "path" not in obj:
                raise ConfigError("expected an object with a 'path'")
            levels = parse_levels(obj.get("levels") or ("ultra",))
            full = obj.get("full") or None
            curve = _array(full["curve"]) if full else None
            hs = _array(full.get("health_series")) if full else None
            sax, paa, health = obj.get("sax"), _array(obj.get("paa")), _array(obj.get("health"))
            same = (obj.get("segments"), obj.get("alphabet")) == (store.segments, store.alphabet)
            if not same:
                if curve is None:
                    raise ConfigError(
                        f"record uses segments={obj.get('segments')}, alphabet={obj.get('alphabet')}, "
                        f"store uses {store.segments}/{store.alphabet}, and has no 'full' curve to recompute"
                    )
                pat = extract_pattern(curve, hs if hs is not None else health,
                                      segments=store.segments, alphabet=store.alphabet)  # fmt: skip
                sax, paa = pat.sax, pat.paa
            rows.append(
                encode_row(
                    alphabet=store.alphabet,
                    path=validate_path(obj["path"]),
                    run_id=obj.get("run_id"),
                    created_at=obj.get("created_at"),
                    tags=obj.get("tags") or (),
                    payload=obj.get("payload"),
                    labels=obj.get("labels") or {},
                    levels=levels,
                    length=int(obj.get("length") or (0 if curve is None else curve.size)),
                    sax=sax,
                    paa=paa,
                    health=health,
                    curve=curve,
                    health_series=hs,
                )  # fmt: skip
            )
        except (ConfigError, ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"{_source_name(source)}: line {n}: not a memory record ({exc})") from exc
    return rows


def export_markdown(store: BaseStore, path: str = "") -> str:
    """Human-readable digest: records per path, and which actions helped on which trends.

    The action table uses records whose payload has ``action``, ``trend`` and a
    finite ``outcome`` (positive = helped): per (trend, action) the count, how
    many helped, and the mean outcome.
    """
    root = validate_path(path, allow_root=True)
    records = store.find(root)
    per_path: dict[str, int] = defaultdict(int)
    outcomes: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in records:
        per_path[r.path] += 1
        p = r.payload if isinstance(r.payload, dict) else {}
        if {"action", "trend", "outcome"} <= p.keys():
            try:
                v = float(p["outcome"])
            except (TypeError, ValueError):
                continue
            if math.isfinite(v):
                outcomes[(str(p["trend"]), str(p["action"]))].append(v)
    out = [
        f"# Memory: `{root or '/'}`",
        "",
        f"{len(records)} records in {len(per_path)} paths.",
        "",
    ]
    out += ["## Patterns per path", "", "| path | patterns |", "|---|---:|"]
    out += [f"| `{p}` | {n} |" for p, n in sorted(per_path.items())]
    out += ["", "## Actions by trend", ""]
    if not outcomes:
        out.append("No records with action, trend and outcome.")
    else:
        out += ["| trend | action | n | helped | mean outcome |", "|---|---|---:|---:|---:|"]
        for (trend, action), vals in sorted(outcomes.items()):
            helped = sum(v > 0 for v in vals)
            out.append(f"| {trend} | {action} | {len(vals)} | {helped} | {np.mean(vals):+.4g} |")
    return "\n".join(out) + "\n"
