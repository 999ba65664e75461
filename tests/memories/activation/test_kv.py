"""KVCacheMemory on the real packaged SmolLM2.

Tolerance: logits computed from a cached prefix may differ from a full recompute only by float32
rounding (different matmul shapes); we require max |diff| <= 1e-4 (measured: about 5e-5). A
cache reloaded from disk must equal the in-memory one exactly.
"""

from __future__ import annotations

import json
import pickletools
from pathlib import Path

import pytest
import torch

from memos.configs.memory import KVCacheMemoryConfig
from memos.errors import DumpFormatError, KVCacheCompatibilityError, MemoryNotFoundError
from memos.llms.kv import layer_tensors
from memos.memories.activation.chat import chat_with_kv
from memos.memories.activation.item import KVCacheItem
from memos.memories.activation.kv import KVCacheMemory

LOGIT_TOL = 1e-4
QUESTION = [{"role": "user", "content": "Where does Ada live, and what is her cat called?"}]
FACTS = [
    "Ada Lovelace lives in Paris and works as a violin teacher.",
    "Ada has a grey cat called Tom who sleeps on the piano.",
    "Ada's favourite food is mushroom risotto.",
]


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max().item())


def _snapshot(item: KVCacheItem) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(k.clone(), v.clone()) for k, v in layer_tensors(item.memory)]


def _same_tensors(item: KVCacheItem, snapshot: list[tuple[torch.Tensor, torch.Tensor]]) -> bool:
    pairs = layer_tensors(item.memory)
    return len(pairs) == len(snapshot) and all(
        torch.equal(k, sk) and torch.equal(v, sv)
        for (k, v), (sk, sv) in zip(pairs, snapshot, strict=True)
    )


def _question_ids(memory: KVCacheMemory, item: KVCacheItem) -> list[int]:
    text = memory.llm.render([*item.metadata.messages, *QUESTION], add_generation_prompt=True)
    ids = memory.llm.encode(text)
    assert ids[: len(item.token_ids)] == item.token_ids  # the prefix is shared token for token
    return ids


def test_extract_describes_the_cache(kv_memory: KVCacheMemory) -> None:
    item = kv_memory.extract(FACTS[0])
    meta = item.metadata
    assert meta.token_count == len(item.token_ids) == item.memory.get_seq_length()
    assert meta.model_id == kv_memory.llm.model_id and len(meta.prefix_sha256) == 64
    assert FACTS[0] in meta.text and item.records == [FACTS[0]]
    assert len(item.memory.layers) == kv_memory.llm.model.config.num_hidden_layers


def test_reloaded_cache_reproduces_full_recompute_logits(
    kv_memory: KVCacheMemory, tmp_path: Path
) -> None:
    item = kv_memory.extract(FACTS[:2])
    kv_memory.add([item])
    ids = _question_ids(kv_memory, item)
    n = len(item.token_ids)
    reference = kv_memory.llm.next_token_logits(ids, None, n)
    in_memory = kv_memory.llm.next_token_logits(ids, item.memory, n)
    kv_memory.dump(tmp_path)
    kv_memory.delete_all()
    kv_memory.load(tmp_path)
    reloaded = kv_memory.get(item.id)
    from_disk = kv_memory.llm.next_token_logits(ids, reloaded.memory, n)
    assert torch.equal(from_disk, in_memory)  # bit-identical tensors after the round trip
    diff = _max_diff(from_disk, reference)
    print(f"reloaded-cache vs full recompute: max |logit diff| = {diff:.2e}")
    assert diff <= LOGIT_TOL
    assert reloaded.token_ids == item.token_ids and reloaded.records == item.records


def test_merged_caches_match_a_joint_recompute(kv_memory: KVCacheMemory) -> None:
    items = [kv_memory.extract(fact) for fact in FACTS]
    kv_memory.add(items)
    ids = [item.id for item in items]
    merged = kv_memory.merged_item(ids)
    joint_ids = [t for item in items for t in item.token_ids]
    assert merged.token_ids == joint_ids
    joint = kv_memory.llm.prefill(joint_ids)
    cache = kv_memory.get_cache(ids)
    worst = max(
        max(_max_diff(k, jk), _max_diff(v, jv))
        for (k, v), (jk, jv) in zip(layer_tensors(cache), layer_tensors(joint), strict=True)
    )
    print(f"merged (3 items) vs joint recompute: max |kv diff| = {worst:.2e}")
    assert worst <= LOGIT_TOL
    # Next-token logits after the merged prefix equal those of the joint recompute.
    probe = [*joint_ids, *kv_memory.llm.encode("<|im_start|>user\nHi")]
    reference = kv_memory.llm.next_token_logits(probe, None, len(joint_ids))
    assert (
        _max_diff(kv_memory.llm.next_token_logits(probe, cache, len(joint_ids)), reference)
        <= LOGIT_TOL
    )
    # Plain concatenation is NOT the same thing (later items never attended to earlier ones).
    approx = kv_memory.get_cache(ids, approximate=True)
    approx_logits = kv_memory.llm.next_token_logits(probe, approx, len(joint_ids))
    assert _max_diff(approx_logits, reference) > 100 * LOGIT_TOL


def test_stored_caches_are_unchanged_by_generation(kv_memory: KVCacheMemory) -> None:
    items = [kv_memory.extract(fact) for fact in FACTS[:2]]
    kv_memory.add(items)
    before = {item.id: _snapshot(kv_memory.get(item.id)) for item in items}
    view = kv_memory.get_stored_view(items[0].id)
    chat_with_kv(kv_memory.llm, view, QUESTION, max_tokens=8)
    chat_with_kv(
        kv_memory.llm, kv_memory.merged_item([i.id for i in items]), QUESTION, max_tokens=8
    )
    got = kv_memory.get(items[1].id)
    kv_memory.llm.generate_with_cache(
        [*got.metadata.messages, *QUESTION], got.memory, got.token_ids, max_tokens=8
    )
    for item in items:
        stored = kv_memory.kv_cache_memories[item.id]
        assert stored.memory.get_seq_length() == len(item.token_ids)
        assert _same_tensors(stored, before[item.id])


def test_add_refuses_a_cache_that_was_extended(kv_memory: KVCacheMemory) -> None:
    item = kv_memory.extract(FACTS[0])
    kv_memory.llm.prefill(kv_memory.llm.encode("more"), item.memory)  # extends in place
    with pytest.raises(KVCacheCompatibilityError, match="positions"):
        kv_memory.add([item])


def test_memos_example_flow_through_the_factory(tmp_path: Path) -> None:
    """MemOS's examples/core_memories/kv_cache_memory.py, step by step."""
    from memos.configs.memory import MemoryConfigFactory
    from memos.memories.factory import MemoryFactory

    from .conftest import kv_test_config

    kv_memory = MemoryFactory.from_config(MemoryConfigFactory.model_validate(kv_test_config()))
    assert isinstance(kv_memory, KVCacheMemory)
    prompt = [
        {"role": "user", "content": "What is MemOS?"},
        {"role": "assistant", "content": "MemOS is a memory operating system for LLMs."},
    ]
    cache_item = kv_memory.extract(prompt)
    kv_memory.add([cache_item])
    assert [i.id for i in kv_memory.get_all()] == [cache_item.id]
    assert kv_memory.get(cache_item.id).token_ids == cache_item.token_ids
    item2 = kv_memory.extract([{"role": "user", "content": "Tell me a joke."}])
    kv_memory.add([item2])
    merged = kv_memory.get_cache([cache_item.id, item2.id])
    assert merged.get_seq_length() == len(cache_item.token_ids) + len(item2.token_ids)
    kv_memory.delete([cache_item.id])
    assert [i.id for i in kv_memory.get_all()] == [item2.id]
    kv_memory.dump(tmp_path / "kv_mem")
    kv_memory.delete_all()
    assert kv_memory.get_all() == []
    kv_memory.load(tmp_path / "kv_mem")
    assert [i.id for i in kv_memory.get_all()] == [item2.id]


def test_unknown_ids_raise_and_delete_is_all_or_nothing(kv_memory: KVCacheMemory) -> None:
    item = kv_memory.extract(FACTS[0])
    kv_memory.add([item])
    for call in (
        lambda: kv_memory.get("nope"),
        lambda: kv_memory.get_cache([item.id, "nope"]),
        lambda: kv_memory.delete([item.id, "nope"]),
    ):
        with pytest.raises(MemoryNotFoundError, match="nope"):
            call()
    assert len(kv_memory) == 1


def _assert_no_pickle(path: Path) -> None:
    data = path.read_bytes()
    # A pickle stream starts with PROTO (0x80) and a protocol number; torch.save zips one.
    assert not (data[:1] == b"\x80" and data[1:2] in {bytes([p]) for p in range(2, 6)})
    assert b"PK\x03\x04" not in data[:4]
    if path.suffix == ".json":
        json.loads(data)
    else:
        header_len = int.from_bytes(data[:8], "little")
        json.loads(data[8 : 8 + header_len])  # safetensors: u64 length + JSON header + raw data
    with pytest.raises(Exception):  # noqa: B017 - any failure proves it is not a pickle
        list(pickletools.genops(data))


def test_dump_holds_only_safetensors_and_json(kv_memory: KVCacheMemory, tmp_path: Path) -> None:
    kv_memory.add([kv_memory.extract(f) for f in FACTS[:2]])
    kv_memory.dump(tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files[0] == "activation_memory.json" and len(files) == 3
    assert all(name.endswith(".safetensors") for name in files[1:])
    for path in tmp_path.iterdir():
        _assert_no_pickle(path)


def test_corrupt_or_missing_dump_is_refused_and_nothing_half_loaded(
    kv_memory: KVCacheMemory, tmp_path: Path
) -> None:
    items = [kv_memory.extract(f) for f in FACTS[:2]]
    kv_memory.add(items)
    kv_memory.dump(tmp_path)
    kv_memory.delete([items[0].id])
    with pytest.raises(DumpFormatError, match="does not exist"):
        kv_memory.load(tmp_path / "missing")
    tensor_file = next(tmp_path.glob("*.safetensors"))
    data = bytearray(tensor_file.read_bytes())
    data[-10] ^= 0xFF
    tensor_file.write_bytes(bytes(data))
    with pytest.raises(DumpFormatError, match="corrupt"):
        kv_memory.load(tmp_path)
    (tmp_path / "activation_memory.json").write_text("{not json")
    with pytest.raises(DumpFormatError, match="JSON"):
        kv_memory.load(tmp_path)
    assert [i.id for i in kv_memory.get_all()] == [items[1].id]  # untouched by failed loads


@pytest.fixture(scope="module")
def other_model_folder(
    tmp_path_factory: pytest.TempPathFactory, kv_memory_module: KVCacheMemory
) -> Path:
    """A different (tiny, randomly initialised) Llama with the same tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tok = kv_memory_module.llm.tokenizer
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
    )
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


def test_dump_from_another_model_is_refused(
    kv_memory: KVCacheMemory, other_model_folder: Path, tmp_path: Path
) -> None:
    kv_memory.add([kv_memory.extract(FACTS[0])])
    kv_memory.dump(tmp_path)
    config = KVCacheMemoryConfig.model_validate(
        {
            "extractor_llm": {
                "backend": "huggingface",
                "config": {"model_name_or_path": str(other_model_folder)},
            }
        }
    )
    other = KVCacheMemory(config)
    with pytest.raises(KVCacheCompatibilityError) as info:
        other.load(tmp_path)
    message = str(info.value)
    assert kv_memory.llm.model_id in message and str(other_model_folder) in message
    assert other.get_all() == []
    # Its own caches round-trip fine.
    own = other.extract(FACTS[1])
    other.add([own])
    other.dump(tmp_path / "own")
    other.load(tmp_path / "own")
    assert [i.id for i in other.get_all()] == [own.id]
    with pytest.raises(KVCacheCompatibilityError):
        kv_memory.add([own])


def test_extract_rejects_empty_input(kv_memory: KVCacheMemory) -> None:
    from memos.errors import InvalidMemoryInputError

    with pytest.raises(InvalidMemoryInputError):
        kv_memory.extract("   ")
    with pytest.raises(InvalidMemoryInputError):
        kv_memory.extract([])
