"""nef_agents: an optimizer that watches its own health.

Public entry points are re-exported here; import-time work is kept minimal and
logging is never configured at import.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
