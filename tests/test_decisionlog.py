"""Decision log: strict JSON lines, numbering, non-finite convention, tolerant reader."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nef_agents.decisionlog import DecisionLog, read_log
from nef_agents.errors import LogFormatError


def test_events_are_numbered_strict_json_lines(tmp_path):
    """Each event is one strict JSON line with run id, sequence, iteration and nfev."""
    path = tmp_path / "d.jsonl"
    with DecisionLog(path, "r1") as log:
        log.emit("pause", iteration=3, nfev=10, health=np.float64(0.5), x=np.arange(3))
        log.emit("outcome", iteration=4, nfev=12, score=float("nan"), best=float("-inf"))
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert (first["event"], first["run_id"], first["seq"], first["iteration"], first["nfev"]) == ("pause", "r1", 0, 3, 10)
    assert first["x"] == [0, 1, 2] and first["health"] == 0.5
    raw = json.loads(lines[1], parse_constant=lambda c: pytest.fail(f"non-strict constant {c}"))
    assert raw["score"] == {"__float__": "nan"}
    back = list(read_log(path))
    assert math.isnan(back[1]["score"]) and back[1]["best"] == -math.inf


def test_unencodable_field_never_raises_and_is_logged_as_error(tmp_path):
    """An object the encoder cannot write becomes a log_error event, not an exception."""
    path = tmp_path / "d.jsonl"
    with DecisionLog(path, "r") as log:
        log.emit("decision", iteration=1, nfev=1, thing=object())
    events = list(read_log(path))
    assert events[0]["event"] == "log_error" and events[0]["failed_event"] == "decision"
    assert log.errors == 1


def test_truncated_last_line_is_skipped_with_warning(tmp_path):
    """A log cut mid-line (a killed run) still reads, minus the last event."""
    path = tmp_path / "d.jsonl"
    with DecisionLog(path, "r") as log:
        for i in range(3):
            log.emit("pause", iteration=i, nfev=i)
    text = path.read_text()
    path.write_text(text[: len(text) - 15])
    with pytest.warns(UserWarning, match="truncated"):
        events = list(read_log(path))
    assert [e["iteration"] for e in events] == [0, 1]


def test_malformed_middle_line_names_file_and_line(tmp_path):
    """A broken line that is not the last raises LogFormatError naming the line."""
    path = tmp_path / "d.jsonl"
    path.write_text('{"event": "a"}\nnot json\n{"event": "b"}\n')
    with pytest.raises(LogFormatError, match=r"d.jsonl:2"):
        list(read_log(path))
