"""`nef memory`: tree, stats, query, show, export, import on a store filled by a real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nef_agents import functions as F
from nef_agents import minimize
from nef_agents.cli import app
from nef_agents.memory import MemoryStore

runner = CliRunner()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store written by one short framework run; returns (path, run id)."""
    path = tmp_path_factory.mktemp("mem") / "nef.sqlite"
    fn = F.rastrigin(2)
    res = minimize(fn.f, [2.5, 2.5], jac=fn.grad, engine="lbfgs", budget=600, seed=0, memory=path)
    assert MemoryStore(path, readonly=True).stats()["records"] > 0
    return path, res.run_id


def invoke_json(*args: str) -> object:
    res = runner.invoke(app, ["memory", *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_tree_and_stats_json_describe_the_store(store: tuple[Path, str]) -> None:
    """tree's root count equals stats' record count; both parse as JSON."""
    path, _ = store
    tree = invoke_json("tree", "--memory", str(path))
    stats = invoke_json("stats", "--memory", str(path))
    assert tree["path"] == "" and tree["count"] == stats["records"] > 0
    assert [c["path"] for c in tree["children"]] == ["optimization"]
    text = runner.invoke(app, ["memory", "tree", "--memory", str(path)])
    assert text.exit_code == 0 and "optimization" in text.stdout


def test_query_latest_like_and_pattern(store: tuple[Path, str], tmp_path: Path) -> None:
    """Without a pattern the latest k come back; --like and --pattern rank by distance."""
    path, run_id = store
    latest = invoke_json("query", "optimization", "-k", "2", "--memory", str(path))
    assert len(latest["results"]) == 2
    assert latest["results"][0]["id"] > latest["results"][1]["id"]  # newest first
    like = invoke_json("query", "optimization", "--like", run_id, "-k", "3", "--memory", str(path))
    dists = [r["distance"] for r in like["results"]]
    assert dists == sorted(dists) and dists[0] == pytest.approx(0.0, abs=1e-9)
    csv = tmp_path / "p.csv"
    csv.write_text("loss\n" + "\n".join(str(10.0 / (i + 1)) for i in range(20)) + "\n")
    pat = invoke_json("query", "", "--pattern", str(csv), "--level", "ultra", "--memory", str(path))
    assert pat["level"] == "ultra" and pat["results"]
    (tmp_path / "p.json").write_text("[3, 2, 1, 1, 1]")
    assert invoke_json("query", "", "--pattern", str(tmp_path / "p.json"), "--memory", str(path))[
        "results"
    ]
    bad = runner.invoke(
        app, ["memory", "query", "", "--like", "no-such-run", "--memory", str(path)]
    )
    assert bad.exit_code == 2 and "no-such-run" in bad.stderr


def test_show_prints_one_record_and_rejects_unknown_ids(store: tuple[Path, str]) -> None:
    """show --json returns the record with its curves; an unknown id exits 2."""
    path, run_id = store
    rec = invoke_json("show", "1", "--memory", str(path))
    assert rec["id"] == 1 and rec["run_id"] == run_id and isinstance(rec["full"], list)
    missing = runner.invoke(app, ["memory", "show", "99999", "--memory", str(path)])
    assert missing.exit_code == 2 and "99999" in missing.stderr


def test_export_then_import_copies_every_record(store: tuple[Path, str], tmp_path: Path) -> None:
    """export jsonl --out, then import into a fresh store, gives the same count; md exports too."""
    path, _ = store
    out = tmp_path / "dump.jsonl"
    doc = invoke_json("export", "", "--format", "jsonl", "--out", str(out), "--memory", str(path))
    assert out.is_file() and doc["records"] == len(out.read_text().splitlines()) > 0
    target = tmp_path / "copy.sqlite"
    imported = invoke_json("import", str(out), "--memory", str(target))
    assert imported["imported"] == doc["records"]
    assert invoke_json("stats", "--memory", str(target))["records"] == doc["records"]
    md = runner.invoke(
        app, ["memory", "export", "optimization", "--format", "md", "--memory", str(path)]
    )
    assert md.exit_code == 0 and md.stdout.strip()


def test_missing_and_corrupt_stores_exit_2_without_creating_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading a store that is not there names the path and creates nothing; garbage is one line."""
    missing = tmp_path / "none" / "nef.sqlite"
    for cmd in (["stats"], ["tree"], ["query", ""], ["show", "1"], ["export", ""]):
        res = runner.invoke(app, ["memory", *cmd, "--memory", str(missing)])
        assert res.exit_code == 2, (cmd, res.output)
        assert str(missing) in res.stderr
    assert not missing.parent.exists()
    monkeypatch.setenv("NEF_MEMORY", str(missing))
    assert runner.invoke(app, ["memory", "stats"]).exit_code == 2  # the env var is honoured
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 10)
    res = runner.invoke(app, ["memory", "stats", "--memory", str(junk)])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
