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

import itertools
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
    field_validator,
)
from pydantic.fields import FieldInfo

from nef_agents import functions
from nef_agents.config import FrameworkConfig
from nef_agents.errors import ConfigError, ScenarioError
from nef_agents.health import PauseConfig
from nef_agents.scenario_checks import (  # noqa: F401  (re-exported for the runner and users)
    BBOB_DIMS,
    ENGINE_BASELINES,
    SCIPY_METHODS,
    check,
    human,
    known_baselines,
    loc_path,
    resolve_import,
)

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
        raise ScenarioError("\n".join(f"{where}: {loc_path(e['loc'])}: {human(e, Scenario)}" for e in exc.errors())) from None
    sc._source = Path(path).absolute() if path is not None else None
    problems = check(sc)
    if problems:
        raise ScenarioError("\n".join(f"{where}: {key}: {msg}" for key, msg in problems))
    return sc


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
