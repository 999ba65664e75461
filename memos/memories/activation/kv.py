"""KVCacheMemory (backend ``kv_cache``): transformers KV caches of memory prefixes.

A memory prefix (text memories rendered as a system message, or chat messages) is run through
the model once; its ``DynamicCache`` is stored and later reused, so answering a question needs
only the question's tokens to be computed.

Guarantees beyond MemOS:

- a stored cache is never changed by being used: ``get``/``get_cache`` return deep copies, and
  ``add`` keeps its own cache object (generation reassigns a cache's layers);
- ``get_cache`` of several items is exact: the first item's cache is extended by prefilling the
  other items' tokens on top, which equals one joint forward pass (plain concatenation of
  independently computed caches is offered only as ``approximate=True``);
- dumps are safetensors plus JSON, never pickle; a dump made with another model or tokenizer is
  refused with :class:`~memos.errors.KVCacheCompatibilityError`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memos.configs.memory import KVCacheMemoryConfig
from memos.errors import (
    ConfigError,
    InvalidMemoryInputError,
    KVCacheCompatibilityError,
)
from memos.llms.factory import LLMFactory
from memos.llms.hf import HFLLM, PrefixEncoding, TextOrMessages
from memos.llms.kv import (
    cache_from_tensors,
    clone_cache,
    concat_caches,
    layer_tensors,
)
from memos.llms.kv_room import cache_view, reserve_room
from memos.memories.activation.base import BaseActMemory
from memos.memories.activation.item import KVCacheItem, KVCacheMetadata, token_ids_sha256
from memos.memories.activation.serialization import ModelIdentity, dump_kv_items, load_kv_items

if TYPE_CHECKING:
    from transformers import DynamicCache

    from memos.memories.textual.item import TextualMemoryItem

logger = logging.getLogger(__name__)


def _records_of(text_or_messages: TextOrMessages) -> list[str]:
    if isinstance(text_or_messages, str):
        return [text_or_messages]
    return [
        str(part) if isinstance(part, str) else str(part.get("content", ""))
        for part in text_or_messages
    ]


class KVCacheMemory(BaseActMemory[KVCacheItem]):
    """Stores ``KVCacheItem`` objects built by a HuggingFace model (MemOS's KVCacheMemory API)."""

    store_name = "KV cache memory"

    def __init__(self, config: KVCacheMemoryConfig) -> None:
        self.config = config
        llm = LLMFactory.from_config(config.extractor_llm)
        if not isinstance(llm, HFLLM):
            raise ConfigError("kv_cache memory needs a 'huggingface' extractor_llm")
        self.llm: HFLLM = llm
        self._init_store()

    @property
    def identity(self) -> ModelIdentity:
        """The model and tokenizer every stored cache must come from."""
        return ModelIdentity(
            self.llm.model_id, self.llm.model_fingerprint, self.llm.tokenizer_fingerprint
        )

    # -- building ------------------------------------------------------------------------------
    def _item(
        self,
        encoding: PrefixEncoding,
        cache: DynamicCache,
        records: list[str],
        extra: dict[str, Any] | None = None,
    ) -> KVCacheItem:
        metadata = KVCacheMetadata(
            model_id=self.llm.model_id,
            model_fingerprint=self.llm.model_fingerprint,
            tokenizer_fingerprint=self.llm.tokenizer_fingerprint,
            token_count=len(encoding.token_ids),
            prefix_sha256=token_ids_sha256(encoding.token_ids),
            text=encoding.text,
            messages=encoding.messages,
            **(extra or {}),
        )
        return KVCacheItem(
            memory=cache, metadata=metadata, token_ids=list(encoding.token_ids), records=records
        )

    def extract(self, text: TextOrMessages) -> KVCacheItem:
        """Build the KV cache of a memory prefix: a text, a list of texts, or chat messages.

        The item is not stored until :meth:`add`.
        """
        if isinstance(text, str) and not text.strip():
            raise InvalidMemoryInputError("cannot build a KV cache of empty text")
        if not isinstance(text, str) and not list(text):
            raise InvalidMemoryInputError("cannot build a KV cache of an empty list")
        encoding = self.llm.encode_prefix(text)
        cache = self.llm.prefill(encoding.token_ids)
        logger.debug("built KV cache of %d tokens", len(encoding.token_ids))
        return self._item(encoding, cache, _records_of(text))

    def from_textual_memory(self, mem: TextualMemoryItem) -> KVCacheItem:
        """A KV item of one textual memory, keeping its metadata (as MemOS does)."""
        item = self.extract(mem.memory)
        extra = mem.metadata.model_dump(mode="json", exclude_none=True)
        extra["source_memory_id"] = mem.id
        for key, value in extra.items():
            if key not in KVCacheMetadata.model_fields:
                setattr(item.metadata, key, value)
        return item

    # -- storing and reading -------------------------------------------------------------------
    def _check_item(self, item: Any) -> KVCacheItem:
        if not isinstance(item, KVCacheItem):
            raise InvalidMemoryInputError(f"expected a KVCacheItem, got {type(item).__name__}")
        self.identity.check(
            ModelIdentity(
                item.metadata.model_id,
                item.metadata.model_fingerprint,
                item.metadata.tokenizer_fingerprint,
            ),
            what=f"KV item {item.id}",
        )
        if item.memory.get_seq_length() != len(item.token_ids):
            raise KVCacheCompatibilityError(
                f"KV item {item.id} holds {item.memory.get_seq_length()} positions for "
                f"{len(item.token_ids)} token ids (was its cache used for generation?)"
            )
        return item

    def add(self, memories: list[KVCacheItem]) -> None:
        """Store items (checked first: all are stored or none). Re-adding an id replaces it."""
        checked = [self._check_item(item) for item in memories]
        # Own cache object (and tensors, with room reserved after them): generation with the
        # caller's object reassigns its layers, which must not reach the stored one.
        self._put(self._with_room(item) for item in checked)

    def _with_room(self, item: KVCacheItem) -> KVCacheItem:
        reserved = reserve_room(item.memory, self.config.reserved_tokens)
        return item.model_copy(update={"memory": reserved})

    def _copy(self, item: KVCacheItem) -> KVCacheItem:
        return item.model_copy(
            update={"memory": clone_cache(item.memory), "metadata": item.metadata.model_copy()}
        )

    def get(self, memory_id: str) -> KVCacheItem:
        """A copy of one item (its cache may be used freely)."""
        return self._copy(self._stored(memory_id))

    def get_by_ids(self, memory_ids: list[str]) -> list[KVCacheItem]:
        """Copies of the items, in the order asked."""
        return [self._copy(item) for item in self._stored_many(memory_ids)]

    def get_all(self) -> list[KVCacheItem]:
        """Copies of every item, in insertion order."""
        return [self._copy(item) for item in self._stored_all()]

    def get_stored_view(self, memory_id: str) -> KVCacheItem:
        """The item with a cache object over the stored tensors (no copy; for generation).

        Generation never writes into the stored prefix (it concatenates new positions, or
        writes them into the room reserved after it), so a view is safe to generate with and
        much cheaper than :meth:`get` for long prefixes.
        """
        item = self._stored(memory_id)
        return item.model_copy(update={"memory": cache_view(item.memory)})

    def merged_item(self, cache_ids: Sequence[str]) -> KVCacheItem:
        """One item for several, in the order given, computed exactly (not stored).

        The first item's cache is extended by prefilling the other items' tokens on top of it;
        the result equals the cache of the joint token sequence.
        """
        if not cache_ids:
            raise InvalidMemoryInputError("get_cache needs at least one id")
        items = self._stored_many(cache_ids)
        if len(items) == 1:
            return self._copy(items[0])
        # A plain cache over the first item's tensors: prefill concatenates into new ones.
        cache = cache_from_tensors(layer_tensors(items[0].memory))
        token_ids = list(items[0].token_ids)
        for item in items[1:]:
            cache = self.llm.prefill(item.token_ids, cache)
            token_ids.extend(item.token_ids)
        encoding = PrefixEncoding(
            messages=[m for item in items for m in item.metadata.messages],
            text="".join(item.metadata.text for item in items),
            token_ids=token_ids,
        )
        records = [r for item in items for r in item.records]
        return self._item(encoding, cache, records, {"merged_from": list(cache_ids)})

    def get_cache(self, cache_ids: list[str], *, approximate: bool = False) -> DynamicCache:
        """One DynamicCache for several items, in order (a new object; stored ones unchanged).

        ``approximate=True`` concatenates the stored caches instead of recomputing: faster, but
        the later items' tokens never attended to the earlier ones, so answers can differ.
        """
        if not approximate:
            merged: DynamicCache = self.merged_item(cache_ids).memory
            return merged
        items = self._stored_many(cache_ids)
        if not items:
            raise InvalidMemoryInputError("get_cache needs at least one id")
        return concat_caches([item.memory for item in items])

    # -- persistence ---------------------------------------------------------------------------
    def dump(self, dir: str | Path) -> None:
        """Write every item under ``dir``: safetensors tensors plus a JSON manifest."""
        items = self._stored_all()
        dump_kv_items(Path(dir), self.config.memory_filename, self.identity, items)
        logger.info("dumped %d KV items", len(items))

    def load(self, dir: str | Path) -> None:
        """Replace the contents with a dump; refused whole if anything is wrong with it."""
        items = load_kv_items(
            Path(dir), self.config.memory_filename, self.identity, self.llm.device
        )
        self._replace_all(self._with_room(item) for item in items)
        logger.info("loaded %d KV items", len(items))
