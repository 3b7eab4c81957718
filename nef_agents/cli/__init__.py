"""The ``nef`` command: a thin layer over the public API.

Every command calls the same functions a Python user calls. Bad input becomes
one line on stderr and exit code 2; a bug inside prints a short traceback and
exits 1. Each command group lives in its own module and registers itself on
the shared ``app`` when imported here.
"""

from __future__ import annotations

from nef_agents.cli import bench as _bench  # noqa: F401

# command modules (each registers on `app`):
from nef_agents.cli import memory as _memory  # noqa: F401
from nef_agents.cli import plot as _plot  # noqa: F401
from nef_agents.cli import replay as _replay  # noqa: F401
from nef_agents.cli import run as _run  # noqa: F401
from nef_agents.cli import sweep as _sweep  # noqa: F401
from nef_agents.cli.app import app

# -- end of command modules --

__all__ = ["app"]
