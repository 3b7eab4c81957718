"""Fast checks of the BBOB harness: budget enforcement, f_opt, ECDF arithmetic, outputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cocoex
import numpy as np
import pytest

from nef_agents.bench import bbob, ecdf, peers
from nef_agents.bench.bbob import Recorder, Task, bbob_fopt, run_bbob, run_task
from nef_agents.bench.peers import OPTIMIZERS, PEER_NAMES, BudgetReached
from nef_agents.errors import ConfigError


@pytest.mark.parametrize("name", PEER_NAMES)
def test_peer_stops_exactly_at_budget_on_bbob(name: str) -> None:
    """Each peer, through the harness's recorder, uses the whole budget and never more."""
    budget = 50 * 2
    r = run_task(Task(name, 8, 2, 1, budget, seed=3))
    assert r["error"] is None
    assert r["nfev"] == budget
    assert r["trace"][-1][0] <= budget and r["best_f"] == r["trace"][-1][1]


@pytest.mark.parametrize("name", PEER_NAMES)
def test_peer_never_calls_a_plain_function_past_budget(name: str) -> None:
    """A peer given a plain counting function (no recorder) still stops at the budget."""
    calls = []

    def sphere(x: np.ndarray) -> float:
        calls.append(1)
        return float(np.sum((x - 1.0) ** 2))

    lo, up = -5 * np.ones(3), 5 * np.ones(3)
    OPTIMIZERS[name](sphere, np.zeros(3), lo, up, 150, 0)
    assert len(calls) == 150


def test_recorder_refuses_calls_past_budget_even_if_optimizer_swallows_exceptions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """BudgetReached is not an Exception, so `except Exception: retry` cannot outrun it."""

    def stubborn(fun, x0, lower, upper, budget, seed, **kw) -> None:  # noqa: ANN001
        while True:
            try:
                fun(x0)
            except Exception:  # noqa: BLE001, S112 - the behaviour under test
                continue

    monkeypatch.setitem(OPTIMIZERS, "stubborn", stubborn)
    r = run_task(Task("stubborn", 1, 2, 1, 40, seed=0))
    assert (r["nfev"], r["overrun"], r["error"]) == (40, 1, None)


def test_recorder_traces_strict_improvements_only() -> None:
    """The trace keeps (nfev, f) at each new best; equal or NaN values add nothing."""
    values = iter([5.0, 7.0, 5.0, 3.0, float("nan"), 1.0])
    rec = Recorder(lambda x: next(values), budget=6)
    for _ in range(6):
        rec(np.zeros(2))
    assert rec.trace == [(1, 5.0), (4, 3.0), (6, 1.0)]
    with pytest.raises(BudgetReached):
        rec(np.zeros(2))
    assert rec.nfev == 6 and rec.overrun == 1


def test_bbob_fopt_matches_cocoex_observer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recomputed f_opt equals the Fopt cocoex's own observer writes into its .dat files."""
    monkeypatch.chdir(tmp_path)  # the observer writes to ./exdata
    suite = cocoex.Suite("bbob", "instances: 1-3,71", "dimensions: 2,5")
    observer = cocoex.Observer("bbob", "result_folder: fopt")
    checked = 0
    for problem in suite:
        f, d, i = problem.id_function, problem.dimension, problem.id_instance
        problem.observe_with(observer)
        problem(problem.initial_solution)
        problem.free()
        text = (tmp_path / f"exdata/fopt/data_f{f}/bbobexp_f{f}_DIM{d}.dat").read_text()
        logged = float(re.findall(r"Fopt \(([-+0-9.e]+)\)", text)[-1])  # last block = this instance
        assert bbob_fopt(f, i) == pytest.approx(logged, abs=1e-9), problem.id
        checked += 1
    assert checked == 24 * 4 * 2


def test_final_target_hit_agrees_with_fopt() -> None:
    """Where a peer solves a problem to 1e-8, cocoex agrees the final target was hit."""
    r = run_task(Task("nelder-mead", 1, 2, 2, 400, seed=0))
    assert r["best_precision"] <= 1e-8 and r["final_target_hit"] and r["fopt_consistent"]


def test_function_groups_partition_the_24_functions() -> None:
    """Groups are f1-5, f6-9, f10-14, f15-19, f20-24 and cover each function once."""
    assert [ecdf.GROUPS[g] for g in ecdf.GROUPS] == [
        (1, 2, 3, 4, 5),
        (6, 7, 8, 9),
        (10, 11, 12, 13, 14),
        (15, 16, 17, 18, 19),
        (20, 21, 22, 23, 24),
    ]
    assert sorted(f for g in ecdf.GROUPS.values() for f in g) == list(range(1, 25))
    assert ecdf.group_of(9) == "low/moderate conditioning"
    assert ecdf.group_of(10) == "high conditioning"
    with pytest.raises(ValueError):
        ecdf.group_of(25)


def test_targets_are_51_from_1e2_to_1e_8() -> None:
    """51 targets, 10**k for k = 2, 1.8, ..., -8; whole decades exact."""
    assert ecdf.TARGETS.size == 51
    assert ecdf.TARGETS[0] == 100.0 and ecdf.TARGETS[-1] == 1e-8 and ecdf.TARGETS[35] == 1e-5
    assert np.allclose(np.diff(np.log10(ecdf.TARGETS)), -0.2)


def _task(label: str, function: int, trace: list, dim: int = 2, budget: int = 2000) -> dict:
    return {
        "label": label,
        "function": function,
        "dim": dim,
        "instance": 1,
        "budget": budget,
        "fopt": 0.0,
        "trace": trace,
    }


def test_ecdf_fractions_are_hand_computable() -> None:
    """f_opt+1e-3 reached at eval 10 hits the 26 targets with k >= -3 (of 51) from eval 10 on."""
    hits = ecdf.first_hits([(3, 10.0 + 50.0), (10, 10.0 + 1e-3)], fopt=10.0)
    # precision 50 meets 10**2 and 10**1.8 (63.1); 1e-3 meets the next 24, down to 10**-3
    assert np.sum(hits == 3) == 2 and np.sum(hits == 10) == 24 and np.isinf(hits).sum() == 25

    fast = _task("a", 1, [(10, 1e-3)])  # at 10 evals: 26 of 51
    late = _task("a", 20, [(30, 1e-8)])  # at 30 evals: all 51; after 10·D = 20
    s = ecdf.summarize([fast, late])["a"]["2"]
    assert s["all"]["10D"] == pytest.approx(26 / 102)
    assert s["all"]["100D"] == pytest.approx((26 + 51) / 102)
    assert s["all"]["full"] == pytest.approx(77 / 102)
    assert s["separable"]["10D"] == pytest.approx(26 / 51)
    assert s["multimodal, weak structure"]["10D"] == 0.0
    assert s["high conditioning"]["full"] is None  # no task in that group


def test_checkpoints_past_the_budget_are_none() -> None:
    """With a 100·D budget, the 1000·D column is not reported."""
    s = ecdf.summarize([_task("a", 1, [(5, 1.0)], budget=200)])["a"]["2"]["all"]
    assert s["1000D"] is None and s["full"] == s["100D"] == pytest.approx(11 / 51)


def test_ecdf_curve_is_monotone_and_ends_at_final_fraction() -> None:
    """The ECDF rises with evaluations and ends at the full-budget fraction."""
    tasks = [_task("a", 1, [(10, 1e-3)]), _task("a", 2, [(300, 1e-6)])]
    c = ecdf.ecdf_curves(tasks)["a"]["2"]["all"]
    assert c["x"][0] == 0.0 and c["x"][-1] == pytest.approx(3.0)
    assert np.all(np.diff(c["y"]) >= 0)
    assert c["y"][-1] == pytest.approx(ecdf.summarize(tasks)["a"]["2"]["all"]["full"])


def test_quick_run_writes_json_tables_and_png(tmp_path: Path) -> None:
    """Two peers on one function, through the process pool, produce all outputs."""
    res = run_bbob(
        optimizers=("lbfgsb", "nelder-mead"),
        functions=(1,),
        quick=True,
        workers=2,
        out_dir=tmp_path,
    )
    assert res.json_path == tmp_path / "results.json" and (tmp_path / "ecdf_d2.png").is_file()
    doc = json.loads(res.json_path.read_text())
    assert len(doc["tasks"]) == 2 and {t["nfev"] for t in doc["tasks"]} == {200}
    assert doc["summary"]["lbfgsb"]["2"]["all"]["100D"] > 0.9  # sphere is easy
    table = bbob.format_tables(res)
    assert "| nelder-mead | 2 |" in table and (tmp_path / "tables.md").read_text() == table


def test_bad_settings_raise_config_error() -> None:
    """Unknown optimizers, dimensions and functions are named in a ConfigError."""
    with pytest.raises(ConfigError, match="nope"):
        run_bbob(optimizers=("nope",), out_dir=None)
    with pytest.raises(ConfigError, match="dims"):
        run_bbob(dims=(4,), optimizers=("gd",), out_dir=None)
    with pytest.raises(ConfigError, match="functions"):
        run_bbob(functions=(25,), optimizers=("gd",), out_dir=None)


def test_cli_quick_run_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The CLI exits 0 with tables on stdout, 2 with one error line for bad input."""
    argv = ["--quick", "--functions", "1", "--optimizers", "gd", "--workers", "1"]
    assert bbob.main([*argv, "--out", str(tmp_path)]) == 0
    assert "| gd | 2 |" in capsys.readouterr().out
    assert bbob.main(["--dims", "2-x", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error:")


def test_parse_ints_reads_ranges() -> None:
    """'1-3,5' is (1, 2, 3, 5)."""
    assert bbob._parse_ints("1-3,5") == (1, 2, 3, 5)


def test_registry_holds_peers_and_nef_variants() -> None:
    """Adding an optimizer is one registry entry; all named ones are there."""
    assert set(PEER_NAMES) | set(peers.NEF_NAMES) <= set(OPTIMIZERS)


def test_nef_runners_pass_budget_bounds_agents_and_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """nef variants call minimize with the task's budget and box; memory per variant."""
    import nef_agents

    seen: dict[str, dict] = {}

    def fake_minimize(fun, x0, *, bounds, budget, seed, agents, memory, **kw):  # noqa: ANN001
        for _ in range(budget):
            fun(x0)
        seen[current] = {"bounds": bounds, "budget": budget, "agents": agents, "memory": memory}

    monkeypatch.setattr(nef_agents, "minimize", fake_minimize, raising=False)
    for current in peers.NEF_NAMES:
        r = run_task(Task(current, 1, 2, 1, 30, seed=1))
        assert (r["nfev"], r["overrun"], r["error"]) == (30, 0, None)
    assert seen["nef"]["bounds"] == [(-5.0, 5.0)] * 2 and seen["nef"]["budget"] == 30
    assert seen["nef"]["agents"] and not seen["nef-noagents"]["agents"]
    assert str(seen["nef"]["memory"]).endswith("nef.sqlite")
    assert seen["nef-nomemory"]["memory"] is None


def test_warm_memory_experiment_gives_each_eval_task_a_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Warm runs share one store; 'warm' eval runs see all its records, 'empty' runs none,
    and eval runs never write back to the warmed store."""
    import sqlite3
    from contextlib import closing

    def remembering(fun, x0, lower, upper, budget, seed, memory=None, **kw) -> None:  # noqa: ANN001
        with closing(sqlite3.connect(memory)) as db:
            db.execute("create table if not exists runs (seed integer)")
            (seen,) = db.execute("select count(*) from runs").fetchone()
            db.execute("insert into runs values (?)", (seed,))
            db.commit()
        for _ in range(seen + 1):  # the evaluation count reports how many records it saw
            fun(x0)

    monkeypatch.setitem(OPTIMIZERS, "remembering", remembering)
    res = bbob.warm_memory_experiment(
        dims=(2,), functions=(1, 2), budget_multiplier=10, optimizer="remembering",
        workers=1, out_dir=tmp_path,
    )  # fmt: skip
    warm_runs = len(res.extra["warm_tasks"])
    assert warm_runs == 2 * 3
    nfev = {(t["label"], t["function"], t["instance"]): t["nfev"] for t in res.tasks}
    assert {v for (lab, *_), v in nfev.items() if lab == "remembering+warm"} == {warm_runs + 1}
    assert {v for (lab, *_), v in nfev.items() if lab == "remembering+empty"} == {1}
    with closing(sqlite3.connect(tmp_path / "warm-memory.sqlite")) as db:
        assert db.execute("select count(*) from runs").fetchone()[0] == warm_runs
