"""Hierarchical pattern memory (layer 1): SQLite store, reference store, patterns.

Imports only numpy, scipy, networkx, sqlite_utils, pydantic, the standard
library and :mod:`nef_agents.errors`.
"""

from __future__ import annotations

from nef_agents.memory.base import BaseStore
from nef_agents.memory.codec import from_jsonable, to_jsonable
from nef_agents.memory.inmemory import InMemoryStore
from nef_agents.memory.patterns import (
    DEFAULT_ALPHABET,
    DEFAULT_SEGMENTS,
    Pattern,
    breakpoints,
    clean_curve,
    decode_window,
    encode_window,
    extract_pattern,
    extract_patterns,
    full_distance,
    health_vector,
    index_word,
    lower_bound_costs,
    make_labels,
    mindist,
    mindist_cells,
    outcome_sign,
    paa,
    paa_distance,
    sax_symbols,
    sax_word,
    trend_label,
    word_symbols,
    znormalize,
)
from nef_agents.memory.records import Match, Record, default_store_path, validate_path
from nef_agents.memory.store import SCHEMA_VERSION, MemoryStore

__all__ = [
    "BaseStore",
    "MemoryStore",
    "InMemoryStore",
    "Match",
    "Record",
    "Pattern",
    "SCHEMA_VERSION",
    "default_store_path",
    "validate_path",
    "to_jsonable",
    "from_jsonable",
    "DEFAULT_SEGMENTS",
    "DEFAULT_ALPHABET",
    "extract_pattern",
    "extract_patterns",
    "clean_curve",
    "znormalize",
    "paa",
    "breakpoints",
    "sax_symbols",
    "sax_word",
    "word_symbols",
    "mindist_cells",
    "mindist",
    "lower_bound_costs",
    "paa_distance",
    "full_distance",
    "encode_window",
    "decode_window",
    "health_vector",
    "index_word",
    "trend_label",
    "outcome_sign",
    "make_labels",
]
