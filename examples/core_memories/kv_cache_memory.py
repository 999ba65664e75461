"""KVCacheMemory on its own: extract -> add -> get -> get_cache -> delete -> dump -> load.

Run from the repository root: ``python examples/core_memories/kv_cache_memory.py``. Uses the
packaged SmolLM2-135M-Instruct; caches are stored as safetensors plus JSON (never pickle).
"""

import tempfile

from memos.configs.memory import MemoryConfigFactory
from memos.memories.factory import MemoryFactory

# ===== Example: Use factory and HFLLM to build and manage KVCacheMemory =====

# 1. Create config for KVCacheMemory (using HuggingFace backend)
config = MemoryConfigFactory(
    backend="kv_cache",
    config={
        "extractor_llm": {
            "backend": "huggingface",
            "config": {
                "model_name_or_path": "smollm2-135m-instruct",  # the packaged model
                "max_tokens": 32,
                "add_generation_prompt": True,
                "remove_think_prefix": True,
            },
        },
    },
)

# 2. Instantiate KVCacheMemory using the factory
kv_mem = MemoryFactory.from_config(config)

# 3. Extract a KVCacheItem (DynamicCache) from a prompt
prompt = [
    {"role": "user", "content": "What is MemOS?"},
    {"role": "assistant", "content": "MemOS is a memory operating system for LLMs."},
]
print("===== Extract KVCacheItem =====")
cache_item = kv_mem.extract(prompt)
print(cache_item.summary())
print()

# 4. Add the extracted KVCacheItem
print("===== Add KVCacheItem =====")
kv_mem.add([cache_item])
print([item.summary()["id"] for item in kv_mem.get_all()])
print()

# 5. Get by id
print("===== Get KVCacheItem by id =====")
retrieved = kv_mem.get(cache_item.id)
print(retrieved.summary())
print()

# 6. Merge caches (two items, one exact cache)
print("===== Merge DynamicCache =====")
item2 = kv_mem.extract([{"role": "user", "content": "Tell me a joke."}])
kv_mem.add([item2])
merged_cache = kv_mem.get_cache([cache_item.id, item2.id])
print(f"merged cache holds {merged_cache.get_seq_length()} positions")
print()

# 7. Delete one
print("===== Delete one KVCacheItem =====")
kv_mem.delete([cache_item.id])
print([item.id for item in kv_mem.get_all()])
print()

# 8. Dump and load
print("===== Dump and Load KVCacheMemory =====")
dump_dir = f"{tempfile.mkdtemp(prefix='memos-example-')}/kv_mem"
kv_mem.dump(dump_dir)
print(f"Memory dumped to {dump_dir!r}.")
kv_mem.delete_all()
print("After delete_all:", len(kv_mem.get_all()))
kv_mem.load(dump_dir)
print(f"Memory loaded from {dump_dir!r}:", [item.id for item in kv_mem.get_all()])
