"""One KVCacheMemory on the packaged SmolLM2 per test module (the model loads once per process).

``MEMOS_TEST_DEVICE`` (default ``cpu``) and ``MEMOS_TEST_MODEL`` (default the packaged SmolLM2)
let the same mechanics tests run on a GPU machine or with another local model folder.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator

import pytest

from memos.configs.memory import KVCacheMemoryConfig
from memos.memories.activation.kv import KVCacheMemory

# MemOS's KVCacheMemory example config, with the packaged model.
KV_CONFIG = {
    "backend": "kv_cache",
    "config": {
        "extractor_llm": {
            "backend": "huggingface",
            "config": {
                "model_name_or_path": "smollm2-135m-instruct",
                "max_tokens": 32,
                "add_generation_prompt": True,
                "remove_think_prefix": True,
            },
        }
    },
}


@pytest.fixture(scope="module")
def kv_memory_module() -> KVCacheMemory:
    return KVCacheMemory(KVCacheMemoryConfig.model_validate(kv_test_config()["config"]))


def kv_test_config() -> dict:
    """MemOS's example config with the test device and model applied."""
    config = copy.deepcopy(KV_CONFIG)
    llm = config["config"]["extractor_llm"]["config"]
    llm["device"] = os.environ.get("MEMOS_TEST_DEVICE", "cpu")
    llm["model_name_or_path"] = os.environ.get("MEMOS_TEST_MODEL", llm["model_name_or_path"])
    return config


@pytest.fixture
def kv_memory(kv_memory_module: KVCacheMemory) -> Iterator[KVCacheMemory]:
    kv_memory_module.delete_all()
    yield kv_memory_module
    kv_memory_module.delete_all()
