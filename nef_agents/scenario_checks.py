"""Semantic checks of a scenario, import resolution, and pydantic errors rewritten for people.

Split from :mod:`nef_agents.scenario` to keep each module short. Every check
returns ``(key path, message)`` pairs; :func:`nef_agents.scenario.load_scenario`
prefixes the file name and joins them, one line per problem.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from nef_agents import functions
from nef_agents.engines import REGISTRY as ENGINES
from nef_agents.engines import make_engine
from nef_agents.errors import ConfigError
from nef_agents.schedule import parse_schedule

if TYPE_CHECKING:
    from nef_agents.scenario import Scenario

ENGINE_BASELINES = ("gd", "adam", "lbfgs", "cmaes")
# scipy method -> option keys that cap its work (set to the budget), and whether it takes bounds.
SCIPY_METHODS: dict[str, tuple[tuple[str, ...], bool]] = {
    "L-BFGS-B": (("maxfun", "maxiter"), True), "Nelder-Mead": (("maxfev", "maxiter"), True),
    "Powell": (("maxfev", "maxiter"), True), "BFGS": (("maxiter",), False), "CG": (("maxiter",), False),
    "TNC": (("maxfun",), True), "SLSQP": (("maxiter",), True), "COBYLA": (("maxiter",), True),
}
BBOB_DIMS = (2, 3, 5, 10, 20, 40)

def check(sc: Scenario) -> list[tuple[str, str]]:
    """Semantic checks beyond the schema: (key path, message) per problem."""
    out: list[tuple[str, str]] = []
    o = sc.objective
    kinds = [k for k, v in (("function", o.function), ("bbob", o.bbob), ("import", o.import_)) if v is not None]
    if not kinds:
        out.append(("objective", "no objective: give exactly one of function = \"rosenbrock\", "
                                 "bbob = {function = 1, dimension = 2, instance = 1} or import = \"module:callable\""))
    elif len(kinds) > 1:
        out.append(("objective", f"give exactly one of function, bbob, import; got {' and '.join(kinds)}"))
    if o.gradient is not None and o.import_ is None:
        out.append(("objective.gradient", "a gradient can only be given with an imported objective"))
    if o.params and o.bbob is not None:
        out.append(("objective.params", "bbob problems take no params"))
    if o.adjustable and o.bbob is not None:
        out.append(("objective.adjustable", "bbob problems have no named terms to adjust"))
    if o.function is not None and o.function not in functions.REGISTRY:
        near = difflib.get_close_matches(o.function, list(functions.REGISTRY), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        out.append(("objective.function", f"unknown built-in function {o.function!r}{hint} "
                                          f"(built-ins: {', '.join(sorted(functions.REGISTRY))})"))
    elif o.function is not None and len(kinds) == 1:
        try:
            fn = functions.get(o.function, dim=sc.dim() or 2, **o.params)
            if o.adjustable is not None and not set(o.adjustable) <= set(fn.adjustable):
                bad = sorted(set(o.adjustable) - set(fn.adjustable))
                out.append(("objective.adjustable", f"{o.function} has no adjustable term(s) {bad}; "
                                                    f"adjustable: {list(fn.adjustable)}"))
        except ConfigError as exc:
            out.append(("objective.params" if o.params else "objective.function", str(exc)))
    if o.import_ is not None and len(kinds) == 1:
        for key, spec in (("objective.import", o.import_), ("objective.gradient", o.gradient)):
            if spec is not None:
                try:
                    resolve_import(spec, sc.source.parent if sc.source else None)
                except ConfigError as exc:
                    out.append((key, str(exc)))
    if o.bbob is not None:
        out += _check_bbob(sc)
    out += _check_geometry(sc)
    out += _check_runs(sc)
    return out


def _check_bbob(sc: Scenario) -> list[tuple[str, str]]:
    b, out = sc.objective.bbob, []
    assert b is not None
    for one, many in (("function", "functions"), ("dimension", "dimensions"), ("instance", "instances")):
        if getattr(b, one) is not None and getattr(b, many) is not None:
            out.append((f"objective.bbob.{many}", f"give {one} or {many}, not both"))
    if b.function is None and b.functions is None:
        out.append(("objective.bbob.function", "required: a bbob function number 1..24 (or functions = [...])"))
    dims = b.dimensions or [b.dimension or sc.dimension]
    if dims == [None]:
        out.append(("objective.bbob.dimension", f"required: one of {list(BBOB_DIMS)} (or dimensions = [...])"))
    for d in dims:
        if d is not None and d not in BBOB_DIMS:
            out.append(("objective.bbob.dimension", f"bbob has dimensions {list(BBOB_DIMS)}, got {d}"))
    if b.dimension is not None and sc.dimension is not None and b.dimension != sc.dimension:
        out.append(("dimension", f"is {sc.dimension} but objective.bbob.dimension is {b.dimension}"))
    if not out and len(sc.problems()) > 1 and sc.x0 is not None:
        out.append(("x0", "a bbob list runs several problems; leave x0 out (each starts at its initial_solution)"))
    return out


def _check_geometry(sc: Scenario) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    d = sc.dim()
    if sc.x0 is not None and sc.init is not None:
        out.append(("init", "give x0 or init, not both"))
    if sc.x0 is not None and d is not None and len(sc.x0) != d:
        out.append(("x0", f"has {len(sc.x0)} numbers but the dimension is {d}"))
    if d is None and sc.objective.bbob is None and sc.objective.function is not None and sc.objective.function in functions.REGISTRY:
        out.append(("dimension", "required (or give x0): the problem's dimension, an integer >= 1"))
    if sc.objective.import_ is not None and d is None:
        out.append(("dimension", "required for an imported objective (or give x0)"))
    if sc.bounds is not None:
        if len(sc.bounds) > 1 and d is None:
            out.append(("bounds", "with several dimensions give one [lo, hi] pair for all"))
        if len(sc.bounds) > 1 and d is not None and len(sc.bounds) != d:
            out.append(("bounds", f"has {len(sc.bounds)} pairs but the dimension is {d} (give one pair per dimension, or one pair for all)"))
        for i, (lo, hi) in enumerate(sc.bounds):
            if lo > hi:
                key = "bounds" if len(sc.bounds) == 1 else f"bounds[{i}]"
                out.append((key, f"lower must be <= upper, got ({lo}, {hi})"))
    if sc.init is not None:
        ini = sc.init
        if ini.rule == "fixed" and ini.value is None:
            out.append(("init.value", "required for rule = \"fixed\": a number or one number per dimension"))
        if ini.value is not None and d is not None and len(ini.value) not in (1, d):
            out.append(("init.value", f"has {len(ini.value)} numbers but the dimension is {d}"))
        if ini.low is not None and ini.high is not None and ini.low > ini.high:
            out.append(("init", f"low must be <= high, got ({ini.low}, {ini.high})"))
    if sc.objective.import_ is not None and sc.x0 is None and not _import_box(sc):
        out.append(("x0", "required for an imported objective without finite bounds (or init with low/high)"))
    return out


def _import_box(sc: Scenario) -> bool:
    """Whether an imported objective has a finite box to start in."""
    ini = sc.init
    if ini is not None and (ini.rule == "fixed" or (ini.low is not None and ini.high is not None)):
        return True
    return sc.bounds is not None and all(abs(lo) < float("inf") and abs(hi) < float("inf") for lo, hi in sc.bounds)


def _check_runs(sc: Scenario) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    fw = sc.framework
    try:
        parse_schedule(fw.engine, fw.agents, list(ENGINES))
    except ConfigError as exc:
        out.append(("framework.engine", str(exc).replace("`engine", "`framework.engine")))
    for name, opts in fw.options.items():
        out += _engine_options(f"framework.options.{name}", name, opts)
    for i, name in enumerate(sc.baselines):
        if name not in ENGINE_BASELINES and not (name.startswith("scipy:") and name[6:] in SCIPY_METHODS):
            near = difflib.get_close_matches(name, known_baselines(), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            out.append((f"baselines[{i}]", f"unknown baseline {name!r}{hint} (known: {', '.join(known_baselines())})"))
    if len(set(sc.baselines)) != len(sc.baselines):
        out.append(("baselines", "lists a baseline twice"))
    for name, opts in sc.baseline_options.items():
        if name not in sc.baselines:
            out.append((f"baseline_options.{name}", f"{name!r} is not in baselines {sc.baselines}"))
        elif name in ENGINE_BASELINES:
            out += _engine_options(f"baseline_options.{name}", name, opts)
    return out


def _engine_options(key: str, name: str, opts: dict[str, Any]) -> list[tuple[str, str]]:
    if name not in ENGINES:
        return [(key, f"unknown engine {name!r}; engines: {', '.join(ENGINES)}")]
    try:
        make_engine(name, **opts)
    except (ConfigError, TypeError) as exc:
        return [(key, str(exc))]
    return []


def known_baselines() -> list[str]:
    return [*ENGINE_BASELINES, *(f"scipy:{m}" for m in SCIPY_METHODS)]


def resolve_import(spec: str, folder: Path | None = None) -> Any:
    """The callable named ``"package.module:attr[.attr]"``; ``folder`` is searched first.

    Each failure is its own ConfigError: bad format, module not found, the
    module failing to import, attribute missing, not callable.
    """
    mod_name, sep, attr = spec.partition(":")
    if not sep or not mod_name or not attr:
        raise ConfigError(f"expected \"package.module:callable\", got {spec!r}")
    added = folder is not None and str(folder) not in sys.path
    if added:
        sys.path.insert(0, str(folder))
    try:
        try:
            obj: Any = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name and mod_name.startswith(exc.name):
                where = f"the scenario folder {folder} and " if folder is not None else ""
                raise ConfigError(f"module {mod_name!r} not found (searched {where}sys.path)") from None
            raise ConfigError(f"importing module {mod_name!r} failed: {exc}") from None
        except Exception as exc:
            raise ConfigError(f"importing module {mod_name!r} failed: {type(exc).__name__}: {exc}") from None
    finally:
        if added:
            sys.path.remove(str(folder))
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"module {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"{spec!r} is a {type(obj).__name__}, not a callable")
    return obj


# -- pydantic errors, for people -----------------------------------------------------------------
_MISSING = {
    ("objective",): "missing [objective] table: give one of function = \"rosenbrock\", bbob = {...} or import = \"module:callable\"",
    ("budget",): "required: the evaluation budget, an integer >= 1",
    ("init", "rule"): "required: \"uniform\", \"center\" or \"fixed\"",
}
_TYPES = {
    "int_type": "expected an integer", "float_type": "expected a number", "string_type": "expected a string in quotes",
    "bool_type": "expected true or false", "list_type": "expected a list [...]", "dict_type": "expected a table",
    "model_type": "expected a table", "model_attributes_type": "expected a table", "tuple_type": "expected a [lo, hi] pair",
    "int_from_float": "expected an integer", "float_parsing": "expected a number", "int_parsing": "expected an integer",
}
_LIMITS = {"greater_than_equal": ">=", "greater_than": ">", "less_than": "<", "less_than_equal": "<="}


def loc_path(loc: tuple[Any, ...]) -> str:
    s = ""
    for part in loc:
        s += f"[{part}]" if isinstance(part, int) else (f".{part}" if s else str(part))
    return s or "(top level)"


def _show(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def human(err: dict[str, Any], root: type[BaseModel]) -> str:
    """One pydantic error as a sentence: what was expected, and the value found."""
    t, loc, ctx, got = err["type"], tuple(err["loc"]), err.get("ctx") or {}, f", got {_show(err.get('input'))}"
    if t == "missing":
        return _MISSING.get(loc, "required key is missing")
    if t == "extra_forbidden":
        allowed = _allowed(root, loc[:-1])
        near = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        return "unknown key" + (f"; did you mean {near[0]!r}?" if near else "") + \
            (f" (allowed here: {', '.join(allowed)})" if allowed else "")
    if t in _TYPES:
        return _TYPES[t] + got
    if t in _LIMITS:
        return f"expected a value {_LIMITS[t]} {next(iter(ctx.values()))}{got}"
    if t == "literal_error":
        return f"expected one of {ctx.get('expected')}{got}"
    if t in ("too_short", "too_long"):
        return f"expected a list of {ctx.get('min_length', 1)} or more items{got}" if t == "too_short" else err["msg"]
    if t == "value_error":
        return str(ctx.get("error", err["msg"]))
    return f"{err['msg']}{got}"


def _allowed(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Keys allowed in the table at ``loc`` of ``root`` (for "did you mean")."""
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return []
        ann = field.annotation
        args = [a for a in getattr(ann, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else (args[0] if args else None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return [f.alias or k for k, f in model.model_fields.items() if k != "default_budget"]
