"""Stored prefixes are used without copies: shared views, reserved room, grouped-query attention.

On the real packaged SmolLM2 (9 query heads over 3 key/value heads). Each test checks the speed
mechanism itself (which tensors are shared, where new positions land) and that results stay
what a plain computation gives.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from memos.configs.memory import KVCacheMemoryConfig
from memos.llms.attention import CPU_GQA_SDPA, use_cpu_gqa_attention
from memos.llms.kv import cache_from_tensors, layer_tensors
from memos.llms.kv_room import ReservedCache, cache_view, generation_view
from memos.memories.activation.chat import chat_with_kv, injected_messages
from memos.memories.activation.item import KVCacheItem
from memos.memories.activation.kv import KVCacheMemory
from tests.memories.activation.conftest import kv_test_config

LOGIT_TOL = 1e-4
FACTS = [
    "Ada Lovelace lives in Paris and works as a violin teacher.",
    "Ada has a grey cat called Tom who sleeps on the piano.",
]
QUESTION = [{"role": "user", "content": "Where does Ada live, and what is her cat called?"}]


def _memory(reserved: int) -> KVCacheMemory:
    config = {**kv_test_config()["config"], "reserved_tokens": reserved}
    return KVCacheMemory(KVCacheMemoryConfig.model_validate(config))


@pytest.fixture
def stored(kv_memory: KVCacheMemory) -> Iterator[KVCacheItem]:
    item = kv_memory.extract(FACTS)
    kv_memory.add([item])
    yield kv_memory.kv_cache_memories[item.id]


def _question_ids(memory: KVCacheMemory, item: KVCacheItem) -> list[int]:
    ids = memory.llm.encode(
        memory.llm.render([*item.metadata.messages, *QUESTION], add_generation_prompt=True)
    )
    assert ids[: len(item.token_ids)] == item.token_ids
    return ids


def _logits(memory: KVCacheMemory, ids: list[int], cache: object, reuse: int) -> torch.Tensor:
    with torch.no_grad():
        out = memory.llm.model(
            input_ids=torch.tensor([ids[reuse:]]), use_cache=True, **memory.llm._cache_kw(cache)
        )
    return out.logits[0, -1]


def _snapshot(item: KVCacheItem) -> list[torch.Tensor]:
    return [t.clone() for pair in layer_tensors(item.memory) for t in pair]


def _unchanged(item: KVCacheItem, snapshot: list[torch.Tensor]) -> bool:
    now = [t for pair in layer_tensors(item.memory) for t in pair]
    return all(torch.equal(a, b) for a, b in zip(now, snapshot, strict=True))


def test_views_share_the_stored_tensors(kv_memory: KVCacheMemory, stored: KVCacheItem) -> None:
    # cache_from_tensors used DynamicCache(ddp_cache_data=...), which copies every layer: each
    # "view" of a stored prefix cost a full copy of it.
    keys, values = layer_tensors(stored.memory)[0]
    rebuilt = layer_tensors(cache_from_tensors([(keys, values)]))[0]
    assert rebuilt[0].data_ptr() == keys.data_ptr() and rebuilt[1].data_ptr() == values.data_ptr()
    view = kv_memory.get_stored_view(stored.id).memory
    assert isinstance(view, ReservedCache) and view.room is stored.memory.room
    for (k, v), (sk, sv) in zip(layer_tensors(view), layer_tensors(stored.memory), strict=True):
        assert k.data_ptr() == sk.data_ptr() and v.data_ptr() == sv.data_ptr()
    cut = layer_tensors(cache_view(stored.memory, 5))[0][0]
    assert cut.data_ptr() == keys.data_ptr() and cut.shape[-2] == 5
    # A copy is a copy.
    copied = layer_tensors(kv_memory.get(stored.id).memory)[0][0]
    assert copied.data_ptr() != keys.data_ptr() and torch.equal(copied, keys)


def test_a_question_is_computed_in_the_reserved_room(
    kv_memory: KVCacheMemory, stored: KVCacheItem
) -> None:
    ids = _question_ids(kv_memory, stored)
    n = len(stored.token_ids)
    before = _snapshot(stored)
    plain = _logits(kv_memory, ids, cache_from_tensors(layer_tensors(stored.memory)), n)
    with generation_view(stored.memory, n) as view:
        in_room = _logits(kv_memory, ids, view, n)
        keys = layer_tensors(view)[0][0]
        # The prefix and the question's positions are one tensor: the room's buffer.
        assert keys.shape[-2] == len(ids)
        assert keys.data_ptr() == stored.memory.room.buffers[0][0].data_ptr()
    assert float((in_room - plain).abs().max()) <= LOGIT_TOL
    assert _unchanged(stored, before)
    assert stored.memory.get_seq_length() == n


def test_a_busy_room_falls_back_to_a_copy(kv_memory: KVCacheMemory, stored: KVCacheItem) -> None:
    ids = _question_ids(kv_memory, stored)
    n = len(stored.token_ids)
    room = stored.memory.room
    with generation_view(stored.memory, n) as first, generation_view(stored.memory, n) as second:
        a = _logits(kv_memory, ids, first, n)
        b = _logits(kv_memory, ids, second, n)
        assert layer_tensors(first)[0][0].data_ptr() == room.buffers[0][0].data_ptr()
        assert layer_tensors(second)[0][0].data_ptr() != room.buffers[0][0].data_ptr()
    assert float((a - b).abs().max()) <= LOGIT_TOL
    # A shorter reuse than the stored prefix would overwrite it: never through the room.
    with generation_view(stored.memory, n - 1) as shorter:
        assert layer_tensors(shorter)[0][0].shape[-2] == n - 1
        _logits(kv_memory, ids, shorter, n - 1)
        assert layer_tensors(shorter)[0][0].data_ptr() != room.buffers[0][0].data_ptr()
    assert not room.lock.locked()


@pytest.mark.parametrize("reserved", [0, 4])
def test_answers_are_exact_without_room_or_beyond_it(reserved: int) -> None:
    memory = _memory(reserved)
    item = memory.extract(FACTS)
    memory.add([item])
    stored = memory.kv_cache_memories[item.id]
    assert isinstance(stored.memory, ReservedCache) == (reserved > 0)
    before = _snapshot(stored)
    view = memory.get_stored_view(item.id)
    answer = chat_with_kv(memory.llm, view, QUESTION, max_tokens=24)
    assert answer == memory.llm.generate(injected_messages(item, QUESTION), max_tokens=24)
    assert _unchanged(stored, before)


def test_copies_and_merges_are_plain_independent_caches(
    kv_memory: KVCacheMemory, stored: KVCacheItem
) -> None:
    copied = copy.deepcopy(kv_memory.get_stored_view(stored.id).memory)
    assert not isinstance(copied, ReservedCache)
    keys = layer_tensors(copied)[0][0]
    stored_keys = layer_tensors(stored.memory)[0][0]
    assert torch.equal(keys, stored_keys) and keys.data_ptr() != stored_keys.data_ptr()
    other = kv_memory.extract(FACTS[1])
    kv_memory.add([other])
    merged = kv_memory.merged_item([stored.id, other.id]).memory
    assert not isinstance(merged, ReservedCache)
    assert merged.get_seq_length() == len(stored.token_ids) + len(other.token_ids)


def test_loaded_items_get_their_room(kv_memory: KVCacheMemory, tmp_path: Path) -> None:
    item = kv_memory.extract(FACTS[0])
    kv_memory.add([item])
    kv_memory.dump(tmp_path)
    kv_memory.delete_all()
    kv_memory.load(tmp_path)
    loaded = kv_memory.kv_cache_memories[item.id].memory
    assert isinstance(loaded, ReservedCache)
    assert loaded.room.length == len(item.token_ids)
    assert loaded.room.buffers[0][0].shape[-2] == len(item.token_ids) + 256


def test_masked_grouped_query_attention_matches_sdpa(
    kv_memory: KVCacheMemory, stored: KVCacheItem
) -> None:
    model = kv_memory.llm.model
    if model.device.type != "cpu":
        pytest.skip("the grouped-query attention function is used on CPU only")
    assert model.config._attn_implementation == CPU_GQA_SDPA
    ids = _question_ids(kv_memory, stored)
    n = len(stored.token_ids)
    ours = _logits(kv_memory, ids, cache_view(stored.memory, n), n)
    model.set_attn_implementation("sdpa")
    try:
        reference = _logits(kv_memory, ids, cache_view(stored.memory, n), n)
    finally:
        assert use_cpu_gqa_attention(model)
    assert float((ours - reference).abs().max()) <= LOGIT_TOL
