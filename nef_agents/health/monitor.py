"""HealthMonitor: one call per iteration ties the window, metrics, trend, anomalies and pauses together."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import TypeAdapter

from nef_agents.errors import ConfigError
from nef_agents.health.anomalies import MIN_COUNT, SPREAD_FLOOR, Baselines
from nef_agents.health.history import History
from nef_agents.health.meta import MetaLearner
from nef_agents.health.metrics import (
    _COS_TOL,
    _FP_TOL,
    _REL_TOL,
    _ZERO_REL,
    _resilience,
    check_weights,
)
from nef_agents.health.models import (
    METRIC_NAMES,
    Anomaly,
    HealthReport,
    MonitorStep,
    PauseDecision,
    PauseReason,
    Trend,
    trusted,
)
from nef_agents.health.pause import PauseConfig
from nef_agents.health.trend import _label

_INT = TypeAdapter(int)
_log = math.log
_SMALL_D = 32  # up to this many energies, Python floats beat numpy's per-call overhead


class HealthMonitor:
    """Watches a run through a sliding window; a pass-through that never changes the run.

    ``window``: iterates in the window (>= 3). ``pause``: pause thresholds.
    ``anomaly_threshold``: z-score beyond which a metric is anomalous.
    ``meta``: a :class:`MetaLearner` adapting the weights, ``"auto"`` (default)
    for a fresh one, or None to keep ``weights`` (default 0.2 each) fixed.

    State kept between calls: the window, the last 2W+1 losses for the
    plateau test, the largest gradient norm since the last reset (the
    reference scale for "stationary"), the metric baselines, the last pause
    iteration and the meta-learner. :meth:`reset_window` drops the first
    three (after a restart or engine switch); baselines, pause cooldown and
    learned weights carry over.
    """

    def __init__(
        self,
        window: int = 20,
        pause: PauseConfig | None = None,
        anomaly_threshold: float = 4.0,
        meta: MetaLearner | None | Literal["auto"] = "auto",
        *,
        weights: ArrayLike | None = None,
        spike_factor: float = 5.0,
        baseline_alpha: float = 0.1,
    ) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 3:
            raise ConfigError(f"`window` must be an integer >= 3, got {window!r}")
        if not anomaly_threshold > 0:
            raise ConfigError(f"`anomaly_threshold` must be > 0, got {anomaly_threshold!r}")
        if not spike_factor > 0:
            raise ConfigError(f"`spike_factor` must be > 0, got {spike_factor!r}")
        self.config = pause if pause is not None else PauseConfig()
        self.anomaly_threshold = float(anomaly_threshold)
        self.spike_factor = float(spike_factor)
        if isinstance(meta, str) and meta != "auto":
            raise ConfigError(f"`meta` must be a MetaLearner, None or 'auto', got {meta!r}")
        self.meta = MetaLearner() if isinstance(meta, str) else meta
        self._fixed_weights = check_weights(weights)
        self._fixed_list = self._fixed_weights.tolist()
        self.history = History(window)
        self.baselines = Baselines.init(alpha=baseline_alpha)
        self.last_pause: int | None = None
        self._recent: deque[float] = deque(maxlen=2 * self.config.plateau_window + 1)
        self._n_observed = 0
        self._max_grad = 0.0

    @property
    def weights(self) -> np.ndarray:
        """Weights the next report will use, shape (5,), summing to 1."""
        return self.meta.weights if self.meta is not None else self._fixed_weights.copy()

    def reset_window(self) -> None:
        """Start a fresh window (after a restart or engine switch) so stale steps don't count."""
        self.history.clear()
        self._recent.clear()
        self._n_observed = 0
        self._max_grad = 0.0

    def observe(
        self,
        iteration: int,
        nfev: int,
        loss: float,
        x: np.ndarray,
        grad: np.ndarray | None = None,
        terms: np.ndarray | None = None,
        n_failed: int = 0,
    ) -> MonitorStep:
        """Take in one iteration and return its report, anomalies, pause decision and trend.

        ``n_failed``: new failed evaluations since the last call. A non-finite
        ``loss`` or ``x`` is not added to the window and counts as one more
        failure; a non-finite ``grad`` or ``terms`` is dropped for this row.

        Same numbers as :func:`assess`, :func:`classify_trend`,
        :func:`detect_anomalies` and :func:`should_pause` on the window, but
        computed from what the window keeps up to date (Python floats for
        everything of size <= window, ring-ordered arrays for the reductions
        over d), each shared quantity once, and the records built without
        re-validating values that are valid by construction.
        """
        if type(iteration) is not int:
            iteration = _INT.validate_python(iteration)
        if type(nfev) is not int:
            nfev = _INT.validate_python(nfev)
        h = self.history
        xv = np.asarray(x, dtype=float).ravel()
        finite = math.isfinite(loss)
        s = ss = None
        if finite:
            # A finite |step|^2 (or |g|^2) proves every entry finite; only an
            # overflow or a NaN/inf sends us to the entrywise check.
            prev = h.prev_x
            if prev is not None and prev.size == xv.size:
                s = xv - prev
                ss = float(s @ s)
                if not math.isfinite(ss):
                    finite = bool(np.isfinite(xv).all())
            else:
                finite = bool(np.isfinite(xv).all())
        if finite:
            gv = gsq = tv = None
            if grad is not None:
                gv = np.asarray(grad, dtype=float).ravel()
                gsq = float(gv @ gv)
                if not math.isfinite(gsq) and not np.isfinite(gv).all():
                    gv = gsq = None
            if terms is not None:
                tv = np.asarray(terms, dtype=float).ravel()
                if not math.isfinite(float(tv @ tv)) and not np.isfinite(tv).all():
                    tv = None
            h.check(xv, gv, tv)
            loss = float(loss)
            h.push(loss, xv, s, ss, gv, gsq, tv)
            self._recent.append(loss)
            self._n_observed += 1
            if gsq is not None:
                self._max_grad = max(self._max_grad, math.sqrt(gsq))
        else:
            n_failed += 1
        weights = self.meta.weights_list() if self.meta is not None else list(self._fixed_list)
        report, values, vals, tol, rr, inc = self._report(iteration, weights)
        trend = self._trend(vals, tol, rr, inc)
        anomalies = self._anomalies(values, iteration, vals if finite else None, n_failed, tol)
        decision = self._pause(iteration, rr if len(vals) >= 2 else 0.0, report.overall)
        if decision.pause:
            self.last_pause = iteration
        if self.meta is not None and finite:
            self.meta.observe_floats(values, loss)
        return trusted(
            MonitorStep,
            {
                "iteration": iteration,
                "nfev": nfev,
                "report": report,
                "anomalies": anomalies,
                "pause": decision,
                "trend": trend,
            },
        )

    # --- the pieces of observe, on the window's incremental state ----------------------------

    def _report(
        self, iteration: int, w: list[float]
    ) -> tuple[HealthReport, list[float], list[float], float, float, float]:
        """The report, its five metrics, the window losses, their tolerance, the
        step reversal rate and the loss increase rate (the last four feed the trend)."""
        h = self.history
        vals = list(h.loss_q)
        n = len(vals)
        if n:
            lo, hi = min(vals), max(vals)
            tol = max(_REL_TOL * (hi - lo), _FP_TOL * max(abs(lo), abs(hi)))
        else:
            tol = 0.0
        dl = h.dloss_q
        # Consecutive step cosines (pairs with a relatively zero step are skipped).
        k = n - 1
        rr = 0.0
        scos: Sequence[float] = ()
        if k >= 2:
            small = _ZERO_REL * max(h.snorm_q)
            if min(h.spmin_q) > small:  # every pair counts: the kept count of reversals
                scos = h.scos_q
                rr = h.scos_neg / len(scos)
            else:
                scos = [c for c, mn in zip(h.scos_q, h.spmin_q, strict=True) if mn > small]
                if scos:
                    rr = len([c for c in scos if c < -_COS_TOL]) / len(scos)
        inc = len([v for v in dl if v > tol]) / (n - 1) if n >= 2 else 0.0
        has_grads = n > 0 and h.no_grad == 0
        if has_grads:
            if n >= 2:
                small = _ZERO_REL * max(h.gnorm_q)
                if min(h.gpmin_q) > small:
                    gcos = h.gcos_q
                else:
                    gcos = [c for c, mn in zip(h.gcos_q, h.gpmin_q, strict=True) if mn > small]
            else:
                gcos = ()
            coherence = (1.0 + sum(gcos) / len(gcos)) / 2.0 if gcos else 1.0
        else:
            coherence = (1.0 + sum(scos) / len(scos)) / 2.0 if scos else 1.0
        # Diversity: participation ratio of the step Gram matrix.
        d = h.dim or 0
        if d == 1 or k < 2:
            div = 1.0
        else:
            tr = sum(h.ssq_q)
            if tr <= 0.0:
                div = 0.0
            else:
                gram = h.ring_gram()
                pr = tr * tr / float(np.vdot(gram, gram))
                div = min(1.0, max(0.0, (pr - 1.0) / (min(k, d) - 1)))
        # Balance: entropy of the energy shares.
        if n > 0 and h.no_terms == 0 and h.m is not None and h.m >= 2:
            bal = 1.0 if n < 2 else _entropy_share(h.ring_dterms())
        elif has_grads:
            bal = _entropy_share(h.ring_grads())
        elif k > 0:
            bal = _entropy_share(h.ring_steps())
        else:
            bal = 1.0
        values = [
            (1.0 - rr) * (1.0 - inc),
            div,
            _resilience(vals, tol) if n >= 3 else 1.0,
            bal,
            coherence,
        ]
        overall = min(
            1.0,
            max(
                0.0,
                w[0] * values[0]
                + w[1] * values[1]
                + w[2] * values[2]
                + w[3] * values[3]
                + w[4] * values[4],
            ),
        )
        fields = {
            "iteration": iteration,
            "stability": values[0],
            "diversity": values[1],
            "resilience": values[2],
            "balance": values[3],
            "integration": values[4],
            "overall": overall,
            "weights": tuple(w),
            "n_points": n,
        }
        if (
            0.0 <= values[0] <= 1.0
            and 0.0 <= values[1] <= 1.0
            and 0.0 <= values[2] <= 1.0
            and 0.0 <= values[3] <= 1.0
            and 0.0 <= values[4] <= 1.0
            and 0.0 <= overall <= 1.0
        ):
            report = trusted(HealthReport, fields)
        else:  # NaN from an overflowing window: let validation say so, as before
            report = HealthReport(**fields)
        return report, values, vals, tol, rr, inc

    def _trend(self, vals: list[float], tol: float, rr: float, inc: float) -> Trend:
        """:func:`classify_trend` of the window from the shared parts."""
        n = len(vals)
        numbers: dict[str, float] = {"n": float(n)}
        if n < 2:
            return trusted(Trend, {"label": "plateau", "numbers": numbers})
        path = sum(map(abs, self.history.dloss_q))
        best_end = min(vals)
        span = max(vals) - best_end
        flat = span <= tol
        first = vals[0]
        drop = first - vals[-1]
        best_mid = min(vals[: (n - 1) // 2 + 1])
        gain = first - best_end
        numbers["efficiency"] = 0.0 if flat else drop / path
        numbers["net"] = 0.0 if flat else drop / span
        numbers["late_share"] = (best_mid - best_end) / gain if gain > tol else 0.0
        numbers["increase_rate"] = inc
        numbers["reversal_rate"] = rr
        numbers["flat"] = float(flat)
        h = self.history
        if h.no_grad == 0:
            gsq = h.gsq_q
            last = math.sqrt(gsq[-1])
            ref = math.sqrt(max(gsq))
            if self._max_grad:
                ref = max(ref, self._max_grad)
            if ref > 0.0:
                numbers["grad_ratio"] = last / ref
        return trusted(Trend, {"label": _label(numbers), "numbers": numbers})

    def _anomalies(
        self,
        values: list[float],
        iteration: int,
        vals: list[float] | None,
        n_failed: int,
        tol: float,
    ) -> list[Anomaly]:
        """:func:`detect_anomalies` (and the baseline update) from the shared parts."""
        bl = self.baselines
        thr = self.anomaly_threshold
        found: list[Anomaly] = []
        if bl.count >= MIN_COUNT:
            for i, (v, m, var) in enumerate(zip(values, bl.mean, bl.var, strict=True)):
                z = abs((v - m) / max(math.sqrt(var), SPREAD_FLOOR))
                if z > thr:
                    found.append(_anomaly("metric", METRIC_NAMES[i], v, m, z / thr, iteration))
        if n_failed > 0:
            nf = float(n_failed)
            found.append(_anomaly("failure", "evaluations", nf, 0.0, nf, iteration))
        if vals is not None and len(vals) >= 5:
            dl = self.history.dloss_q
            jump = dl[-1]
            factor = self.spike_factor
            # typical >= tol, so a jump within factor * tol is never a spike.
            if jump > factor * tol:
                # loss_spike(vals, factor), inlined: the median as statistics.median takes it.
                a = sorted([abs(v) for v in dl])
                a.remove(abs(jump))
                half = len(a) // 2
                med = a[half] if len(a) % 2 else (a[half - 1] + a[half]) / 2
                typical = max(med, tol)
                if typical > 0.0 and jump > factor * typical:
                    sev = jump / (factor * typical)
                    found.append(_anomaly("spike", "loss", jump, typical, sev, iteration))
        self.baselines = bl.update(values)
        return found

    def _pause(self, iteration: int, reversal_rate: float, health: float) -> PauseDecision:
        """:func:`should_pause` on the recent losses."""
        cfg = self.config
        reasons: list[PauseReason] = []
        w = cfg.plateau_window
        recent = self._recent
        r = list(recent)
        if len(r) >= 2 * w + 1:  # plateau_ratio(r, w), inlined (recent holds 2W+1 at most)
            b0, bw, bend = r[0], min(r[: w + 1]), min(r)
            floor = _FP_TOL * max(abs(b0), abs(bend))
            earlier, later = b0 - bw, bw - bend
            if earlier <= floor:
                ratio = 0.0 if later <= floor else float("inf")
            else:
                ratio = max(later, 0.0) / earlier
            if ratio < cfg.plateau_tol:
                reasons.append(_reason("plateau", ratio, cfg.plateau_tol))
        if cfg.slow_tol is not None and not reasons and len(r) >= w + 1:
            r = r[-(w + 1) :]  # slow_ratio(r, w), inlined
            b0, bend = r[0], min(r)
            gain = b0 - bend
            if b0 == 0.0:
                slow = float("inf") if gain > 0 else 0.0
            else:
                slow = max(gain, 0.0) / abs(b0)
            if slow < cfg.slow_tol:
                reasons.append(_reason("slow", slow, cfg.slow_tol))
        if reversal_rate > cfg.oscillation_threshold:
            reasons.append(_reason("oscillation", reversal_rate, cfg.oscillation_threshold))
        if health < cfg.health_threshold:
            reasons.append(_reason("health", health, cfg.health_threshold))
        blocked = None
        if self._n_observed < cfg.warmup:
            blocked = "warmup"
        elif self.last_pause is not None and iteration - self.last_pause <= cfg.cooldown:
            blocked = "cooldown"
        return trusted(
            PauseDecision,
            {"pause": bool(reasons) and blocked is None, "reasons": reasons, "blocked": blocked},
        )


def _entropy_share(rows: np.ndarray) -> float:
    """Balance of the column energies ``e_j = sum_i rows_ij^2``: ``H(e / sum e) / log(size)``."""
    e = np.einsum("ij,ij->j", rows, rows)
    size = e.size
    if size < 2:
        return 1.0
    if size <= _SMALL_D:
        el = e.tolist()
        total = sum(el)
        if total <= 0.0:
            return 1.0
        # A share that underflows to 0 contributes 0 to the entropy (0 log 0 = 0).
        plogp = sum([p * _log(p) for p in [v / total for v in el] if p > 0.0])
        return min(1.0, max(0.0, -plogp / math.log(size)))
    total = float(e.sum())
    if total <= 0.0:
        return 1.0
    p = e / total
    p = p[p > 0.0]
    return min(1.0, max(0.0, float(-(p @ np.log(p))) / math.log(size)))


def _anomaly(
    kind: str, metric: str, value: float, baseline: float, severity: float, iteration: int
) -> Anomaly:
    fields = {
        "kind": kind,
        "metric": metric,
        "value": value,
        "baseline": baseline,
        "severity": severity,
        "iteration": iteration,
    }
    return trusted(Anomaly, fields) if severity >= 0.0 else Anomaly(**fields)


def _reason(trigger: str, value: float, threshold: float) -> PauseReason:
    return trusted(PauseReason, {"trigger": trigger, "value": value, "threshold": float(threshold)})
