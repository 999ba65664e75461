"""Bad configs and bad activation-memory dumps, where the existing unit tests leave gaps.

Already covered elsewhere (docs/reliability.md lists them): BaseConfig strictness and file errors
(``tests/configs/test_base.py``), env overrides (``tests/configs/test_loader.py``),
GeneralTextMemory dumps that are truncated / of another format version / another dimension /
inconsistent / with a garbage faiss index (``tests/memories/textual/test_general.py``), KV dumps
with a flipped tensor byte, bad JSON or from another model (``tests/memories/activation/
test_kv.py``). Here: the top-level configs users actually write (MOSConfig, GeneralMemCubeConfig,
the deployment YAML), each naming file and key path, and the KV-dump cases not tested there.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from memos.api.settings import load_mos_config
from memos.configs.mem_cube import GeneralMemCubeConfig
from memos.configs.mem_os import MOSConfig
from memos.configs.memory import KVCacheMemoryConfig
from memos.errors import ConfigError, DumpFormatError
from memos.mem_cube.general import GeneralMemCube
from memos.mem_scheduler.config import DeploymentConfig
from memos.memories.activation.kv import KVCacheMemory

REPO = Path(__file__).resolve().parents[2]


def _write(path: Path, data: dict[str, Any]) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(data), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _deployment() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "config" / "embedded.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _cube(text_mem_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "user_id": "u1",
        "cube_id": "c1",
        "text_mem": {"backend": "general_text", "config": text_mem_config},
    }


# (loader, file name, content, key path the message must name, what it must say about it)
CASES: list[tuple[Callable[[Path], object], str, dict[str, Any], str, str]] = [
    (
        MOSConfig.from_json_file,
        "mos.json",
        {"user_id": "u1", "scheduler": {"block_msx": 200}},
        "scheduler.block_msx",
        "Extra inputs",
    ),
    (
        MOSConfig.from_yaml_file,
        "mos.yaml",
        {"user_id": "u1", "event_timeout_s": "soon"},
        "event_timeout_s",
        "valid number",
    ),
    (
        GeneralMemCubeConfig.from_yaml_file,
        "cube.yaml",
        _cube({"embedder": {"backend": "sentence_transformer", "config": {"batch_sise": 8}}}),
        "text_mem.config.embedder.config.batch_sise",
        "Extra inputs",
    ),
    (
        GeneralMemCubeConfig.from_json_file,
        "cube.json",
        _cube({"vector_db": {"backend": "faiss", "config": {"vector_dimension": "big"}}}),
        "text_mem.config.vector_db.config.vector_dimension",
        "valid integer",
    ),
    (
        load_mos_config,
        "deployment.yaml",
        {**_deployment(), "scheduler": {**_deployment()["scheduler"], "max_attemps": 3}},
        "scheduler.max_attemps",
        "Extra inputs",
    ),
    (
        DeploymentConfig.from_yaml_file,
        "deployment.yaml",
        {**_deployment(), "workers": {**_deployment()["workers"], "concurrency": "many"}},
        "workers.concurrency",
        "valid integer",
    ),
]


@pytest.mark.parametrize(
    ("loader", "name", "content", "key_path", "reason"),
    CASES,
    ids=["mos-unknown", "mos-type", "cube-unknown", "cube-type", "deploy-unknown", "deploy-type"],
)
def test_bad_config_names_file_and_key_path(
    tmp_path: Path,
    loader: Callable[[Path], object],
    name: str,
    content: dict[str, Any],
    key_path: str,
    reason: str,
) -> None:
    path = _write(tmp_path / name, content)
    with pytest.raises(ConfigError) as info:
        loader(path)
    message = str(info.value)
    assert str(path) in message, message
    line = next((ln for ln in message.splitlines() if key_path in ln), None)
    assert line is not None and reason in line, message


@pytest.mark.parametrize(
    "loader",
    [
        MOSConfig.from_json_file,
        MOSConfig.from_yaml_file,
        GeneralMemCubeConfig.from_json_file,
        GeneralMemCubeConfig.from_yaml_file,
        DeploymentConfig.from_yaml_file,
        load_mos_config,
    ],
)
def test_missing_config_file_is_named(tmp_path: Path, loader: Callable[[Path], object]) -> None:
    missing = tmp_path / "nowhere" / "config.yaml"
    with pytest.raises(ConfigError, match=str(missing)):
        loader(missing)


def test_the_shipped_deployment_files_are_valid() -> None:
    # The control for the cases above: the unmodified files load.
    DeploymentConfig.from_yaml_file(REPO / "config" / "embedded.yaml")
    load_mos_config(REPO / "config" / "embedded.yaml")
    # production.yaml takes its graph password from the environment.
    secret = {"MEMOS__GRAPH_DB__CONFIG__PASSWORD": "s3cret"}
    assert load_mos_config(REPO / "config" / "production.yaml", env=secret).embedded is None


def test_cube_directory_with_a_bad_config_names_its_file(tmp_path: Path) -> None:
    _write(tmp_path / "config.json", {**_cube({}), "act_mem": {"backend": "kv_cache", "x": 1}})
    with pytest.raises(ConfigError) as info:
        GeneralMemCube.init_from_dir(str(tmp_path))
    assert str(tmp_path / "config.json") in str(info.value)
    assert "act_mem" in str(info.value)


# -- KV-cache dumps -------------------------------------------------------------------------

KV_CONFIG = {
    "extractor_llm": {
        "backend": "huggingface",
        "config": {"model_name_or_path": "smollm2-135m-instruct", "device": "cpu"},
    }
}


@dataclass
class KvDump:
    """A KVCacheMemory on the packaged model and a good dump of three of its caches."""

    memory: KVCacheMemory
    good: Path
    ids: list[str]


@pytest.fixture(scope="module")
def kv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KvDump]:
    memory = KVCacheMemory(KVCacheMemoryConfig.model_validate(KV_CONFIG))
    items = [memory.extract(t) for t in ("Ada likes tea.", "Bo rides a red bike.", "Cy sings.")]
    memory.add(items)
    good = tmp_path_factory.mktemp("kv") / "good"
    memory.dump(good)
    yield KvDump(memory, good, [item.id for item in items])
    memory.delete_all()


def _manifest(directory: Path) -> dict[str, Any]:
    loaded = json.loads((directory / "activation_memory.json").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _tamper_manifest(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def apply(directory: Path) -> None:
        manifest = _manifest(directory)
        change(manifest)
        (directory / "activation_memory.json").write_text(json.dumps(manifest), encoding="utf-8")

    return apply


def _swap_tensor_files(directory: Path) -> None:
    first, second = (directory / e["file"] for e in _manifest(directory)["items"][:2])
    held = first.read_bytes()
    first.write_bytes(second.read_bytes())
    second.write_bytes(held)


def _drop_tensor_file(directory: Path) -> None:
    (directory / _manifest(directory)["items"][1]["file"]).unlink()


def _set(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda manifest: manifest.__setitem__(key, value)


def _token_ids(manifest: dict[str, Any]) -> None:
    manifest["items"][0]["token_ids"] = list(reversed(manifest["items"][0]["token_ids"]))


KV_DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "other format version": (_tamper_manifest(_set("format_version", 2)), "format version 2"),
    "not a KV manifest": (_tamper_manifest(_set("format", "memos.vllm_prefix")), "manifest"),
    "no item list": (_tamper_manifest(_set("items", {"a": 1})), "item list"),
    "tensor files swapped": (_swap_tensor_files, "safetensors"),
    "tensor file missing": (_drop_tensor_file, "safetensors"),
    "token ids edited": (_tamper_manifest(_token_ids), "token ids do not match"),
}


# Loading the packaged model costs about a minute on the loaded 2-core machine: slow.
@pytest.mark.slow
@pytest.mark.parametrize("damage", sorted(KV_DAMAGE))
def test_damaged_kv_dump_is_refused_and_nothing_is_half_loaded(
    kv: KvDump, tmp_path: Path, damage: str
) -> None:
    memory = kv.memory
    memory.load(kv.good)
    # What the memory holds when the bad load is tried: a different set than the dump's.
    memory.delete([kv.ids[0]])
    before = sorted(item.id for item in memory.get_all())
    bad = tmp_path / "bad"
    shutil.copytree(kv.good, bad)
    action, needle = KV_DAMAGE[damage]
    action(bad)
    with pytest.raises(DumpFormatError, match=needle) as info:
        memory.load(bad)
    message = str(info.value)
    # The message says where: the dump directory, always (per-item checks add the item's id).
    assert str(bad) in message, message
    assert sorted(item.id for item in memory.get_all()) == before
    # The control: the undamaged dump loads whole.
    memory.load(kv.good)
    assert sorted(item.id for item in memory.get_all()) == sorted(kv.ids)
