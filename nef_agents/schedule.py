"""Engine schedules: which engine runs when, and when the agents take part.

``engine`` in :func:`nef_agents.minimize` is either one name (``"lbfgs"``,
``"auto"``) or a list of phases. A phase is ``"name"``, ``"name:N"`` or
``(name, N)``: run ``name`` for ``N`` iterations (without ``N``: until its
first pause). The special name ``"framework"`` means "keep the current engine
(``auto`` if none yet) and let the agents act from here on"; phases before it
run with pauses recorded but no agent decisions, which is the seed's hybrid
``["gd", "framework"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nef_agents.errors import ConfigError

FRAMEWORK = "framework"
AUTO = "auto"


@dataclass(frozen=True)
class Phase:
    """One schedule phase: ``engine`` for ``iterations`` (None = until a pause ends it)."""

    engine: str
    iterations: int | None
    agents: bool


def parse_schedule(engine: str | Sequence[Any], agents: bool, known: Sequence[str]) -> list[Phase]:
    """Turn the ``engine`` argument into phases; names are checked against ``known``."""
    if isinstance(engine, str):
        items: list[Any] = [engine]
        single = True
    elif isinstance(engine, Sequence) and len(engine) > 0:
        items = list(engine)
        single = False
    else:
        raise ConfigError(f"`engine` must be an engine name or a non-empty list of phases, got {engine!r}")
    phases: list[Phase] = []
    has_framework = any(_name_of(i, k) == FRAMEWORK for k, i in enumerate(items))
    agents_on = agents and (single or not has_framework)
    for k, item in enumerate(items):
        name, n = _split(item, k)
        if name == FRAMEWORK:
            if not agents:
                raise ConfigError(f"`engine[{k}]` is 'framework' but agents=False")
            agents_on = True
            prev = phases[-1].engine if phases else AUTO
            phases.append(Phase(prev, n, True))
            continue
        if name != AUTO and name not in known:
            raise ConfigError(f"`engine[{k}]` names unknown engine {name!r}; choose from {sorted([AUTO, *known])}")
        phases.append(Phase(name, n, agents_on))
    return phases


def _name_of(item: Any, k: int) -> str:
    return _split(item, k)[0]


def _split(item: Any, k: int) -> tuple[str, int | None]:
    if isinstance(item, str):
        name, _, count = item.partition(":")
        n = None
        if count:
            try:
                n = int(count)
            except ValueError:
                raise ConfigError(f"`engine[{k}]` = {item!r}: iterations after ':' must be an integer") from None
    elif isinstance(item, Sequence) and len(item) == 2 and isinstance(item[0], str):
        name, n = item[0], item[1]
        if n is not None and (isinstance(n, bool) or not isinstance(n, int)):
            raise ConfigError(f"`engine[{k}]` = {item!r}: iterations must be an integer or None")
    else:
        raise ConfigError(f"`engine[{k}]` must be 'name', 'name:N' or (name, N), got {item!r}")
    if n is not None and n < 1:
        raise ConfigError(f"`engine[{k}]` = {item!r}: iterations must be >= 1")
    return name.strip().lower(), n
