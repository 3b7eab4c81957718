"""Strict-JSON codec for payloads: numpy values and non-finite floats.

Convention (shared with the decision log):

* numpy scalars become the Python ``int`` / ``float`` / ``bool`` they hold
  (never a blob), numpy arrays and tuples become (nested) lists;
* a non-finite float ``x`` is written as the object ``{"__float__": s}`` with
  ``s`` one of ``"nan"``, ``"inf"``, ``"-inf"``, so the text stays strict JSON
  (``allow_nan=False``) and NaN never turns into ``null``;
* :func:`from_jsonable` turns those objects back into floats. A user dict whose
  only key is ``"__float__"`` is therefore reserved.

Arrays come back as lists (``np.asarray`` restores them); values compare equal
element by element, NaN matching NaN.

The raw window of the ``full`` level has a binary codec here too
(:func:`encode_window`): zlib of a small header and float64 bytes, exact.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import pathlib
import struct
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from nef_agents.errors import ConfigError

__all__ = ["to_jsonable", "from_jsonable", "dumps", "loads", "encode_window", "decode_window"]

_WINDOW_MAGIC = b"NEFW\x01"
_FLOAT_KEY = "__float__"
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _float(x: float) -> Any:
    if math.isfinite(x):
        return x
    if math.isnan(x):
        return {_FLOAT_KEY: "nan"}
    return {_FLOAT_KEY: "inf" if x > 0 else "-inf"}


def to_jsonable(obj: Any, _where: str = "$") -> Any:
    """Return a structure of dict/list/str/int/float/bool/None that is strict JSON.

    Raises :class:`ConfigError` naming the location (``$.a[2]``) of a value of
    an unsupported type.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):  # includes IntEnum; bool handled above
        return int(obj)
    if isinstance(obj, float):
        return _float(float(obj))
    if isinstance(obj, np.generic):
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.floating):
            return _float(float(obj))
        if isinstance(obj, np.str_):
            return str(obj)
        raise ConfigError(f"{_where}: cannot encode numpy value of type {type(obj).__name__}")
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise ConfigError(f"{_where}: cannot encode array of dtype {obj.dtype}")
        return to_jsonable(obj.tolist(), _where)
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            if isinstance(k, np.str_):
                k = str(k)
            if not isinstance(k, str):
                raise ConfigError(f"{_where}: dict keys must be strings, got {k!r}")
            out[k] = to_jsonable(v, f"{_where}.{k}")
        return out
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, f"{_where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, (set, frozenset)):
        return [to_jsonable(v, f"{_where}[]") for v in sorted(obj, key=repr)]
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value, _where)
    if isinstance(obj, pathlib.PurePath):
        return str(obj)
    if hasattr(obj, "model_dump"):  # pydantic models crossing into memory or the log
        return to_jsonable(obj.model_dump(), _where)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj), _where)
    raise ConfigError(f"{_where}: cannot encode value of type {type(obj).__name__}")


def from_jsonable(obj: Any) -> Any:
    """Inverse of :func:`to_jsonable`: restore ``{"__float__": ...}`` markers to floats."""
    if isinstance(obj, dict):
        if len(obj) == 1 and _FLOAT_KEY in obj and obj[_FLOAT_KEY] in _NONFINITE:
            return _NONFINITE[obj[_FLOAT_KEY]]
        return {k: from_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_jsonable(v) for v in obj]
    return obj


def dumps(obj: Any) -> str:
    """Strict, compact JSON text of ``obj`` under the convention above."""
    return json.dumps(to_jsonable(obj), allow_nan=False, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    """Parse text written by :func:`dumps` back into Python values."""
    return from_jsonable(json.loads(text))


def encode_window(curve: Any, health_series: Any = None) -> bytes:
    """zlib blob of the raw window: magic, ``n``, health shape, then float64 LE bytes."""
    x = np.ascontiguousarray(curve, dtype="<f8")
    if x.ndim != 1 or x.size == 0:
        raise ConfigError(f"curve must be a non-empty 1-D array, got shape {x.shape}")
    h = None if health_series is None else np.ascontiguousarray(health_series, dtype="<f8")
    if h is not None and h.ndim != 2:
        raise ConfigError(f"health_series must be 2-D, got shape {h.shape}")
    rows, cols = (0, 0) if h is None else h.shape
    head = _WINDOW_MAGIC + struct.pack("<III", x.size, rows, cols)
    body = x.tobytes() + (b"" if h is None else h.tobytes())
    return zlib.compress(head + body, 6)


def decode_window(blob: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    """Inverse of :func:`encode_window`: ``(curve, health_series or None)``."""
    raw = zlib.decompress(blob)
    if not raw.startswith(_WINDOW_MAGIC):
        raise ConfigError("not a nef window blob (bad magic)")
    off = len(_WINDOW_MAGIC)
    n, rows, cols = struct.unpack_from("<III", raw, off)
    off += 12
    curve = np.frombuffer(raw, dtype="<f8", count=n, offset=off).astype(np.float64)
    if rows == 0:
        return curve, None
    h = np.frombuffer(raw, dtype="<f8", count=rows * cols, offset=off + 8 * n)
    return curve, h.astype(np.float64).reshape(rows, cols)
