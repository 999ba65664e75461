"""Background consolidation of tree memory: tiers, dedup/merge, bi-temporal conflicts, hierarchy.

Entry point: :func:`reorganize_cube` (one bounded, idempotent run); :func:`cube_lock` keeps two
workers from reorganising one cube at once.
"""

from __future__ import annotations

from memos.configs.organize import ReorganizeConfig
from memos.memories.textual.organize.lock import CubeLock, cube_lock
from memos.memories.textual.organize.reorganizer import reorganize_cube
from memos.memories.textual.organize.report import ReorganizeReport

__all__ = ["CubeLock", "ReorganizeConfig", "ReorganizeReport", "cube_lock", "reorganize_cube"]
