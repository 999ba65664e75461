"""GeneralMemCube: slots from config, dump / load / init_from_dir with MemOS's layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memos.configs.mem_cube import GeneralMemCubeConfig
from memos.errors import ConfigError, DumpFormatError, MemoryOperationError
from memos.mem_cube.general import GeneralMemCube


def general_config(cube_id: str = "cube_a") -> GeneralMemCubeConfig:
    return GeneralMemCubeConfig.model_validate(
        {
            "user_id": "alice",
            "cube_id": cube_id,
            "text_mem": {"backend": "general_text", "config": {"cube_id": cube_id}},
            "act_mem": {"backend": "uninitialized"},
            "para_mem": {"backend": "uninitialized", "config": {}},
        }
    )


def test_unset_slots_are_none_and_config_round_trips(tmp_path: Path) -> None:
    cube = GeneralMemCube(general_config())
    assert cube.act_mem is None and cube.para_mem is None
    assert type(cube.text_mem).__name__ == "GeneralTextMemory"
    path = tmp_path / "c.yaml"
    cube.config.to_yaml_file(path)
    assert GeneralMemCubeConfig.from_yaml_file(path) == cube.config


def test_memos_style_config_json_with_unknown_backend_is_rejected(tmp_path: Path) -> None:
    data = general_config().model_dump(mode="json")
    data["para_mem"] = {"backend": "lora", "config": {}}
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="lora"):
        GeneralMemCubeConfig.from_json_file(tmp_path / "config.json")


def test_dump_load_and_init_from_dir(tmp_path: Path) -> None:
    cube = GeneralMemCube(general_config())
    ids = cube.text_mem.add(["I like playing football.", "My sister lives in Lyon."])
    target = tmp_path / "dumped"
    cube.dump(target)
    assert (target / "config.json").is_file()
    assert (target / "textual_memory.json").is_file()
    assert (target / "faiss").is_dir()

    again = GeneralMemCube.init_from_dir(target)
    assert {m.id for m in again.text_mem.get_all()} == set(ids)
    hits = again.text_mem.search("Which sport do I like?", top_k=1)
    assert hits[0].memory == "I like playing football."

    fresh = GeneralMemCube(general_config())
    fresh.load(target)
    assert len(fresh.text_mem.get_all()) == 2


def test_dump_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    with pytest.raises(MemoryOperationError, match="not empty"):
        GeneralMemCube(general_config()).dump(target)
    assert (target / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]


def test_load_of_a_missing_directory_fails(tmp_path: Path) -> None:
    with pytest.raises(DumpFormatError):
        GeneralMemCube(general_config()).load(tmp_path / "nope")
    with pytest.raises(ConfigError):
        GeneralMemCube.init_from_dir(tmp_path)


def test_unknown_memory_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MemoryOperationError, match="unknown memory types"):
        GeneralMemCube(general_config()).dump(tmp_path / "x", memory_types=["bogus"])
