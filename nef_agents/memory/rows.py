"""The stored row format shared by every backend: encoding, decoding, selection.

A row holds JSON text (``tags``, ``payload`` under the codec convention,
``labels``), float64 little-endian bytes (``paa``, ``health``), the SAX word
(``sax``, letters), the index word (``isax``, bytes at cardinality ``8a``) and
the zlib window blob (``full``). Backends store rows as they are, so values
round-trip identically whichever backend holds them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nef_agents.errors import ConfigError
from nef_agents.memory import codec
from nef_agents.memory.patterns import (
    Pattern,
    decode_window,
    encode_window,
    extract_pattern,
    extract_patterns,
    index_word,
    make_labels,
)
from nef_agents.memory.records import (
    Filters,
    Record,
    parse_levels,
    to_timestamp,
    validate_path,
)

__all__ = [
    "COMPRESSIONS",
    "ROW_COLUMNS",
    "STORED_COLUMNS",
    "Selector",
    "as_pattern",
    "encode_row",
    "item_rows",
    "decode_row",
]

COMPRESSIONS = ("ultra", "short", "full")
ROW_COLUMNS = (
    "id", "path", "run_id", "created_at", "tags", "payload", "labels",
    "levels", "length", "sax", "paa", "health", "full",
)  # fmt: skip
STORED_COLUMNS = (*ROW_COLUMNS[1:], "isax")
ITEM_KEYS = frozenset(
    {"path", "curve", "payload", "levels", "run_id", "tags", "health", "labels", "created_at"}
)


@dataclass(frozen=True)
class Selector:
    """What a backend read returns: rows under ``prefix`` passing ``filters``.

    ``ids``/``words`` restrict to those record ids / words of column
    ``word_col`` (``sax`` or ``isax``, the index word), ``require`` names
    columns that must be non-NULL, ``order`` is ``"id"`` (ascending) or
    ``"recent"`` (``created_at`` then id, descending).
    """

    prefix: str = ""
    filters: Filters = Filters()
    ids: tuple[int, ...] | None = None
    words: tuple[Any, ...] | None = None
    word_col: str = "sax"
    require: tuple[str, ...] = ()
    order: str = "id"
    limit: int | None = None


def as_pattern(
    curve: Any, health: Any, labels: Any, payload: Any, segments: int, alphabet: int,
    trend: bool = True,
) -> Pattern:  # fmt: skip
    """The :class:`Pattern` to store or query: ``curve`` is a raw curve or a Pattern.

    A Pattern made with other segments/alphabet is recomputed from its raw
    curve; without one that is a :class:`ConfigError`.
    """
    mapping = _mapping(payload)
    if isinstance(curve, Pattern):
        if (curve.segments, curve.alphabet) == (segments, alphabet) and health is None:
            lab = {**curve.labels, **make_labels(None, mapping, labels)}
            return Pattern(**{**curve.__dict__, "labels": lab})
        if curve.curve is None:
            raise ConfigError(
                f"pattern has segments={curve.segments}, alphabet={curve.alphabet} but the store "
                f"uses {segments}/{alphabet}, and it carries no raw curve to recompute"
            )
        if health is None:
            health = curve.health if curve.health_series is None else curve.health_series
        labels = {**curve.labels, **(labels or {})}
        curve = curve.curve
    if curve is None:
        raise ConfigError("curve is required (a 1-D array or a Pattern)")
    return extract_pattern(
        curve, health, segments=segments, alphabet=alphabet, labels=labels, payload=mapping,
        trend=trend,
    )  # fmt: skip


def encode_row(
    *,
    alphabet: int,
    path: str,
    run_id: Any,
    created_at: Any,
    tags: Iterable[str],
    payload: Any,
    labels: Mapping[str, str],
    levels: tuple[str, ...],
    length: int,
    sax: str | None,
    paa: np.ndarray | None,
    health: np.ndarray | None,
    curve: np.ndarray | None,
    health_series: np.ndarray | None,
) -> dict[str, Any]:
    """A row of :data:`STORED_COLUMNS` (plus ``_tags``, the tag list) holding ``levels`` only."""
    tag_list: list[str] = []
    for t in [tags] if isinstance(tags, str) else tags:
        if not isinstance(t, str) or not t:
            raise ConfigError(f"tags must be non-empty strings, got {t!r}")
        if t not in tag_list:
            tag_list.append(t)
    has = set(levels)
    if "full" in has and curve is None:
        raise ConfigError("level 'full' needs the raw curve")
    if "short" in has and paa is None:
        raise ConfigError("level 'short' needs a PAA vector")
    short = "short" in has
    return {
        "path": validate_path(path),
        "run_id": None if run_id is None else str(run_id),
        "created_at": to_timestamp(created_at),
        "tags": json.dumps(tag_list),
        "payload": codec.dumps(payload if payload is not None else {}),
        "labels": json.dumps(dict(labels), sort_keys=True),
        "levels": ",".join(levels),
        "length": int(length),
        # The word indexes the PAA vector too, so 'short' keeps it (16 bytes).
        "sax": sax if has & {"ultra", "short"} else None,
        "paa": np.asarray(paa, "<f8").tobytes() if short else None,
        "isax": index_word(paa, alphabet) if short else None,
        "health": np.asarray(health, "<f8").tobytes() if short and health is not None else None,
        "full": encode_window(curve, health_series) if "full" in has else None,
        "_tags": tag_list,
    }


def item_rows(
    items: Iterable[Mapping[str, Any]], segments: int, alphabet: int
) -> list[dict[str, Any]]:
    """Validate ``store()`` items (dicts of its keyword arguments) and encode them.

    Raw curves are reduced together (:func:`extract_patterns`); a
    :class:`ConfigError` names the first bad item as ``items[i]``.
    """
    items = list(items)
    levels: list[tuple[str, ...]] = []
    for i, item in enumerate(items):
        try:
            unknown = set(item) - ITEM_KEYS
            if unknown:
                raise ConfigError(
                    f"unknown store() keys {sorted(unknown)}; allowed {sorted(ITEM_KEYS)}"
                )
            if "path" not in item:
                raise ConfigError("store() item needs a 'path'")
            if item.get("curve") is None:
                raise ConfigError("curve is required (a 1-D array or a Pattern)")
            levels.append(parse_levels(item.get("levels", COMPRESSIONS)))
        except ConfigError as exc:
            raise ConfigError(f"items[{i}]: {exc}") from exc
    raw = [i for i, it in enumerate(items) if not isinstance(it["curve"], Pattern)]
    pats: dict[int, Pattern] = {}
    try:
        batch = extract_patterns(
            [items[i]["curve"] for i in raw],
            [items[i].get("health") for i in raw],
            segments=segments,
            alphabet=alphabet,
            labels=[items[i].get("labels") for i in raw],
            payloads=[_mapping(items[i].get("payload")) for i in raw],
        )
        pats.update(zip(raw, batch, strict=True))
    except ConfigError:
        pass  # redo one by one below, to name the bad item
    rows = []
    for i, item in enumerate(items):
        try:
            pat = pats.get(i) or as_pattern(
                item["curve"], item.get("health"), item.get("labels"), item.get("payload"),
                segments, alphabet,
            )  # fmt: skip
            rows.append(
                encode_row(
                    alphabet=alphabet,
                    path=item["path"],
                    run_id=item.get("run_id"),
                    created_at=item.get("created_at"),
                    tags=item.get("tags", ()),
                    payload=item.get("payload"),
                    labels=pat.labels,
                    levels=levels[i],
                    length=pat.length,
                    sax=pat.sax,
                    paa=pat.paa,
                    health=pat.health,
                    curve=pat.curve,
                    health_series=pat.health_series,
                )  # fmt: skip
            )
        except ConfigError as exc:
            raise ConfigError(f"items[{i}]: {exc}") from exc
    return rows


def _mapping(payload: Any) -> Mapping[str, Any] | None:
    return payload if isinstance(payload, Mapping) else None


def _ro(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _vector(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else _ro(np.frombuffer(blob, "<f8").astype(np.float64))


def decode_row(row: Sequence[Any]) -> Record:
    """A fresh :class:`Record` (read-only arrays) from a tuple of :data:`ROW_COLUMNS`."""
    r = dict(zip(ROW_COLUMNS, row, strict=True))
    full = hs = None
    if r["full"] is not None:
        full, hs = decode_window(r["full"])
        full, hs = _ro(full), None if hs is None else _ro(hs)
    # model_construct: the row was validated when written; skip re-validation.
    return Record.model_construct(
        id=int(r["id"]),
        path=r["path"],
        run_id=r["run_id"],
        created_at=float(r["created_at"]),
        tags=tuple(json.loads(r["tags"])),
        payload=codec.loads(r["payload"]),
        labels=json.loads(r["labels"]),
        levels=tuple(r["levels"].split(",")),
        length=int(r["length"]),
        sax=r["sax"],
        paa=_vector(r["paa"]),
        health=_vector(r["health"]),
        full=full,
        health_series=hs,
    )
