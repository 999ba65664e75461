"""VLLMKVCacheMemory (backend ``vllm_kv_cache``): memory prefixes kept warm in vLLM's prefix cache.

vLLM has no endpoint that stores a KV cache; it reuses cached full blocks (``--block-size``
tokens, 16 by default) of any prompt whose tokens from position 0 are identical. So "extract"
means: render the memory prefix exactly as chat requests will render it, and send it once with
``max_tokens=1`` so its blocks are cached.

Rendering choice: warming and answering both go through ``/v1/chat/completions`` with the memory
as the leading system message(s), so the SERVER's own chat template renders both, and the system
part is token-identical by construction (no local tokenizer that might differ from the server's).
``/tokenize`` with the same messages reports the prefix's token ids (for metadata and to verify
the prefix is shared). Hits are verified through ``usage.prompt_tokens_details.cached_tokens``
and the ``vllm:prefix_cache_hits_total`` / ``vllm:prefix_cache_queries_total`` counters. Every
request carries the tenant's ``cache_salt``, so tenants never share cached blocks.

Block size: ``block_size`` in the config, or (default) the server's own, read once from the
``block_size`` label of its ``vllm:cache_config_info`` metric, so a server started with
``--block-size 32`` is accounted in 32-token blocks; 16 (vLLM's default) when it does not say.
A server that reports ``enable_prefix_caching="False"`` is refused at extract time: warming it
would store nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from memos.configs.memory import VLLMKVCacheMemoryConfig
from memos.errors import (
    ConfigError,
    DumpFormatError,
    InvalidMemoryInputError,
    LLMError,
)
from memos.llms.base import MessageList, normalize_messages
from memos.llms.factory import LLMFactory
from memos.llms.hf import MEMORY_PROMPT_HEADER
from memos.llms.vllm import PREFIX_CACHE_HITS, PREFIX_CACHE_QUERIES, VLLMLLM, cached_tokens
from memos.memories.activation.base import BaseActMemory
from memos.memories.activation.item import VLLMKVCacheItem, VLLMPrefixMetadata, token_ids_sha256
from memos.memories.activation.serialization import (
    FORMAT_VERSION,
    VLLM_FORMAT,
    read_manifest,
    write_json_atomic,
)

logger = logging.getLogger(__name__)

#: vLLM's default ``--block-size``, assumed when neither the config nor the server names one.
DEFAULT_BLOCK_SIZE = 16
#: How long :meth:`VLLMKVCacheMemory.verify` waits for /metrics to count the request it sent.
METRICS_SETTLE_S = 2.0


@dataclass(frozen=True)
class PrefixCacheReport:
    """What the server reported for one request that should hit a warmed prefix.

    ``expected_cached_tokens`` is what vLLM serves from cache when every block of the warmed
    prompt is still cached: whole blocks of ``prompt_tokens - 1`` (the last prompt token is
    always computed, so a prompt of exactly n blocks hits n - 1 of them).
    """

    prompt_tokens: int
    cached_tokens: int
    expected_cached_tokens: int | None
    hits_delta: float | None
    queries_delta: float | None
    block_size: int = DEFAULT_BLOCK_SIZE

    @property
    def hit_rate(self) -> float | None:
        """Share of this request's queried tokens that hit the prefix cache (from /metrics)."""
        if not self.queries_delta:
            return None
        return (self.hits_delta or 0.0) / self.queries_delta

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready numbers."""
        return {**asdict(self), "hit_rate": self.hit_rate}


@dataclass(frozen=True)
class VLLMChatResult:
    """An answer and how much of its prompt came from the prefix cache."""

    text: str
    prompt_tokens: int
    cached_tokens: int

    @property
    def hit_rate(self) -> float:
        """Share of this request's prompt tokens served from the prefix cache."""
        return self.cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0


def prefix_messages(text_or_messages: str | list[str] | MessageList) -> list[dict[str, str]]:
    """The memory prefix as messages (same rule as the HF backend: text -> one system message)."""
    if isinstance(text_or_messages, str):
        if not text_or_messages.strip():
            raise InvalidMemoryInputError("cannot warm an empty memory prefix")
        return [{"role": "system", "content": MEMORY_PROMPT_HEADER + text_or_messages}]
    items = list(text_or_messages)
    if not items:
        raise InvalidMemoryInputError("cannot warm an empty memory prefix")
    if all(isinstance(item, str) for item in items):
        return [{"role": "system", "content": MEMORY_PROMPT_HEADER + "\n".join(map(str, items))}]
    return normalize_messages(items)  # type: ignore[arg-type]


class VLLMKVCacheMemory(BaseActMemory[VLLMKVCacheItem]):
    """Warm, verify and use memory prefixes in a vLLM server's prefix cache."""

    store_name = "vLLM KV cache memory"

    def __init__(self, config: VLLMKVCacheMemoryConfig) -> None:
        self.config = config
        llm = LLMFactory.from_config(config.extractor_llm)
        if not isinstance(llm, VLLMLLM):
            raise ConfigError("vllm_kv_cache memory needs a 'vllm' extractor_llm")
        self.llm: VLLMLLM = llm
        self.cache_salt = config.cache_salt or llm.config.cache_salt
        self._init_store()
        self._block_size: int | None = config.block_size

    @property
    def block_size(self) -> int:
        """The server's prefix-cache block size (config, else asked once from the server)."""
        if self._block_size is None:
            settings = self._server_cache_config()
            self._block_size = _block_size_of(settings)
        return self._block_size

    # -- server calls ----------------------------------------------------------------------------
    def _warm_request(self, messages: list[dict[str, str]], salt: str | None) -> dict[str, Any]:
        return self.llm.chat_completion(messages, max_tokens=1, temperature=0.0, cache_salt=salt)

    def _tokenize(self, messages: list[dict[str, str]]) -> list[int]:
        try:
            return self.llm.tokenize_messages(messages, add_generation_prompt=False)
        except LLMError as exc:
            # Older servers lack /tokenize; warming still works, only the metadata is thinner.
            logger.warning("vLLM /tokenize unavailable (%s); prefix token count unknown", exc)
            return []

    def _server_cache_config(self) -> dict[str, str]:
        try:
            return self.llm.cache_config()
        except LLMError as exc:
            logger.warning("vLLM cache settings unavailable from /metrics: %s", exc)
            return {}

    def _check_prefix_caching(self) -> None:
        """Refuse a server that says prefix caching is off (warming it would store nothing)."""
        settings = self._server_cache_config()
        if self._block_size is None:
            self._block_size = _block_size_of(settings)
        if settings.get("enable_prefix_caching", "").lower() == "false":
            raise LLMError(
                f"vLLM server at {self.llm.server_root} runs without prefix caching; restart it "
                "without --no-enable-prefix-caching to keep memory prefixes warm"
            )

    def _metric_totals(self) -> tuple[float, float] | None:
        try:
            totals = self.llm.metrics()
        except LLMError as exc:
            logger.warning("vLLM /metrics unavailable: %s", exc)
            return None
        return totals.get(PREFIX_CACHE_HITS, 0.0), totals.get(PREFIX_CACHE_QUERIES, 0.0)

    def _settled_totals(
        self, before: tuple[float, float] | None, prompt_tokens: int
    ) -> tuple[float, float] | None:
        """Counters once they include the request just answered (vLLM records them right after
        it answers; a loaded server may lag a moment), or the last reading after a short wait."""
        deadline = time.monotonic() + METRICS_SETTLE_S
        while True:
            after = self._metric_totals()
            if after is None or before is None or after[1] - before[1] >= prompt_tokens:
                return after
            if time.monotonic() >= deadline:
                logger.warning(
                    "vLLM /metrics did not count the request within %.1fs", METRICS_SETTLE_S
                )
                return after
            time.sleep(0.05)

    def _cacheable(self, token_count: int) -> int:
        return (token_count // self.block_size) * self.block_size

    # -- extraction ------------------------------------------------------------------------------
    def extract(
        self, text: str | list[str] | MessageList, *, cache_salt: str | None = None
    ) -> VLLMKVCacheItem:
        """Render the prefix with the server, warm its prefix cache, and describe it."""
        messages = prefix_messages(text)
        salt = cache_salt or self.cache_salt
        self._check_prefix_caching()
        token_ids = self._tokenize(messages)
        answer = self._warm_request(messages, salt)
        metadata = VLLMPrefixMetadata(
            model_id=self.llm.config.model_name_or_path,
            messages=messages,
            cache_salt=salt,
            token_count=len(token_ids) or None,
            prefix_sha256=token_ids_sha256(token_ids) if token_ids else None,
            cacheable_tokens=self._cacheable(len(token_ids)) if token_ids else None,
            warmed_cached_tokens=cached_tokens(answer),
        )
        records = (
            [text]
            if isinstance(text, str)
            else [t if isinstance(t, str) else str(t.get("content", "")) for t in text]
        )
        return VLLMKVCacheItem(
            memory="\n".join(m["content"] for m in messages),
            metadata=metadata,
            token_ids=token_ids,
            records=records,
        )

    def warm(self, memory_id: str) -> int:
        """Send a stored prefix again (after eviction or a server restart); its cached tokens."""
        item = self._stored(memory_id)
        return cached_tokens(self._warm_request(item.metadata.messages, item.metadata.cache_salt))

    def verify(self, memory_id: str) -> PrefixCacheReport:
        """Send the prefix once more and report the hit it gets (usage and /metrics deltas)."""
        item = self._stored(memory_id)
        before = self._metric_totals()
        answer = self._warm_request(item.metadata.messages, item.metadata.cache_salt)
        usage = answer.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        after = self._settled_totals(before, prompt_tokens)
        block = self.block_size
        return PrefixCacheReport(
            prompt_tokens=prompt_tokens,
            cached_tokens=cached_tokens(answer),
            expected_cached_tokens=((prompt_tokens - 1) // block) * block
            if prompt_tokens
            else None,
            hits_delta=after[0] - before[0] if before and after else None,
            queries_delta=after[1] - before[1] if before and after else None,
            block_size=block,
        )

    def hit_rate(self) -> float | None:
        """The server's lifetime prefix-cache hit rate (hit tokens / queried tokens)."""
        totals = self._metric_totals()
        if totals is None or not totals[1]:
            return None
        return totals[0] / totals[1]

    def chat(
        self, messages: MessageList, memory_ids: list[str], **generation: Any
    ) -> VLLMChatResult:
        """Answer ``messages`` after the prefixes of ``memory_ids`` (in order), salted as warmed."""
        items = [self._stored(memory_id) for memory_id in memory_ids]
        prefix = [m for item in items for m in item.metadata.messages]
        salt = items[0].metadata.cache_salt if items else self.cache_salt
        answer = self.llm.chat_completion(
            [*prefix, *normalize_messages(messages)], cache_salt=salt, **generation
        )
        usage = answer.get("usage") or {}
        content = answer["choices"][0].get("message", {}).get("content") or ""
        return VLLMChatResult(
            text=self.llm.postprocess(str(content)),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            cached_tokens=cached_tokens(answer),
        )

    # -- storing ---------------------------------------------------------------------------------
    def add(self, memories: list[VLLMKVCacheItem]) -> None:
        """Store items (all checked first)."""
        for item in memories:
            if not isinstance(item, VLLMKVCacheItem):
                raise InvalidMemoryInputError(
                    f"expected a VLLMKVCacheItem, got {type(item).__name__}"
                )
        self._put(item.model_copy(deep=True) for item in memories)

    def get(self, memory_id: str) -> VLLMKVCacheItem:
        """A copy of one item."""
        return self._stored(memory_id).model_copy(deep=True)

    def get_by_ids(self, memory_ids: list[str]) -> list[VLLMKVCacheItem]:
        """Copies of the items, in the order asked."""
        return [self.get(memory_id) for memory_id in memory_ids]

    def get_all(self) -> list[VLLMKVCacheItem]:
        """Copies of every item."""
        return [item.model_copy(deep=True) for item in self._stored_all()]

    def get_cache(self, cache_ids: list[str]) -> str:
        """The combined prefix text of several items, in order (what :meth:`chat` sends)."""
        if not cache_ids:
            raise InvalidMemoryInputError("get_cache needs at least one id")
        return "\n".join(self._stored(cache_id).memory for cache_id in cache_ids)

    def dump(self, dir: str | Path) -> None:
        """Write the items as one JSON manifest (the server holds the caches themselves)."""
        directory = Path(dir)
        directory.mkdir(parents=True, exist_ok=True)
        items = [item.model_dump(mode="json") for item in self._stored_all()]
        write_json_atomic(
            directory / self.config.memory_filename,
            {"format": VLLM_FORMAT, "format_version": FORMAT_VERSION, "items": items},
        )

    def load(self, dir: str | Path) -> None:
        """Replace the contents with a dump; refused whole if any entry is malformed."""
        manifest = read_manifest(Path(dir), self.config.memory_filename, VLLM_FORMAT)
        try:
            items = [VLLMKVCacheItem.model_validate(entry) for entry in manifest["items"]]
        except ValueError as exc:
            raise DumpFormatError(f"vLLM prefix dump in {dir} is malformed: {exc}") from exc
        self._replace_all(items)


def _block_size_of(settings: dict[str, str]) -> int:
    """``block_size`` from the server's cache settings, else vLLM's default."""
    value = settings.get("block_size", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    logger.warning("vLLM server did not report its block size; assuming %d", DEFAULT_BLOCK_SIZE)
    return DEFAULT_BLOCK_SIZE
