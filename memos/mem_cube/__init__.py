"""MemCubes: a cube bundles one textual, one activation and one parametric memory."""

from __future__ import annotations

from memos.mem_cube.base import BaseMemCube
from memos.mem_cube.general import GeneralMemCube

__all__ = ["BaseMemCube", "GeneralMemCube"]
