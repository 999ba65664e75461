"""load_config: YAML/JSON files plus MEMOS__ environment overrides."""

from __future__ import annotations

import pytest

from memos.configs.loader import apply_env_overrides, load_config, memos_home
from memos.configs.memory import MemoryConfigFactory
from memos.errors import ConfigError

YAML = """
backend: general_text
config:
  vector_db:
    backend: faiss
    config:
      vector_dimension: 384
"""


def test_env_overrides_set_nested_keys_with_yaml_scalars(tmp_path) -> None:
    path = tmp_path / "memory.yaml"
    path.write_text(YAML)
    env = {
        "MEMOS__CONFIG__VECTOR_DB__CONFIG__INDEX_TYPE": "hnsw",
        "MEMOS__CONFIG__VECTOR_DB__CONFIG__HNSW_M": "48",
        "MEMOS__CONFIG__CUBE_ID": "cube-1",
        "UNRELATED": "x",
    }
    config = load_config(path, MemoryConfigFactory, env)
    vec = config.config.vector_db.config  # type: ignore[attr-defined]
    assert vec.index_type == "hnsw" and vec.hnsw_m == 48
    assert config.config.cube_id == "cube-1"  # type: ignore[attr-defined]
    # without env, the file alone
    assert load_config(path, MemoryConfigFactory).config.vector_db.config.index_type == "flat"  # type: ignore[attr-defined]


def test_env_override_with_a_bad_value_names_file_and_key(tmp_path) -> None:
    path = tmp_path / "memory.yaml"
    path.write_text(YAML)
    env = {"MEMOS__CONFIG__VECTOR_DB__CONFIG__VECTOR_DIMENSION": "many"}
    with pytest.raises(ConfigError) as info:
        load_config(path, MemoryConfigFactory, env)
    message = str(info.value)
    assert str(path) in message and "config.vector_db.config.vector_dimension" in message


def test_env_override_of_an_unknown_key_fails(tmp_path) -> None:
    path = tmp_path / "memory.yaml"
    path.write_text(YAML)
    with pytest.raises(ConfigError, match="colour"):
        load_config(path, MemoryConfigFactory, {"MEMOS__CONFIG__COLOUR": "red"})


def test_apply_env_overrides_does_not_mutate_input() -> None:
    data = {"a": {"b": 1}}
    out = apply_env_overrides(data, {"MEMOS__A__B": "2", "MEMOS__A__C": "[x, y]"})
    assert out == {"a": {"b": 2, "c": ["x", "y"]}} and data == {"a": {"b": 1}}


def test_missing_file_and_json_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml", MemoryConfigFactory)
    path = tmp_path / "memory.json"
    path.write_text('{"backend": "general_text", "config": {}}')
    assert load_config(path, MemoryConfigFactory).backend == "general_text"


def test_memos_home(tmp_path) -> None:
    assert memos_home({"MEMOS_HOME": str(tmp_path)}) == tmp_path
    assert memos_home({}).name == ".memos"
