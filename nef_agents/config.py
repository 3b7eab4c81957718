"""Framework settings of one run (pydantic, validated, with field-named errors)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FrameworkConfig(BaseModel):
    """Loop settings beyond the engine's own options.

    window : health window length in iterations.
    outcome_k : iterations after a decision at which its outcome is measured.
    max_restarts : restarts allowed; ``None`` means 1 without a budget (one probe
        restart to test for multimodality) and unlimited with a budget.
    maxiter : iteration cap (``None`` = no cap besides the budget).
    min_gap : iterations between two deliberations (pauses have their own cooldown).
    default_budget : evaluations allowed when the caller gives no budget.
    memory_k : nearest records consulted per query.
    novelty : distance (z-normalised PAA units) beyond which a pattern counts as novel.
    """

    model_config = ConfigDict(extra="forbid")

    window: int = Field(20, ge=4, le=1000)
    outcome_k: int = Field(10, ge=1, le=10_000)
    max_restarts: int | None = Field(None, ge=0)
    maxiter: int | None = Field(None, ge=1)
    min_gap: int = Field(5, ge=1)
    default_budget: int = Field(100_000, ge=1)
    memory_k: int = Field(8, ge=1, le=100)
    novelty: float = Field(1.5, gt=0)
