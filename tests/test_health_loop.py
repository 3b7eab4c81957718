"""The health monitor inside the minimize loop (agents off: pauses are only recorded)."""

from __future__ import annotations

import numpy as np

from nef_agents import functions as F
from nef_agents import minimize


def triggers(res):
    return {r["trigger"] for p in res.pauses for r in p["reasons"]}


def test_gd_with_too_large_step_on_ellipsoid_records_an_oscillation_pause():
    """GD at lr just under 2/L on an ill-conditioned ellipsoid zig-zags: an oscillation pause is recorded."""
    fn = F.ellipsoid(10, condition=1e3)
    res = minimize(fn.f, np.ones(10), jac=fn.grad, engine="gd", options={"learning_rate": 0.00099},
                   budget=300, seed=0, agents=False)
    assert "oscillation" in triggers(res)
    assert res.health.shape == (res.nit, 6) and np.all((res.health >= 0) & (res.health <= 1))


def test_gd_on_a_flat_region_records_a_plateau_pause():
    """Far out on log(1 + |x|^2) the slope is tiny: GD crawls and a plateau/slow pause is recorded."""
    def flat(x):
        return float(np.log1p(x @ x))

    res = minimize(flat, [100.0, 100.0], jac=lambda x: 2 * x / (1 + x @ x), engine="gd",
                   options={"learning_rate": 0.1}, budget=400, seed=0, agents=False)
    assert triggers(res) & {"plateau", "slow"}
    assert res.fun > 9.0  # it really is crawling: log(1 + 2e4) is about 9.9


def test_lbfgs_on_sphere_converges_without_a_pause():
    """A healthy quasi-Newton run on a sphere never pauses."""
    fn = F.sphere(5)
    res = minimize(fn.f, [1.0, -2.0, 3.0, 0.5, 2.0], jac=fn.grad, engine="lbfgs", seed=0, agents=False)
    assert res.success and res.pauses == [] and res.fun < 1e-12


def test_result_carries_health_pauses_and_anomalies_with_their_numbers():
    """Each pause names its triggers with value and threshold; health rows are per iteration."""
    fn = F.ellipsoid(10, condition=1e3)
    res = minimize(fn.f, np.ones(10), jac=fn.grad, engine="gd", options={"learning_rate": 0.00099},
                   budget=300, seed=0, agents=False)
    first = res.pauses[0]
    assert {"iteration", "nfev", "reasons"} <= set(first)
    assert all({"trigger", "value", "threshold"} <= set(r) for r in first["reasons"])
    assert list(res.health_names) == ["stability", "diversity", "resilience", "balance", "integration", "overall"]
