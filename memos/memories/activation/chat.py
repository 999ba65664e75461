"""Answer a conversation with a KV memory as its prefix, and measure what that saves.

``chat_with_kv`` is the path MOS.chat takes when a cube has activation memory: the conversation
is rendered after the memory's prefix messages and only the tokens past the cached prefix are
computed. The answer equals prompt injection of the same text (``injected_messages``) under
greedy decoding, because the cached keys and values are those of the same tokens.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from memos.errors import InvalidMemoryInputError, KVCacheCompatibilityError
from memos.llms.base import MessageList, normalize_messages
from memos.llms.hf import HFLLM
from memos.llms.kv import common_prefix_length
from memos.memories.activation.item import KVCacheItem

if TYPE_CHECKING:
    from transformers import DynamicCache


def _prefix_of(
    llm: HFLLM, kv: KVCacheItem | DynamicCache, prefix_messages: MessageList | None
) -> tuple[DynamicCache, list[dict[str, str]], list[int]]:
    if isinstance(kv, KVCacheItem):
        if kv.metadata.model_fingerprint != llm.model_fingerprint:
            raise KVCacheCompatibilityError(
                f"KV item {kv.id} was built by model {kv.metadata.model_id!r}, not by "
                f"{llm.model_id!r} (fingerprints differ)"
            )
        return kv.memory, list(kv.metadata.messages), list(kv.token_ids)
    if prefix_messages is None:
        raise InvalidMemoryInputError(
            "a bare DynamicCache needs prefix_messages (the messages it was built from)"
        )
    encoding = llm.encode_prefix(prefix_messages)
    return kv, encoding.messages, encoding.token_ids


def injected_messages(kv_item: KVCacheItem, messages: MessageList) -> list[dict[str, str]]:
    """The prompt-injection equivalent: the item's prefix messages followed by ``messages``."""
    return [*kv_item.metadata.messages, *normalize_messages(messages)]


def chat_with_kv(
    llm: HFLLM,
    kv_item_or_cache: KVCacheItem | DynamicCache,
    messages: MessageList,
    *,
    prefix_messages: MessageList | None = None,
    **generation: Any,
) -> str:
    """Answer ``messages`` with a KV memory as the prefix; the cache is not modified.

    Args:
        llm: the HF model the cache was built with.
        kv_item_or_cache: a ``KVCacheItem`` (e.g. from ``KVCacheMemory.get_stored_view`` or
            ``merged_item``), or a bare ``DynamicCache`` together with ``prefix_messages``.
        messages: the conversation after the memory (usually ending with the user's turn).
        prefix_messages: the messages a bare cache was built from.
        **generation: ``max_tokens``, ``temperature``, ... overriding the LLM config.
    """
    cache, prefix, prefix_ids = _prefix_of(llm, kv_item_or_cache, prefix_messages)
    full = [*prefix, *normalize_messages(messages)]
    return llm.generate_with_cache(full, cache, prefix_ids, **generation)


@dataclass(frozen=True)
class TTFTResult:
    """Time to first token with a cached prefix vs the same prefix injected into the prompt."""

    prefix_tokens: int
    prompt_tokens: int
    cached_ms: float
    injected_ms: float
    same_first_token: bool

    @property
    def ratio(self) -> float:
        """How many times faster the cached path produced its first token."""
        return self.injected_ms / self.cached_ms if self.cached_ms > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready numbers."""
        return {**asdict(self), "ratio": self.ratio}


def first_token(
    llm: HFLLM, prompt_ids: Sequence[int], cache: DynamicCache | None, reuse: int
) -> int:
    """The greedy first answer token, reusing ``reuse`` cached positions (0: none)."""
    return int(llm.last_token_logits(prompt_ids, cache, reuse).argmax().item())


def _timed_ms(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, (time.perf_counter() - start) * 1000.0


def measure_kv_ttft(
    llm: HFLLM, kv_item: KVCacheItem, messages: MessageList, *, repeats: int = 5, warmup: int = 1
) -> TTFTResult:
    """Median time to first token: cached prefix vs prompt injection of the same prefix.

    Both paths include rendering and tokenising the whole prompt; the cached path also builds
    its view of the stored cache. Each path runs ``warmup`` untimed passes first.
    """
    full = injected_messages(kv_item, messages)

    def cached() -> int:
        ids = llm.encode(llm.render(full, add_generation_prompt=True))
        reuse = min(common_prefix_length(kv_item.token_ids, ids), len(ids) - 1)
        return first_token(llm, ids, kv_item.memory, reuse)

    def injected() -> int:
        ids = llm.encode(llm.render(full, add_generation_prompt=True))
        return first_token(llm, ids, None, 0)

    for _ in range(warmup):
        cached()
        injected()
    cached_times: list[float] = []
    injected_times: list[float] = []
    tokens: set[tuple[int, int]] = set()
    for _ in range(max(1, repeats)):
        token_c, ms_c = _timed_ms(cached)
        token_i, ms_i = _timed_ms(injected)
        cached_times.append(ms_c)
        injected_times.append(ms_i)
        tokens.add((token_c, token_i))
    prompt_tokens = len(llm.encode(llm.render(full, add_generation_prompt=True)))
    return TTFTResult(
        prefix_tokens=len(kv_item.token_ids),
        prompt_tokens=prompt_tokens,
        cached_ms=statistics.median(cached_times),
        injected_ms=statistics.median(injected_times),
        same_first_token=all(c == i for c, i in tokens),
    )
