"""The run folder's files: trajectory.csv, summary.json, insights.md (and plots when available).

``trajectory.csv`` has one row per iteration per optimizer run, columns
:data:`TRAJECTORY_COLUMNS`: health columns are filled for the framework only;
``event`` is "", ``pause``, ``anomaly`` or ``decision:<action>`` (a decision
outranks the pause that led to it, a pause an anomaly); ``x`` is the current
point as space-separated numbers when the dimension is at most 10.

``summary.json`` holds, per problem and optimizer, medians over seeds and the
per-seed values. A run that did not reach the target counts as never reaching
it, so the median evaluations-to-target is null when half the seeds or more
missed it.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel

from nef_agents.memory.codec import to_jsonable

TRAJECTORY_COLUMNS = ("optimizer", "problem", "seed", "iteration", "nfev", "f", "best_f", "stability", "diversity",
                      "resilience", "balance", "integration", "overall", "event", "x")
MEDIAN_FIELDS = ("best", "precision", "evals_to_target", "iterations", "nfev", "pauses", "anomalies", "wall_time")


class RunSummary(BaseModel):
    """What :func:`nef_agents.runner.run_scenario` returns and writes to ``summary.json``."""

    scenario: str
    description: str = ""
    scenario_path: str | None
    scenario_config: dict[str, Any] = {}
    run_id: str
    run_dir: str
    started: str
    finished: str
    interrupted: bool
    seeds: list[int]
    budget: int
    target: float | None
    memory: str
    optimizers: list[str]
    problems: list[dict[str, Any]]
    files: list[str] = []
    plots: list[str] = []
    plot_error: str | None = None


def record(name: str, spec: dict[str, Any], seed: int, res: Any) -> dict[str, Any]:
    """The per-seed values of one run, as kept in summary.json."""
    decisions = [{"action": d["action"], "iteration": d["iteration"], "agent": d.get("agent"),
                  "outcome": (d.get("outcome") or {}).get("score"),
                  "harmful": (d.get("outcome") or {}).get("harmful"),
                  "rolled_back": (d.get("outcome") or {}).get("rolled_back"),
                  "rationale": str(d.get("rationale") or "")[:300]} for d in res.decisions or []]
    triggers = Counter(r["trigger"] for p in (res.pauses or []) for r in p["reasons"])
    return {
        "optimizer": name, "problem": spec["label"], "seed": seed, "best": float(res.fun),
        "precision": None if res.f_opt is None else float(res.fun) - float(res.f_opt),
        "evals_to_target": res.evals_to_target, "iterations": int(res.nit), "nfev": int(res.nfev),
        "pauses": None if res.pauses is None else len(res.pauses),
        "anomalies": None if res.anomalies is None else len(res.anomalies),
        "wall_time": round(float(res.wall), 4), "status": int(res.status), "message": str(res.message),
        "failed_evaluations": int(res.get("failed_evaluations", 0) or 0), "run_id": res.get("run_id") if name == "framework" else None,
        "engines": [e["engine"] for e in res.get("engines") or []], "decisions": decisions,
        "pause_triggers": dict(triggers), "f_target": res.f_target, "f_opt": res.f_opt,
    }


class TrajectoryWriter:
    """Streams trajectory rows so an interrupted run keeps what finished; ``path=None`` writes nothing."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fh: IO[str] | None = None
        if path is not None:
            self._fh = path.open("w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._fh)
            self._csv.writerow(TRAJECTORY_COLUMNS)

    def write(self, name: str, problem: str, seed: int, res: Any, *, framework: bool) -> None:
        if self._fh is None:
            return
        events: dict[int, str] = {}
        for a in res.anomalies or []:
            events[int(a["iteration"])] = "anomaly"
        for p in res.pauses or []:
            events[int(p["iteration"])] = "pause"
        for d in res.decisions or []:
            events[int(d["iteration"])] = f"decision:{d['action']}"
        health = res.health if framework else None
        for it, nfev, f, best, x in res.trajectory:
            h = [""] * 6
            if health is not None and 0 < it <= len(health):
                h = [_num(v) for v in health[it - 1]]
            xs = " ".join(_num(v) for v in x) if x.size <= 10 else ""
            self._csv.writerow([name, problem, seed, it, nfev, _num(f), _num(best), *h, events.get(it, ""), xs])
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _num(v: float) -> str:
    v = float(v)
    return "" if math.isnan(v) else repr(v)


def summarize(records: list[dict[str, Any]], optimizers: list[str], specs: list[dict[str, Any]],
              target: float | None = None) -> list[dict[str, Any]]:
    """Per problem and optimizer: medians over seeds, target hits and the per-seed records.

    ``precision`` is best - f_opt (f_opt known for built-ins and bbob); for bbob
    the target is a precision, so ``target_label`` reads ``f - f_opt <= ...``.
    """
    out = []
    for spec in specs:
        recs = [r for r in records if r["problem"] == spec["label"]]
        if not recs:
            continue
        opt: dict[str, Any] = {}
        for name in optimizers:
            rs = [r for r in recs if r["optimizer"] == name]
            if rs:
                med = {k: _median([r[k] for r in rs], missing_is_inf=k == "evals_to_target") for k in MEDIAN_FIELDS}
                reached = sum(r["evals_to_target"] is not None for r in rs)
                opt[name] = {"median": med, "runs": len(rs), "reached_target": reached, "seeds": rs}
        label = None if target is None else (f"f - f_opt <= {target:g}" if spec["kind"] == "bbob" else f"f <= {target:g}")
        out.append({"problem": spec["label"], "spec": spec, "f_target": recs[0]["f_target"], "target_label": label,
                    "f_opt": recs[0]["f_opt"], "optimizers": opt})
    return out


def _median(values: list[Any], missing_is_inf: bool = False) -> float | None:
    vals = [math.inf if v is None else float(v) for v in values] if missing_is_inf else \
        [float(v) for v in values if v is not None]
    if not vals:
        return None
    m = statistics.median(vals)
    return None if math.isinf(m) and missing_is_inf else m


def write_run(sc: Any, run_dir: Path, records: list[dict[str, Any]], *, seeds: list[int], memory: str,
              started: str, interrupted: bool, run_id: str) -> RunSummary:
    """Write summary.json and insights.md (and plots if :mod:`nef_agents.plots` exists)."""
    optimizers = ["framework", *sc.baselines]
    summary = RunSummary(
        scenario=sc.name or "scenario", description=sc.description, scenario_path=str(sc.source) if sc.source else None,
        scenario_config=sc.to_context(), run_id=run_id, run_dir=str(run_dir), started=started, finished=datetime.now().isoformat(timespec="seconds"),
        interrupted=interrupted, seeds=seeds, budget=sc.budget, target=sc.target, memory=memory,
        optimizers=optimizers, problems=summarize(records, optimizers, sc.problems(), sc.target),
    )
    (run_dir / "insights.md").write_text(insights(summary), encoding="utf-8")
    _dump(summary, run_dir)
    if sc.outputs.plots:
        try:
            from nef_agents.plots import plot_run
        except ImportError:
            plot_run = None
        if plot_run is not None:
            try:
                summary.plots = [str(p) for p in plot_run(run_dir)]
            except Exception as exc:  # a broken plot must not cost the run's numbers
                summary.plot_error = f"{type(exc).__name__}: {exc}"
    summary.files = sorted(p.name for p in run_dir.iterdir() if p.is_file())
    _dump(summary, run_dir)
    return summary


def _dump(summary: RunSummary, run_dir: Path) -> None:
    text = json.dumps(to_jsonable(summary.model_dump()), indent=2, allow_nan=False)
    tmp = run_dir / "summary.json.tmp"
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(run_dir / "summary.json")  # never a half-written summary


# -- insights.md ---------------------------------------------------------------------------------
def _g(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if float(v).is_integer() and abs(v) < 1e7 else f"{v:.3g}"


def insights(s: RunSummary) -> str:
    """Plain-language account with numbers: what the agents did, what it led to, how it compares."""
    lines = [f"# Insights: {s.scenario}", ""]
    if s.description:
        lines += [s.description.strip(), ""]
    tgt = f", target {s.problems[0]['target_label']}" if s.target is not None and s.problems else ""
    lines += [f"Run `{s.run_id}`: {len(s.seeds)} seed(s) {s.seeds}, budget {_g(s.budget)} evaluations{tgt}; "
              f"optimizers: {', '.join(s.optimizers)}.", ""]
    if s.interrupted:
        lines += ["**Interrupted**: only the runs that finished are counted below.", ""]
    for prob in s.problems:
        lines += [f"## {prob['problem']}", ""]
        fw = prob["optimizers"].get("framework")
        if fw is None:
            lines += ["No framework run finished for this problem.", ""]
            continue
        lines += ["### What the agents did", "", *_agents_part(fw), "", "### What it led to", ""]
        lines += _results_part(prob, fw)
        lines.append("")
    lines += ["Outcome scores run from -1 (progress after the decision much slower than before it) "
              "to +1 (much faster); 0 means no change.", ""]
    return "\n".join(lines)


def _agents_part(fw: dict[str, Any]) -> list[str]:
    runs = fw["seeds"]
    n = len(runs)
    pauses = sum(r["pauses"] or 0 for r in runs)
    triggers: Counter[str] = Counter()
    for r in runs:
        triggers.update(r["pause_triggers"])
    why = ", ".join(f"{k} {v}" for k, v in triggers.most_common()) or "none"
    out = [f"- The framework paused {_g(pauses)} time(s) over {n} run(s) (median {_g(fw['median']['pauses'])} per run); "
           f"pause triggers: {why}."]
    decs = [{**d, "seed": r["seed"]} for r in runs for d in r["decisions"]]
    if not decs:
        out.append("- The agents took no decision.")
    else:
        out.append(f"- The agents took {len(decs)} decision(s):")
        for action, count in Counter(d["action"] for d in decs).most_common():
            ds = [d for d in decs if d["action"] == action]
            scores = [d["outcome"] for d in ds if d["outcome"] is not None]
            mean = f"mean outcome {statistics.fmean(scores):+.2f} over {len(scores)} measured" if scores else "outcome not measured"
            harmful = sum(bool(d["harmful"]) for d in ds)
            rolled = sum(bool(d["rolled_back"]) for d in ds)
            extra = f", {harmful} harmful ({rolled} rolled back)" if harmful else ""
            agents = ", ".join(f"{a} {c}" for a, c in Counter(str(d["agent"]) for d in ds).most_common())
            first = ds[0]
            example = f" First (seed {first['seed']}, iteration {first['iteration']}): {first['rationale']}" \
                if first.get("rationale") else ""
            out.append(f"  - `{action}` {count} time(s) (proposed by {agents}): {mean}{extra}.{example}")
    switches = Counter(" -> ".join(r["engines"]) for r in runs if r["engines"])
    if switches:
        out.append("- Engine sequence: " + "; ".join(f"{k} ({v} run(s))" for k, v in switches.most_common()) + ".")
    anomalies = sum(r["anomalies"] or 0 for r in runs)
    out.append(f"- Anomalies flagged: {_g(anomalies)} (median {_g(fw['median']['anomalies'])} per run).")
    return out


def _results_part(prob: dict[str, Any], fw: dict[str, Any]) -> list[str]:
    tgt = prob["target_label"]
    m = fw["median"]
    bbob = prob["spec"].get("kind") == "bbob"
    best = f"median best f - f_opt is {_g(m['precision'])}" if bbob else f"median best value is {_g(m['best'])}"
    out = [f"- The framework's {best} after a median {_g(m['nfev'])} evaluations"
           + (f"; it reached {tgt} in {fw['reached_target']}/{fw['runs']} run(s)"
              + (f", in a median {_g(m['evals_to_target'])} evaluations" if m['evals_to_target'] is not None else "")
              if tgt is not None else "") + "."]
    for name, b in prob["optimizers"].items():
        if name != "framework":
            out.append("- " + _compare(name, fw, b, tgt, "precision" if bbob else "best"))
    return out


def _compare(name: str, fw: dict[str, Any], b: dict[str, Any], tgt: str | None, key: str) -> str:
    fe, be = fw["median"]["evals_to_target"], b["median"]["evals_to_target"]
    won, tied, n = _wins(fw["seeds"], b["seeds"])
    tail = (f" Per seed, the framework ended lower on {won} and level on {tied} of {n} seed(s)." if tied else
            f" Per seed, the framework ended lower on {won} of {n} seed(s).") if n else ""
    if tgt is not None and fe is not None and be is not None:
        ratio = be / fe if fe else math.inf
        rel = f"{ratio:.1f} times fewer" if ratio >= 1 else f"{1 / ratio:.1f} times more"
        return (f"Against `{name}`: the framework reached {tgt} in a median {_g(fe)} evaluations against "
                f"{_g(be)} for {name} ({rel}).{tail}")
    if tgt is not None and fe is not None:
        return (f"Against `{name}`: the framework reached {tgt} in a median {_g(fe)} evaluations; {name} reached it "
                f"in {b['reached_target']}/{b['runs']} run(s) (median best {_g(b['median'][key])}).{tail}")
    if tgt is not None and be is not None:
        return (f"Against `{name}`: {name} reached {tgt} in a median {_g(be)} evaluations; the framework reached it "
                f"in {fw['reached_target']}/{fw['runs']} run(s) (median best {_g(fw['median'][key])}).{tail}")
    fb, bb = fw["median"][key], b["median"][key]
    word = "lower (better) than" if fb < bb else ("equal to" if fb == bb else "higher (worse) than")
    return f"Against `{name}`: median best {_g(fb)} for the framework, {word} {_g(bb)} for {name}.{tail}"


def _wins(fw: list[dict[str, Any]], base: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(seeds where the framework's best is lower, seeds level, seeds compared)."""
    by_seed = {r["seed"]: r["best"] for r in base}
    pairs = [(r["best"], by_seed[r["seed"]]) for r in fw if r["seed"] in by_seed]
    return sum(a < b for a, b in pairs), sum(a == b for a, b in pairs), len(pairs)
