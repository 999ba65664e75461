"""BaseConfig and BaseConfigFactory: strict keys, type errors naming the path, files."""

from __future__ import annotations

import json

import pytest

from memos.configs.embedder import EmbedderConfigFactory, SentenceTransformerEmbedderConfig
from memos.configs.memory import GeneralTextMemoryConfig, MemoryConfigFactory
from memos.configs.vec_db import FaissVecDBConfig
from memos.errors import ConfigError


def test_unknown_key_is_rejected_with_its_path() -> None:
    with pytest.raises(ConfigError, match=r"config\.embedder\.config\.batchsize: Extra inputs"):
        MemoryConfigFactory.validate_data(
            {
                "backend": "general_text",
                "config": {
                    "embedder": {"backend": "sentence_transformer", "config": {"batchsize": 8}}
                },
            }
        )
    with pytest.raises(ConfigError, match="typo"):
        FaissVecDBConfig.validate_data({"typo": 1})


def test_wrong_type_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"vector_dimension: .*integer"):
        FaissVecDBConfig.validate_data({"vector_dimension": "big"})
    with pytest.raises(ConfigError, match="batch_size"):
        SentenceTransformerEmbedderConfig.validate_data({"batch_size": 0})


def test_assignment_is_validated() -> None:
    config = FaissVecDBConfig()
    config.collection_name = "other"
    with pytest.raises(ValueError, match="vector_dimension"):
        config.vector_dimension = "x"  # type: ignore[assignment]


def test_unknown_backend_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown backend 'bert'.*known backends: ollama"):
        EmbedderConfigFactory.validate_data({"backend": "bert"})


def test_factory_dump_keeps_backend_fields_and_round_trips(tmp_path) -> None:
    config = MemoryConfigFactory.validate_data(
        {
            "backend": "general_text",
            "config": {"vector_db": {"backend": "faiss", "config": {"index_type": "hnsw"}}},
        }
    )
    dumped = config.model_dump()
    assert dumped["config"]["vector_db"]["config"]["index_type"] == "hnsw"
    assert dumped["config"]["embedder"]["config"]["model_name_or_path"] == "all-MiniLM-L6-v2"
    path = tmp_path / "memory.json"
    config.to_json_file(path)
    assert MemoryConfigFactory.from_json_file(path) == config
    yaml_path = tmp_path / "memory.yaml"
    config.to_yaml_file(yaml_path)
    assert MemoryConfigFactory.from_yaml_file(yaml_path) == config


def test_file_errors_name_the_file(tmp_path) -> None:
    missing = tmp_path / "absent.json"
    with pytest.raises(ConfigError, match=f"{missing} does not exist"):
        GeneralTextMemoryConfig.from_json_file(missing)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match=f"{broken} is not valid JSON"):
        GeneralTextMemoryConfig.from_json_file(broken)
    bad_key = tmp_path / "bad.json"
    bad_key.write_text(json.dumps({"memory_filename": "m.json", "colour": "red"}))
    with pytest.raises(ConfigError) as info:
        GeneralTextMemoryConfig.from_json_file(bad_key)
    assert str(bad_key) in str(info.value) and "colour" in str(info.value)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        GeneralTextMemoryConfig.from_yaml_file(listing)
