"""Reference backend: the same contract as :class:`MemoryStore`, in Python dicts.

Rows are kept in the encoded form the SQLite backend stores (JSON text,
float64 bytes, zlib blobs), so values round-trip identically and returned
records are fresh copies. Nothing is persisted; there is one process only.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

from nef_agents.errors import ConfigError, StoreError
from nef_agents.memory.base import BaseStore
from nef_agents.memory.patterns import DEFAULT_ALPHABET, DEFAULT_SEGMENTS, _check_params
from nef_agents.memory.records import Filters
from nef_agents.memory.rows import STORED_COLUMNS, Selector

__all__ = ["InMemoryStore"]


class InMemoryStore(BaseStore):
    """Pure Python/numpy store (no SQLite); see :class:`BaseStore` for the contract."""

    def __init__(
        self, path: Any = None, *, readonly: bool = False,
        segments: int | None = None, alphabet: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        if path not in (None, ":memory:"):
            raise ConfigError(f"InMemoryStore keeps no file; got path={path!r}")
        self.segments = DEFAULT_SEGMENTS if segments is None else int(segments)
        self.alphabet = DEFAULT_ALPHABET if alphabet is None else int(alphabet)
        _check_params(self.segments, self.alphabet)
        self.readonly = bool(readonly)
        self._rows: dict[int, dict[str, Any]] = {}
        self._tags: dict[int, frozenset[str]] = {}
        self._labels: dict[int, dict[str, str]] = {}
        self._by_word: dict[str, dict[Any, list[int]]] = {"sax": {}, "isax": {}}
        self._meta: dict[str, str] = {}
        self._next_id = 1
        self._version = 0
        self._closed = False

    def __repr__(self) -> str:
        return f"InMemoryStore(records={len(self._rows)})"

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self!r} is closed")

    def _insert_rows(self, rows: list[dict[str, Any]]) -> list[int]:
        ids = list(range(self._next_id, self._next_id + len(rows)))
        # Rows were fully encoded before this point, so the batch cannot fail halfway.
        for i, r in zip(ids, rows, strict=True):
            row = {c: r[c] for c in STORED_COLUMNS}
            row["id"] = i
            self._rows[i] = row
            self._tags[i] = frozenset(r["_tags"])
            self._labels[i] = json.loads(r["labels"])
            for col, by in self._by_word.items():
                if row[col] is not None:
                    by.setdefault(row[col], []).append(i)
        self._next_id += len(rows)
        self._version += 1
        return ids

    def _match(self, i: int, prefix: str, flt: Filters, require: Sequence[str]) -> bool:
        row = self._rows[i]
        path = row["path"]
        if prefix and path != prefix and not path.startswith(prefix + "/"):
            return False
        if flt.run_id is not None and row["run_id"] != flt.run_id:
            return False
        if flt.tag is not None and flt.tag not in self._tags[i]:
            return False
        labels = self._labels[i]
        if any(labels.get(name) != value for name, value in flt.labels):
            return False
        if flt.created_after is not None and row["created_at"] < flt.created_after:
            return False
        if flt.created_before is not None and row["created_at"] >= flt.created_before:
            return False
        return all(row[c] is not None for c in require)

    def _select(self, sel: Selector, columns: Sequence[str]) -> list[tuple[Any, ...]]:
        if sel.ids is not None:
            pool: list[int] = sorted({i for i in sel.ids if i in self._rows})
        elif sel.words is not None:
            by = self._by_word[sel.word_col]
            pool = sorted(i for w in set(sel.words) for i in by.get(w, ()))
        else:
            pool = list(self._rows)
        ids = [i for i in pool if self._match(i, sel.prefix, sel.filters, sel.require)]
        if sel.order == "recent":
            ids.sort(key=lambda i: (self._rows[i]["created_at"], i), reverse=True)
        if sel.limit is not None:
            ids = ids[: sel.limit]
        return [tuple(self._rows[i][c] for c in columns) for i in ids]

    def _word_counts(self, prefix: str, flt: Filters, column: str) -> list[tuple[Any, int]]:
        need = (column,)
        counts = Counter(
            self._rows[i][column] for i in self._rows if self._match(i, prefix, flt, need)
        )
        return sorted(counts.items())

    def _path_counts(self) -> dict[str, int]:
        return dict(Counter(row["path"] for row in self._rows.values()))

    def _meta_get(self, key: str) -> str | None:
        return self._meta.get(key)

    def _meta_put(self, key: str, text: str) -> None:
        self._meta[key] = text
        self._version += 1

    def _version_token(self) -> Hashable:
        return self._version

    def vacuum(self) -> None:
        """Nothing to reclaim."""
        self._check_open()

    def close(self) -> None:
        self._closed = True
