"""Analytic gradients of the built-in objectives agree with central finite differences."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nef_agents import functions

NAMES = sorted(functions.REGISTRY)


@cache
def build(name: str, dim: int) -> functions.TestFunction:
    """The objective, noise switched off so finite differences see a deterministic f."""
    params = {"noise": 0.0} if name == "noisy_sphere" else {}
    return functions.get(name, dim=dim, **params)


def total(v) -> float:
    """Sum of terms for multi-term objectives, the value itself otherwise."""
    return float(sum(v.values())) if isinstance(v, Mapping) else float(v)


def total_grad(v) -> np.ndarray:
    return (
        sum(np.asarray(g, dtype=float) for g in v.values())
        if isinstance(v, Mapping)
        else np.asarray(v)
    )


@st.composite
def function_and_point(draw):
    name = draw(st.sampled_from(NAMES))
    fixed = {"himmelblau": 2, "beale": 2}
    dim = fixed.get(name) or draw(st.sampled_from([2, 3, 5]))
    fn = build(name, dim)
    lo, hi = fn.bounds
    x = draw(
        st.lists(
            st.floats(lo, hi, allow_nan=False, allow_infinity=False), min_size=dim, max_size=dim
        )
    )
    return fn, np.array(x)


@settings(max_examples=200, deadline=None)
@given(function_and_point())
def test_gradient_matches_central_differences(case):
    """grad(x) equals the central difference (f(x+h e_i) - f(x-h e_i)) / 2h at random points."""
    fn, x = case
    if fn.name == "ackley":
        assume(np.linalg.norm(x) > 1e-3)  # sqrt(|x|^2) has a cusp at the origin
    if fn.name == "penalized_regression":
        assume(abs(x.sum() - fn.params["budget_cap"]) > 1e-3)  # max(0, .)^2 has a kink in f''
    g = total_grad(fn.grad(x))
    fd = np.empty_like(x)
    for i in range(x.size):
        h = 1e-6 * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        fd[i] = (total(fn.f(up)) - total(fn.f(down))) / (2 * h)
    # Rounding in f dominates the difference error: |f| eps / h, so scale the tolerance by |f|.
    scale = max(1.0, abs(total(fn.f(x))), float(np.max(np.abs(g))))
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6 * scale)


def test_every_registered_function_is_covered():
    """The strategy draws from the whole registry."""
    assert set(NAMES) == set(functions.REGISTRY) and len(NAMES) >= 10
