"""SQLite backend: file location, pragmas, schema versions, bad files, processes, crashes."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from nef_agents.errors import ConfigError, StoreError
from nef_agents.memory import MemoryStore, default_store_path
from nef_agents.memory.store import MIGRATIONS, SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[1]


def _curve(seed: int = 0, n: int = 30) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n).cumsum()


def _fill(path: Path, n: int = 50) -> None:
    with MemoryStore(path) as s:
        s.store_many([{"path": f"a/{i % 3}", "curve": _curve(i)} for i in range(n)])


def test_default_path_prefers_explicit_then_env_then_cwd(tmp_path, monkeypatch):
    """default_store_path: explicit > $NEF_MEMORY > ./memory/nef.sqlite."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEF_MEMORY", raising=False)
    assert default_store_path() == tmp_path / "memory" / "nef.sqlite"
    monkeypatch.setenv("NEF_MEMORY", str(tmp_path / "env.sqlite"))
    assert default_store_path() == tmp_path / "env.sqlite"
    assert default_store_path(tmp_path / "x.sqlite") == tmp_path / "x.sqlite"
    assert default_store_path(":memory:") == ":memory:"


def test_default_store_is_created_with_its_folder_on_first_use(tmp_path, monkeypatch):
    """MemoryStore() creates memory/nef.sqlite under the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEF_MEMORY", raising=False)
    with MemoryStore() as s:
        s.store("a", curve=_curve())
    assert (tmp_path / "memory" / "nef.sqlite").stat().st_size > 0


def test_connection_uses_wal_busy_timeout_foreign_keys_and_schema_version(tmp_path):
    """WAL journal, 30 s busy timeout, foreign keys on, schema_version = SCHEMA_VERSION."""
    with MemoryStore(tmp_path / "s.sqlite") as s:
        c = s.conn
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert c.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
        assert c.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert c.execute("SELECT max(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
        assert len(MIGRATIONS) == SCHEMA_VERSION
        with pytest.raises(sqlite3.IntegrityError):  # tags must point at a record
            c.execute("INSERT INTO tags (tag, record_id) VALUES ('x', 999)")


def test_other_connections_writes_invalidate_the_query_cache(tmp_path):
    """A record written through another store object shows up in the next query."""
    path = tmp_path / "s.sqlite"
    a, b = MemoryStore(path), MemoryStore(path)
    a.store("p", curve=_curve(1))
    assert len(a.query("p", _curve(2), k=5)) == 1
    rid = b.store("p", curve=_curve(2))
    got = a.query("p", _curve(2), k=5)
    assert len(got) == 2 and got[0].record.id == rid and got[0].distance == 0.0
    a.close()
    b.close()


def test_newer_schema_version_is_refused_and_file_untouched(tmp_path):
    """A store written by a newer schema version raises StoreError mentioning 'newer'."""
    path = tmp_path / "s.sqlite"
    _fill(path, 3)
    with sqlite3.connect(path) as c:
        c.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer") as err:
        MemoryStore(path)
    assert str(path) in str(err.value) and path.read_bytes() == before


def test_empty_sqlite_database_is_migrated_from_version_zero(tmp_path):
    """An SQLite file without tables is upgraded through every migration."""
    path = tmp_path / "s.sqlite"
    sqlite3.connect(path).close()
    with MemoryStore(path) as s:
        assert s.schema_version == SCHEMA_VERSION and s.count() == 0


def test_text_file_is_refused_naming_it_and_left_byte_identical(tmp_path):
    """A non-SQLite file at the store path gives StoreError naming the file; its bytes are unchanged."""
    path = tmp_path / "notes.sqlite"
    path.write_text("these are my notes, not a database\n" * 10)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not an SQLite database") as err:
        MemoryStore(path)
    assert str(path) in str(err.value) and path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()


def test_truncated_sqlite_file_is_refused_and_left_byte_identical(tmp_path):
    """A truncated SQLite file (no WAL beside it) gives a clear StoreError; bytes unchanged."""
    path = tmp_path / "s.sqlite"
    _fill(path, 400)
    whole = path.read_bytes()
    for cut in (len(whole) // 2, len(whole) // 2 + 123, 60):
        path.write_bytes(whole[:cut])
        with pytest.raises(StoreError, match="truncated") as err:
            MemoryStore(path)
        assert str(path) in str(err.value) and path.read_bytes() == whole[:cut]


def test_malformed_sqlite_file_is_refused_and_left_byte_identical(tmp_path):
    """A valid SQLite header followed by garbage pages gives StoreError; bytes unchanged."""
    path = tmp_path / "s.sqlite"
    _fill(path, 5)
    whole = path.read_bytes()
    garbage = whole[:100] + np.random.default_rng(0).bytes(len(whole) - 100)
    path.write_bytes(garbage)
    with pytest.raises(StoreError) as err:
        MemoryStore(path)
    assert str(path) in str(err.value) and path.read_bytes() == garbage


def test_foreign_sqlite_database_is_refused_and_left_byte_identical(tmp_path):
    """An SQLite database with other tables is not taken over."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE people (name TEXT)")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a nef memory store"):
        MemoryStore(path)
    assert path.read_bytes() == before


def test_zero_byte_file_is_initialized_as_a_new_store(tmp_path):
    """A zero-byte file at the store path becomes an empty store (documented)."""
    path = tmp_path / "empty.sqlite"
    path.touch()
    with MemoryStore(path) as s:
        s.store("a", curve=_curve())
    with MemoryStore(path) as s:
        assert s.count() == 1


def test_readonly_store_reads_but_refuses_writes(tmp_path):
    """readonly=True reads an existing store; writes raise StoreError; a missing file is an error."""
    path = tmp_path / "s.sqlite"
    _fill(path, 10)
    with MemoryStore(path, readonly=True) as s:
        assert s.count() == 10 and len(s.query("a", _curve(3))) == 5
        with pytest.raises(StoreError, match="read-only"):
            s.store("a", curve=_curve())
        with pytest.raises(StoreError, match="read-only"):
            s.put_meta("k", 1)
    with pytest.raises(StoreError, match="does not exist"):
        MemoryStore(tmp_path / "missing.sqlite", readonly=True)


def test_unwritable_location_gives_a_clear_store_error(tmp_path):
    """A folder that cannot be created or written gives StoreError naming the path."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create folder"):
        MemoryStore(blocker / "sub" / "s.sqlite")
    with pytest.raises(StoreError, match="directory"):
        MemoryStore(tmp_path)
    if os.geteuid() == 0:
        pytest.skip("root ignores permission bits; the chmod half cannot run")
    ro = tmp_path / "ro"
    ro.mkdir()
    _fill(ro / "s.sqlite", 2)
    ro.chmod(0o555)
    try:
        with pytest.raises(StoreError, match="read-only location"):
            MemoryStore(ro / "s.sqlite")
        with pytest.raises(StoreError, match="not writable"):
            MemoryStore(ro / "new.sqlite")
    finally:
        ro.chmod(0o755)


def test_reopening_with_other_sax_parameters_is_a_config_error(tmp_path):
    """segments/alphabet are fixed when the store is created."""
    path = tmp_path / "s.sqlite"
    MemoryStore(path, segments=8, alphabet=6).close()
    with MemoryStore(path) as s:
        assert (s.segments, s.alphabet) == (8, 6)
        assert len(s.get(s.store("a", curve=_curve())).sax) == 8
    with pytest.raises(ConfigError, match="segments=16"):
        MemoryStore(path, segments=16)


def _writer(path: str, worker: int, count: int, batch: int) -> int:
    """Child process: store ``count`` records in batches; return how many it stored."""
    rng = np.random.default_rng(worker)
    done = 0
    with MemoryStore(path) as s:
        for start in range(0, count, batch):
            items = [{"path": f"w/{worker}", "curve": rng.standard_normal(20).cumsum(),
                      "run_id": f"w{worker}", "payload": {"i": start + i}}
                     for i in range(min(batch, count - start))]  # fmt: skip
            done += len(s.store_many(items))
    return done


def test_eight_processes_writing_at_once_lose_nothing(tmp_path):
    """8 processes x 500 records (batches of 25), racing to create one store, end with exactly 4,000 records."""
    path = tmp_path / "shared.sqlite"
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(8) as pool:
        done = pool.starmap(_writer, [(str(path), w, 500, 25) for w in range(8)])
    assert done == [500] * 8
    with MemoryStore(path) as s:
        assert s.count() == 4000 and s.integrity_check() == "ok"
        for w in range(8):
            payloads = sorted(r.payload["i"] for r in s.by_run(f"w{w}"))
            assert payloads == list(range(500))
        assert len({r.id for r in s.find()}) == 4000


_CRASH_CHILD = textwrap.dedent(
    """
    import sys, numpy as np
    from nef_agents.memory import MemoryStore
    path, report = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)
    with MemoryStore(path) as s, open(report, "a") as out:
        for b in range(100000):
            s.store_many([{"path": "crash", "curve": rng.standard_normal(50).cumsum(),
                           "tags": [f"batch{b}"], "payload": {"b": b}} for _ in range(40)])
            out.write(f"{b}\\n")
            out.flush()
    """
)


def test_writer_killed_mid_batch_leaves_a_sound_store_with_every_committed_batch(tmp_path):
    """SIGKILL in the middle of a batch loop: the store opens, passes integrity_check, keeps committed batches."""
    path, report = tmp_path / "crash.sqlite", tmp_path / "committed.txt"
    report.touch()
    child = subprocess.Popen([sys.executable, "-c", _CRASH_CHILD, str(path), str(report)], cwd=ROOT)
    deadline = time.monotonic() + 30
    while (
        len(report.read_text().split()) < 15
        and time.monotonic() < deadline
        and child.poll() is None
    ):
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    committed = [int(x) for x in report.read_text().split()]
    assert len(committed) >= 15, "child did not get going"
    with MemoryStore(path) as s:
        assert s.integrity_check() == "ok"
        n = s.count()
        assert n % 40 == 0 and n // 40 >= len(committed)  # whole batches only
        for b in committed:
            assert len(s.by_tag(f"batch{b}")) == 40


def test_bench_runs_and_reports_the_targets():
    """The benchmark runs on a small store and prints a Markdown table with the three targets."""
    from nef_agents.bench.memory import run, table

    res = run(records=2000, queries=30, batch=500)
    assert res["insert_rps"] > 0 and res["p95_ms"] > 0 and 0.5 < res["pruned"] <= 1
    out = table(res)
    assert "| insert throughput (batched) |" in out and "<= 5 ms" in out and ">= 90%" in out
