"""``mos.mem_cubes[cube_id]``: a handle whose memories act through events.

MemOS code touches a registered cube directly (``mos.mem_cubes[id].act_mem.extract(...)`` then
``.add([...])``). Here the memories live on workers, so the handle turns each call into an event.
``act_mem.extract`` returns a :class:`KVItemRef` (an id and the source text); the cache itself is
built on the worker when the ref is added, so no model is loaded in the application.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from memos.errors import InvalidMemoryInputError
from memos.mem_os.facade_protocol import CubeFacade


class KVItemRef(BaseModel):
    """What ``act_mem.extract`` returns: the id the KV item will have and what it encodes."""

    model_config = ConfigDict(frozen=True)

    id: str
    source: JsonValue = Field(description="the text, list of texts or chat messages")


class _MemHandle:
    def __init__(self, mos: CubeFacade, cube_id: str) -> None:
        self._mos = mos
        self.cube_id = cube_id

    def _call(self, op: str, **args: JsonValue) -> Any:
        return self._mos._op(op, self._mos.user_id, self.cube_id, **args)


class TextMemHandle(_MemHandle):
    """The cube's textual memory, reached through events."""

    def add(self, memories: list[str]) -> list[str]:
        """Add plain memory texts; returns their ids."""
        ids: list[str] = []
        for text in memories:
            ids.extend(self._mos.add(memory_content=text, mem_cube_id=self.cube_id))
        return ids

    def search(self, query: str, top_k: int = 5) -> list[dict[str, Any]]:
        """The ``top_k`` memories of this cube most related to ``query``."""
        found = self._mos.search(query, install_cube_ids=[self.cube_id], top_k=top_k)
        return list(found["text_mem"][0]["memories"]) if found["text_mem"] else []

    def get(self, memory_id: str) -> dict[str, Any]:
        """One memory."""
        return dict(self._call("get", memory_id=memory_id))

    def get_all(self) -> Any:
        """Every memory (tree cubes: ``{"nodes", "edges"}``)."""
        return self._call("get_all")["text_mem"][0]["memories"]

    def update(self, memory_id: str, memory: Mapping[str, Any] | str) -> None:
        """Replace a memory's text and/or metadata."""
        value: JsonValue = memory if isinstance(memory, str) else dict(memory)
        self._call("update", memory_id=memory_id, memory=value)

    def delete(self, memory_ids: list[str]) -> None:
        """Delete memories."""
        self._call("delete", memory_ids=list(memory_ids))

    def delete_all(self) -> None:
        """Delete every memory."""
        self._call("delete_all")


class ActMemHandle(_MemHandle):
    """The cube's activation (KV-cache) memory, reached through events."""

    def extract(self, text: JsonValue) -> KVItemRef:
        """A reference to the KV item of ``text`` (built on a worker when added)."""
        if isinstance(text, str) and not text.strip():
            raise InvalidMemoryInputError("cannot build a KV cache of empty text")
        if isinstance(text, list) and not text:
            raise InvalidMemoryInputError("cannot build a KV cache of an empty list")
        return KVItemRef(id=self._mos.new_kv_id(), source=text)

    def add(self, memories: list[KVItemRef]) -> list[dict[str, Any]]:
        """Build and store the caches of ``memories`` on a worker; returns their summaries."""
        items: list[JsonValue] = [{"id": ref.id, "source": ref.source} for ref in memories]
        return list(self._call("kv_add", items=items))

    def get(self, memory_id: str) -> dict[str, Any]:
        """One item's summary (``{"id", "memory", "records", "metadata"}``)."""
        return dict(self._call("kv_get", memory_id=memory_id))

    def get_all(self) -> list[dict[str, Any]]:
        """Every item's summary."""
        return list(self._call("kv_get_all"))

    def get_cache(self, cache_ids: list[str]) -> dict[str, Any]:
        """The summary of one cache built from several items (computed on the worker)."""
        return dict(self._call("kv_get_cache", memory_ids=list(cache_ids)))

    def delete(self, memory_ids: list[str]) -> None:
        """Delete items."""
        self._call("kv_delete", memory_ids=list(memory_ids))

    def delete_all(self) -> None:
        """Delete every item."""
        self._call("kv_delete_all")


class CubeHandle:
    """A registered cube as MemOS code sees it: ``text_mem``, ``act_mem``, ``para_mem``."""

    def __init__(self, mos: CubeFacade, cube_id: str) -> None:
        record = mos.registry.require_cube(cube_id)
        self.cube_id = cube_id
        self.text_mem = (
            TextMemHandle(mos, cube_id) if record.text_backend != "uninitialized" else None
        )
        self.act_mem = ActMemHandle(mos, cube_id) if record.act_backend != "uninitialized" else None
        self.para_mem = None

    def __repr__(self) -> str:
        return f"CubeHandle({self.cube_id!r})"


class CubeHandles(Mapping[str, CubeHandle]):
    """``mos.mem_cubes``: the cubes the config's user may touch, by id (or path alias)."""

    def __init__(self, mos: CubeFacade) -> None:
        self._mos = mos

    def __getitem__(self, cube_id: str) -> CubeHandle:
        try:
            resolved = self._mos._cube(self._mos.user_id, cube_id)
        except Exception as exc:
            raise KeyError(cube_id) from exc
        return CubeHandle(self._mos, resolved)

    def __iter__(self) -> Iterator[str]:
        return iter(self._mos.registry.accessible_cubes(self._mos.user_id))

    def __len__(self) -> int:
        return len(self._mos.registry.accessible_cubes(self._mos.user_id))
