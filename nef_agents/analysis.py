"""deep_health_analysis: turn a paused window into evidence for the agents.

The analysis of a window has a *cheap* part, always computed now, and a *full*
part (curvature along the path, conditioning, term shares) that is computed
when the pattern is novel and otherwise adapted from the nearest remembered
analysis. All numbers are dimensionless unless stated:

cheap
  rel_improvement = (L_0 - min L) / |L_0|              progress over the window
  grad_ratio      = |g_T| / max_t |g_t|                 (NaN without gradients)
  step_ratio      = |s_T| / mean_t |s_t|
  reversal_rate   = share of consecutive steps with cos < 0
  loss_scale      = median |L|                          (loss units)
  step_norm       = mean_t |s_t|                        (x units)
full
  curv_max, curv_min = max / min of k_t = (g_{t+1} - g_t)·s_t / |s_t|^2   (loss / x^2)
  condition       = curv_max / curv_min over positive k_t (NaN if fewer than 2)
  neg_curv_frac   = share of k_t < 0
  term_share_max  = max_i E_i / sum E, E_i = sum_t (Δterm_i)^2, and term_argmax its index

Adapting a remembered analysis to the present scale keeps its dimensionless
numbers and rescales curvature by (loss_scale_now / loss_scale_then) /
(step_norm_now / step_norm_then)^2.

The memory is then asked what happened after each action on the nearest
remembered decision patterns (``optimization/decisions``): the agents and the
arbiter use those measured outcomes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

ANALYTICS = "optimization/health_analytics"
NOVEL = "optimization/health_analytics/novel"
DECISIONS = "optimization/decisions"
_SCALE_FREE_FULL = ("condition", "neg_curv_frac", "term_share_max", "term_argmax")


@dataclass(frozen=True)
class Snapshot:
    """The health window as arrays, one row per iteration (oldest first).

    losses (T,), points (T, d), grads (T, d) or None, terms (T, m) or None,
    nfevs (T,) evaluation counts, bests (T,) best value so far.
    """

    losses: np.ndarray
    points: np.ndarray
    grads: np.ndarray | None
    terms: np.ndarray | None
    nfevs: np.ndarray
    bests: np.ndarray


class ActionStat(BaseModel):
    """Memory's record of one action on similar patterns.

    ``mean_outcome``: distance-weighted mean outcome score in [-1, 1], weights
    1 / (1 + distance); ``harmful``: how many of those records were harmful.
    """

    action: str
    n: int
    mean_outcome: float
    harmful: int
    ids: list[int]


class Evidence(BaseModel):
    """What deep_health_analysis found, for the blackboard."""

    novel: bool
    nearest_distance: float | None
    analysis: dict[str, float]
    analysis_source: int | None = None
    stored_id: int | None = None
    action_stats: dict[str, ActionStat] = Field(default_factory=dict)


def cheap_analysis(s: Snapshot) -> dict[str, float]:
    """The always-computed numbers (see module docstring)."""
    L = s.losses[np.isfinite(s.losses)]
    out: dict[str, float] = {k: math.nan for k in
                             ("rel_improvement", "grad_ratio", "step_ratio", "reversal_rate", "loss_scale", "step_norm")}
    if L.size:
        out["rel_improvement"] = float((L[0] - L.min()) / (abs(L[0]) + 1e-300))
        out["loss_scale"] = float(np.median(np.abs(L)))
    if s.grads is not None and len(s.grads):
        gn = np.linalg.norm(s.grads, axis=1)
        out["grad_ratio"] = float(gn[-1] / gn.max()) if gn.max() > 0 else 0.0
    steps = np.diff(s.points, axis=0)
    if len(steps):
        sn = np.linalg.norm(steps, axis=1)
        out["step_norm"] = float(sn.mean())
        out["step_ratio"] = float(sn[-1] / sn.mean()) if sn.mean() > 0 else 0.0
        if len(steps) >= 2:
            dots = np.einsum("ij,ij->i", steps[1:], steps[:-1])
            ok = (sn[1:] > 0) & (sn[:-1] > 0)
            out["reversal_rate"] = float(np.mean(dots[ok] < 0)) if ok.any() else 0.0
    return out


def full_analysis(s: Snapshot) -> dict[str, float]:
    """Curvature along the path and term shares (see module docstring)."""
    out: dict[str, float] = {"curv_max": math.nan, "curv_min": math.nan, "condition": math.nan,
                             "neg_curv_frac": math.nan, "term_share_max": math.nan, "term_argmax": math.nan}
    steps = np.diff(s.points, axis=0)
    if s.grads is not None and len(steps):
        dg = np.diff(s.grads, axis=0)
        sn2 = np.einsum("ij,ij->i", steps, steps)
        ok = sn2 > 0
        if ok.any():
            k = np.einsum("ij,ij->i", dg[ok], steps[ok]) / sn2[ok]
            k = k[np.isfinite(k)]
            if k.size:
                out["curv_max"], out["curv_min"] = float(k.max()), float(k.min())
                out["neg_curv_frac"] = float(np.mean(k < 0))
                pos = k[k > 0]
                if pos.size >= 2:
                    out["condition"] = float(pos.max() / pos.min())
    if s.terms is not None and len(s.terms) >= 2 and s.terms.shape[1] >= 2:
        e = np.sum(np.diff(s.terms, axis=0) ** 2, axis=0)
        if np.isfinite(e).all() and e.sum() > 0:
            share = e / e.sum()
            out["term_share_max"] = float(share.max())
            out["term_argmax"] = float(np.argmax(share))
    return out


def adapt(remembered: dict[str, Any], now: dict[str, float]) -> dict[str, float]:
    """Rescale a remembered full analysis to the present loss and step scale."""
    out = {k: float(remembered.get(k, math.nan)) for k in _SCALE_FREE_FULL}
    ls_then, sn_then = float(remembered.get("loss_scale", math.nan)), float(remembered.get("step_norm", math.nan))
    ratio = math.nan
    if all(math.isfinite(v) and v > 0 for v in (ls_then, sn_then, now["loss_scale"], now["step_norm"])):
        ratio = (now["loss_scale"] / ls_then) / (now["step_norm"] / sn_then) ** 2
    for key in ("curv_max", "curv_min"):
        out[key] = float(remembered.get(key, math.nan)) * ratio
    return out


def deep_health_analysis(params: dict[str, Any], history: Snapshot, memory: Any) -> Evidence:
    """Analyse the window, consult memory, and return the agents' evidence.

    ``params``: ``novelty`` (distance above which a pattern is novel), ``k``
    (records per query), ``trend`` and ``engine`` (stored with a novel
    analysis). ``memory``: a :class:`~nef_agents.memory.gateway.MemoryGateway`
    or None (then the analysis is always computed and nothing is stored).
    """
    now = cheap_analysis(history)
    curve = history.losses[np.isfinite(history.losses)]
    if memory is None or curve.size < 4:
        return Evidence(novel=True, nearest_distance=None, analysis={**now, **full_analysis(history)})
    k = int(params.get("k", 8))
    near = memory.query(ANALYTICS, curve, k=1)
    dist = near[0]["distance"] if near else None
    novel = dist is None or dist > float(params.get("novelty", 1.5))
    source = stored = None
    if novel:
        full = full_analysis(history)
        analysis = {**now, **full}
        stored = memory.store_record(
            NOVEL, curve=curve, payload={"analysis": analysis, "trend": params.get("trend"),
                                         "engine": params.get("engine"), "dim": params.get("dim")},
            labels={"trend": str(params.get("trend")), "engine": str(params.get("engine"))})
    else:
        remembered = near[0]["payload"].get("analysis", {})
        analysis = {**now, **adapt(remembered, now)}
        source = near[0]["id"]
    stats = action_stats(memory.query(DECISIONS, curve, k=3 * k))
    return Evidence(novel=novel, nearest_distance=dist, analysis=analysis, analysis_source=source,
                    stored_id=stored, action_stats=stats)


def action_stats(records: list[dict[str, Any]]) -> dict[str, ActionStat]:
    """Aggregate remembered decision records by action (distance-weighted mean outcome)."""
    acc: dict[str, list[tuple[float, float, bool, int]]] = {}
    for r in records:
        pay = r.get("payload") or {}
        action, outcome = pay.get("action"), pay.get("outcome")
        if not isinstance(action, str) or not isinstance(outcome, int | float) or not math.isfinite(outcome):
            continue
        acc.setdefault(action, []).append((1.0 / (1.0 + float(r["distance"])), float(outcome),
                                           bool(pay.get("harmful")), int(r["id"])))
    out = {}
    for action, rows in sorted(acc.items()):
        w = np.array([r[0] for r in rows])
        o = np.array([r[1] for r in rows])
        out[action] = ActionStat(action=action, n=len(rows), mean_outcome=float(w @ o / w.sum()),
                                 harmful=sum(r[2] for r in rows), ids=[r[3] for r in rows])
    return out


def snapshot(losses: np.ndarray, points: np.ndarray, grads: np.ndarray | None, terms: np.ndarray | None,
             nfevs: np.ndarray, bests: np.ndarray) -> Snapshot:
    """Copy the window arrays into an immutable snapshot (rows aligned to the last T iterations)."""
    t = len(losses)
    return Snapshot(
        losses=np.array(losses, dtype=float), points=np.array(points, dtype=float),
        grads=None if grads is None else np.array(grads, dtype=float),
        terms=None if terms is None else np.array(terms, dtype=float),
        nfevs=np.array(nfevs[-t:], dtype=float), bests=np.array(bests[-t:], dtype=float))
