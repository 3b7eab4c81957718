"""Learn which weighting of the five metrics predicts progress."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from nef_agents.errors import ConfigError

_N = 5
_STATE_KEYS = (
    "k",
    "lr",
    "beta",
    "share",
    "weights",
    "count",
    "mean_m",
    "mean_y",
    "cov",
    "var_m",
    "var_y",
    "pending",
)


class MetaLearner:
    """Online metric weights on the simplex (nonnegative, sum 1).

    Target: the relative loss improvement over the next ``k`` iterations,
    ``y_t = (L_t - L_{t+k}) / sum_{s=t}^{t+k-1} |L_{s+1} - L_s|`` in [-1, 1]
    (net progress per unit of loss path; 0 when the loss did not move), which
    is unchanged by scaling or shifting the objective.

    Each completed pair (metrics m_t, y_t) updates exponentially weighted
    (rate ``beta``) means, variances and covariances, giving a correlation
    rho_i of metric i with future improvement. Weights follow exponentiated
    gradient ``w_i <- w_i exp(lr * rho_i)``, renormalized, then mixed with the
    uniform weights (``w <- (1 - share) w + share / 5``, fixed share) so no
    weight dies and the learner can follow a change of regime. Five numbers:
    plain Python floats, cheaper than numpy at this size.
    """

    def __init__(
        self,
        k: int = 5,
        lr: float = 0.1,
        *,
        beta: float = 0.05,
        share: float = 0.01,
        weights: ArrayLike | None = None,
    ) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"`k` must be an integer >= 1, got {k!r}")
        if not (isinstance(lr, int | float) and 0.0 < lr < math.inf):
            raise ConfigError(f"`lr` must be a finite number > 0, got {lr!r}")
        if not (isinstance(beta, int | float) and 0.0 < beta <= 1.0):
            raise ConfigError(f"`beta` must be in (0, 1], got {beta!r}")
        if not (isinstance(share, int | float) and 0.0 <= share < 1.0):
            raise ConfigError(f"`share` must be in [0, 1), got {share!r}")
        self.k, self.lr, self.beta, self.share = k, float(lr), float(beta), float(share)
        w = (
            [1.0 / _N] * _N
            if weights is None
            else np.asarray(weights, dtype=float).ravel().tolist()
        )
        if len(w) != _N or not all(math.isfinite(v) and v >= 0 for v in w) or sum(w) <= 0:
            raise ConfigError(
                f"`weights` must be {_N} nonnegative numbers with a positive sum, got {w!r}"
            )
        self._w = [v / sum(w) for v in w]
        self.count = 0
        self._mean_m = [0.0] * _N
        self._mean_y = 0.0
        self._cov = [0.0] * _N
        self._var_m = [0.0] * _N
        self._var_y = 0.0
        self._pending: deque[tuple[list[float], float]] = deque(maxlen=k + 1)

    @property
    def weights(self) -> np.ndarray:
        """Current weights, shape (5,), on the simplex (a copy)."""
        return np.array(self._w)

    def weights_list(self) -> list[float]:
        """Current weights as a list of floats (a copy)."""
        return list(self._w)

    @property
    def correlations(self) -> np.ndarray:
        """Running correlation of each metric with the next-k improvement, in [-1, 1]."""
        return np.array(self._rho())

    def _rho(self) -> list[float]:
        out = []
        for c, v in zip(self._cov, self._var_m, strict=True):
            den = math.sqrt(v * self._var_y)
            out.append(min(1.0, max(-1.0, c / den)) if den > 1e-12 else 0.0)
        return out

    def observe(self, metrics: ArrayLike, loss: float) -> None:
        """Record this iteration's metrics and loss; non-finite inputs are skipped."""
        m = np.asarray(metrics, dtype=float).ravel().tolist()
        if len(m) != _N:
            raise ConfigError(f"`metrics` must have {_N} entries, got {len(m)}")
        self.observe_floats(m, float(loss))

    def observe_floats(self, m: list[float], loss: float) -> None:
        """:meth:`observe` for a list of 5 Python floats and a float loss (no conversion)."""
        if not (math.isfinite(loss) and all(math.isfinite(v) for v in m)):
            return
        pending = self._pending
        pending.append((m, loss))
        if len(pending) == self.k + 1:
            path = 0
            a = pending[0][1]
            for _, b in pending:
                path += abs(b - a)
                a = b
            y = (pending[0][1] - loss) / path if path > 0.0 else 0.0
            self._learn(pending[0][0], y)

    def _learn(self, m: list[float], y: float) -> None:
        b = self.beta
        if self.count == 0:
            self._mean_m, self._mean_y = list(m), y
        else:
            c1 = 1 - b
            mean_m, cov, var_m = self._mean_m, self._cov, self._var_m
            dy = y - self._mean_y
            new_mean, new_cov, new_var = [], [], []
            for i in range(_N):
                d = m[i] - mean_m[i]
                bd = b * d
                new_mean.append(mean_m[i] + bd)
                new_cov.append(c1 * (cov[i] + bd * dy))
                new_var.append(c1 * (var_m[i] + bd * d))
            self._mean_m, self._cov, self._var_m = new_mean, new_cov, new_var
            self._mean_y += b * dy
            self._var_y = c1 * (self._var_y + b * dy * dy)
        self.count += 1
        lr, var_y = self.lr, self._var_y
        w = []
        for wi, c, v in zip(self._w, self._cov, self._var_m, strict=True):
            den = math.sqrt(v * var_y)
            r = min(1.0, max(-1.0, c / den)) if den > 1e-12 else 0.0
            w.append(wi * math.exp(lr * r))
        total = sum(w)
        keep, floor = 1 - self.share, self.share / _N
        self._w = [keep * wi / total + floor for wi in w]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state; :meth:`from_dict` restores a learner that behaves identically."""
        return {
            "k": self.k,
            "lr": self.lr,
            "beta": self.beta,
            "share": self.share,
            "weights": list(self._w),
            "count": self.count,
            "mean_m": list(self._mean_m),
            "mean_y": self._mean_y,
            "cov": list(self._cov),
            "var_m": list(self._var_m),
            "var_y": self._var_y,
            "pending": [[list(m), loss] for m, loss in self._pending],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetaLearner:
        """Rebuild a learner from :meth:`to_dict` output; ConfigError on a missing key."""
        missing = [key for key in _STATE_KEYS if key not in data]
        if missing:
            raise ConfigError(f"MetaLearner state is missing keys {missing}")
        out = cls(
            data["k"], data["lr"], beta=data["beta"], share=data["share"], weights=data["weights"]
        )
        out._w = [float(v) for v in data["weights"]]  # exact, not renormalized
        out.count = int(data["count"])
        out._mean_m = [float(v) for v in data["mean_m"]]
        out._mean_y = float(data["mean_y"])
        out._cov = [float(v) for v in data["cov"]]
        out._var_m = [float(v) for v in data["var_m"]]
        out._var_y = float(data["var_y"])
        for m, loss in data["pending"]:
            out._pending.append(([float(v) for v in m], float(loss)))
        return out
