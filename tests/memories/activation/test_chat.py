"""chat_with_kv on the real SmolLM2: same text as prompt injection under greedy decoding."""

from __future__ import annotations

import pytest

from memos.errors import InvalidMemoryInputError
from memos.memories.activation.chat import chat_with_kv, injected_messages, measure_kv_ttft
from memos.memories.activation.kv import KVCacheMemory

MEMORIES = [
    "The user's name is Ada. She lives in Lyon.",
    "Ada's dog is called Biscuit and loves the beach.",
]
CONVERSATIONS = [
    [{"role": "user", "content": "What is my dog called?"}],
    [
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello Ada, how can I help?"},
        {"role": "user", "content": "Which city do I live in?"},
    ],
]


@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_answer_equals_prompt_injection(kv_memory: KVCacheMemory, conversation: list) -> None:
    item = kv_memory.extract(MEMORIES)
    kv_memory.add([item])
    view = kv_memory.get_stored_view(item.id)
    with_kv = chat_with_kv(kv_memory.llm, view, conversation, max_tokens=24)
    injected = kv_memory.llm.generate(injected_messages(item, conversation), max_tokens=24)
    assert with_kv == injected and with_kv.strip()


def test_merged_item_answer_equals_injection_of_both(kv_memory: KVCacheMemory) -> None:
    items = [kv_memory.extract(m) for m in MEMORIES]
    kv_memory.add(items)
    merged = kv_memory.merged_item([i.id for i in items])
    question = CONVERSATIONS[0]
    expected = kv_memory.llm.generate(
        [*items[0].metadata.messages, *items[1].metadata.messages, *question]
    )
    assert chat_with_kv(kv_memory.llm, merged, question) == expected


def test_bare_cache_needs_its_prefix_messages(kv_memory: KVCacheMemory) -> None:
    item = kv_memory.extract(MEMORIES[0])
    cache = kv_memory.llm.build_kv_cache(MEMORIES[0])
    with pytest.raises(InvalidMemoryInputError):
        chat_with_kv(kv_memory.llm, cache, CONVERSATIONS[0])
    answer = chat_with_kv(
        kv_memory.llm,
        cache,
        CONVERSATIONS[1],
        prefix_messages=item.metadata.messages,
        max_tokens=16,
    )
    assert answer == kv_memory.llm.generate(
        injected_messages(item, CONVERSATIONS[1]), max_tokens=16
    )


def test_ttft_measurement_agrees_on_the_first_token(kv_memory: KVCacheMemory) -> None:
    item = kv_memory.extract(MEMORIES)
    result = measure_kv_ttft(kv_memory.llm, item, CONVERSATIONS[0], repeats=1, warmup=0)
    assert result.same_first_token
    assert result.prefix_tokens == len(item.token_ids) < result.prompt_tokens
    assert result.cached_ms > 0 and result.injected_ms > 0
