"""The store contract (:class:`BaseStore`) and everything built on its primitives."""

from __future__ import annotations

import abc
import contextlib
import functools
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import networkx as nx
import numpy as np

from nef_agents.errors import ConfigError, RecordNotFound, StoreError
from nef_agents.memory import codec
from nef_agents.memory.knn import WordIndex, knn_search
from nef_agents.memory.patterns import (
    DEFAULT_ALPHABET,
    DEFAULT_SEGMENTS,
    INDEX_REFINEMENT,
    decode_window,
    full_distance,
)
from nef_agents.memory.records import Filters, Match, Record, parse_filters, validate_path
from nef_agents.memory.rows import (
    COMPRESSIONS,
    ROW_COLUMNS,
    STORED_COLUMNS,
    Selector,
    as_pattern,
    decode_row,
    item_rows,
)

__all__ = ["BaseStore", "Selector", "ROW_COLUMNS", "STORED_COLUMNS", "COMPRESSIONS"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _locked(fn: _F) -> _F:
    @functools.wraps(fn)
    def wrapper(self: BaseStore, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._check_open()
            return fn(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class BaseStore(abc.ABC):
    """A hierarchical store of pattern records. Contract of every backend:

    * **Snapshots.** A returned :class:`Record` (and its arrays, read-only) is
      a copy: later writes, by this or any other store object, never change it.
    * **Atomic writes.** ``store``, ``store_many``, ``import_`` and
      ``put_meta`` each run as one transaction: all of it is visible or none.
      Ids are increasing integers, never reused.
    * **Raises.** Bad arguments (path, levels, filters, shapes, values that
      cannot be encoded) raise :class:`~nef_agents.errors.ConfigError` (a
      ``ValueError``) before anything is written; a missing id raises
      :class:`~nef_agents.errors.RecordNotFound` (a ``KeyError``); a corrupt,
      unreadable, too-new, read-only or closed store raises
      :class:`~nef_agents.errors.StoreError` (an ``OSError``). Reads of a path
      without records return empty results.
    * **Concurrency.** One store object may be shared by threads (calls are
      serialized by a lock). Across processes (SQLite backend) open one store
      per process: writers take turns through SQLite's write lock (waiting up
      to the busy timeout, never failing with "database is locked" before
      it), readers never block and see only committed data.
    * **Queries are exact.** ``query(k=...)`` returns the same records and
      distances as a brute-force scan; the SAX index only prunes candidates
      whose lower bound exceeds the current k-th distance. Ties break by id.

    Backends implement the primitives ``_insert_rows``, ``_select``,
    ``_word_counts``, ``_path_counts``, ``_meta_get``/``_meta_put``,
    ``_version_token``, ``_check_open``, ``vacuum`` and ``close``.
    """

    segments: int = DEFAULT_SEGMENTS
    alphabet: int = DEFAULT_ALPHABET
    readonly: bool = False

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._cache_token: Hashable = None
        self._word_cache: dict[Hashable, WordIndex] = {}
        self._paths_cache: dict[str, int] | None = None
        self.last_query_stats: dict[str, float] = {}

    # ---- primitives -------------------------------------------------------------
    @abc.abstractmethod
    def _insert_rows(self, rows: list[dict[str, Any]]) -> list[int]:
        """Insert encoded rows (plus ``_tags`` lists) in one transaction; return ids."""

    @abc.abstractmethod
    def _select(self, sel: Selector, columns: Sequence[str]) -> list[tuple[Any, ...]]:
        """Tuples of ``columns`` for the rows ``sel`` describes."""

    @abc.abstractmethod
    def _word_counts(self, prefix: str, flt: Filters, column: str) -> list[tuple[Any, int]]:
        """Distinct non-NULL values of ``column`` (``sax``/``isax``) with counts under ``prefix``."""

    @abc.abstractmethod
    def _path_counts(self) -> dict[str, int]:
        """Records per exact path."""

    @abc.abstractmethod
    def _meta_get(self, key: str) -> str | None: ...

    @abc.abstractmethod
    def _meta_put(self, key: str, text: str) -> None: ...

    @abc.abstractmethod
    def _version_token(self) -> Hashable:
        """A value that changes whenever any committed write changed the data."""

    @abc.abstractmethod
    def _check_open(self) -> None: ...

    @abc.abstractmethod
    def vacuum(self) -> None:
        """Reclaim free space (SQLite ``VACUUM`` and WAL checkpoint)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release resources; further calls raise :class:`StoreError`."""

    def __enter__(self) -> BaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_writable(self) -> None:
        if self.readonly:
            raise StoreError(f"{self!r} is read-only")

    # ---- writes -----------------------------------------------------------------
    def _invalidate(self) -> None:
        self._word_cache.clear()
        self._paths_cache = None
        self._cache_token = None

    @_locked
    def store(
        self, path: str, curve: Any = None, payload: Any = None, levels: Sequence[str] = COMPRESSIONS,
        run_id: str | None = None, tags: Iterable[str] = (), health: Any = None,
        labels: Mapping[str, Any] | None = None, *, created_at: float | str | None = None,
    ) -> int:  # fmt: skip
        """Store one record at ``path``; return its id. ``curve`` is a 1-D array or a :class:`Pattern`."""
        item = dict(path=path, curve=curve, payload=payload, levels=levels, run_id=run_id,
                    tags=tags, health=health, labels=labels, created_at=created_at)  # fmt: skip
        return self.store_many([item])[0]

    @_locked
    def store_many(self, items: Iterable[Mapping[str, Any]]) -> list[int]:
        """Store many records (dicts with ``store`` keyword names) in one transaction."""
        self._check_writable()
        rows = item_rows(items, self.segments, self.alphabet)
        if not rows:
            return []
        try:
            return self._insert_rows(rows)
        finally:
            self._invalidate()

    @_locked
    def put_meta(self, key: str, value: Any) -> None:
        """Set a JSON-able setting (e.g. meta-learner weights) under ``key``."""
        self._check_writable()
        if not isinstance(key, str) or not key:
            raise ConfigError(f"meta key must be a non-empty string, got {key!r}")
        self._meta_put(key, codec.dumps(value))

    @_locked
    def get_meta(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default``."""
        text = self._meta_get(key)
        return default if text is None else codec.loads(text)

    # ---- reads ------------------------------------------------------------------
    def _records(self, sel: Selector) -> list[Record]:
        return [decode_row(row) for row in self._select(sel, ROW_COLUMNS)]

    @_locked
    def get(self, record_id: int) -> Record:
        """The record with this id; :class:`RecordNotFound` if there is none."""
        rows = self._records(Selector(ids=(int(record_id),)))
        if not rows:
            raise RecordNotFound(f"no record with id {record_id} in {self!r}")
        return rows[0]

    @_locked
    def find(
        self, path: str = "", filters: Mapping[str, Any] | None = None, limit: int | None = None
    ) -> list[Record]:
        """Records under ``path`` (``""`` = everything) passing ``filters``, by id."""
        return self._records(
            Selector(validate_path(path, allow_root=True), parse_filters(filters), limit=limit)
        )

    @_locked
    def latest(self, path: str = "", k: int = 1) -> list[Record]:
        """The ``k`` most recent records under ``path`` (newest first)."""
        return self._records(
            Selector(validate_path(path, allow_root=True), order="recent", limit=int(k))
        )

    def by_tag(self, tag: str, path: str = "") -> list[Record]:
        """Records carrying ``tag``, by id."""
        return self.find(path, {"tag": tag})

    def by_run(self, run_id: str, path: str = "") -> list[Record]:
        """Records written by run ``run_id``, by id."""
        return self.find(path, {"run_id": run_id})

    def _fresh(self, token: Hashable = None) -> None:
        """Drop caches built before the last committed write (``token`` read earlier, if given)."""
        token = self._version_token() if token is None else token
        if token != self._cache_token:
            self._invalidate()
            self._cache_token = token

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[None]:
        """Run the enclosed reads on one consistent snapshot (backends override)."""
        yield

    @_locked
    def query(
        self, path: str, pattern: Any, compression: str = "short", k: int = 5,
        filters: Mapping[str, Any] | None = None, *, health: Any = None, health_weight: float = 0.0,
    ) -> list[Match]:  # fmt: skip
        """The ``k`` records under ``path`` nearest to ``pattern`` (a curve or :class:`Pattern`).

        Distances by ``compression``:

        * ``"short"``: ``||p_q - p_r||_2`` between PAA vectors, plus
          ``health_weight * ||h_q - h_r||_2`` when ``health_weight > 0`` and the
          query has a health vector (a record without one counts the largest
          distance in ``[0, 1]^5``, ``sqrt(5)``). Only records with ``short``.
        * ``"ultra"``: ``MINDIST`` between SAX words with ``n = w``.
        * ``"full"``: :func:`~nef_agents.memory.patterns.full_distance` of the
          raw windows (an exact scan of records with ``full``).

        Nearest first, ties by id. ``self.last_query_stats`` tells how many
        candidates the index pruned.
        """
        prefix = validate_path(path, allow_root=True)
        if compression not in COMPRESSIONS:
            raise ConfigError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        if not np.isfinite(health_weight) or health_weight < 0:
            raise ConfigError(f"health_weight must be finite and >= 0, got {health_weight!r}")
        flt = parse_filters(filters)
        pat = as_pattern(pattern, health, None, None, self.segments, self.alphabet, trend=False)
        # The version is read before the snapshot is taken: a write committed in
        # between is in the snapshot but not in the token, so the next query
        # rebuilds (harmless); the reverse order could cache a stale index.
        token = self._version_token()
        with self._snapshot():
            self._fresh(token)
            return self._query_locked(prefix, flt, pat, compression, int(k), float(health_weight))

    def _query_locked(
        self, prefix: str, flt: Filters, pat: Any, compression: str, k: int, health_weight: float
    ) -> list[Match]:
        if compression == "full":
            if pat.curve is None:
                raise ConfigError("compression='full' needs a raw curve in the query")
            ids, dist = self._scan_full(prefix, flt, pat.curve, k)
        else:
            short = compression == "short"
            col = "isax" if short else "sax"
            key = (prefix, flt, col)
            index = self._word_cache.get(key)
            if index is None:
                refine = INDEX_REFINEMENT if short else 1
                pairs = self._word_counts(prefix, flt, col)
                index = WordIndex.build(pairs, self.alphabet * refine, refine)
                if len(self._word_cache) >= 64:  # bound memory: drop the oldest prefix/filter
                    self._word_cache.pop(next(iter(self._word_cache)))
                self._word_cache[key] = index
            cols = ("id", col, "paa", "health") if short else ("id", col)

            def fetch(words: tuple[Any, ...]) -> list[tuple[Any, ...]]:
                return self._select(Selector(prefix, flt, words=words, word_col=col), cols)

            ids, dist, self.last_query_stats = knn_search(
                index, fetch, pat, k, compression, health_weight
            )
        if not len(ids):
            return []
        recs = {r.id: r for r in self._records(Selector(ids=tuple(int(i) for i in ids)))}
        return [
            Match(record=recs[int(i)], distance=float(d)) for i, d in zip(ids, dist, strict=True)
        ]

    def _scan_full(
        self, prefix: str, flt: Filters, curve: np.ndarray, k: int
    ) -> tuple[list[int], list[float]]:
        rows = self._select(Selector(prefix, flt, require=("full",)), ("id", "full"))
        scored = sorted((full_distance(curve, decode_window(blob)[0]), int(i)) for i, blob in rows)[
            :k
        ]
        self.last_query_stats = {"candidates": len(rows), "examined": len(rows), "pruned": 0.0}
        return [i for _, i in scored], [d for d, _ in scored]

    # ---- the tree ---------------------------------------------------------------
    def _own_counts(self) -> dict[str, int]:
        self._fresh()
        if self._paths_cache is None:
            self._paths_cache = self._path_counts()
        return self._paths_cache

    def _subtree_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {"": 0}
        for p, n in self._own_counts().items():
            counts[""] += n
            parts = p.split("/")
            for i in range(1, len(parts) + 1):
                node = "/".join(parts[:i])
                counts[node] = counts.get(node, 0) + n
        return counts

    @_locked
    def count(self, path: str = "") -> int:
        """Records in the subtree at ``path`` (the node and all descendants)."""
        return self._subtree_counts().get(validate_path(path, allow_root=True), 0)

    @_locked
    def children(self, path: str = "") -> list[str]:
        """Full paths of the immediate children of ``path``, sorted."""
        prefix = validate_path(path, allow_root=True)
        depth = 0 if prefix == "" else prefix.count("/") + 1
        return sorted(
            n for n in self._subtree_counts()
            if n and n.count("/") == depth and (prefix == "" or n.startswith(prefix + "/"))
        )  # fmt: skip

    @_locked
    def walk(self, path: str = "") -> list[str]:
        """Every node of the subtree at ``path`` (itself first if it exists), depth-first."""
        prefix = validate_path(path, allow_root=True)
        nodes = self._subtree_counts()
        if prefix not in nodes:
            return []
        return sorted(
            (n for n in nodes if prefix == "" or n == prefix or n.startswith(prefix + "/")),
            key=lambda n: n.split("/") if n else [],
        )  # fmt: skip

    @_locked
    def tree(self) -> nx.DiGraph:
        """Paths as a DiGraph rooted at ``""``; node attrs ``count`` (subtree) and ``own``."""
        g = nx.DiGraph()
        own = self._own_counts()
        for node, n in self._subtree_counts().items():
            g.add_node(node, count=n, own=own.get(node, 0))
            if node:
                g.add_edge(node.rpartition("/")[0], node)
        return g

    @_locked
    def stats(self) -> dict[str, Any]:
        """Counts: records, paths, runs, records per level; store parameters."""
        rows = self._select(Selector(), ("levels", "run_id"))
        per_level = {lv: sum(lv in r[0].split(",") for r in rows) for lv in COMPRESSIONS}
        return {
            "records": len(rows),
            "paths": len(self._own_counts()),
            "runs": len({r[1] for r in rows if r[1] is not None}),
            "levels": per_level,
            "segments": self.segments,
            "alphabet": self.alphabet,
        }

    # ---- export / import ---------------------------------------------------------
    def export(self, path: str = "", format: str = "jsonl") -> str:
        """The subtree at ``path`` as JSON lines (re-importable) or a Markdown digest."""
        from nef_agents.memory.export import export_jsonl, export_markdown

        if format == "jsonl":
            return export_jsonl(self, path)
        if format == "md":
            return export_markdown(self, path)
        raise ConfigError(f"format must be 'jsonl' or 'md', got {format!r}")

    @_locked
    def import_(self, source: Any) -> int:
        """Add the records of a JSON-lines text or file (as written by ``export``); return count."""
        from nef_agents.memory.export import parse_jsonl

        self._check_writable()
        rows = parse_jsonl(self, source)
        if rows:
            try:
                self._insert_rows(rows)
            finally:
                self._invalidate()
        return len(rows)
