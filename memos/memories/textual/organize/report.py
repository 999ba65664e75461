"""What one reorganisation run did, and what it left for the next (JSON-serialisable)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TierReport(BaseModel):
    """Working memory overflow and long-term caps."""

    moved_to_long_term: int = 0
    moved_to_user: int = 0
    archived_over_cap: int = 0


class DedupReport(BaseModel):
    """Duplicates merged into new nodes (originals archived with MERGED_TO edges)."""

    groups_merged: int = 0
    originals_archived: int = 0
    exact_pairs: int = 0
    near_pairs: int = 0
    llm_pairs: int = 0


class ConflictReport(BaseModel):
    """Older facts ended by newer ones (``invalid_at`` set, SUPERSEDES edge)."""

    superseded: int = 0
    by_rule: int = 0
    by_llm: int = 0


class HierarchyReport(BaseModel):
    """Topic parents over clusters of long-term memories."""

    clusters: int = 0
    parents_created: int = 0
    parents_updated: int = 0
    parents_unchanged: int = 0
    parents_archived: int = 0


class ReorganizeReport(BaseModel):
    """The outcome of ``reorganize_cube``.

    ``completed`` is False when the deadline stopped the run; ``left`` then counts the planned
    changes not made (by phase), which the next run picks up. ``errors`` lists batches a
    concurrent writer made fail (their changes are left for the next run too).
    """

    cube_id: str
    completed: bool = True
    skipped: str | None = Field(default=None, description="why nothing ran (e.g. locked)")
    duration_s: float = 0.0
    nodes_read: int = 0
    tiers: TierReport = Field(default_factory=TierReport)
    dedup: DedupReport = Field(default_factory=DedupReport)
    conflicts: ConflictReport = Field(default_factory=ConflictReport)
    hierarchy: HierarchyReport = Field(default_factory=HierarchyReport)
    llm_calls: int = 0
    llm_failures: int = 0
    left: dict[str, int] = Field(default_factory=dict)
    phases_not_run: list[str] = Field(
        default_factory=list, description="phases the deadline stopped before they began"
    )
    errors: list[str] = Field(default_factory=list)

    @property
    def changes(self) -> int:
        """How many writes the run made (0 means the cube was already organised)."""
        t, d, c, h = self.tiers, self.dedup, self.conflicts, self.hierarchy
        return (
            t.moved_to_long_term
            + t.moved_to_user
            + t.archived_over_cap
            + d.groups_merged
            + c.superseded
            + h.parents_created
            + h.parents_updated
            + h.parents_archived
        )
