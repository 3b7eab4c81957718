"""Example objective for scenarios/custom-objective.toml: fit a damped oscillation to made-up data.

Model: y(t) = a exp(-b t) cos(c t); parameters x = (a, b, c). The data are 40
points of a=2, b=0.3, c=3 plus fixed Gaussian noise (sd 0.05), so the best loss
is about 9.5e-4 (near 0.5 * 0.05^2). The frequency c makes the loss multimodal:
fits with c near 1 or 5 are local minima.

A scenario names these as ``import = "example_objective:loss"`` and
``gradient = "example_objective:loss_grad"``; the scenario's folder is put on
``sys.path`` while importing, so the module needs no installation.
"""

from __future__ import annotations

import numpy as np

T = np.linspace(0.0, 6.0, 40)
_TRUE = (2.0, 0.3, 3.0)
Y = _TRUE[0] * np.exp(-_TRUE[1] * T) * np.cos(_TRUE[2] * T) + 0.05 * np.random.default_rng(7).standard_normal(T.size)


def _residual(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b, c = x
    decay, wave = np.exp(-b * T), np.cos(c * T)
    return a * decay * wave - Y, decay, wave


def loss(x: np.ndarray) -> float:
    """Half the mean squared residual."""
    r, _, _ = _residual(np.asarray(x, dtype=float))
    return float(0.5 * np.mean(r * r))


def loss_grad(x: np.ndarray) -> np.ndarray:
    """Analytic gradient of :func:`loss` with respect to (a, b, c)."""
    a, b, c = np.asarray(x, dtype=float)
    r, decay, wave = _residual(np.array([a, b, c]))
    da = decay * wave
    db = -a * T * decay * wave
    dc = -a * T * decay * np.sin(c * T)
    return np.array([np.mean(r * da), np.mean(r * db), np.mean(r * dc)])
