"""The store contract, run against every backend (InMemoryStore, MemoryStore file and :memory:)."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nef_agents.errors import ConfigError, RecordNotFound, StoreError
from nef_agents.memory import InMemoryStore, MemoryStore, Pattern, extract_pattern, mindist
from nef_agents.memory.patterns import full_distance, paa_distance
from nef_agents.memory.records import same_value

BACKENDS = ["inmemory", "sqlite-file", "sqlite-memory"]


@pytest.fixture(params=BACKENDS)
def make_store(request, tmp_path):
    """A factory of fresh stores of one backend; all are closed at teardown."""
    made = []

    def factory(**kw):
        n = len(made)
        if request.param == "inmemory":
            s = InMemoryStore(**kw)
        elif request.param == "sqlite-file":
            s = MemoryStore(tmp_path / f"store{n}.sqlite", **kw)
        else:
            s = MemoryStore(":memory:", **kw)
        made.append(s)
        return s

    yield factory
    for s in made:
        s.close()


@pytest.fixture
def store(make_store):
    return make_store()


def _walks(rng, count, lo=8, hi=96):
    return [rng.standard_normal(int(rng.integers(lo, hi))).cumsum() for _ in range(count)]


def test_record_round_trips_at_all_three_levels(store):
    """A record stored at ultra+short+full comes back equal: window, PAA, SAX, health, labels, metadata."""
    curve = np.arange(1.0, 9.0)
    health = np.random.default_rng(0).random((8, 5))
    payload = {"action": "rescale_step", "trend": "plateau", "outcome": 0.25, "x": [1, 2]}
    rid = store.store("optimization/a", curve=curve, payload=payload, run_id="r1", tags=("t1", "t2"),
                      health=health, created_at="2024-05-01T12:00:00+00:00")  # fmt: skip
    rec = store.get(rid)
    pat = extract_pattern(curve, health, payload=payload)
    assert rec.id == rid and rec.path == "optimization/a" and rec.run_id == "r1"
    assert rec.tags == ("t1", "t2") and rec.levels == ("ultra", "short", "full")
    assert rec.created_at == 1714564800.0 and rec.created_iso.startswith("2024-05-01T12:00:00")
    assert rec.payload == payload
    assert rec.labels == {"action": "rescale_step", "trend": "plateau", "outcome": "+"}
    assert rec.full.tobytes() == curve.tobytes() and np.array_equal(rec.health_series, health)
    assert np.array_equal(rec.paa, pat.paa) and np.allclose(rec.health, health.mean(axis=0))
    # Hand-computed: 8 < 16 points, so the z-normalized line (1 + t - 4.5) / sqrt(5.25)
    # is interpolated at t = 7i/15; SAX letters from the a=8 normal breakpoints.
    expected = (1 + 7 * np.arange(16) / 15 - 4.5) / math.sqrt(5.25)
    assert np.allclose(rec.paa, expected) and rec.sax == "aabbbcddeefggghh"
    assert rec == store.get(rid)


def test_levels_store_only_what_was_asked(store):
    """ultra keeps the SAX word only, full the window only, short the PAA, health and word."""
    c = np.random.default_rng(1).standard_normal(30).cumsum()
    u = store.get(store.store("p", curve=c, levels=("ultra",), health=np.ones(5)))
    f = store.get(store.store("p", curve=c, levels=("full",)))
    s = store.get(store.store("p", curve=c, levels="short", health=np.ones(5)))
    assert u.sax and u.paa is None and u.full is None and u.health is None and u.labels["trend"]
    assert f.sax is None and f.paa is None and np.array_equal(f.full, c)
    assert (
        s.paa is not None
        and s.sax == u.sax
        and s.full is None
        and np.array_equal(s.health, np.ones(5))
    )
    with pytest.raises(ConfigError, match="levels"):
        store.store("p", curve=c, levels=("tiny",))


def test_get_of_missing_id_raises_record_not_found(store):
    """get() of an unknown id raises RecordNotFound, which is a KeyError."""
    with pytest.raises(RecordNotFound):
        store.get(12345)
    with pytest.raises(KeyError):
        store.get(0)


def test_returned_records_are_snapshots_with_read_only_arrays(store):
    """Later writes never change a returned record; its arrays cannot be written."""
    rid = store.store("a", curve=np.arange(20.0), payload={"v": 1})
    rec = store.get(rid)
    store.store_many([{"path": "a", "curve": np.ones(5), "payload": {"v": 2}} for _ in range(3)])
    store.put_meta("w", [1, 2])
    assert rec == store.get(rid) and rec.payload == {"v": 1}
    with pytest.raises(ValueError):
        rec.paa[0] = 1.0
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error type
        rec.path = "b"


@pytest.mark.parametrize("compression", ["short", "ultra"])
def test_query_equals_brute_force_on_2000_random_walks(store, compression):
    """query(k=5) returns exactly the brute-force nearest ids and distances, for several queries."""
    rng = np.random.default_rng(7)
    curves = _walks(rng, 2000)
    paths = [("opt/x", "opt/y", "other")[i % 3] for i in range(2000)]
    ids = np.array(store.store_many([{"path": p, "curve": c, "levels": ("ultra", "short")}
                                     for p, c in zip(paths, curves, strict=True)]))  # fmt: skip
    recs = [store.get(int(i)) for i in ids]
    paa_mat = np.stack([r.paa for r in recs])
    in_opt = np.array([p.startswith("opt/") for p in paths])
    for q in _walks(rng, 6, 5, 120):
        pat = extract_pattern(q)
        if compression == "short":
            d = paa_distance(pat.paa, paa_mat)
        else:
            d = np.array([mindist(pat.sax, r.sax) for r in recs])
        for prefix, mask in (("", np.ones(2000, bool)), ("opt", in_opt)):
            got = store.query(prefix, q, compression=compression, k=5)
            order = [j for j in np.lexsort((ids, d)) if mask[j]][:5]
            assert [m.record.id for m in got] == ids[order].tolist()
            assert np.allclose([m.distance for m in got], d[order], rtol=0, atol=1e-12)
    assert store.last_query_stats["examined"] < store.last_query_stats["candidates"]


def test_query_full_ranks_by_resampled_window_distance(store):
    """compression='full' ranks records with a raw window by full_distance, nearest first."""
    rng = np.random.default_rng(8)
    curves = _walks(rng, 60)
    ids = store.store_many([{"path": "f", "curve": c, "levels": ("full",)} for c in curves])
    q = curves[17] * 2 + 1
    got = store.query("f", q, compression="full", k=4)
    d = np.array([full_distance(q, c) for c in curves])
    assert [m.record.id for m in got] == [ids[j] for j in np.lexsort((ids, d))[:4]]
    assert got[0].record.id == ids[17] and got[0].distance < 1e-12
    assert store.query("f", q, compression="short") == []  # no record has the short level


def test_query_accepts_a_pattern_and_more_k_than_records(store):
    """A Pattern works as the query; k larger than the subtree returns all of it, nearest first."""
    rng = np.random.default_rng(9)
    ids = store.store_many([{"path": "a/b", "curve": c} for c in _walks(rng, 3)])
    rec = store.get(ids[1])
    got = store.query("a", extract_pattern(rec.full), k=10)
    assert len(got) == 3 and got[0].record.id == ids[1] and got[0].distance == 0.0
    assert [m.distance for m in got] == sorted(m.distance for m in got)
    assert store.query("zzz", rec.full) == []
    with pytest.raises(ConfigError, match="compression"):
        store.query("a", rec.full, compression="medium")
    with pytest.raises(ConfigError, match="k must"):
        store.query("a", rec.full, k=0)


def test_query_with_health_weight_adds_health_distance(store):
    """With health_weight > 0 the record whose health matches wins among equal curves."""
    c = np.linspace(5, 1, 40)
    a = store.store("h", curve=c, health=np.zeros(5))
    b = store.store("h", curve=c, health=np.ones(5))
    store.store("h", curve=c)
    got = store.query("h", Pattern(**{**extract_pattern(c).__dict__, "health": np.ones(5)}), k=3,
                      health_weight=1.0)  # fmt: skip
    assert [m.record.id for m in got][:2] == [b, a]
    assert got[0].distance == 0.0 and got[1].distance == pytest.approx(math.sqrt(5))
    assert got[2].distance == pytest.approx(math.sqrt(5))  # missing health counts sqrt(5)
    plain = store.query("h", c, k=3)
    assert [m.distance for m in plain] == [0.0, 0.0, 0.0] and [m.record.id for m in plain][0] == a


def test_prefix_query_sees_the_subtree_and_nothing_outside(store):
    """'optimization/health' matches itself and its children, never 'optimization/health_analytics'."""
    c = np.random.default_rng(3).standard_normal(30).cumsum()
    inside = [
        store.store(p, curve=c) for p in ("optimization/health", "optimization/health/deep/x")
    ]
    for p in ("optimization/health_analytics", "optimization/healthy", "optimization/health-x",
              "optimization/health.v2", "optimization"):  # fmt: skip
        store.store(p, curve=c)
    for comp in ("short", "ultra", "full"):
        got = store.query("optimization/health", c, compression=comp, k=10)
        assert sorted(m.record.id for m in got) == inside
    assert store.count("optimization/health") == 2 and store.count("optimization") == 7
    assert [r.id for r in store.find("optimization/health")] == inside


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("a//b", "segment 1 is empty"),
        ("/a", "segment 0 is empty"),
        ("a/b c/d", "segment 1 'b c'"),
        ("opt/héalth", "segment 1 'héalth'"),
        ("a/b/*", "segment 2 '\\*'"),
        ("", "segment 0 is empty"),
    ],
)
def test_invalid_paths_are_rejected_naming_the_segment(store, path, message):
    """A bad path raises ConfigError (a ValueError) naming the bad segment and its position."""
    with pytest.raises(ValueError, match=message):
        store.store(path, curve=np.arange(5.0))
    assert store.count() == 0


def test_store_many_is_all_or_nothing(store):
    """One bad item makes store_many raise before anything is written."""
    good = {"path": "a", "curve": np.arange(5.0)}
    with pytest.raises(ConfigError, match=r"items\[1\]"):
        store.store_many([good, {"path": "a b", "curve": np.arange(5.0)}, good])
    with pytest.raises(ConfigError, match="unknown"):
        store.store_many([{**good, "colour": 1}])
    assert store.count() == 0
    assert store.store_many([good, good]) == [1, 2]


def test_filters_select_by_run_tag_and_labels(store):
    """run_id, tag, label.trend and label.action filters restrict queries and finds."""
    c = np.random.default_rng(4).standard_normal(25).cumsum()
    a = store.store(
        "p",
        curve=c,
        run_id="r1",
        tags=["x"],
        payload={"trend": "plateau", "action": "rescale_step"},
    )
    b = store.store(
        "p",
        curve=c,
        run_id="r2",
        tags=["x", "y"],
        payload={"trend": "plateau", "action": "restart"},
    )
    d = store.store("p", curve=c, run_id="r1", labels={"trend": "oscillating"})
    ids = lambda ms: sorted(m.record.id for m in ms)  # noqa: E731
    assert ids(store.query("p", c, k=9, filters={"run_id": "r1"})) == [a, d]
    assert ids(store.query("p", c, k=9, filters={"tag": "y"})) == [b]
    assert ids(store.query("p", c, k=9, filters={"label.trend": "plateau"})) == [a, b]
    f = {"label.trend": "plateau", "label.action": "rescale_step"}
    assert ids(store.query("p", c, k=9, filters=f, compression="ultra")) == [a]
    assert [r.id for r in store.by_tag("x")] == [a, b] and [r.id for r in store.by_run("r1")] == [
        a,
        d,
    ]
    with pytest.raises(ConfigError, match="unknown filter"):
        store.query("p", c, filters={"colour": "red"})


def test_tree_children_walk_and_counts(store):
    """The store knows the tree: children, a depth-first walk, subtree and own counts."""
    c = np.arange(10.0)
    for p in ("opt/a", "opt/a", "opt/a/deep", "opt/b", "misc"):
        store.store(p, curve=c)
    assert store.children() == ["misc", "opt"] and store.children("opt") == ["opt/a", "opt/b"]
    assert store.walk("opt") == ["opt", "opt/a", "opt/a/deep", "opt/b"] and store.walk("nope") == []
    assert store.count() == 5 and store.count("opt/a") == 3 and store.count("nope") == 0
    g = store.tree()
    assert isinstance(g, nx.DiGraph) and nx.is_arborescence(g)
    assert g.nodes["opt"] == {"count": 4, "own": 0} and g.nodes["opt/a"] == {"count": 3, "own": 2}
    assert g.nodes[""]["count"] == 5 and set(g.successors("")) == {"opt", "misc"}
    assert store.stats()["records"] == 5 and store.stats()["paths"] == 4


def test_latest_returns_newest_first(store):
    """latest(path, k) orders by created_at descending."""
    c = np.arange(6.0)
    ids = [store.store("t/x", curve=c, created_at=ts) for ts in (30.0, 10.0, 20.0)]
    store.store("u", curve=c, created_at=99.0)
    assert [r.id for r in store.latest("t", k=2)] == [ids[0], ids[2]]
    assert [r.id for r in store.latest("")] == [4]


_payload_values = st.recursive(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(allow_nan=True, allow_infinity=True).map(np.float64),
        st.integers(-(2**40), 2**40).map(np.int64),
        st.integers(-(2**62), 2**62),
        st.booleans().map(np.bool_),
        st.text(max_size=4),
        st.none(),
        hnp.arrays(np.float64, st.integers(0, 4)),
    ),
    lambda kids: st.one_of(
        st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=3), kids, max_size=3)
    ),
    max_leaves=8,
)


def _plain(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=_payload_values)
def test_payload_values_round_trip_through_the_store(store, value):
    """numpy scalars/arrays, NaN and inf in payloads come back as the same numbers."""
    rid = store.store("v", curve=np.arange(4.0), payload={"value": value}, levels=("ultra",))
    back = store.get(rid).payload["value"]
    assert same_value(back, _plain(value))
    if isinstance(value, np.integer):
        assert type(back) is int
    if isinstance(value, float) and math.isnan(value):
        assert isinstance(back, float) and math.isnan(back)


def test_meta_key_values_round_trip(store):
    """put_meta/get_meta keep JSON values (NaN included); a missing key gives the default."""
    store.put_meta("weights", {"stability": 0.3, "w": np.array([1.0, np.nan])})
    store.put_meta("weights", {"stability": 0.4})
    assert store.get_meta("weights") == {"stability": 0.4}
    assert store.get_meta("missing", default=[1]) == [1]


def test_export_jsonl_imports_into_an_equal_store(make_store):
    """export('jsonl') then import_ recreates every record (new ids); md summarizes actions by trend."""
    src = make_store()
    rng = np.random.default_rng(5)
    for i, c in enumerate(_walks(rng, 12)):
        src.store(f"opt/{i % 2}", curve=c, run_id=f"r{i % 3}", tags=[f"t{i % 2}"],
                  payload={"action": ("restart", "rescale_step")[i % 2], "trend": "plateau",
                           "outcome": float(i % 3 - 1), "nan": math.nan},
                  levels=(("ultra",), ("ultra", "short"), ("ultra", "short", "full"))[i % 3],
                  health=rng.random(5))  # fmt: skip
    text = src.export("opt")
    dst = make_store()
    assert dst.import_(text) == 12
    for a, b in zip(src.find(), dst.find(), strict=True):
        assert a.model_copy(update={"id": b.id}) == b
    q = rng.standard_normal(30).cumsum()
    assert [m.record.id for m in src.query("opt", q)] == [m.record.id for m in dst.query("opt", q)]
    md = src.export("opt", format="md")
    assert "| `opt/0` | 6 |" in md and "| plateau | restart | 6 | 2 | +0 |" in md
    assert "| plateau | rescale_step | 6 | 2 | +0 |" in md
    with pytest.raises(ConfigError, match="line 2"):
        dst.import_(text.splitlines()[0] + "\n{not json}\n")
    assert dst.count() == 12


def test_one_store_shared_by_threads_loses_nothing(store):
    """Four threads storing and querying through one store object end with every record."""
    from concurrent.futures import ThreadPoolExecutor

    def work(t: int) -> int:
        rng = np.random.default_rng(t)
        for _ in range(25):
            store.store(f"t/{t}", curve=rng.standard_normal(20).cumsum(), run_id=str(t))
            store.query("t", rng.standard_normal(20).cumsum(), k=3)
        return len(store.by_run(str(t)))

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(work, range(4))) == [25] * 4
    assert store.count("t") == 100


def test_closed_store_raises_store_error(store):
    """Any call on a closed store raises StoreError."""
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.count()
    with pytest.raises(StoreError):
        store.store("a", curve=np.arange(3.0))


def test_store_is_a_context_manager(make_store):
    """Leaving the with block closes the store."""
    with make_store() as s:
        s.store("a", curve=np.arange(3.0))
    with pytest.raises(StoreError):
        s.get(1)
