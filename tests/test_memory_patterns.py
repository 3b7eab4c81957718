"""Pure pattern functions: z-normalization, PAA, SAX, MINDIST, window codec, JSON codec."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nef_agents.errors import ConfigError
from nef_agents.memory import codec
from nef_agents.memory.patterns import (
    breakpoints,
    decode_window,
    encode_window,
    extract_pattern,
    extract_patterns,
    full_distance,
    index_word,
    lower_bound_costs,
    mindist,
    mindist_cells,
    paa,
    sax_symbols,
    sax_word,
    trend_label,
    znormalize,
)
from nef_agents.memory.records import same_value


def test_znormalize_constant_curve_gives_zeros():
    """A constant curve (and one with rounding-level wiggle) z-normalizes to zeros."""
    assert np.array_equal(znormalize(np.full(10, 3.5)), np.zeros(10))
    assert np.array_equal(znormalize(np.array([1.0, 1.0 + 1e-15, 1.0])), np.zeros(3))


def test_znormalize_has_zero_mean_and_unit_population_std():
    """z-normalization gives mean 0 and population std 1."""
    z = znormalize(np.random.default_rng(0).standard_normal(37) * 5 + 2)
    assert abs(z.mean()) < 1e-12 and abs(z.std() - 1) < 1e-12


def test_nonfinite_points_are_interpolated_before_normalizing():
    """NaN/inf points are replaced by interpolation between finite neighbours."""
    z = znormalize([0.0, np.nan, 2.0, np.inf])
    assert np.allclose(z, znormalize([0.0, 1.0, 2.0, 2.0]))
    with pytest.raises(ConfigError, match="no finite"):
        znormalize([np.nan, np.nan])


def test_paa_and_sax_match_hand_computed_example():
    """[1..8] in 4 segments: PAA = (-3, -1, 1, 3)/sqrt(5.25); SAX with a=4 is 'abcd'."""
    z = znormalize(np.arange(1.0, 9.0))
    p = paa(z, 4)
    assert np.allclose(p, np.array([-3.0, -1.0, 1.0, 3.0]) / math.sqrt(5.25))
    assert sax_word(p, 4) == "abcd"
    assert sax_word(p, 2) == "aabb"


def test_paa_weights_partial_points_when_segments_do_not_divide_length():
    """n=5, w=2: the middle point counts half in each segment."""
    assert np.allclose(paa(np.array([0.0, 0.0, 1.0, 3.0, 3.0]), 2), [0.2, 2.6])


def test_paa_interpolates_a_curve_shorter_than_the_segment_count():
    """n=2 < w=4: linear interpolation to four points."""
    assert np.allclose(paa(np.array([0.0, 1.0]), 4), [0.0, 1 / 3, 2 / 3, 1.0])
    assert np.array_equal(paa(np.array([7.0]), 3), [7.0, 7.0, 7.0])


def test_breakpoints_are_standard_normal_quantiles():
    """beta_j = Phi^-1(j/a): a=4 gives (-0.6745, 0, 0.6745)."""
    assert np.allclose(breakpoints(4), [-0.6744897501960817, 0.0, 0.6744897501960817])
    assert len(breakpoints(8)) == 7 and np.all(np.diff(breakpoints(8)) > 0)
    with pytest.raises(ConfigError):
        breakpoints(1)


def test_mindist_matches_hand_computed_table():
    """cell(a, d) = beta_3 - beta_1 for a=4; adjacent symbols cost 0; sqrt(n/w) scales."""
    cells = mindist_cells(4)
    b = breakpoints(4)
    assert (
        cells[0, 3] == pytest.approx(b[2] - b[0])
        and cells[0, 1] == 0
        and cells[1, 3] == pytest.approx(b[2] - b[1])
    )
    assert mindist("aadd", "dddd", 4) == pytest.approx(math.sqrt(2) * (b[2] - b[0]))
    assert mindist("aadd", "dddd", 4, n=16) == pytest.approx(2 * math.sqrt(2) * (b[2] - b[0]))
    assert mindist("abcd", "abcd", 4) == 0.0


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(16, 96), alphabet=st.integers(3, 12))
def test_mindist_and_index_bound_lower_bound_the_distances(seed, n, alphabet):
    """MINDIST <= PAA distance <= Euclidean on z-normalized series (scaled), and LB(q, word) <= PAA distance."""
    rng = np.random.default_rng(seed)
    n -= n % 8
    a, b = rng.standard_normal((2, n)).cumsum(axis=1)
    pa, pb = paa(znormalize(a), 8), paa(znormalize(b), 8)
    d_paa = float(np.linalg.norm(pa - pb))
    assert mindist(sax_word(pa, alphabet), sax_word(pb, alphabet), alphabet) <= d_paa + 1e-12
    assert math.sqrt(n / 8) * d_paa <= float(np.linalg.norm(znormalize(a) - znormalize(b))) + 1e-9
    card = alphabet * 8
    lb2 = lower_bound_costs(pa, card)[np.arange(8), sax_symbols(pb, card)].sum()
    assert math.sqrt(lb2) <= d_paa + 1e-12


def test_index_word_refines_the_sax_word():
    """The index symbol divided by 8 is the SAX symbol (nested breakpoints)."""
    p = paa(znormalize(np.random.default_rng(1).standard_normal(200).cumsum()), 16)
    fine = np.frombuffer(index_word(p, 8), np.uint8)
    assert np.array_equal(fine // 8, sax_symbols(p, 8))


def test_full_window_round_trips_bit_for_bit():
    """encode/decode of the raw window keeps every float, NaN and inf included, and the health series."""
    x = np.array([1.5, np.nan, np.inf, -np.inf, -0.0, 1e-308, 3.0])
    h = np.random.default_rng(2).random((7, 5))
    curve, hs = decode_window(encode_window(x, h))
    assert curve.tobytes() == x.tobytes() and np.array_equal(hs, h)
    assert decode_window(encode_window(x))[1] is None


def test_extract_pattern_averages_a_health_series_and_rejects_bad_shapes():
    """A (T, 5) health series gives its column mean; other shapes raise ConfigError."""
    h = np.arange(20.0).reshape(4, 5)
    pat = extract_pattern(np.arange(10.0), h)
    assert np.allclose(pat.health, h.mean(axis=0)) and np.array_equal(pat.health_series, h)
    assert pat.sax == sax_word(pat.paa) and len(pat.sax) == 16 and pat.length == 10
    with pytest.raises(ConfigError, match=r"\(5,\) or \(T, 5\)"):
        extract_pattern(np.arange(10.0), np.ones(4))
    with pytest.raises(ConfigError, match="1-D"):
        extract_pattern(np.ones((3, 3)))


def test_batch_extraction_equals_one_by_one():
    """extract_patterns on mixed lengths (incl. NaN, constant, 1 point) equals extract_pattern per window."""
    rng = np.random.default_rng(4)
    curves = [rng.standard_normal(n).cumsum() for n in (5, 16, 64, 64, 70, 3, 1)]
    curves += [np.ones(64), np.array([1.0, np.nan, 3.0, 2.0, np.inf])]
    healths = [None, np.ones(5), rng.random((64, 5))] + [None] * 6
    batch = extract_patterns(curves, healths)
    assert all(extract_pattern(c, h) == p for c, h, p in zip(curves, healths, batch, strict=True))


def test_pattern_labels_come_from_payload_and_explicit_labels():
    """trend/action/outcome sign from the payload; explicit labels win; trend falls back to the curve."""
    pat = extract_pattern(np.linspace(10, 1, 30), payload={"action": "restart", "outcome": -0.5})
    assert pat.labels == {"action": "restart", "outcome": "-", "trend": "converging"}
    pat = extract_pattern(np.ones(5), labels={"trend": "stalled"}, payload={"trend": "plateau"})
    assert pat.labels["trend"] == "stalled"


@pytest.mark.parametrize(
    ("curve", "label"),
    [
        (np.linspace(5, 1, 20), "converging"),
        (np.linspace(1, 5, 20), "diverging"),
        (np.tile([1.0, 2.0], 10), "oscillating"),
        (np.ones(20), "plateau"),
    ],
)
def test_trend_label_fallback_classifies_simple_shapes(curve, label):
    """The coarse trend label recognizes monotone, alternating and flat curves."""
    assert trend_label(curve) == label


def test_full_distance_ignores_scale_and_offset():
    """Two windows differing by scale and offset (and length) are at distance ~0."""
    x = np.random.default_rng(3).standard_normal(40).cumsum()
    assert full_distance(x, 3 * x + 7) < 1e-12
    assert full_distance(x, -x) > 1.0
    smooth = lambda n: np.sin(np.linspace(0, 3, n))  # noqa: E731
    assert full_distance(smooth(40), smooth(17)) < 0.02


_scalars = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**62), 2**62),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
    st.floats(allow_nan=True, allow_infinity=True).map(np.float64),
    st.integers(-(2**31), 2**31).map(np.int64),
    st.integers(0, 255).map(np.uint8),
    st.booleans().map(np.bool_),
)
_arrays = hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=4))
_values = st.recursive(
    st.one_of(_scalars, _arrays),
    lambda kids: st.one_of(
        st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=4), kids, max_size=4)
    ),
    max_leaves=12,
)


def _plain(v):
    """What a value should decode to: numpy scalars as Python numbers, arrays as lists."""
    if isinstance(v, np.ndarray):
        return _plain(v.tolist())
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


@settings(max_examples=150, deadline=None)
@given(_values)
def test_codec_round_trips_numpy_and_nonfinite_values_as_strict_json(value):
    """to_jsonable/from_jsonable round-trip numpy scalars/arrays, NaN and inf; the text is strict JSON."""
    text = codec.dumps(value)
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    back = codec.loads(text)
    assert same_value(back, _plain(value))
    assert not any(isinstance(x, np.generic) for x in _walk(back))


def _walk(v):
    yield v
    if isinstance(v, dict):
        for x in v.values():
            yield from _walk(x)
    elif isinstance(v, list):
        for x in v:
            yield from _walk(x)


def test_codec_encodes_nonfinite_floats_as_marker_objects():
    """NaN/inf become {"__float__": ...}, never null, and ints stay ints."""
    assert codec.to_jsonable([math.nan, math.inf, -math.inf, np.int64(3)]) == [
        {"__float__": "nan"},
        {"__float__": "inf"},
        {"__float__": "-inf"},
        3,
    ]
    with pytest.raises(ConfigError, match=r"\$\.a\[1\]"):
        codec.to_jsonable({"a": [1, object()]})
