"""Pattern compression of loss curves: z-normalization, PAA, SAX, MINDIST.

A loss window ``x`` of length ``n`` is kept at three levels:

* ``full``: the raw window (and health series) as zlib-compressed float64
  bytes; round-trips bit for bit, NaN and inf included;
* ``short``: the PAA vector of the z-normalized curve plus a health vector;
* ``ultra``: the SAX word of that PAA vector plus labels (trend, action,
  outcome sign): tens of bytes, indexable as text.

Formulas (``w`` segments, alphabet size ``a``):

* z-normalization: ``z_t = (x_t - mean(x)) / std(x)`` (population std); a
  constant curve (``std == 0`` or ``std <= 1e-12 |mean|``) maps to zeros.
  Non-finite points are first replaced by linear interpolation between their
  finite neighbours (nearest finite value at the ends).
* PAA: ``p_i = (w/n) * integral of z over [i n/w, (i+1) n/w)`` with ``z`` a
  step function of unit-width cells, i.e. the plain segment mean when ``w``
  divides ``n`` and a length-weighted mean otherwise. A curve with ``n < w``
  is linearly interpolated to ``w`` points first.
* SAX breakpoints: ``beta_j = Phi^{-1}(j / a)`` for ``j = 1..a-1`` (standard
  normal quantiles, equiprobable symbols); symbol ``s`` (letter ``'a' + s``)
  covers ``[beta_s, beta_{s+1})`` with ``beta_0 = -inf`` and ``beta_a = +inf``.
* MINDIST between words ``A`` and ``B``::

      MINDIST(A, B) = sqrt(n / w) * sqrt(sum_i cell(A_i, B_i)^2)
      cell(r, c) = 0                                 if |r - c| <= 1
                 = beta_{max(r,c)} - beta_{min(r,c)+1} otherwise

  (0-based symbols). It lower-bounds the Euclidean distance of the
  z-normalized series; with ``n = w`` (the default here, since records have
  different lengths and are compared in PAA space) it lower-bounds the PAA
  Euclidean distance ``||p - q||``.
* The store's index uses the tighter bound between a real PAA vector ``q``
  and a word ``B``: ``LB(q, B)^2 = sum_i gap(q_i, [beta_{B_i}, beta_{B_i+1}])^2``
  where ``gap`` is 0 inside the interval and the distance to its nearer end
  outside. Since ``p_i`` lies inside its own interval, ``LB <= ||p - q||``.
* Index word: the SAX symbols of the same PAA at cardinality
  ``a * INDEX_REFINEMENT`` (64 for ``a = 8``), as bytes. Its breakpoints
  contain those of alphabet ``a`` (``j/a = jr/(ar)``), so the ultra symbol is
  ``index_symbol // r`` (iSAX-style refinement); the finer intervals make the
  lower bound much tighter (on random walks ~15 instead of ~600 candidates per
  10^5 records for k = 5).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from scipy.stats import norm

from nef_agents.errors import ConfigError
from nef_agents.memory.codec import decode_window, encode_window
from nef_agents.memory.labels import make_labels, outcome_sign, trend_label, trend_labels
from nef_agents.memory.records import same_value

__all__ = [
    "DEFAULT_SEGMENTS",
    "DEFAULT_ALPHABET",
    "HEALTH_DIM",
    "Pattern",
    "extract_pattern",
    "extract_patterns",
    "clean_curve",
    "znormalize",
    "paa",
    "breakpoints",
    "sax_symbols",
    "sax_word",
    "index_word",
    "word_symbols",
    "mindist_cells",
    "mindist",
    "ordered_sum",
    "lower_bound_costs",
    "paa_distance",
    "full_distance",
    "encode_window",
    "decode_window",
    "health_vector",
    "trend_label",
    "trend_labels",
    "outcome_sign",
    "make_labels",
]

DEFAULT_SEGMENTS = 16
DEFAULT_ALPHABET = 8
INDEX_REFINEMENT = 8
HEALTH_DIM = 5


def _check_params(segments: int, alphabet: int) -> None:
    if not isinstance(segments, (int, np.integer)) or not 1 <= segments <= 1024:
        raise ConfigError(f"segments must be an integer in [1, 1024], got {segments!r}")
    if not isinstance(alphabet, (int, np.integer)) or not 2 <= alphabet <= 26:
        raise ConfigError(f"alphabet must be an integer in [2, 26], got {alphabet!r}")


def _as_curve(curve: Any, name: str = "curve") -> np.ndarray:
    x = np.asarray(curve, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ConfigError(f"{name} must be a non-empty 1-D array, got shape {x.shape}")
    return x


def clean_curve(curve: Any) -> np.ndarray:
    """Replace non-finite points by linear interpolation between finite neighbours."""
    x = _as_curve(curve)
    ok = np.isfinite(x)
    if ok.all():
        return x
    if not ok.any():
        raise ConfigError("curve has no finite values")
    idx = np.arange(x.size)
    return np.interp(idx, idx[ok], x[ok])


def _znorm_rows(x: np.ndarray) -> np.ndarray:
    """z-normalize each row of a finite ``(m, n)`` matrix (constant rows become zeros)."""
    mu = x.mean(axis=1, keepdims=True)
    dev = x - mu
    sd = np.sqrt((dev * dev).mean(axis=1, keepdims=True))
    const = (sd == 0.0) | (sd <= 1e-12 * np.abs(mu))
    return np.where(const, 0.0, dev / np.where(const, 1.0, sd))


def _paa_rows(x: np.ndarray, segments: int) -> np.ndarray:
    """PAA of each row of an ``(m, n)`` matrix (see the module formulas)."""
    m, n = x.shape
    if n % segments == 0:
        return x.reshape(m, segments, n // segments).mean(axis=2)
    if n < segments:
        # Too short to average: interpolate up to one point per segment.
        if n == 1:
            return np.repeat(x, segments, axis=1)
        pos = np.linspace(0.0, n - 1.0, segments)
        lo = np.minimum(pos.astype(np.intp), n - 2)
        return x[:, lo] + (pos - lo) * (x[:, lo + 1] - x[:, lo])
    # The integral of the step function is the cumsum, linear between points.
    csum = np.concatenate((np.zeros((m, 1)), np.cumsum(x, axis=1)), axis=1)
    edges = np.arange(segments + 1) * (n / segments)
    lo = np.minimum(edges.astype(np.intp), n - 1)
    f = csum[:, lo] + (edges - lo) * x[:, lo]
    return (f[:, 1:] - f[:, :-1]) * (segments / n)


def znormalize(curve: Any) -> np.ndarray:
    """``(x - mean) / std`` with population std; a constant curve gives zeros."""
    return _znorm_rows(clean_curve(curve)[None, :])[0]


def paa(z: Any, segments: int = DEFAULT_SEGMENTS) -> np.ndarray:
    """Piecewise aggregate approximation of ``z`` into ``segments`` length-weighted means."""
    return _paa_rows(_as_curve(z)[None, :], segments)[0]


@functools.lru_cache(maxsize=32)
def _breakpoints(alphabet: int) -> np.ndarray:
    bp = norm.ppf(np.arange(1, alphabet) / alphabet)
    bp.setflags(write=False)
    return bp


def breakpoints(alphabet: int = DEFAULT_ALPHABET) -> np.ndarray:
    """SAX breakpoints ``Phi^{-1}(j/a)``, ``j = 1..a-1`` (read-only, increasing); ``2 <= a <= 256``."""
    if not isinstance(alphabet, (int, np.integer)) or not 2 <= alphabet <= 256:
        raise ConfigError(f"cardinality must be an integer in [2, 256], got {alphabet!r}")
    return _breakpoints(int(alphabet))


def sax_symbols(p: Any, alphabet: int = DEFAULT_ALPHABET) -> np.ndarray:
    """Symbol index (0..a-1) of each PAA value: the number of breakpoints ``<= p_i``."""
    return np.searchsorted(breakpoints(alphabet), np.asarray(p, dtype=np.float64), side="right")


def sax_word(p: Any, alphabet: int = DEFAULT_ALPHABET) -> str:
    """SAX word of a PAA vector: letters ``'a'..`` for symbols ``0..a-1``."""
    _check_params(1, alphabet)
    return bytes((sax_symbols(p, alphabet) + 97).astype(np.uint8)).decode("ascii")


def index_word(p: Any, alphabet: int = DEFAULT_ALPHABET) -> bytes:
    """Index word: one byte per segment, the symbol at cardinality ``a * INDEX_REFINEMENT``."""
    return sax_symbols(p, alphabet * INDEX_REFINEMENT).astype(np.uint8).tobytes()


def word_symbols(word: str) -> np.ndarray:
    """Inverse of the letter coding: ``'abc' -> [0, 1, 2]``."""
    return np.frombuffer(word.encode("ascii"), dtype=np.uint8).astype(np.int64) - 97


@functools.lru_cache(maxsize=32)
def _cells(alphabet: int) -> np.ndarray:
    bp = _breakpoints(alphabet)
    r = np.arange(alphabet)[:, None]
    c = np.arange(alphabet)[None, :]
    hi, lo = np.maximum(r, c), np.minimum(r, c)
    gap = np.where(
        hi - lo <= 1, 0.0, bp[np.clip(hi - 1, 0, None)] - bp[np.clip(lo, None, alphabet - 2)]
    )
    gap.setflags(write=False)
    return gap


def mindist_cells(alphabet: int = DEFAULT_ALPHABET) -> np.ndarray:
    """The ``(a, a)`` table ``cell(r, c)`` of per-symbol gaps used by MINDIST."""
    _check_params(1, alphabet)
    return _cells(int(alphabet))


def ordered_sum(terms: np.ndarray) -> np.ndarray:
    """Sum over the last axis in ascending order, sequentially.

    The result depends only on the multiset of terms, so two words whose gaps
    are permutations of each other get bit-identical MINDIST: ties stay ties
    and break by id the same way in the store and in a brute-force check.
    """
    return np.cumsum(np.sort(terms, axis=-1), axis=-1)[..., -1]


def mindist(
    word_a: str, word_b: str, alphabet: int = DEFAULT_ALPHABET, n: int | None = None
) -> float:
    """``sqrt(n/w) * sqrt(sum_i cell(a_i, b_i)^2)``; ``n`` defaults to ``w`` (PAA space)."""
    if len(word_a) != len(word_b):
        raise ConfigError(f"SAX words differ in length: {len(word_a)} vs {len(word_b)}")
    w = len(word_a)
    cells = mindist_cells(alphabet)
    d = cells[word_symbols(word_a), word_symbols(word_b)]
    return math.sqrt((n if n is not None else w) / w) * math.sqrt(float(ordered_sum(d * d)))


def lower_bound_costs(q: Any, alphabet: int = DEFAULT_ALPHABET) -> np.ndarray:
    """``(w, a)`` table of ``gap(q_i, interval of symbol s)^2``; sum over a word gives ``LB^2``.

    ``alphabet`` is any cardinality in ``[2, 256]`` (the index uses ``8a``).
    """
    q = np.asarray(q, dtype=np.float64)
    bp = breakpoints(alphabet)
    lo = np.concatenate(([-np.inf], bp))[None, :]
    hi = np.concatenate((bp, [np.inf]))[None, :]
    qq = q[:, None]
    gap = np.where(qq < lo, lo - qq, np.where(qq > hi, qq - hi, 0.0))
    return gap * gap


def paa_distance(q: Any, rows: Any) -> np.ndarray:
    """Euclidean distance ``||r - q||`` from PAA vector ``q`` to each row of ``rows``."""
    diff = np.asarray(rows, dtype=np.float64) - np.asarray(q, dtype=np.float64)
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def _resample(x: np.ndarray, length: int) -> np.ndarray:
    if x.size == length:
        return x
    if x.size == 1:
        return np.full(length, x[0])
    return np.interp(np.linspace(0.0, x.size - 1.0, length), np.arange(x.size), x)


def full_distance(a: Any, b: Any) -> float:
    """Distance of two raw windows: ``||z(A) - z(B)|| / sqrt(L)``.

    Both curves are cleaned, resampled by linear interpolation to the common
    length ``L = max(len(a), len(b))`` and z-normalized; dividing by
    ``sqrt(L)`` (an RMS) keeps pairs of different lengths comparable. Range
    ``[0, 2]``.
    """
    ca, cb = clean_curve(a), clean_curve(b)
    length = max(ca.size, cb.size)
    d = znormalize(_resample(ca, length)) - znormalize(_resample(cb, length))
    return float(np.sqrt(np.dot(d, d) / length))


def health_vector(health: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(vector, series)`` from a length-5 vector or a ``(T, 5)`` series.

    The vector of a series is its column-wise mean over finite values (the
    health state of the whole window); the series itself is kept for ``full``.
    """
    if health is None:
        return None, None
    h = np.asarray(health, dtype=np.float64)
    if h.shape == (HEALTH_DIM,):
        return h.copy(), None
    if h.ndim == 2 and h.shape[1] == HEALTH_DIM and h.shape[0] >= 1:
        with np.errstate(all="ignore"):
            finite = np.where(np.isfinite(h), h, 0.0)
            cnt = np.isfinite(h).sum(axis=0)
            vec = np.where(cnt > 0, finite.sum(axis=0) / np.maximum(cnt, 1), np.nan)
        return vec, h.copy()
    raise ConfigError(f"health must have shape (5,) or (T, 5), got {h.shape}")


def _readonly(a: np.ndarray | None) -> np.ndarray | None:
    if a is not None:
        a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Pattern:
    """One window at all three levels (arrays are read-only).

    ``paa`` and ``sax`` describe the z-normalized curve; ``health`` is the
    length-5 health vector or ``None``; ``curve``/``health_series`` are the raw
    window kept for the ``full`` level (``None`` if not available).
    """

    paa: np.ndarray
    sax: str
    segments: int
    alphabet: int
    length: int
    health: np.ndarray | None = None
    labels: dict[str, str] = field(default_factory=dict)
    curve: np.ndarray | None = None
    health_series: np.ndarray | None = None

    @property
    def symbols(self) -> np.ndarray:
        """SAX symbols as integers ``0..a-1``."""
        return word_symbols(self.sax)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pattern):
            return NotImplemented
        return all(same_value(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    __hash__ = None  # type: ignore[assignment]


def extract_patterns(
    curves: Sequence[Any],
    healths: Sequence[Any] | None = None,
    *,
    segments: int = DEFAULT_SEGMENTS,
    alphabet: int = DEFAULT_ALPHABET,
    labels: Sequence[Mapping[str, Any] | None] | None = None,
    payloads: Sequence[Mapping[str, Any] | None] | None = None,
    trend: bool = True,
) -> list[Pattern]:
    """:func:`extract_pattern` for many windows at once.

    Windows of equal length are z-normalized, reduced and symbolized as one
    matrix (the batch path of ``store_many``); the result is identical to
    calling :func:`extract_pattern` on each, which is this with one window.
    ``trend=False`` skips the fallback trend label (queries need none).
    """
    _check_params(segments, alphabet)
    count = len(curves)
    healths = healths if healths is not None else [None] * count
    labels = labels if labels is not None else [None] * count
    payloads = payloads if payloads is not None else [None] * count
    raws = [_as_curve(c).copy() for c in curves]
    cleans = [clean_curve(r) for r in raws]
    by_length: dict[int, list[int]] = {}
    for i, c in enumerate(cleans):
        by_length.setdefault(c.size, []).append(i)
    paas: list[np.ndarray] = [np.empty(0)] * count
    words: list[str] = [""] * count
    trends: list[str] = [""] * count
    for idx in by_length.values():
        x = np.stack([cleans[i] for i in idx])
        p = _paa_rows(_znorm_rows(x), segments)
        letters = (sax_symbols(p, alphabet) + 97).astype(np.uint8)
        for j, i in enumerate(idx):
            paas[i] = _readonly(p[j].copy())
            words[i] = letters[j].tobytes().decode("ascii")
        for j, t in enumerate(trend_labels(x) if trend else ()):
            trends[idx[j]] = t
    out = []
    for i in range(count):
        hv, hs = health_vector(healths[i])
        lab = make_labels(None, payloads[i], labels[i])
        if trend:
            lab.setdefault("trend", trends[i])
        out.append(
            Pattern(
                paa=paas[i],
                sax=words[i],
                segments=int(segments),
                alphabet=int(alphabet),
                length=int(raws[i].size),
                health=_readonly(hv),
                labels=lab,
                curve=_readonly(raws[i]),
                health_series=_readonly(hs),
            )
        )
    return out


def extract_pattern(
    curve: Any,
    health: Any = None,
    *,
    segments: int = DEFAULT_SEGMENTS,
    alphabet: int = DEFAULT_ALPHABET,
    labels: Mapping[str, Any] | None = None,
    payload: Mapping[str, Any] | None = None,
    trend: bool = True,
) -> Pattern:
    """Build the :class:`Pattern` of a loss window (and optional health, shape (5,) or (T, 5)).

    Labels come from :func:`make_labels`; ``trend=False`` skips the fallback trend.
    """
    return extract_patterns(
        [curve], [health], segments=segments, alphabet=alphabet, labels=[labels],
        payloads=[payload], trend=trend,
    )[0]  # fmt: skip
