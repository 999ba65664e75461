"""GeneralTextMemory: plain text memories in a faiss index, embedded by a local or remote model.

Each memory is a :class:`TextualMemoryItem`; the vector store holds its vector and, as payload,
its text and metadata. ``dump(dir)`` writes ``textual_memory.json`` (a format version, the
embedder, the items) and the faiss files under ``dir/faiss/``; ``load(dir)`` reads them back into
new objects and swaps them in only when everything checked out. A MemOS-style
``textual_memory.json`` (a bare list of items, no faiss files) is accepted and re-embedded.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from memos.configs.memory import GeneralTextMemoryConfig
from memos.embedders.base import BaseEmbedder
from memos.embedders.factory import EmbedderFactory
from memos.errors import (
    DimensionMismatchError,
    DumpFormatError,
    InvalidMemoryInputError,
    MemoryNotFoundError,
)
from memos.memories.textual.base import BaseTextMemory, MemoryInput
from memos.memories.textual.general_extraction import ChatModel, llm_extract, rule_based_extract
from memos.memories.textual.item import TextualMemoryItem, utc_now_iso, validate_memory_text
from memos.vec_dbs.base import BaseVecDB, VecDBItem
from memos.vec_dbs.factory import VecDBFactory

logger = logging.getLogger(__name__)

DUMP_FORMAT_VERSION = 1
FAISS_SUBDIR = "faiss"
# Keys of a search filter that address the item itself rather than its metadata.
_ITEM_KEYS = frozenset({"memory"})


class GeneralTextMemory(BaseTextMemory):
    """Text memories with metadata, searched by embedding similarity.

    Ids are unique: adding an item whose id already exists raises
    :class:`InvalidMemoryInputError` (use :meth:`update` to change a memory).
    """

    def __init__(self, config: GeneralTextMemoryConfig) -> None:
        self.config = config
        self.embedder: BaseEmbedder = EmbedderFactory.from_config(config.embedder)
        self.vector_db: BaseVecDB = VecDBFactory.from_config(config.vector_db)
        self._extractor: ChatModel | None = None
        # Guards check-then-act sequences (id uniqueness on add, swap on load).
        self._lock = threading.RLock()

    def _where(self) -> str:
        cube = f" of cube {self.config.cube_id!r}" if self.config.cube_id else ""
        return f"general text memory{cube}"

    # ---- extraction -----------------------------------------------------------------------

    @property
    def extractor_llm(self) -> ChatModel | None:
        """The configured extraction model, built on first use (None without one)."""
        if self.config.extractor_llm is None:
            return None
        if self._extractor is None:
            # Imported here: chat-model backends pull in heavy libraries only when configured.
            from memos.llms.factory import LLMFactory

            self._extractor = LLMFactory.from_config(self.config.extractor_llm)
        return self._extractor

    def extract(self, messages: Sequence[Mapping[str, Any]]) -> list[TextualMemoryItem]:
        """Memories found in ``messages`` (not added): by the extraction model if one is
        configured, else one memory per user/assistant sentence ("User: ...")."""
        model = self.extractor_llm
        if model is None:
            return rule_based_extract(messages)
        return llm_extract(model, messages)

    # ---- writes ---------------------------------------------------------------------------

    def add(self, memories: Sequence[MemoryInput]) -> list[str]:
        """Embed and store ``memories``; returns their ids in order.

        Each element may be a :class:`TextualMemoryItem`, a dict ``{"memory": ..., "metadata":
        {...}}`` (``id`` optional) or a plain string.

        Raises:
            InvalidMemoryInputError: empty / non-string text, a malformed item, or an id that is
                already stored (or repeated in ``memories``).
            DimensionMismatchError: the embedder's vectors do not fit the vector store.
        """
        if isinstance(memories, str | bytes) or not isinstance(memories, Sequence):
            raise InvalidMemoryInputError(
                f"memories must be a list of items, dicts or strings, got {type(memories).__name__}"
            )
        items = [_to_item(memory, position) for position, memory in enumerate(memories)]
        if not items:
            return []
        with self._lock:
            seen: set[str] = set()
            for item in items:
                if item.id in seen or self.vector_db.get_by_id(item.id) is not None:
                    raise InvalidMemoryInputError(
                        f"memory id {item.id!r} already exists in {self._where()}; "
                        "use update() to change it"
                    )
                seen.add(item.id)
            vectors = self.embedder.embed([item.memory for item in items])
            self.vector_db.add(
                [
                    VecDBItem(id=item.id, vector=vector, payload=_payload(item))
                    for item, vector in zip(items, vectors, strict=True)
                ]
            )
        logger.debug("added %d memories to %s", len(items), self._where())
        return [item.id for item in items]

    def update(self, memory_id: str, new_memory: MemoryInput) -> None:
        """Change a memory; its text is re-embedded only if it changed.

        ``new_memory`` may be a full :class:`TextualMemoryItem` (replaces text and metadata), a
        dict with ``memory`` and/or ``metadata`` (given metadata keys are merged over the old
        ones) or a string (new text, same metadata). ``updated_at`` is set to now.
        """
        with self._lock:
            old = self.get(memory_id)
            if isinstance(new_memory, TextualMemoryItem):
                data = new_memory.to_dict()
            elif isinstance(new_memory, str):
                data = {"memory": validate_memory_text(new_memory)}
            elif isinstance(new_memory, Mapping):
                data = _plain(new_memory)
                unknown = sorted(set(data) - {"id", "memory", "metadata"})
                if unknown:
                    raise InvalidMemoryInputError(
                        f"update accepts 'memory' and 'metadata', not {', '.join(unknown)}"
                    )
            else:
                raise InvalidMemoryInputError(
                    f"update needs an item, a dict or a string, got {type(new_memory).__name__}"
                )
            merged = old.to_dict()
            if "memory" in data:
                merged["memory"] = validate_memory_text(data["memory"])
            new_meta = data.get("metadata")
            if new_meta is not None:
                if not isinstance(new_meta, Mapping):
                    raise InvalidMemoryInputError("metadata must be a dict")
                merged["metadata"] = {**merged["metadata"], **_plain(new_meta)}
            merged["id"] = memory_id
            merged["metadata"]["updated_at"] = utc_now_iso()
            merged["metadata"]["relativity"] = None
            item = _validated(merged, "update")
            vector = self.embedder.embed([item.memory])[0] if item.memory != old.memory else None
            self.vector_db.update(memory_id, vector=vector, payload=_payload(item))

    def delete(self, memory_ids: Sequence[str]) -> None:
        """Delete memories; if any id is unknown, raise MemoryNotFoundError and delete none."""
        if isinstance(memory_ids, str):
            raise InvalidMemoryInputError("memory_ids must be a list of ids, not one string")
        with self._lock:
            for memory_id in memory_ids:
                if self.vector_db.get_by_id(memory_id) is None:
                    raise MemoryNotFoundError(memory_id, where=self._where())
            self.vector_db.delete(list(memory_ids))

    def delete_all(self) -> None:
        """Delete every memory."""
        with self._lock:
            self.vector_db.delete_all()

    def drop(self) -> None:
        """Delete every memory and the vector files saved at the store's configured path."""
        with self._lock:
            self.vector_db.delete_all()
            path = self.config.vector_db.config.get("path")
            if path:
                from memos.vec_dbs.faiss import INDEX_FILE, META_FILE

                for name in (INDEX_FILE, META_FILE):
                    (Path(path) / name).unlink(missing_ok=True)

    # ---- reads ----------------------------------------------------------------------------

    def search(
        self, query: str, top_k: int, filter: Mapping[str, Any] | None = None
    ) -> list[TextualMemoryItem]:
        """The ``top_k`` memories closest to ``query``, best first, each with
        ``metadata.relativity`` set to its similarity. ``filter`` is equality on metadata keys
        (``{"user_id": "alice"}``)."""
        validate_memory_text(query)
        if not isinstance(top_k, int) or top_k < 0:
            raise InvalidMemoryInputError(f"top_k must be a non-negative integer, got {top_k!r}")
        if top_k == 0:
            return []
        vector = self.embedder.embed([query])[0]
        found = self.vector_db.search(vector, top_k, _payload_filter(filter))
        results = []
        for hit in found:
            item = _item_from_payload(hit.id, hit.payload)
            item.metadata.relativity = hit.score
            results.append(item)
        return results

    def get(self, memory_id: str) -> TextualMemoryItem:
        """The memory with ``memory_id``; MemoryNotFoundError if there is none."""
        hit = self.vector_db.get_by_id(memory_id)
        if hit is None:
            raise MemoryNotFoundError(memory_id, where=self._where())
        return _item_from_payload(hit.id, hit.payload)

    def get_by_ids(self, memory_ids: Sequence[str]) -> list[TextualMemoryItem]:
        """The memories with these ids, in order; MemoryNotFoundError for an unknown id."""
        return [self.get(memory_id) for memory_id in memory_ids]

    def get_all(self) -> list[TextualMemoryItem]:
        """Every memory, in insertion order."""
        return [_item_from_payload(hit.id, hit.payload) for hit in self.vector_db.get_all()]

    def count(self) -> int:
        """Number of memories."""
        return self.vector_db.count()

    # ---- persistence ----------------------------------------------------------------------

    def _embedder_signature(self) -> str:
        model = self.config.embedder.config.get("model_name_or_path")
        return f"{self.config.embedder.backend}:{model}"

    def dump(self, dir: str | Path) -> None:
        """Write ``<memory_filename>`` and the faiss files under ``dir`` (created if needed)."""
        target = Path(dir)
        with self._lock:
            target.mkdir(parents=True, exist_ok=True)
            self.vector_db.save(target / FAISS_SUBDIR)
            memories = [item.to_dict() for item in self.get_all()]
            document = {
                "format_version": DUMP_FORMAT_VERSION,
                "embedder": self._embedder_signature(),
                "dimension": self.vector_db.dimension,
                "memories": memories,
            }
            _write_json_atomic(target / self.config.memory_filename, document)
        logger.info("dumped %d memories of %s to %s", len(memories), self._where(), target)

    def load(self, dir: str | Path) -> None:
        """Replace every memory with those dumped in ``dir``; on any error nothing changes.

        Raises:
            DumpFormatError: ``dir`` or its memory file is missing, corrupt, of another format
                version, or inconsistent with the faiss files.
            DimensionMismatchError: the dump was made with vectors of another dimension.
        """
        source = Path(dir)
        if not source.is_dir():
            raise DumpFormatError(f"memory dump directory {source} does not exist")
        items, signature = self._read_items(source / self.config.memory_filename)
        fresh = VecDBFactory.from_config(self.config.vector_db)
        faiss_dir = source / FAISS_SUBDIR
        if signature == self._embedder_signature() and faiss_dir.is_dir():
            fresh.load(faiss_dir)
            stored = {hit.id for hit in fresh.get_all()}
            wanted = {item.id for item in items}
            if stored != wanted:
                raise DumpFormatError(
                    f"{source}: {self.config.memory_filename} holds {len(wanted)} memories but "
                    f"{FAISS_SUBDIR}/ holds {len(stored)} vectors for other or missing ids"
                )
            for item in items:
                fresh.update(item.id, payload=_payload(item))
        else:
            if signature is not None:
                logger.warning(
                    "dump in %s has no usable vectors for this embedder; re-embedding %d memories",
                    source,
                    len(items),
                )
            vectors = self.embedder.embed([item.memory for item in items])
            fresh.add(
                [
                    VecDBItem(id=item.id, vector=vector, payload=_payload(item))
                    for item, vector in zip(items, vectors, strict=True)
                ]
            )
        with self._lock:
            self.vector_db = fresh
        logger.info("loaded %d memories into %s from %s", len(items), self._where(), source)

    def _read_items(self, path: Path) -> tuple[list[TextualMemoryItem], str | None]:
        """Items and embedder signature from a dump file (signature None for MemOS lists)."""
        if not path.is_file():
            raise DumpFormatError(f"memory file {path} is missing")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DumpFormatError(f"memory file {path} is not valid JSON: {exc}") from exc
        signature: str | None = None
        if isinstance(data, dict):
            version = data.get("format_version")
            if version != DUMP_FORMAT_VERSION:
                raise DumpFormatError(
                    f"memory file {path} has format version {version!r}; "
                    f"this version reads {DUMP_FORMAT_VERSION}"
                )
            dimension = data.get("dimension")
            if isinstance(dimension, int) and dimension != self.vector_db.dimension:
                raise DimensionMismatchError(
                    self.vector_db.dimension, dimension, where=f"{self._where()} (loading {path})"
                )
            raw_signature = data.get("embedder")
            signature = raw_signature if isinstance(raw_signature, str) else None
            rows = data.get("memories")
        else:
            rows = data  # MemOS writes a bare list of items
        if not isinstance(rows, list):
            raise DumpFormatError(f"memory file {path} has no list of memories")
        items: list[TextualMemoryItem] = []
        seen: set[str] = set()
        for position, row in enumerate(rows):
            if not isinstance(row, dict):
                raise DumpFormatError(f"memory {position} in {path} is not an object")
            try:
                item = TextualMemoryItem.from_dict(row)
            except (ValidationError, InvalidMemoryInputError) as exc:
                raise DumpFormatError(f"memory {position} in {path} is malformed: {exc}") from exc
            if item.id in seen:
                raise DumpFormatError(f"memory id {item.id!r} appears twice in {path}")
            seen.add(item.id)
            items.append(item)
        return items, signature


def _plain(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {str(key): value for key, value in mapping.items()}


def _validated(data: dict[str, Any], where: str) -> TextualMemoryItem:
    try:
        return TextualMemoryItem.from_dict(data)
    except ValidationError as exc:
        raise InvalidMemoryInputError(f"invalid memory for {where}: {exc}") from exc


def _to_item(memory: object, position: int) -> TextualMemoryItem:
    """Normalise one ``add`` input to an item (a copy: the caller's object is never kept)."""
    if isinstance(memory, TextualMemoryItem):
        return memory.model_copy(deep=True)
    if isinstance(memory, str):
        return TextualMemoryItem(memory=validate_memory_text(memory))
    if isinstance(memory, Mapping):
        data = _plain(memory)
        if "memory" not in data:
            raise InvalidMemoryInputError(f"memory {position} has no 'memory' text")
        validate_memory_text(data["memory"])
        return _validated(data, f"memory {position}")
    raise InvalidMemoryInputError(
        f"memory {position} must be an item, a dict or a string, got {type(memory).__name__}"
    )


def _payload(item: TextualMemoryItem) -> dict[str, Any]:
    """What the vector store keeps: text and metadata, without a stale search score."""
    data = item.to_dict()
    data.pop("id", None)
    data["metadata"]["relativity"] = None
    return data


def _item_from_payload(memory_id: str, payload: Mapping[str, Any]) -> TextualMemoryItem:
    return TextualMemoryItem.from_dict({"id": memory_id, **payload})


def _payload_filter(filter: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Metadata keys become ``metadata.<key>``; dotted keys and ``memory`` pass through."""
    if not filter:
        return None
    return {
        key if key in _ITEM_KEYS or key.startswith("metadata.") else f"metadata.{key}": value
        for key, value in filter.items()
    }


def _write_json_atomic(path: Path, document: Mapping[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
