"""nef_agents: an optimizer that watches its own health.

``minimize`` works like ``scipy.optimize.minimize``; ``scipy_method`` plugs it
into scipy as ``method=``. Logging is never configured at import.
"""

from __future__ import annotations

__version__ = "0.1.0"

from nef_agents.optimizer import minimize, scipy_method  # noqa: E402

__all__ = ["__version__", "minimize", "scipy_method"]
