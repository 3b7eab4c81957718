"""Replay a decision log: read it as a timeline, re-verify its decisions, graph them.

* :func:`load_events` reads a log file or a run folder's ``decisions.jsonl``;
  a truncated last line is skipped with a ``UserWarning`` (from
  :func:`~nef_agents.decisionlog.read_log`).
* :func:`timeline` turns events into one-line rows (pauses, anomalies,
  proposals, critiques, decisions, outcomes, engine switches).
* :func:`verify` re-executes every run in the log (events grouped by
  ``run_id``) from its logged context, seed, meta-learner weights and memory
  reads, and compares the fresh events with the logged ones.
* :func:`decision_graph` builds pause -> proposal -> critique -> decision ->
  outcome as a ``networkx.DiGraph`` for GraphML.

What a run must log to be re-executable (:func:`rerun`): either the runner's
``context["scenario"]`` (+ ``problem``), or, for a direct :func:`minimize`
call, this ``context``:

* ``objective``: ``"functions:<name>"`` (a :mod:`nef_agents.functions` name),
  ``objective_params``: keyword arguments of ``functions.get`` (e.g. ``dim``);
* ``x0``: the start point (list);
* optional: ``jac`` (bool, default True: the analytic gradient), ``engine``
  (default ``"auto"``), ``agents`` (default True), ``bounds``, ``pause`` (a
  PauseConfig mapping), ``target``, ``adjustable`` (term names, default none),
  ``default_budget`` (True when minimize was called without ``budget``).

Seed, budget, engine options and framework settings come from ``run_started``
itself (so ``budget``, ``seed`` and ``dim`` must not be context keys: they
would collide with its own fields).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from nef_agents.decisionlog import DecisionLog, read_log
from nef_agents.errors import ConfigError, LogFormatError
from nef_agents.memory.codec import from_jsonable

TIMELINE_EVENTS = tuple("pause anomaly proposal critique decision outcome engine_switched".split())
ONLY = {"pauses": ("pause",), "anomalies": ("anomaly",), "decisions": ("decision",)}
REL_TOL = 1e-9  # logged floats round-trip exactly through JSON; this only absorbs last-bit noise

# Fields compared per event (beyond event, iteration, nfev); dotted names reach into dicts.
COMPARED: dict[str, tuple[str, ...]] = {
    "proposal": ("id", "agent", "action", "parameters", "predicted_gain"),
    "critique": ("critic", "proposal_id", "score"),
    "decision": ("chosen.id", "chosen.action", "chosen.parameters", "score"),
    "action_applied": ("action", "parameters", "evaluations", "engine"),
    "outcome": ("action", "score", "rolled_back"),
    "engine_switched": ("engine", "previous", "reason"),
    "memory_query": ("path", "k"),
    "memory_write": ("path",),
    "anomaly": ("kind", "metric"),
    "run_finished": ("fun", "nfev", "status"),
}


@dataclass(frozen=True)
class TimelineRow:
    """One line of a run's story: where it happened and what it was."""

    index: int  # position in the event list
    run_id: str
    event: str
    iteration: int
    nfev: int
    description: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Difference:
    """The first event where a re-execution departs from the log."""

    run_id: str
    index: int  # position in the event list given to verify
    run_index: int  # position within the run
    event: str
    field: str
    expected: Any
    got: Any

    def describe(self) -> str:
        return (
            f"event {self.index} ({self.event}, run {self.run_id}, #{self.run_index} in the run) differs in "
            f"{self.field}: logged {_short(self.expected)}, re-executed {_short(self.got)}"
        )


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of :func:`verify`: ``ok`` when every compared event matched."""

    runs: int
    events: int  # logged events compared
    decisions: int  # logged decisions that matched
    incomplete: tuple[str, ...]  # runs whose log ends early (compared up to the end of the log)
    difference: Difference | None

    @property
    def ok(self) -> bool:
        return self.difference is None

    def summary(self) -> str:
        if self.difference is not None:
            return self.difference.describe()
        tail = (
            f" ({len(self.incomplete)} run(s) truncated, compared as far as logged)"
            if self.incomplete
            else ""
        )
        runs = f"{self.runs} run" + ("s" if self.runs != 1 else "")
        return f"all {self.decisions} decisions match across {runs}{tail}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["incomplete"] = list(self.incomplete)
        d["ok"] = self.ok
        d["summary"] = self.summary()
        return d


# ---- loading and the timeline -------------------------------------------------------------------
def load_events(path_or_run_dir: str | Path) -> list[dict[str, Any]]:
    """Events of a decision log; a folder means its ``decisions.jsonl``."""
    path = Path(path_or_run_dir)
    if path.is_dir():
        path = path / "decisions.jsonl"
    if not path.exists():
        raise LogFormatError(f"{path}: no such decision log")
    return list(read_log(path))


def timeline(
    events: Sequence[dict[str, Any]],
    only: str | None = None,
    start: int | None = None,
    stop: int | None = None,
) -> list[TimelineRow]:
    """Rows for the notable events; ``only`` in pauses/anomalies/decisions; iterations in [start, stop]."""
    if only is not None and only not in ONLY:
        raise ConfigError(f"`only` must be one of {sorted(ONLY)} or None, got {only!r}")
    kinds = ONLY[only] if only else TIMELINE_EVENTS
    rows = []
    for i, e in enumerate(events):
        name = e.get("event")
        if name not in kinds:
            continue
        it = int(e.get("iteration", 0))
        if (start is not None and it < start) or (stop is not None and it > stop):
            continue
        rows.append(
            TimelineRow(i, str(e.get("run_id", "")), name, it, int(e.get("nfev", 0)), describe(e))
        )
    return rows


def describe(e: dict[str, Any]) -> str:
    """A one-line human description of an event."""
    name = e.get("event")
    if name == "pause":
        why = ", ".join(
            f"{r.get('trigger')} {_num(r.get('value'))} vs {_num(r.get('threshold'))}"
            for r in e.get("reasons") or []
        )
        health = (e.get("health") or {}).get("overall")
        trend = (e.get("trend") or {}).get("label")
        return f"pause: {why or 'no reason logged'}; health {_num(health)}, trend {trend}"
    if name == "anomaly":
        return (
            f"anomaly {e.get('kind')} on {e.get('metric')}: {_num(e.get('value'))} vs baseline "
            f"{_num(e.get('baseline'))} (severity {_num(e.get('severity'))})"
        )
    if name == "proposal":
        return (
            f"{e.get('agent')} proposes {e.get('action')}{_params(e.get('parameters'))}, "
            f"predicted gain {_num(e.get('predicted_gain'))} [{e.get('id')}]"
        )
    if name == "critique":
        return f"{e.get('critic')} scores {e.get('proposal_id')} {_num(e.get('score'))}: {e.get('reason', '')}"
    if name == "decision":
        c = e.get("chosen") or {}
        ru = e.get("runner_up") or None
        tail = f"; runner-up {ru.get('action')} ({_num(e.get('runner_up_score'))})" if ru else ""
        return f"decide {c.get('action')}{_params(c.get('parameters'))} by {c.get('agent')}, score {_num(e.get('score'))}{tail}"
    if name == "outcome":
        rolled = ", rolled back" if e.get("rolled_back") else ""
        return f"outcome of {e.get('action')}: score {_num(e.get('score'))}, gain {_num(e.get('gain'))}{rolled}"
    if name == "engine_switched":
        return f"engine {e.get('previous') or '-'} -> {e.get('engine')} ({e.get('reason')})"
    return str(name)


def _num(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, int | float) and not isinstance(v, bool) else str(v)


def _params(p: Any) -> str:
    if not p:
        return ""
    return (
        "(" + ", ".join(f"{k}={_num(v)}" for k, v in p.items()) + ")"
        if isinstance(p, dict)
        else f"({p})"
    )


def _short(v: Any, n: int = 120) -> str:
    s = json.dumps(v, default=str) if not isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[: n - 3] + "..."


# ---- verification -------------------------------------------------------------------------------
def group_runs(events: Iterable[dict[str, Any]]) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """(index, event) pairs by run_id, in first-seen order."""
    runs: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for i, e in enumerate(events):
        runs.setdefault(str(e.get("run_id", "")), []).append((i, e))
    return runs


def verify(events: Sequence[dict[str, Any]]) -> VerifyReport:
    """Re-execute each logged run and report the first event that differs (or that all match)."""
    from nef_agents.optimizer import META_KEY

    runs = group_runs(events)
    if not runs:
        raise ConfigError("the decision log holds no events to verify")
    compared = matched = 0
    incomplete: list[str] = []
    for run_id, pairs in runs.items():
        start = pairs[0][1]
        if start.get("event") != "run_started":
            first = start.get("event")
            raise ConfigError(f"run {run_id}: its first logged event is {first!r}, not run_started")
        keys = ("path", "k", "compression", "filters", "results")
        reads = [{k: e.get(k) for k in keys} for _, e in pairs if e.get("event") == "memory_query"]
        got = rerun(start, reads, {META_KEY: start.get("meta_weights")})
        done = pairs[-1][1].get("event") == "run_finished"
        if not done:
            incomplete.append(run_id)
        diff, n = _compare_run(run_id, pairs, got, done)
        compared += n
        matched += sum(e["event"] == "decision" for _, e in pairs[:n])
        if diff is not None:
            return VerifyReport(len(runs), compared, matched, tuple(incomplete), diff)
    return VerifyReport(len(runs), compared, matched, tuple(incomplete), None)


def _compare_run(
    run_id: str, pairs: list[tuple[int, dict[str, Any]]], got: list[dict[str, Any]], done: bool
) -> tuple[Difference | None, int]:
    """The first difference between logged ``pairs`` and re-executed ``got``, and how many matched."""
    for j, (idx, exp) in enumerate(pairs):
        name = exp["event"]
        if j >= len(got):
            return Difference(run_id, idx, j, name, "event", name, "<no event>"), j
        if got[j].get("event") == "replay_mismatch":
            tail = [e.get("event") for _, e in pairs[j:]]
            if not done and all(t == "memory_query" for t in tail) and "no further query" in str(got[j].get("detail")):
                # the log was cut inside a batch of queries that is logged only after it completes
                return None, j
            return Difference(run_id, idx, j, name, "memory", name, got[j].get("detail")), j
        field, a, b = _first_field_diff(exp, got[j])
        if field is not None:
            return Difference(run_id, idx, j, name, field, a, b), j
    if done and len(got) > len(pairs):
        extra = got[len(pairs)].get("event", "?")
        at = pairs[-1][0] + 1
        return Difference(run_id, at, len(pairs), extra, "event", "<end of run>", extra), len(pairs)
    return None, len(pairs)


def _get(e: dict[str, Any], dotted: str) -> Any:
    v: Any = e
    for part in dotted.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    return v


def _first_field_diff(exp: dict[str, Any], got: dict[str, Any]) -> tuple[str | None, Any, Any]:
    for f in ("event", "iteration", "nfev", *COMPARED.get(exp.get("event", ""), ())):
        a, b = _get(exp, f), _get(got, f)
        if not _same(a, b):
            return f, a, b
    if exp.get("event") == "pause":
        a = [r.get("trigger") for r in exp.get("reasons") or []]
        b = [r.get("trigger") for r in got.get("reasons") or []]
        if a != b:
            return "reasons", a, b
    return None, None, None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-300)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def rerun(
    run_started: dict[str, Any], reads: Sequence[dict[str, Any]], meta: dict[str, Any]
) -> list[dict[str, Any]]:
    """Re-execute one logged run with its memory reads served from the log; return its events.

    A query the logged run did not make ends the re-execution; a final
    ``replay_mismatch`` event carries the reason (a truncated log legitimately
    ends this way, after its last logged event).
    """
    from nef_agents.memory.gateway import ReplayGateway, ReplayMismatch

    run_id = str(run_started.get("run_id", "replay"))
    log = DecisionLog(None, run_id)
    gateway = ReplayGateway(reads, meta)
    try:
        if run_started.get("scenario") is not None:
            _rerun_scenario(run_started, gateway, log)
        elif run_started.get("objective") is not None:
            _rerun_objective(run_started, gateway, log)
        else:
            raise ConfigError(
                f"run {run_id} cannot be re-executed: its run_started event has neither 'scenario' "
                "nor 'objective' in its context (see nef_agents.replay's docstring)"
            )
    except ReplayMismatch as exc:
        last = log.events[-1] if log.events else {}
        where = {"iteration": last.get("iteration", 0), "nfev": last.get("nfev", 0)}
        log.events.append(
            {"event": "replay_mismatch", "run_id": run_id, **where, "detail": str(exc)}
        )
    finally:
        log.close()
    return [from_jsonable(e) for e in log.events]


def _rerun_scenario(start: dict[str, Any], gateway: Any, log: DecisionLog) -> None:
    from nef_agents import runner

    sc, spec = runner.from_context(start)
    runner.framework_run(sc, spec, int(start["seed"]), memory=gateway, log=log, run_id=log.run_id)


def _rerun_objective(start: dict[str, Any], gateway: Any, log: DecisionLog) -> None:
    from nef_agents import functions
    from nef_agents.optimizer import minimize

    spec = str(start["objective"])
    kind, _, name = spec.partition(":")
    if kind != "functions" or not name:
        raise ConfigError(f"run {log.run_id}: objective {spec!r} must look like 'functions:<name>'")
    if start.get("x0") is None:
        raise ConfigError(
            f"run {log.run_id}: context has no 'x0'; it is needed to re-execute the run"
        )
    fn = functions.get(name, **dict(start.get("objective_params") or {}))
    options = {**(start.get("engine_options") or {}), "framework": start.get("config") or {}}
    engine = start.get("engine", "auto")
    minimize(
        fn.f,
        start["x0"],
        jac=fn.grad if start.get("jac", True) else None,
        bounds=start.get("bounds"),
        engine=engine if isinstance(engine, str) else list(engine),
        budget=None if start.get("default_budget") else start.get("budget"),
        seed=int(start["seed"]),
        options=options,
        agents=bool(start.get("agents", True)),
        memory=gateway,
        log=log,
        target=start.get("target"),
        adjustable=tuple(start.get("adjustable") or ()),
        pause=start.get("pause"),
        run_id=log.run_id,
    )


# ---- the decision graph -------------------------------------------------------------------------
def decision_graph(events: Sequence[dict[str, Any]]) -> nx.DiGraph:
    """pause -> proposal -> critique -> decision -> outcome, per run; node attribute ``kind``.

    Node ids are ``"<run_id>/<seq>"``; attributes are str, int or float only
    (dicts and lists as JSON text) so the graph writes to GraphML. The chosen
    proposal also links straight to its decision (edge ``relation="chosen"``).
    """
    g = nx.DiGraph()
    for run_id, pairs in group_runs(events).items():
        pause = decision = None
        proposals: dict[str, str] = {}
        critiques: list[str] = []
        for idx, e in pairs:
            name = e.get("event")
            if name not in ("pause", "proposal", "critique", "decision", "outcome"):
                continue
            node = f"{run_id}/{e.get('seq', idx)}"
            g.add_node(
                node,
                kind=name,
                run_id=run_id,
                iteration=int(e.get("iteration", 0)),
                nfev=int(e.get("nfev", 0)),
                label=describe(e),
                **_attrs(e),
            )
            if name == "pause":
                pause, proposals, critiques = node, {}, []
            elif name == "proposal":
                proposals[str(e.get("id"))] = node
                if pause is not None:
                    g.add_edge(pause, node, relation="proposes")
            elif name == "critique":
                critiques.append(node)
                target = proposals.get(str(e.get("proposal_id")))
                if target is not None:
                    g.add_edge(target, node, relation="critiqued")
            elif name == "decision":
                decision = node
                for c in critiques:
                    g.add_edge(c, node, relation="informs")
                chosen = proposals.get(str(_get(e, "chosen.id")))
                if chosen is not None:
                    g.add_edge(chosen, node, relation="chosen")
            elif name == "outcome" and decision is not None:
                g.add_edge(decision, node, relation="led_to")
                decision = None  # one outcome per decision
    return g


_SKIP_ATTRS = {"event", "run_id", "seq", "iteration", "nfev", "time", "snapshot"}


def _attrs(e: dict[str, Any]) -> dict[str, str | int | float]:
    out: dict[str, str | int | float] = {}
    for k, v in e.items():
        if k in _SKIP_ATTRS:
            continue
        if k == "chosen" and isinstance(v, dict):  # the decision's headline fields, flat
            out["action"] = str(v.get("action"))
            out["agent"] = str(v.get("agent"))
        if isinstance(v, bool):
            out[k] = int(v)
        elif isinstance(v, int | float | str):
            out[k] = v
        elif v is None:
            out[k] = ""
        else:
            out[k] = json.dumps(v, default=str, sort_keys=True)
    return out


def write_graphml(graph: nx.DiGraph, path: str | Path) -> Path:
    """Write ``graph`` as GraphML (creating the folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nx.write_graphml(graph, path)
    return path
