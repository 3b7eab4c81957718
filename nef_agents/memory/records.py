"""Value types of the memory: paths, filters, :class:`Record` and :class:`Match`."""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from nef_agents.errors import ConfigError

__all__ = [
    "LEVELS",
    "ENV_VAR",
    "DEFAULT_RELATIVE_PATH",
    "Record",
    "Match",
    "Filters",
    "parse_filters",
    "validate_path",
    "default_store_path",
    "parse_levels",
    "to_timestamp",
    "same_value",
]

LEVELS = ("ultra", "short", "full")
ENV_VAR = "NEF_MEMORY"
DEFAULT_RELATIVE_PATH = Path("memory") / "nef.sqlite"
_SEGMENT = re.compile(r"[A-Za-z0-9_.\-]+")
_LABEL_KEY = re.compile(r"[A-Za-z0-9_]+")


def validate_path(path: Any, *, allow_root: bool = False) -> str:
    """Return ``path`` if every ``/``-separated segment is non-empty ``[A-Za-z0-9_.-]+``.

    ``allow_root`` admits ``""`` (the whole tree) for read-side prefixes.
    Raises :class:`ConfigError` naming the bad segment and its 0-based position.
    """
    if not isinstance(path, str):
        raise ConfigError(f"memory path must be a string, got {type(path).__name__}")
    if path == "" and allow_root:
        return path
    for i, seg in enumerate(path.split("/")):
        if not seg:
            raise ConfigError(f"memory path {path!r}: segment {i} is empty")
        if not _SEGMENT.fullmatch(seg):
            bad = sorted({c for c in seg if not _SEGMENT.fullmatch(c)})
            raise ConfigError(
                f"memory path {path!r}: segment {i} {seg!r} contains {''.join(bad)!r}; "
                "allowed are letters, digits, '_', '-', '.'"
            )
    return path


def default_store_path(path: str | os.PathLike[str] | None = None) -> Path | str:
    """Where the store lives: explicit ``path`` > ``$NEF_MEMORY`` > ``memory/nef.sqlite``.

    The default is relative to the current working directory. ``":memory:"``
    is returned unchanged (a private in-memory SQLite database).
    """
    chosen: Any = path
    if chosen is None:
        chosen = os.environ.get(ENV_VAR) or None
    if chosen is None:
        return Path.cwd() / DEFAULT_RELATIVE_PATH
    if str(chosen) == ":memory:":
        return ":memory:"
    return Path(chosen).expanduser().absolute()


def parse_levels(levels: Any) -> tuple[str, ...]:
    """Validate a non-empty subset of ``("ultra", "short", "full")``; canonical order."""
    if isinstance(levels, str):
        levels = (levels,)
    got = set(levels)
    bad = got - set(LEVELS)
    if bad or not got:
        raise ConfigError(f"levels must be a non-empty subset of {LEVELS}, got {tuple(levels)!r}")
    return tuple(lv for lv in LEVELS if lv in got)


def to_timestamp(value: Any) -> float:
    """Seconds since the epoch from a float or an ISO-8601 string (naive means UTC)."""
    if value is None:
        return _dt.datetime.now(_dt.UTC).timestamp()
    if isinstance(value, _dt.datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = _dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise ConfigError(f"created_at {value!r} is not an ISO-8601 timestamp") from exc
    else:
        try:
            ts = float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"created_at must be seconds or ISO text, got {value!r}") from exc
        if not math.isfinite(ts):
            raise ConfigError(f"created_at must be finite, got {value!r}")
        return ts
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_dt.UTC)
    return dt.timestamp()


@dataclass(frozen=True)
class Filters:
    """Normalized query filters (hashable; used as a cache key)."""

    run_id: str | None = None
    tag: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    created_after: float | None = None
    created_before: float | None = None


def parse_filters(filters: Mapping[str, Any] | None) -> Filters:
    """Accept ``run_id``, ``tag``, ``label.<name>``, ``created_after``, ``created_before``."""
    if not filters:
        return Filters()
    run_id = tag = None
    after = before = None
    labels: dict[str, str] = {}
    for key, value in filters.items():
        if key == "run_id":
            run_id = None if value is None else str(value)
        elif key == "tag":
            tag = str(value)
        elif key == "created_after":
            after = to_timestamp(value)
        elif key == "created_before":
            before = to_timestamp(value)
        elif isinstance(key, str) and key.startswith("label."):
            name = key[len("label.") :]
            if not _LABEL_KEY.fullmatch(name):
                raise ConfigError(f"filters[{key!r}]: label name must be [A-Za-z0-9_]+")
            labels[name] = str(value)
        else:
            raise ConfigError(
                f"unknown filter {key!r}; use run_id, tag, label.<name>, created_after, created_before"
            )
    return Filters(run_id, tag, tuple(sorted(labels.items())), after, before)


def same_value(a: Any, b: Any) -> bool:
    """Structural equality where NaN equals NaN and arrays compare element-wise."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if a is None or b is None:
            return False
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


class Record(BaseModel):
    """One stored pattern record (a snapshot: later writes never change it).

    ``paa``/``health`` are set when the ``short`` level was stored, ``sax``
    when ``ultra`` or ``short`` was (the word indexes the PAA vector),
    ``full``/``health_series`` when ``full`` was. ``created_at`` is seconds
    since the epoch (UTC). Arrays are read-only float64.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    id: int
    path: str
    run_id: str | None = None
    created_at: float
    tags: tuple[str, ...] = ()
    payload: Any = None
    labels: dict[str, str] = {}
    levels: tuple[str, ...] = ()
    length: int = 0
    sax: str | None = None
    paa: np.ndarray | None = None
    health: np.ndarray | None = None
    full: np.ndarray | None = None
    health_series: np.ndarray | None = None

    @property
    def created_iso(self) -> str:
        """``created_at`` as ISO-8601 text in UTC."""
        return _dt.datetime.fromtimestamp(self.created_at, _dt.UTC).isoformat()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return all(same_value(getattr(self, f), getattr(other, f)) for f in type(self).model_fields)

    def __hash__(self) -> int:
        return hash((self.id, self.path, self.created_at))


class Match(BaseModel):
    """A query hit: the record and its distance to the query (smaller is nearer)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    record: Record
    distance: float
