"""Exception types of nef_agents.

One root, :class:`NefError`; each subclass also inherits the builtin a caller
would naturally catch (a configuration error is a ``ValueError``, a missing
record a ``KeyError``), so ``except ValueError`` keeps working for users who do
not know this package's types.
"""

from __future__ import annotations


class NefError(Exception):
    """Root of every exception raised on purpose by nef_agents."""


class ConfigError(NefError, ValueError):
    """Bad input: an argument, option, bound, path or scenario field."""


class ScenarioError(ConfigError):
    """A scenario file that cannot be used; the message names the file and key."""


class BudgetExhausted(NefError, RuntimeError):
    """Raised inside the evaluation wrapper when the evaluation budget is spent.

    The optimizer loop catches it and ends the run cleanly; it never reaches a
    caller of :func:`nef_agents.minimize`.
    """


class RecordNotFound(NefError, KeyError):
    """A memory record (by id, path or run) that does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class StoreError(NefError, OSError):
    """A memory store file that is corrupt, unreadable, read-only or too new."""


class LogFormatError(NefError, ValueError):
    """A decision log that cannot be read as JSON lines."""
