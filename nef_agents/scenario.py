"""Scenario files: one TOML file = one experiment (objective, budget, seeds, framework, baselines).

:func:`load_scenario` reads and validates a file and returns a :class:`Scenario`.
Every problem found is reported at once in one :class:`ScenarioError`, one line
per problem, each naming the file, the key path (``objective.function``) and
what was expected. Validation touches nothing on disk, so a bad file leaves
the memory store and the log folder as they were.

An objective is exactly one of ``function`` (a built-in from
:mod:`nef_agents.functions`), ``bbob`` (a COCO/BBOB problem; lists of
functions, dimensions and instances expand into several problems, which the
runner runs one after another) or ``import`` (``"package.module:callable"``,
resolved against the scenario's folder first). :meth:`Scenario.problems`
lists the problem specs, the plain dicts logged with every run.
"""

from __future__ import annotations

import difflib
import importlib
import itertools
import re
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, create_model, field_validator
from pydantic.fields import FieldInfo

from nef_agents import functions
from nef_agents.config import FrameworkConfig
from nef_agents.engines import REGISTRY as ENGINES
from nef_agents.engines import make_engine
from nef_agents.errors import ConfigError, ScenarioError
from nef_agents.health import PauseConfig
from nef_agents.schedule import parse_schedule

ENGINE_BASELINES = ("gd", "adam", "lbfgs", "cmaes")
# scipy method -> option keys that cap its work (set to the budget), and whether it takes bounds.
SCIPY_METHODS: dict[str, tuple[tuple[str, ...], bool]] = {
    "L-BFGS-B": (("maxfun", "maxiter"), True), "Nelder-Mead": (("maxfev", "maxiter"), True),
    "Powell": (("maxfev", "maxiter"), True), "BFGS": (("maxiter",), False), "CG": (("maxiter",), False),
    "TNC": (("maxfun",), True), "SLSQP": (("maxiter",), True), "COBYLA": (("maxiter",), True),
}
BBOB_DIMS = (2, 3, 5, 10, 20, 40)
_STRICT = ConfigDict(extra="forbid", strict=True)


class _Model(BaseModel):
    model_config = _STRICT


# Pause thresholds: PauseConfig's fields and limits, every one optional (unset = minimize's default).
PauseSpec = create_model(  # type: ignore[call-overload]
    "PauseSpec", __config__=_STRICT,
    **{k: (fi.annotation | None, FieldInfo.merge_field_infos(fi, default=None)) for k, fi in PauseConfig.model_fields.items()},
)


class BBOBSpec(_Model):
    """One COCO problem (``function``/``dimension``/``instance``) or lists that expand to their product."""

    suite: Literal["bbob"] = "bbob"
    function: int | None = Field(None, ge=1, le=24)
    dimension: int | None = None
    instance: int | None = Field(None, ge=1)
    functions: list[Annotated[int, Field(ge=1, le=24)]] | None = Field(None, min_length=1)
    dimensions: list[int] | None = Field(None, min_length=1)
    instances: list[Annotated[int, Field(ge=1)]] | None = Field(None, min_length=1)


class ObjectiveSpec(_Model):
    """Exactly one of ``function``, ``bbob``, ``import``."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)
    function: str | None = None
    params: dict[str, Any] = {}
    bbob: BBOBSpec | None = None
    import_: str | None = Field(None, alias="import")
    gradient: str | None = None
    adjustable: list[str] | None = None


class InitSpec(_Model):
    """Start rule: ``uniform`` (seeded, in [low, high] or the box), ``center`` of the box, or ``fixed`` ``value``."""

    rule: Literal["uniform", "center", "fixed"]
    low: float | None = None
    high: float | None = None
    value: list[float] | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _scalar_value(cls, v: Any) -> Any:
        return [v] if isinstance(v, int | float) and not isinstance(v, bool) else v


class MemorySpec(_Model):
    path: str | None = None
    mode: Literal["rw", "ro"] = "rw"


class FrameworkSpec(FrameworkConfig):
    """The framework run: FrameworkConfig's settings plus engine/schedule, agents, pause, memory, options."""

    model_config = _STRICT
    engine: str | list[str] = "auto"
    agents: bool = True
    tol: float | None = Field(None, gt=0)
    pause: PauseSpec = Field(default_factory=PauseSpec)  # type: ignore[valid-type]
    memory: MemorySpec = Field(default_factory=MemorySpec)
    options: dict[str, dict[str, Any]] = {}

    @field_validator("engine", mode="before")
    @classmethod
    def _engine(cls, v: Any) -> Any:
        if isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(i, str) for i in v)):
            return v
        raise ValueError(f"expected an engine name or a non-empty list of phases like [\"gd\", \"framework\"], got {v!r}")

    @field_validator("default_budget")
    @classmethod
    def _no_default_budget(cls, v: Any) -> Any:
        raise ValueError("not used in a scenario: the top-level `budget` sets the evaluations")

    def settings(self) -> dict[str, Any]:
        """The FrameworkConfig part, for ``minimize(options={"framework": ...})``."""
        return self.model_dump(include=set(FrameworkConfig.model_fields) - {"default_budget"})


class OutputsSpec(_Model):
    plots: bool = True
    trajectory: bool = True
    dir: str | None = None


class Scenario(_Model):
    """One experiment. See the README's scenario reference for every key."""

    name: str | None = None
    description: str = ""
    objective: ObjectiveSpec
    dimension: int | None = Field(None, ge=1)
    x0: list[float] | None = Field(None, min_length=1)
    init: InitSpec | None = None
    bounds: list[tuple[float, float]] | None = None
    budget: int = Field(ge=1)
    seeds: list[int] = [0]
    target: float | None = None
    framework: FrameworkSpec = Field(default_factory=FrameworkSpec)
    baselines: list[str] = []
    baseline_options: dict[str, dict[str, Any]] = {}
    outputs: OutputsSpec = Field(default_factory=OutputsSpec)
    _source: Path | None = PrivateAttr(None)

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, v: Any) -> Any:
        return parse_seeds(v)

    @field_validator("bounds", mode="before")
    @classmethod
    def _bounds(cls, v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, list) and len(v) == 2 and all(_is_num(b) for b in v):
            return [tuple(v)]  # one pair for every dimension
        if isinstance(v, list) and v and all(isinstance(p, list) and len(p) == 2 and all(_is_num(b) for b in p) for p in v):
            return [tuple(p) for p in v]
        raise ValueError(f"expected [lo, hi] or a list of [lo, hi] pairs (one per dimension), got {v!r}")

    @property
    def source(self) -> Path | None:
        """The file this scenario was read from (imports resolve relative to its folder)."""
        return self._source

    def problems(self) -> list[dict[str, Any]]:
        """The problem specs this scenario runs, in order (several only for bbob lists)."""
        o = self.objective
        if o.bbob is not None:
            b = o.bbob
            fs = b.functions or [b.function]
            ds = b.dimensions or [b.dimension or self.dimension]
            iss = b.instances or [b.instance or 1]
            return [{"kind": "bbob", "suite": b.suite, "function": f, "dimension": d, "instance": i,
                     "label": f"f{f}-d{d}-i{i}"} for f, d, i in itertools.product(fs, ds, iss)]
        if o.function is not None:
            return [{"kind": "function", "function": o.function, "params": dict(o.params),
                     "dimension": self.dim(), "label": o.function}]
        return [{"kind": "import", "import": o.import_, "gradient": o.gradient, "params": dict(o.params),
                 "dimension": self.dim(), "label": str(o.import_)}]

    def dim(self) -> int | None:
        """The dimension (None for a bbob list with several dimensions)."""
        if self.dimension is not None:
            return self.dimension
        if self.x0 is not None:
            return len(self.x0)
        b = self.objective.bbob
        if b is not None:
            return b.dimension if b.dimensions is None else (b.dimensions[0] if len(b.dimensions) == 1 else None)
        if self.objective.function in functions.REGISTRY:
            try:
                return functions.get(self.objective.function, **self.objective.params).fixed_dim
            except ConfigError:
                return None
        return None

    def to_context(self) -> dict[str, Any]:
        """JSON-ready dict (``import`` under its TOML name) that :func:`scenario_from_dict` reads back."""
        return self.model_dump(mode="json", by_alias=True, exclude={"framework": {"default_budget"}})


def parse_seeds(v: Any) -> list[int]:
    """Seeds from a list, an int, ``{start, stop}`` (stop excluded), ``"0-4"`` (inclusive) or ``"0,1,2"``."""
    def bad() -> ValueError:
        return ValueError(f"expected a list of integers, {{start = 0, stop = 5}}, \"0-4\" or \"0,1,2\", got {v!r}")

    if isinstance(v, bool):
        raise bad()
    if isinstance(v, int):
        out = [v]
    elif isinstance(v, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in v):
        out = list(v)
    elif isinstance(v, dict) and set(v) <= {"start", "stop", "step"} and {"start", "stop"} <= set(v) \
            and all(isinstance(s, int) and not isinstance(s, bool) for s in v.values()):
        out = list(range(v["start"], v["stop"], v.get("step", 1)))
    elif isinstance(v, str) and re.fullmatch(r"\s*\d+\s*-\s*\d+\s*", v):
        a, b = (int(t) for t in v.split("-"))
        out = list(range(a, b + 1))
    elif isinstance(v, str) and re.fullmatch(r"\s*\d+(\s*,\s*\d+)*\s*,?\s*", v):
        out = [int(t) for t in v.split(",") if t.strip()]
    else:
        raise bad()
    if not out:
        raise ValueError(f"the seeds {v!r} select no seed")
    if any(s < 0 for s in out):
        raise ValueError(f"seeds must be >= 0, got {v!r}")
    return out


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


# -- loading -------------------------------------------------------------------------------------
def load_scenario(path: str | Path) -> Scenario:
    """Read, validate and check a scenario file; ScenarioError lists every problem found."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read scenario file ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        where = f"{path}:{m.group(1)}" if m else str(path)
        raise ScenarioError(f"{where}: TOML syntax error: {exc}") from None
    data.setdefault("name", path.stem)
    return scenario_from_dict(data, path)


def scenario_from_dict(data: dict[str, Any], path: str | Path | None = None) -> Scenario:
    """Validate a scenario given as a dict (a parsed file, or the ``scenario`` of a logged run)."""
    where = str(path) if path is not None else "<scenario>"
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError("\n".join(f"{where}: {_loc(e['loc'])}: {_human(e)}" for e in exc.errors())) from None
    sc._source = Path(path).absolute() if path is not None else None
    problems = check(sc)
    if problems:
        raise ScenarioError("\n".join(f"{where}: {key}: {msg}" for key, msg in problems))
    return sc


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


def quick(sc: Scenario, budget: int = 500) -> Scenario:
    """A smoke-test copy: budget <= ``budget``, the first seed, and a bbob list cut to its first problem."""
    upd: dict[str, Any] = {"budget": min(sc.budget, budget), "seeds": sc.seeds[:1]}
    b = sc.objective.bbob
    if b is not None:
        first = sc.problems()[0]
        nb = b.model_copy(update={"function": first["function"], "dimension": first["dimension"],
                                  "instance": first["instance"], "functions": None, "dimensions": None,
                                  "instances": None})
        upd["objective"] = sc.objective.model_copy(update={"bbob": nb})
    out = sc.model_copy(update=upd)
    out._source = sc.source
    return out


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


def _loc(loc: tuple[Any, ...]) -> str:
    s = ""
    for part in loc:
        s += f"[{part}]" if isinstance(part, int) else (f".{part}" if s else str(part))
    return s or "(top level)"


def _show(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def _human(err: dict[str, Any]) -> str:
    t, loc, ctx, got = err["type"], tuple(err["loc"]), err.get("ctx") or {}, f", got {_show(err.get('input'))}"
    if t == "missing":
        return _MISSING.get(loc, "required key is missing")
    if t == "extra_forbidden":
        allowed = _allowed(loc[:-1])
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


def _allowed(loc: tuple[Any, ...]) -> list[str]:
    """Keys allowed in the table at ``loc`` (for "did you mean")."""
    model: Any = Scenario
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
