"""Figures of a run folder: loss against evaluations, health over iterations, 2-D paths.

Reads ``trajectory.csv`` (columns ``optimizer, problem, seed, iteration,
nfev, f, best_f, <five health metrics>, overall, event, x``) and, for the
contour, ``summary.json``'s scenario. Uses matplotlib's object API on the Agg
canvas (no pyplot, so no global backend state and nothing ever shows).
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from nef_agents.errors import ConfigError

HEALTH = ("stability", "diversity", "resilience", "balance", "integration", "overall")
NEEDED = {
    "loss": ("optimizer", "problem", "seed", "nfev", "best_f"),
    "health": ("optimizer", "problem", "seed", "iteration", *HEALTH, "event"),
    "trajectory": ("optimizer", "problem", "seed", "x"),
}
FRAMEWORK = "framework"
GRID = 60  # contour resolution per axis: 3,600 evaluations of the objective


def plot_run(run_dir: str | Path) -> list[Path]:
    """Write ``loss.png``, ``health.png`` (framework rows present) and ``trajectory.png`` (2-D) into ``run_dir``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: not a run folder")
    csv_path = run_dir / "trajectory.csv"
    rows = read_trajectory(csv_path)
    out = [_plot_loss(rows, csv_path, run_dir / "loss.png")]
    fw = [r for r in rows if r["optimizer"] == FRAMEWORK]
    if fw:
        out.append(_plot_health(fw, csv_path, run_dir / "health.png"))
    flat = [r for r in rows if len(_xs(r)) == 2] if "x" in rows[0] else []
    if flat:
        problem = flat[0]["problem"]
        objective = _objective(run_dir / "summary.json", problem, flat[0]["seed"])
        out.append(
            _plot_paths(
                [r for r in rows if r["problem"] == problem], objective, run_dir / "trajectory.png"
            )
        )
    return out


def read_trajectory(path: Path) -> list[dict[str, str]]:
    """Rows of ``trajectory.csv`` as dicts of text; errors name the file."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file (is this a run folder written by `nef run`?)"
        ) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    if not rows:
        raise ConfigError(f"{path}: no rows to plot")
    _require(rows, NEEDED["loss"], path)
    return rows


def _require(rows: Sequence[dict[str, str]], cols: Sequence[str], path: Path) -> None:
    missing = [c for c in cols if c not in rows[0]]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {', '.join(missing)}")


def _num(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _xs(row: dict[str, str]) -> list[float]:
    text = row.get("x") or ""
    try:
        return [float(t) for t in text.split()]
    except ValueError:
        return []


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    if not path.exists() or path.stat().st_size == 0:
        raise OSError(f"{path}: matplotlib wrote an empty file")
    return path


def _grouped(
    rows: Sequence[dict[str, str]],
) -> dict[str, dict[str, dict[str, list[dict[str, str]]]]]:
    """problem -> optimizer -> seed -> rows, each in file order."""
    out: dict[str, dict[str, dict[str, list[dict[str, str]]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for r in rows:
        out[r["problem"]][r["optimizer"]][r["seed"]].append(r)
    return out


# ---- loss -----------------------------------------------------------------------------------------
def _plot_loss(rows: Sequence[dict[str, str]], csv_path: Path, path: Path) -> Path:
    groups = _grouped(rows)
    finite = [v for v in (_num(r["best_f"]) for r in rows) if math.isfinite(v)]
    if not finite:
        raise ConfigError(f"{csv_path}: column best_f holds no finite value")
    # A log axis needs positive values; shift by the lowest value seen when some are <= 0.
    floor = min(finite)
    shift = 0.0 if floor > 0 else floor - max(1e-12, 1e-9 * (max(finite) - floor))
    n = len(groups)
    cols = min(3, n)
    fig = Figure(figsize=(5.5 * cols, 4.0 * math.ceil(n / cols)))
    for k, (problem, by_opt) in enumerate(groups.items()):
        ax = fig.add_subplot(math.ceil(n / cols), cols, k + 1)
        for j, (opt, by_seed) in enumerate(
            sorted(by_opt.items(), key=lambda kv: kv[0] != FRAMEWORK)
        ):
            color, z = (
                f"C{j % 10}",
                3 if opt == FRAMEWORK else 2,
            )  # the framework on top where lines overlap
            curves = []
            for seed_rows in by_seed.values():
                nf = np.array([_num(r["nfev"]) for r in seed_rows])
                bf = np.array([_num(r["best_f"]) for r in seed_rows]) - shift
                ok = np.isfinite(nf) & np.isfinite(bf) & (bf > 0)
                if ok.any():
                    order = np.argsort(nf[ok], kind="stable")
                    curves.append((nf[ok][order], bf[ok][order]))
            if not curves:
                continue
            many = len(curves) > 1
            for nf, bf in curves:
                ax.step(
                    nf,
                    bf,
                    where="post",
                    color=color,
                    alpha=0.25 if many else 1.0,
                    lw=0.8 if many else 1.6,
                    label=None if many else opt,
                    zorder=z,
                )
            if many:
                grid, med = _median_curve(curves)
                ax.step(
                    grid,
                    med,
                    where="post",
                    color=color,
                    lw=1.8,
                    label=f"{opt} (median of {len(curves)})",
                    zorder=z,
                )
        ax.set_yscale("log")
        ax.set_xlabel("evaluations")
        ax.set_ylabel("best f" if shift == 0.0 else f"best f - ({shift:.6g})")
        ax.set_title(str(problem))
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return _save(fig, path)


def _median_curve(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Median over seeds of step curves sampled on one evaluation grid (NaN before a seed starts)."""
    grid = np.unique(np.concatenate([nf for nf, _ in curves]))
    if grid.size > 400:
        grid = np.unique(np.quantile(grid, np.linspace(0, 1, 400)))
    vals = np.full((len(curves), grid.size), np.nan)
    for i, (nf, bf) in enumerate(curves):
        idx = np.searchsorted(nf, grid, side="right") - 1
        has = idx >= 0
        vals[i, has] = bf[idx[has]]
    ok = np.isfinite(vals).any(axis=0)
    med = np.full(grid.size, np.nan)
    med[ok] = np.nanmedian(vals[:, ok], axis=0)
    return grid, med


# ---- health ---------------------------------------------------------------------------------------
def _plot_health(fw: Sequence[dict[str, str]], csv_path: Path, path: Path) -> Path:
    _require(fw, NEEDED["health"], csv_path)
    problem = fw[0]["problem"]
    seeds = sorted({r["seed"] for r in fw if r["problem"] == problem}, key=lambda s: (_num(s), s))
    run = [r for r in fw if r["problem"] == problem and r["seed"] == seeds[0]]
    it = np.array([_num(r["iteration"]) for r in run])
    fig = Figure(figsize=(9, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    plotted = False
    for j, name in enumerate(HEALTH):
        y = np.array([_num(r[name]) for r in run])
        ok = np.isfinite(it) & np.isfinite(y)
        if ok.any():
            plotted = True
            ax.plot(
                it[ok],
                y[ok],
                color=f"C{j}",
                lw=2.2 if name == "overall" else 1.0,
                alpha=1.0 if name == "overall" else 0.8,
                label=name,
            )
    if not plotted:
        ax.text(
            0.5,
            0.5,
            "no health values in the framework rows",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    marks = {"pause": [], "anomaly": [], "decision": []}  # type: dict[str, list[float]]
    for r, x in zip(run, it, strict=True):
        ev = (r.get("event") or "").split(":", 1)[0]
        if ev in marks and math.isfinite(x):
            marks[ev].append(float(x))
    # a decision row is also a pause (the CSV keeps one event a row, the most telling one)
    for k, x in enumerate(sorted(set(marks["pause"]) | set(marks["decision"]))):
        ax.axvline(x, color="0.4", ls="--", lw=0.8, label="pause" if k == 0 else None)
    for kind, y, style in (("anomaly", 1.04, "rx"), ("decision", 1.08, "gv")):
        if marks[kind]:
            ax.plot(marks[kind], [y] * len(marks[kind]), style, ms=6, label=kind, clip_on=False)
    ax.set_ylim(-0.02, 1.12)
    ax.set_xlabel("iteration")
    ax.set_ylabel("health (1 = healthy)")
    ax.set_title(f"framework health: {problem}, seed {seeds[0]}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower left", ncol=3)
    return _save(fig, path)


# ---- 2-D paths ------------------------------------------------------------------------------------
def _objective(
    summary_path: Path, problem: str, seed: str
) -> tuple[Callable[[np.ndarray], float], Callable[[], None]] | None:
    """(scalar objective, close) of the first problem, rebuilt from the run's scenario; None when that fails."""
    try:
        from nef_agents.runner import build_objective

        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        sc = _scenario(summary, summary_path.parent)
        if sc is None:
            return None
        specs = sc.problems()
        spec = next((p for p in specs if p.get("label") == problem), specs[0])
        obj = build_objective(sc, spec, int(_num(seed)))
        return (lambda x: _scalar(obj.fun(x))), obj.close
    except Exception:  # the contour is a nicety: any failure means a plain path plot
        return None


def _scenario(summary: dict[str, Any], run_dir: Path) -> Any:
    from nef_agents.scenario import load_scenario, scenario_from_dict

    for key in ("scenario_path", "scenario_file", "source"):
        p = summary.get(key)
        if isinstance(p, str) and Path(p).is_file():
            return load_scenario(p)
    sc = summary.get("scenario")
    if isinstance(sc, str):
        p = Path(sc) if Path(sc).is_absolute() else run_dir / sc
        return load_scenario(p if p.is_file() else sc)
    if isinstance(sc, dict):
        for key in ("path", "source", "file"):
            if isinstance(sc.get(key), str) and Path(sc[key]).is_file():
                return load_scenario(sc[key])
        return scenario_from_dict(sc)
    return None


def _scalar(v: Any) -> float:
    if isinstance(v, dict):
        return float(sum(v.values()))
    return float(v)


def _plot_paths(
    rows: Sequence[dict[str, str]],
    objective: tuple[Callable[[np.ndarray], float], Callable[[], None]] | None,
    path: Path,
) -> Path:
    groups = _grouped(rows)
    problem = rows[0]["problem"]
    paths: dict[str, np.ndarray] = {}
    for opt, by_seed in sorted(groups[problem].items(), key=lambda kv: kv[0] != FRAMEWORK):
        for seed in sorted(
            by_seed, key=lambda s: (_num(s), s)
        ):  # one seed keeps the picture readable
            pts = [
                xs
                for xs in (_xs(r) for r in by_seed[seed])
                if len(xs) == 2 and all(map(math.isfinite, xs))
            ]
            if pts:
                paths[opt] = np.array(pts)
                break
    allpts = np.vstack(list(paths.values()))
    lo, hi = allpts.min(axis=0), allpts.max(axis=0)
    pad = np.maximum(0.1 * (hi - lo), 1e-3 * np.maximum(1.0, np.abs(hi)))
    lo, hi = lo - pad, hi + pad
    fig = Figure(figsize=(6.5, 5.5))
    ax = fig.add_subplot(1, 1, 1)
    if objective is not None:
        fun, close = objective
        try:
            _contour(ax, fig, fun, lo, hi)
        finally:
            close()
    for j, (opt, pts) in enumerate(paths.items()):
        fw = opt == FRAMEWORK
        style = dict(color=f"C{j}", zorder=4 if fw else 3)  # baselines dashed under the framework
        ax.plot(
            pts[:, 0],
            pts[:, 1],
            "-" if fw else "--",
            lw=1.6 if fw else 1.1,
            alpha=0.9,
            label=opt,
            **style,
        )
        ax.plot(pts[0, 0], pts[0, 1], "o", ms=5, **style)
        ax.plot(pts[-1, 0], pts[-1, 1], "*", ms=10, **style)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("x[0]")
    ax.set_ylabel("x[1]")
    ax.set_title(
        f"{problem}: paths (o start, * end)"
        + ("" if objective else "; objective not rebuilt, no contour")
    )
    ax.legend(fontsize=8)
    return _save(fig, path)


def _contour(
    ax: Any, fig: Figure, objective: Callable[[np.ndarray], float], lo: np.ndarray, hi: np.ndarray
) -> None:
    xs, ys = np.linspace(lo[0], hi[0], GRID), np.linspace(lo[1], hi[1], GRID)
    z = np.full((GRID, GRID), np.nan)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            try:
                z[i, j] = float(objective(np.array([x, y])))
            except Exception:  # a failing point is a hole in the picture, not an error
                pass
    z[~np.isfinite(z)] = np.nan
    if np.isnan(z).all():
        return
    # log of the gap to the grid minimum spreads the levels over the whole range
    zl = np.log10(z - np.nanmin(z) + 1e-12 * max(1.0, float(np.nanmax(np.abs(z)))))
    cs = ax.contourf(xs, ys, zl, levels=25, cmap="viridis", alpha=0.75)
    fig.colorbar(cs, ax=ax, label="log10(f - min on grid)")
