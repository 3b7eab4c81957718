"""The ``nef`` app, shared helpers, and ``nef minimize``.

Every command calls the same functions a Python user calls. Errors from bad
input become one line on stderr and exit code 2; a bug inside prints a short
traceback and exits 1.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from nef_agents import __version__
from nef_agents.errors import ConfigError, NefError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="nef_agents: an optimizer that watches its own health.")
console = Console()
err_console = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def guarded(fn: F) -> F:
    """Map NefError/ValueError/OSError to exit 2 with one line; anything else to exit 1 with a short traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None
        except (NefError, ValueError, OSError) as exc:
            err_console.print(f"error: {exc}", markup=False, highlight=False)
            raise typer.Exit(2) from None
        except Exception:
            tb = traceback.format_exc(limit=4)
            err_console.print(f"internal error (a bug; please report):\n{tb}", markup=False, highlight=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        console.print(f"nef_agents {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version.")) -> None:
    """Run scenarios, minimize built-in functions, query memory, replay decision logs, benchmark."""


def parse_floats(text: str, what: str) -> list[float]:
    """'1,2.5,-3' -> [1.0, 2.5, -3.0]; errors name ``what``."""
    try:
        return [float(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise ConfigError(f"{what} must be comma-separated numbers, got {text!r}") from None


@app.command("minimize")
@guarded
def minimize_cmd(
    function: str = typer.Argument(..., help="Built-in function name (sphere, rosenbrock, rastrigin, ...)."),
    dim: int = typer.Option(2, "--dim", help="Dimension."),
    x0: str = typer.Option(None, "--x0", help="Start point, comma-separated (default: a seeded uniform point in the box)."),
    engine: str = typer.Option("auto", "--engine", help="auto, gd, adam, lbfgs, cmaes."),
    budget: int = typer.Option(None, "--budget", help="Evaluation budget."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    no_gradient: bool = typer.Option(False, "--no-gradient", help="Hide the analytic gradient (finite differences)."),
    agents: bool = typer.Option(True, "--agents/--no-agents", help="Let the agents act on pauses."),
    memory: Path = typer.Option(None, "--memory", help="Memory store (default: in-memory for this command)."),
    log: Path = typer.Option(None, "--log", help="Write the decision log (JSON lines) here."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Minimize a built-in test function and print the result."""
    import numpy as np

    from nef_agents import functions, minimize
    from nef_agents.memory.codec import to_jsonable

    fn = functions.get(function, dim=dim)
    if x0 is not None:
        start = np.array(parse_floats(x0, "--x0"))
        if start.size != fn.dim:
            raise ConfigError(f"--x0 has {start.size} numbers but the function has dimension {fn.dim}")
    else:
        lo, hi = fn.bounds
        start = np.random.default_rng(seed).uniform(lo, hi, fn.dim)
    # The context lets `nef replay --verify` rebuild this run from its log alone.
    context = {"objective": f"functions:{function}", "objective_params": {"dim": dim}, "x0": start.tolist(),
               "jac": not no_gradient, "engine": engine, "agents": agents, "adjustable": list(fn.adjustable),
               "default_budget": budget is None}
    res = minimize(fn.f, start, jac=None if no_gradient else fn.grad, engine=engine, budget=budget, seed=seed,
                   agents=agents, memory=memory, log=log, adjustable=fn.adjustable, context=context)
    if as_json:
        keys = ("x", "fun", "nit", "nfev", "njev", "success", "status", "message", "failed_evaluations", "run_id")
        print(json.dumps(to_jsonable({k: res[k] for k in keys} | {"pauses": len(res.pauses),
                                     "decisions": [d["action"] for d in res.decisions]})))
        return
    table = Table(title=f"{function} (d={fn.dim}), engine={engine}, seed={seed}")
    table.add_column("field")
    table.add_column("value")
    for k in ("fun", "nfev", "njev", "nit", "success", "status", "message", "failed_evaluations"):
        table.add_row(k, str(res[k]))
    table.add_row("x", np.array2string(res.x, precision=6, threshold=8))
    table.add_row("known minimum", f"{fn.f_opt:.6g}")
    table.add_row("pauses / anomalies", f"{len(res.pauses)} / {len(res.anomalies)}")
    table.add_row("decisions", ", ".join(f"{d['action']}@{d['iteration']}" for d in res.decisions) or "-")
    console.print(table)


