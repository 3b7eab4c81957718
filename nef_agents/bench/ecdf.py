"""COCO-style aggregation of BBOB runs: targets, function groups, ECDFs, tables.

A *task* is one run of one optimizer on one (function, dimension, instance); its
trace lists ``(nfev, f)`` at every strict improvement of the best-so-far value.
Its precision after ``n`` evaluations is ``best f so far - f_opt``. The 51
targets are precisions ``10**k`` for ``k = 2, 1.8, ..., -8``; a target is reached
at the first evaluation whose precision is ``<= 10**k``.

The headline number is the fraction of (problem, target) pairs reached within
``n`` evaluations, over every function and instance of a group (a "problem" is
a (function, instance) pair), for ``n = 10*D, 100*D, 1000*D`` and the full
budget. A checkpoint beyond a task's budget is reported as ``None``: the run was
not allowed to go that far.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

TARGET_EXPONENTS: np.ndarray = np.round(np.linspace(2.0, -8.0, 51), 1)
# whole decades parsed from their literals: numpy's 10.0**-5.0 is 9.999999999999999e-06,
# which would miss a precision of exactly 1e-5
TARGETS: np.ndarray = np.array(
    [float(f"1e{int(k)}") if k == int(k) else 10.0**k for k in TARGET_EXPONENTS]
)

GROUPS: dict[str, tuple[int, ...]] = {
    "separable": (1, 2, 3, 4, 5),
    "low/moderate conditioning": (6, 7, 8, 9),
    "high conditioning": (10, 11, 12, 13, 14),
    "multimodal, adequate structure": (15, 16, 17, 18, 19),
    "multimodal, weak structure": (20, 21, 22, 23, 24),
}
GROUP_LABELS: dict[str, str] = {
    "separable": "f1-5",
    "low/moderate conditioning": "f6-9",
    "high conditioning": "f10-14",
    "multimodal, adequate structure": "f15-19",
    "multimodal, weak structure": "f20-24",
}
CHECKPOINTS: tuple[tuple[str, int | None], ...] = (
    ("10D", 10),
    ("100D", 100),
    ("1000D", 1000),
    ("full", None),  # the task's own budget
)


def _legacy_gauss(seed: int) -> float:
    """First normal deviate of BBOB-2009's generator (Park-Miller with a 32-slot
    shuffle table, Box-Muller on the first two uniforms)."""
    seed = max(abs(seed), 1)
    table = [0] * 32
    for i in range(39, -1, -1):
        seed = 16807 * (seed % 127773) - 2836 * (seed // 127773)
        seed += 2147483647 if seed < 0 else 0
        if i < 32:
            table[i] = seed
    last, u = table[0], []
    for _ in range(2):
        seed = 16807 * (seed % 127773) - 2836 * (seed // 127773)
        seed += 2147483647 if seed < 0 else 0
        j = last // 67108865
        last, table[j] = table[j], seed
        u.append(last / 2.147483647e9 or 1e-99)
    return math.sqrt(-2.0 * math.log(u[0])) * math.cos(2.0 * math.pi * u[1])


def bbob_fopt(function: int, instance: int) -> float:
    """Optimal value f_opt of bbob ``function`` (1..24), ``instance`` (instance number).

    BBOB's offset: ``round(100 * g1 / g2, 2)`` clipped to [-1000, 1000], with g1,
    g2 normal deviates seeded ``r`` and ``r + 1``, ``r = fid + 10000 * instance``
    (f4 shares f3's seed, f18 shares f17's). Independent of the dimension.
    """
    r = {4: 3, 18: 17}.get(function, function) + 10000 * instance
    value = math.floor(100.0 * 100.0 * _legacy_gauss(r) / _legacy_gauss(r + 1) + 0.5) / 100.0
    return min(1000.0, max(-1000.0, value))


def group_of(function: int) -> str:
    """Name of the BBOB function group holding ``function`` (1..24)."""
    for name, fids in GROUPS.items():
        if function in fids:
            return name
    raise ValueError(f"`function` must be a bbob function id in 1..24, got {function!r}")


def first_hits(trace: Sequence[Sequence[float]], fopt: float) -> np.ndarray:
    """Evaluation count at which each of the 51 targets is first reached (inf: never).

    ``trace`` holds ``(nfev, f)`` pairs with strictly decreasing f, as the
    recorder writes them.
    """
    hits = np.full(TARGETS.size, np.inf)
    if len(trace) == 0:
        return hits
    arr = np.asarray(trace, dtype=float)
    nfev, prec = arr[:, 0], arr[:, 1] - fopt
    for j, target in enumerate(TARGETS):
        reached = np.flatnonzero(prec <= target)
        if reached.size:
            hits[j] = nfev[reached[0]]
    return hits


def _collect(tasks: Iterable[Mapping[str, Any]]) -> dict[tuple[str, int], list[Mapping[str, Any]]]:
    """Tasks by (label, dim), in the order they come (the harness sorts them)."""
    by: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for t in tasks:
        by.setdefault((t["label"], int(t["dim"])), []).append(t)
    return by


def summarize(tasks: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, dict]]]:
    """Fractions of (problem, target) pairs reached: ``[label][dim][group][checkpoint]``.

    ``group`` is ``"all"`` or a :data:`GROUPS` name; ``dim`` is a string (JSON
    keys); a value is a float in [0, 1], or None past the budget or for a group
    without tasks.
    """
    out: dict[str, dict[str, dict[str, dict]]] = {}
    for (label, dim), ts in _collect(tasks).items():
        hits = np.array([first_hits(t["trace"], t["fopt"]) for t in ts])
        fids = np.array([int(t["function"]) for t in ts])
        budget = min(int(t["budget"]) for t in ts)
        rows: dict[str, dict] = {}
        for group in ("all", *GROUPS):
            mask = np.ones(len(ts), bool) if group == "all" else np.isin(fids, GROUPS[group])
            row: dict[str, float | None] = {}
            for name, per_dim in CHECKPOINTS:
                n = budget if per_dim is None else per_dim * dim
                ok = mask.any() and n <= budget
                row[name] = float(np.mean(hits[mask] <= n)) if ok else None
            rows[group] = row
        out.setdefault(label, {})[str(dim)] = rows
    return out


def ecdf_curves(
    tasks: Iterable[Mapping[str, Any]], step: float = 0.05
) -> dict[str, dict[str, dict[str, dict[str, list[float]]]]]:
    """ECDF per ``[label][dim][group]``: ``x`` = log10(evaluations / D) on a grid of
    ``step`` up to the budget, ``y`` = fraction of (problem, target) pairs reached."""
    out: dict[str, dict[str, dict[str, dict[str, list[float]]]]] = {}
    for (label, dim), ts in _collect(tasks).items():
        hits = np.array([first_hits(t["trace"], t["fopt"]) for t in ts])
        fids = np.array([int(t["function"]) for t in ts])
        top = np.log10(min(int(t["budget"]) for t in ts) / dim)
        x = np.append(np.arange(0.0, top, step), top)
        evals = dim * 10.0**x
        curves: dict[str, dict[str, list[float]]] = {}
        for group in ("all", *GROUPS):
            mask = np.ones(len(ts), bool) if group == "all" else np.isin(fids, GROUPS[group])
            if not mask.any():
                continue
            h = np.sort(hits[mask].ravel())
            # small tolerance: 10**x*D lands a hair below an integer count
            y = np.searchsorted(h, evals * (1 + 1e-9), side="right") / h.size
            curves[group] = {"x": np.round(x, 4).tolist(), "y": y.tolist()}
        out.setdefault(label, {})[str(dim)] = curves
    return out


def plot_ecdf(curves: Mapping[str, Mapping[str, Mapping]], dim: int, path: Path) -> Path:
    """Write one PNG for dimension ``dim``: panel "all" plus one per function group,
    one line per optimizer label. Uses the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = ("all", *GROUPS)
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), sharex=True, sharey=True)
    for ax, group in zip(axes.ravel(), panels, strict=True):
        for k, (label, per_dim) in enumerate(curves.items()):
            c = per_dim.get(str(dim), {}).get(group)
            if c:  # colour and dash by label index: coinciding curves stay visible
                style = {"color": f"C{k % 10}", "linestyle": ("-", "--", "-.", ":")[k % 4]}
                ax.plot(c["x"], c["y"], drawstyle="steps-post", label=label, **style)
        title = "all functions" if group == "all" else f"{GROUP_LABELS[group]} {group}"
        ax.set_title(title, fontsize=10)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("log10(evaluations / D)")
    for ax in axes[:, 0]:
        ax.set_ylabel("fraction of (problem, target) pairs")
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.suptitle(f"bbob, D={dim}: ECDF over 51 targets 1e2..1e-8")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _cell(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def markdown_tables(summary: Mapping[str, Mapping[str, Mapping[str, Mapping]]]) -> str:
    """Markdown: the overall table, then one per function group; rows (optimizer, D)."""
    head = "| optimizer | D | 10·D | 100·D | 1000·D | full budget |\n|---|---|---|---|---|---|"
    parts = []
    for group in ("all", *GROUPS):
        title = "all functions" if group == "all" else f"{GROUP_LABELS[group]}: {group}"
        lines = [f"### {title}: fraction of (problem, target) pairs reached", "", head]
        for label, per_dim in summary.items():
            for dim in sorted(per_dim, key=int):
                row = per_dim[dim].get(group, {})
                cells = " | ".join(_cell(row.get(name)) for name, _ in CHECKPOINTS)
                lines.append(f"| {label} | {dim} | {cells} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
