"""Replay: timeline filters, verification of a logged run, tamper detection, truncated logs, GraphML."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import networkx as nx
import pytest
from typer.testing import CliRunner

from nef_agents import functions as F
from nef_agents import minimize
from nef_agents.cli import app
from nef_agents.errors import ConfigError
from nef_agents.replay import decision_graph, load_events, timeline, verify, write_graphml

X0 = [2.5, 2.5]


def logged_run(log: Path, memory: Path, seed: int) -> None:
    """A seeded framework run on 2-D Rastrigin whose context makes it replayable."""
    fn = F.rastrigin(2)
    ctx = {
        "objective": "functions:rastrigin",
        "objective_params": {"dim": 2},
        "x0": X0,
        "jac": True,
        "engine": "lbfgs",
    }
    minimize(
        fn.f,
        X0,
        jac=fn.grad,
        engine="lbfgs",
        budget=800,
        seed=seed,
        memory=memory,
        log=log,
        context=ctx,
    )


@pytest.fixture(scope="module")
def second_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Log of a run made on a memory that already holds the records of an earlier run."""
    d = tmp_path_factory.mktemp("replay")
    logged_run(d / "first.jsonl", d / "m.sqlite", seed=0)
    logged_run(d / "decisions.jsonl", d / "m.sqlite", seed=1)
    return d / "decisions.jsonl"


def test_timeline_filters_by_kind_and_iteration(second_run: Path) -> None:
    """--only and --from/--to keep exactly the requested rows, each with a description."""
    events = load_events(second_run)
    every = timeline(events)
    assert {r.event for r in every} >= {
        "pause",
        "proposal",
        "critique",
        "decision",
        "engine_switched",
    }
    decisions = timeline(events, only="decisions")
    assert decisions and all(r.event == "decision" for r in decisions)
    assert len(decisions) == sum(e["event"] == "decision" for e in events)
    assert all(r.description.startswith("decide ") for r in decisions)
    assert all(r.event == "pause" for r in timeline(events, only="pauses"))
    lo, hi = decisions[0].iteration, decisions[-1].iteration
    window = timeline(events, start=lo + 1, stop=hi)
    assert window and all(lo + 1 <= r.iteration <= hi for r in window)
    with pytest.raises(ConfigError):
        timeline(events, only="nonsense")


def test_verify_matches_every_decision_with_memory_reads_replayed(second_run: Path) -> None:
    """Re-executing the logged run reproduces all decisions; its memory reads returned records."""
    events = load_events(second_run)
    assert any(e["event"] == "memory_query" and e["results"] for e in events), (
        "memory should have answered"
    )
    report = verify(events)
    n = sum(e["event"] == "decision" for e in events)
    assert report.ok, report.summary()
    assert report.decisions == n > 0 and report.runs == 1
    assert report.summary() == f"all {n} decisions match across 1 run"


@pytest.mark.parametrize("field", ["chosen.action", "score"])
def test_verify_names_the_tampered_decision(second_run: Path, field: str) -> None:
    """Changing one logged decision is reported at that event's index and field."""
    events = copy.deepcopy(load_events(second_run))
    idx = [i for i, e in enumerate(events) if e["event"] == "decision"][-1]
    if field == "score":
        events[idx]["score"] += 0.25
    else:
        events[idx]["chosen"]["action"] = "inject_diversity"
    report = verify(events)
    assert not report.ok
    assert report.difference.index == idx and report.difference.field == field
    assert f"event {idx} (decision" in report.summary()


def test_cli_verify_exits_1_on_a_tampered_log(second_run: Path, tmp_path: Path) -> None:
    """`nef replay --verify` prints the first difference and exits 1; the untouched log exits 0."""
    runner = CliRunner()
    ok = runner.invoke(app, ["replay", str(second_run), "--verify", "--only", "decisions"])
    assert ok.exit_code == 0, ok.output
    assert "decisions match across 1 run" in ok.stdout
    lines = second_run.read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if '"event":"decision"' in line)
    obj = json.loads(lines[i])
    obj["score"] = obj["score"] + 1.0
    lines[i] = json.dumps(obj)
    bad = tmp_path / "tampered.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    res = runner.invoke(app, ["replay", str(bad), "--verify", "--json"])
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert doc["verify"]["ok"] is False and doc["verify"]["difference"]["index"] == i


def test_truncated_log_replays_with_a_warning(second_run: Path, tmp_path: Path) -> None:
    """A log cut mid-line loads with a warning, verifies as far as logged, and the CLI warns on stderr."""
    text = second_run.read_text()
    cut = tmp_path / "run"
    cut.mkdir()
    (cut / "decisions.jsonl").write_text(
        text[: int(len(text) * 0.6)].rsplit("\n", 1)[0] + "\n" + '{"event": "pau'
    )
    with pytest.warns(UserWarning, match="truncated"):
        events = load_events(cut)
    report = verify(events)
    assert report.ok and report.incomplete, report.summary()
    res = CliRunner().invoke(app, ["replay", str(cut), "--only", "pauses"])
    assert res.exit_code == 0
    assert "truncated" in res.stderr


def test_graphml_round_trips_with_node_kinds(second_run: Path, tmp_path: Path) -> None:
    """The decision graph writes to GraphML and reads back with pause/proposal/critique/decision/outcome nodes."""
    events = load_events(second_run)
    g = decision_graph(events)
    path = write_graphml(g, tmp_path / "g" / "decisions.graphml")
    back = nx.read_graphml(path)
    kinds = set(nx.get_node_attributes(back, "kind").values())
    assert kinds == {"pause", "proposal", "critique", "decision", "outcome"}
    assert (
        back.number_of_nodes() == g.number_of_nodes()
        and back.number_of_edges() == g.number_of_edges()
    )
    decision = next(n for n, k in back.nodes(data="kind") if k == "decision")
    preds = {back.nodes[p]["kind"] for p in back.predecessors(decision)}
    assert preds >= {"critique", "proposal"}
    res = CliRunner().invoke(
        app, ["replay", str(second_run), "--graph", str(tmp_path / "cli.graphml"), "--json"]
    )
    assert res.exit_code == 0 and Path(json.loads(res.stdout)["graph"]).is_file()


def test_missing_log_is_a_clean_error(tmp_path: Path) -> None:
    """A path without a decision log exits 2 with one line naming it."""
    res = CliRunner().invoke(app, ["replay", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "nope" in res.stderr


def test_bad_only_value_exits_2(second_run: Path) -> None:
    """--only with an unknown kind is bad input (exit 2), naming the allowed values."""
    res = CliRunner().invoke(app, ["replay", str(second_run), "--only", "foo"])
    assert res.exit_code == 2 and "anomalies, decisions, pauses" in res.stderr


def test_scenario_run_folder_verifies(tmp_path: Path) -> None:
    """A folder from runner.run_scenario (two seeds, memory already filled) verifies through the CLI."""
    from nef_agents.runner import run_scenario
    from nef_agents.scenario import load_scenario

    (tmp_path / "s.toml").write_text(
        'objective = { function = "rastrigin" }\ndimension = 2\nx0 = [2.5, 2.5]\nbudget = 500\n'
        'seeds = [0, 1]\n[framework]\nengine = "lbfgs"\n[outputs]\nplots = false\n'
    )
    sc = load_scenario(tmp_path / "s.toml")
    for out in ("a", "b"):
        run_scenario(sc, memory=tmp_path / "m.sqlite", out_dir=tmp_path / out)
    (run,) = (tmp_path / "b").iterdir()
    events = load_events(run)
    assert any(e["event"] == "memory_query" and e["results"] for e in events)
    res = CliRunner().invoke(app, ["replay", str(run), "--verify", "--only", "decisions"])
    assert res.exit_code == 0, res.output
    assert "decisions match across 2 runs" in res.stdout
