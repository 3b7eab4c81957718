"""The decision log: one JSON object a line, one line an event.

Each event carries ``event`` (a stable name), ``run_id``, ``seq`` (0, 1, 2, ...
within the run), ``iteration``, ``nfev`` and ``time`` (Unix seconds), plus its
own fields. Names: ``run_started``, ``pause``, ``anomaly``, ``memory_query``,
``proposal``, ``critique``, ``decision``, ``action_applied``, ``outcome``,
``engine_switched``, ``memory_write``, ``run_finished``.

Encoding follows :mod:`nef_agents.memory.codec`: numpy scalars and arrays
become numbers and lists, and a non-finite float is written as
``{"__float__": "nan" | "inf" | "-inf"}`` so every line is strict JSON.

Logging never raises into the optimizer: an event that cannot be encoded is
written as ``log_error`` with the reason, and an I/O error disables the log
for the rest of the run (counted in ``DecisionLog.errors``). structlog is used
through a logger built for this file only; no global logging configuration is
touched.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import structlog

from nef_agents.errors import LogFormatError
from nef_agents.memory.codec import from_jsonable, to_jsonable

EVENTS = (
    "run_started", "pause", "anomaly", "memory_query", "proposal", "critique", "decision",
    "action_applied", "outcome", "engine_switched", "memory_write", "run_finished",
)


def _serialize(_logger: Any, _method: str, event_dict: dict[str, Any]) -> str:
    """structlog's last processor: the event as one strict JSON line."""
    return json.dumps(to_jsonable(event_dict), allow_nan=False, ensure_ascii=False, separators=(",", ":"))


class DecisionLog:
    """Append events of one run to a JSON-lines file (or keep them in memory when ``path`` is None)."""

    def __init__(self, path: str | Path | None, run_id: str) -> None:
        self.path = Path(path) if path is not None else None
        self.run_id = run_id
        self.seq = 0
        self.errors = 0
        self.events: list[dict[str, Any]] = []  # kept for the result and tests
        self._fh: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
        self._logger = structlog.wrap_logger(
            _Sink(self), processors=[_serialize], context_class=dict, cache_logger_on_first_use=False,
        )

    def emit(self, event: str, *, iteration: int = 0, nfev: int = 0, **fields: Any) -> None:
        """Write one event; never raises."""
        record = {"event": event, "run_id": self.run_id, "seq": self.seq, "iteration": int(iteration),
                  "nfev": int(nfev), "time": time.time(), **fields}
        self.seq += 1
        try:
            self._logger.msg(**record)
        except Exception as exc:  # an unencodable field must not stop the run
            self.errors += 1
            fallback = {k: record[k] for k in ("run_id", "seq", "iteration", "nfev", "time")}
            try:
                self._logger.msg(event="log_error", failed_event=event, reason=str(exc), **fallback)
            except Exception:
                self.errors += 1

    def close(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            finally:
                self._fh = None

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Sink:
    """structlog's logger end: receives the rendered line."""

    def __init__(self, log: DecisionLog) -> None:
        self._log = log

    def msg(self, line: str) -> None:
        log = self._log
        log.events.append(json.loads(line))
        if log._fh is None:
            return
        try:
            log._fh.write(line + "\n")
            log._fh.flush()
        except OSError:
            log.errors += 1
            log._fh = None

    info = msg  # structlog's bound logger forwards ``msg`` as ``info``


def read_log(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the events of a decision log, decoded (non-finite floats restored).

    A truncated last line (a run killed mid-write) is skipped with a warning; a
    malformed line elsewhere raises LogFormatError naming the file and line.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise LogFormatError(f"{path}: no such decision log") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LogFormatError(f"{path}: cannot read decision log ({exc})") from None
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            if i == len(lines):
                warnings.warn(f"{path}:{i}: truncated last line skipped", stacklevel=2)
                return
            raise LogFormatError(f"{path}:{i}: not a JSON object ({exc.msg})") from None
        if not isinstance(obj, dict) or "event" not in obj:
            raise LogFormatError(f"{path}:{i}: event lines must be objects with an 'event' key")
        yield from_jsonable(obj)
