"""Registered cubes as a worker holds them: built from the registry, persisted under the data home.

Where a registered cube's memories live (docs/architecture.md, "Where state lives"):

- tree memories: in the graph store, scoped by the registered cube id;
- GeneralTextMemory: ``<home>/cubes/<cube_id>/text_mem/`` (``textual_memory.json`` + ``faiss/``);
- KV caches: ``<home>/cubes/<cube_id>/act_mem/`` (safetensors + JSON manifest).

A worker keeps one long-lived cube object per cube (models and indexes stay loaded) and rebuilds
it when the cube's version in the registry differs from the version it loaded, so a cube changed
by another worker process is never served stale.
"""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memos.configs.mem_cube import GeneralMemCubeConfig
from memos.errors import MemoryOperationError
from memos.mem_cube.general import GeneralMemCube
from memos.mem_os.registry import CubeRecord, Registry

logger = logging.getLogger(__name__)

CUBES_DIR = "cubes"
#: Slots whose contents are files under the data home (tree memories live in the graph).
FILE_BACKED = {"general_text", "kv_cache", "vllm_kv_cache"}


def cube_config_for(record: CubeRecord) -> GeneralMemCubeConfig:
    """The registered cube's config, scoped to its registered id and owner."""
    config = GeneralMemCubeConfig.model_validate_json(record.config_json)
    config = config.model_copy(update={"cube_id": record.cube_id, "user_id": record.owner_id})
    for slot in ("text_mem", "act_mem"):
        factory = getattr(config, slot)
        if factory.is_set and "cube_id" in type(factory.config).model_fields:
            updates: dict[str, Any] = {"cube_id": record.cube_id}
            if "user_id" in type(factory.config).model_fields:
                updates["user_id"] = record.owner_id
            new_factory = factory.model_copy(
                update={"config": factory.config.model_copy(update=updates)}
            )
            config = config.model_copy(update={slot: new_factory})
    return config


@dataclass
class _Held:
    version: int
    cube: GeneralMemCube


class ManagedCubes:
    """The cubes one worker process holds, keyed by cube id."""

    def __init__(self, registry: Registry, home: Path) -> None:
        self.registry = registry
        self.home = Path(home)
        self._held: dict[str, _Held] = {}
        self._lock = threading.RLock()

    def cube_dir(self, cube_id: str) -> Path:
        """The directory holding a cube's file-backed memories."""
        return self.home / CUBES_DIR / cube_id

    def slot_dir(self, cube_id: str, slot: str) -> Path:
        """Where one slot's files live."""
        return self.cube_dir(cube_id) / slot

    def get(self, cube_id: str, known: tuple[CubeRecord, int] | None = None) -> GeneralMemCube:
        """The cube, loaded (or reloaded when its registry version changed).

        ``known`` is the cube's record and version as the caller just read them from the
        registry (:meth:`Registry.check_access_versions`, together with the access check): the
        store read is then skipped, one round trip less per event.
        """
        record, version = known if known is not None else self.registry.cube_with_version(cube_id)
        with self._lock:
            held = self._held.get(cube_id)
            if held is not None and held.version == version:
                return held.cube
            if held is not None:
                logger.info(
                    "cube %s changed (v%d -> v%d); reloading", cube_id, held.version, version
                )
            cube = GeneralMemCube(cube_config_for(record))
            self._load_files(cube_id, cube)
            self._held[cube_id] = _Held(version=version, cube=cube)
            return cube

    def _load_files(self, cube_id: str, cube: GeneralMemCube) -> None:
        for slot in ("text_mem", "act_mem"):
            factory = getattr(cube.config, slot)
            directory = self.slot_dir(cube_id, slot)
            if factory.backend in FILE_BACKED and directory.is_dir():
                filename = factory.config.get("memory_filename")
                if filename and (directory / filename).exists():
                    getattr(cube, slot).load(directory)

    def persist(self, cube_id: str, cube: GeneralMemCube, slots: tuple[str, ...]) -> int:
        """Write the file-backed ``slots`` under the data home and bump the cube's version.

        The version is bumped through the plain client on purpose: it is a cache hint, not an
        effect; a replay that bumps it twice only makes other workers reload once more.
        """
        for slot in slots:
            factory = getattr(cube.config, slot)
            memory = getattr(cube, slot)
            if memory is None or factory.backend not in FILE_BACKED:
                continue
            memory.dump(self.slot_dir(cube_id, slot))
        version = self.registry.bump_version(cube_id)
        with self._lock:
            self._held[cube_id] = _Held(version=version, cube=cube)
        return version

    def import_dir(self, cube_id: str, source: Path) -> dict[str, Any]:
        """Load a cube directory into the managed stores; ``source`` is only read.

        Raises:
            DumpFormatError: a memory file in ``source`` is corrupt.
        """
        record = self.registry.require_cube(cube_id)
        cube = GeneralMemCube(cube_config_for(record))
        # A replayed import starts from the same empty state (tree memories live in the graph,
        # which the first attempt may already have written); a present dump replaces anyway.
        if _is_tree(cube) and not (source / _filename(cube, "text_mem")).exists():
            cube.text_mem.delete_all()
        cube.load(source)
        self.persist(cube_id, cube, ("text_mem", "act_mem"))
        return {"cube_id": cube_id, "counts": counts(cube)}

    def drop(self, cube_id: str) -> None:
        """Delete a cube's memories everywhere (graph nodes and files) and forget it."""
        with self._lock:
            held = self._held.pop(cube_id, None)
        record = self.registry.get_cube(cube_id)
        cube = held.cube if held else (GeneralMemCube(cube_config_for(record)) if record else None)
        if cube is not None and _is_tree(cube):
            cube.text_mem.delete_all()
        shutil.rmtree(self.cube_dir(cube_id), ignore_errors=True)

    def forget(self, cube_id: str) -> None:
        """Drop the cached object (the next use reloads it)."""
        with self._lock:
            self._held.pop(cube_id, None)


def _is_tree(cube: GeneralMemCube) -> bool:
    return cube.config.text_mem.backend == "tree_text"


def _filename(cube: GeneralMemCube, slot: str) -> str:
    factory = getattr(cube.config, slot)
    return str(factory.config.get("memory_filename") or "")


def counts(cube: GeneralMemCube) -> dict[str, int]:
    """How many memories each set slot holds."""
    out: dict[str, int] = {}
    text = cube.text_mem
    if text is not None:
        everything = text.get_all()
        out["text_mem"] = (
            len(everything["nodes"]) if isinstance(everything, dict) else len(everything)
        )
    act = cube.act_mem
    if act is not None:
        out["act_mem"] = len(act.get_all()) if not hasattr(act, "__len__") else len(act)
    return out


def require_slot(cube: GeneralMemCube, slot: str) -> Any:
    """The memory in ``slot``; raises MemoryOperationError naming the cube when unset."""
    memory = getattr(cube, slot)
    if memory is None:
        raise MemoryOperationError(
            f"cube {cube.config.cube_id!r} has no {slot}; set {slot} in its config"
        )
    return memory
