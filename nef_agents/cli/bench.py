"""``nef bench``: benchmarks against established optimizers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nef_agents.cli.app import app, console, err_console, guarded

bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks: COCO/BBOB and the 2-D Rosenbrock table.")
app.add_typer(bench_app, name="bench")


@bench_app.command("bbob")
@guarded
def bbob_cmd(
    dims: Annotated[str, typer.Option("--dims", help="Dimensions, e.g. 2,5,10.")] = "2,5,10",
    instances: Annotated[str, typer.Option("--instances", help="Instances, e.g. 1-3.")] = "1-3",
    functions: Annotated[str, typer.Option("--functions", help="bbob function ids, e.g. 1-24.")] = "1-24",
    budget_multiplier: Annotated[float, typer.Option("--budget-multiplier", help="Evaluations per dimension.")] = 1000,
    optimizers: Annotated[str, typer.Option("--optimizers", help="Comma-separated: nef, nef-noagents, nef-nomemory, lbfgsb, nelder-mead, cma-ipop, adam, gd, portfolio.")] = "nef,lbfgsb,nelder-mead,cma-ipop,adam,gd,portfolio",
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Worker processes (default: cores).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("bench-out/bbob"),
    quick: Annotated[bool, typer.Option("--quick", help="Smoke run: d=2, instance 1, five functions, 100·D.")] = False,
    warm_memory: Annotated[bool, typer.Option("--warm-memory", help="Also run the warmed-vs-empty memory ablation.")] = False,
) -> None:
    """Run optimizers on the COCO bbob suite under one budget; print COCO-style tables, write ECDF plots."""
    from nef_agents.bench.bbob import _parse_ints, format_tables, run_bbob, warm_memory_experiment

    def progress(done: int, total: int, r: dict) -> None:
        if done == total or done % max(1, total // 20) == 0:
            err_console.print(f"[{done}/{total}] {r['label']} {r['problem_id']} {r['seconds']:.2f}s")

    kw = {} if quick else dict(dims=_parse_ints(dims), instances=_parse_ints(instances),
                               functions=_parse_ints(functions), budget_multiplier=budget_multiplier)
    res = run_bbob(optimizers=tuple(o for o in optimizers.split(",") if o), workers=workers, out_dir=out,
                   quick=quick, progress=progress, **kw)
    print(format_tables(res))
    console.print(f"results: {res.json_path}\nplots: {', '.join(map(str, res.png_paths))}")
    if warm_memory:
        wkw = {} if quick else dict(dims=_parse_ints(dims), functions=_parse_ints(functions),
                                    budget_multiplier=budget_multiplier)
        if quick:
            wkw = dict(dims=(2,), functions=(1, 6, 10, 15, 20), budget_multiplier=100)
        warm = warm_memory_experiment(workers=workers, out_dir=out / "warm", progress=progress, **wkw)
        print(format_tables(warm))


@bench_app.command("rosenbrock")
@guarded
def rosenbrock_cmd() -> None:
    """The seed's table: 2-D Rosenbrock, GD vs the framework, plus lbfgs, adam, cmaes and scipy."""
    from nef_agents.bench.rosenbrock import BUDGET, X0, table

    console.print(f"2-D Rosenbrock from {X0}, budget {BUDGET} evaluations\n")
    print(table())
