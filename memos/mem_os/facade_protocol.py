"""What a cube handle needs from the facade, as a protocol (the piece main and cube_handle share).

:class:`memos.mem_os.cube_handle.CubeHandle` turns attribute calls into facade calls; it is typed
against :class:`CubeFacade`, which :class:`memos.mem_os.main.MOS` satisfies structurally, so the
handle module never imports the facade module (no import cycle, not even a type-only one).
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import JsonValue

from memos.mem_os.registry import Registry


class CubeFacade(Protocol):
    """The facade operations the cube handles call (all implemented by ``MOS``)."""

    user_id: str
    registry: Registry

    def _cube(self, user_id: str, mem_cube_id: str | None) -> str:
        """Resolve a cube id (or path alias) and check the user's access to it."""
        ...

    def _op(self, op: str, user_id: str, cube_id: str, **args: JsonValue) -> Any:
        """Run a management operation on a worker and return its result."""
        ...

    def add(
        self,
        messages: list[dict[str, Any]] | None = None,
        memory_content: str | None = None,
        doc_path: str | None = None,
        mem_cube_id: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> list[str]:
        """Add messages, a plain memory or a document to a cube; returns the stored ids."""
        ...

    def search(
        self,
        query: str,
        user_id: str | None = None,
        install_cube_ids: list[str] | None = None,
        top_k: int | None = None,
    ) -> dict[str, Any]:
        """Search the user's cubes."""
        ...

    def new_kv_id(self) -> str:
        """A fresh id for a KV item."""
        ...
