"""The run's one door to the memory: logged reads, mode-checked writes, replay.

:class:`MemoryGateway` wraps a store for one run. Every ``query`` returns plain
evidence dicts (``id``, ``path``, ``distance``, ``payload``, ``labels``,
``run_id``) and remembers them in ``reads`` so the loop can write them to the
decision log in full; a replay then needs no store. Modes:

* ``"rw"``: writes go to the store at once;
* ``"ro"``: writes are dropped (ablations, read-only snapshots);
* ``"collect"``: writes are kept in ``pending`` and returned to the caller
  (sweep workers, whose driver alone writes to the store).

:class:`ReplayGateway` serves logged reads back in order and checks that each
query asks for the same thing; a mismatch raises ``ReplayMismatch``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nef_agents.errors import ConfigError, NefError

MODES = ("rw", "ro", "collect")


class ReplayMismatch(NefError, RuntimeError):
    """A replayed run asked the memory something the logged run did not."""


def _evidence(match: Any) -> dict[str, Any]:
    rec = match.record
    return {
        "id": int(rec.id), "path": rec.path, "distance": float(match.distance),
        "payload": rec.payload, "labels": dict(getattr(rec, "labels", None) or {}), "run_id": rec.run_id,
    }


class MemoryGateway:
    """Logged, mode-aware access to a memory store for one run."""

    def __init__(self, store: Any, mode: str = "rw", run_id: str | None = None) -> None:
        if mode not in MODES:
            raise ConfigError(f"memory mode must be one of {MODES}, got {mode!r}")
        self.store = store
        self.mode = mode
        self.run_id = run_id
        self.reads: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []

    def query(self, path: str, pattern: np.ndarray, *, k: int = 5, compression: str = "short",
              filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """k nearest records under ``path`` as evidence dicts; the read is remembered for the log."""
        matches = self.store.query(path, pattern=np.asarray(pattern, dtype=float), compression=compression,
                                   k=k, filters=filters)
        out = [_evidence(m) for m in matches]
        self.reads.append({"path": path, "k": k, "compression": compression, "filters": filters, "results": out})
        return out

    def store_record(self, path: str, *, curve: np.ndarray, payload: dict[str, Any],
                     health: np.ndarray | None = None, labels: dict[str, str] | None = None,
                     levels: Sequence[str] = ("ultra", "short", "full"), tags: Sequence[str] = ()) -> int | None:
        """Write (rw), drop (ro) or keep for the driver (collect); returns the id when written."""
        item = {"path": path, "curve": np.asarray(curve, dtype=float), "payload": payload,
                "health": None if health is None else np.asarray(health, dtype=float),
                "labels": labels, "levels": tuple(levels), "tags": tuple(tags), "run_id": self.run_id}
        if self.mode == "ro":
            return None
        if self.mode == "collect":
            self.pending.append(item)
            return None
        return int(self.store.store(**item))

    def get_meta(self, key: str, default: Any = None) -> Any:
        return self.store.get_meta(key, default)

    def put_meta(self, key: str, value: Any) -> None:
        if self.mode == "rw":
            self.store.put_meta(key, value)

    def drain_reads(self) -> list[dict[str, Any]]:
        out, self.reads = self.reads, []
        return out


class ReplayGateway(MemoryGateway):
    """Serves the reads of a logged run in order; writes are dropped."""

    def __init__(self, logged_reads: Sequence[dict[str, Any]], meta: dict[str, Any] | None = None) -> None:
        super().__init__(store=None, mode="ro")
        self._queue = list(logged_reads)
        self._meta = dict(meta or {})

    def query(self, path: str, pattern: np.ndarray, *, k: int = 5, compression: str = "short",
              filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        if not self._queue:
            raise ReplayMismatch(f"replay asked memory for {path!r} but the logged run made no further query")
        logged = self._queue.pop(0)
        if logged["path"] != path or int(logged["k"]) != k:
            raise ReplayMismatch(f"replay queried {path!r} (k={k}); the logged run queried {logged['path']!r} (k={logged['k']})")
        out = logged["results"]
        self.reads.append({"path": path, "k": k, "compression": compression, "filters": filters, "results": out})
        return out

    def get_meta(self, key: str, default: Any = None) -> Any:
        return self._meta.get(key, default)
