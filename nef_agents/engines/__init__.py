"""Step-wise local engines and their registry.

``REGISTRY`` maps an engine name to its class; ``make_engine(name, **options)``
builds one, raising ConfigError (a ValueError) for an unknown name or option.
"""

from __future__ import annotations

from typing import Any

from nef_agents.engines.adam import Adam
from nef_agents.engines.base import Engine, EngineState, rescale_scale
from nef_agents.engines.cmaes import CMAES
from nef_agents.engines.gd import GD
from nef_agents.engines.lbfgs import LBFGS
from nef_agents.errors import ConfigError

REGISTRY: dict[str, type] = {cls.name: cls for cls in (GD, Adam, LBFGS, CMAES)}


def make_engine(name: str, **options: Any) -> Engine:
    """A configured engine by name, e.g. ``make_engine("gd", learning_rate=0.01, momentum=0.9)``."""
    try:
        cls = REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown engine {name!r}; valid: {', '.join(REGISTRY)}") from None
    return cls(**options)


__all__ = [
    "Engine",
    "EngineState",
    "REGISTRY",
    "make_engine",
    "rescale_scale",
    "GD",
    "Adam",
    "LBFGS",
    "CMAES",
]
