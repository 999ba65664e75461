"""Dump and load activation memories: safetensors tensors plus one JSON manifest, no pickle.

Layout of a KV dump directory::

    activation_memory.json      manifest: format, version, model and tokenizer identity, items
    kv_<item id>.safetensors    per item: ``layer.<i>.keys`` / ``layer.<i>.values`` tensors

The manifest is written last (atomically), so a crash mid-dump leaves the previous manifest
in charge. Loading validates everything (identity, file hashes, tensor shapes, token hashes)
before returning, so a caller either gets every item or an error and nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memos.errors import DumpFormatError, KVCacheCompatibilityError
from memos.memories.activation.item import KVCacheItem, KVCacheMetadata, token_ids_sha256

KV_FORMAT = "memos.kv_cache"
VLLM_FORMAT = "memos.vllm_prefix"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelIdentity:
    """What a KV cache depends on: the model (weights, layout) and the tokenizer."""

    model_id: str
    model_fingerprint: str
    tokenizer_fingerprint: str

    def check(self, other: ModelIdentity, *, what: str) -> None:
        """Raise :class:`KVCacheCompatibilityError` naming both models when they differ."""
        differs = []
        if self.model_fingerprint != other.model_fingerprint:
            differs.append("model weights/architecture")
        if self.tokenizer_fingerprint != other.tokenizer_fingerprint:
            differs.append("tokenizer")
        if differs:
            raise KVCacheCompatibilityError(
                f"{what} was built by model {other.model_id!r} "
                f"(fingerprint {other.model_fingerprint[:12]}, tokenizer "
                f"{other.tokenizer_fingerprint[:12]}) but this memory uses model "
                f"{self.model_id!r} (fingerprint {self.model_fingerprint[:12]}, tokenizer "
                f"{self.tokenizer_fingerprint[:12]}); differing: {', '.join(differs)}. "
                "Rebuild the caches with this model (extract again)"
            )


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to a temporary file beside ``path`` and rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, indent=1)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_manifest(directory: Path, filename: str, expected_format: str) -> dict[str, Any]:
    """Read and check the manifest's format and version; raise :class:`DumpFormatError`."""
    if not directory.is_dir():
        raise DumpFormatError(f"activation memory dump directory {directory} does not exist")
    manifest_path = directory / filename
    if not manifest_path.is_file():
        raise DumpFormatError(f"{manifest_path} is missing: {directory} holds no activation dump")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DumpFormatError(f"{manifest_path} is not readable JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != expected_format:
        raise DumpFormatError(f"{manifest_path} is not a {expected_format} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DumpFormatError(
            f"{manifest_path} has format version {manifest.get('format_version')!r}; "
            f"this version reads {FORMAT_VERSION}"
        )
    if not isinstance(manifest.get("items"), list):
        raise DumpFormatError(f"{manifest_path} has no item list")
    return manifest


def _item_file(item_id: str) -> str:
    safe = "".join(ch for ch in item_id if ch.isalnum() or ch in "-_")
    return f"kv_{safe}.safetensors"


def dump_kv_items(
    directory: Path, filename: str, identity: ModelIdentity, items: Sequence[KVCacheItem]
) -> None:
    """Write ``items`` under ``directory`` (tensors first, manifest last; stale files removed)."""
    from safetensors.torch import save_file

    from memos.llms.kv import layer_tensors

    directory.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []
    for item in items:
        name = _item_file(item.id)
        tensors: dict[str, Any] = {}
        for index, (keys, values) in enumerate(layer_tensors(item.memory)):
            tensors[f"layer.{index}.keys"] = keys.detach().to("cpu").contiguous()
            tensors[f"layer.{index}.values"] = values.detach().to("cpu").contiguous()
        save_file(tensors, str(directory / name), metadata={"format": KV_FORMAT, "id": item.id})
        entries.append(
            {
                "id": item.id,
                "file": name,
                "file_sha256": file_sha256(directory / name),
                "num_layers": len(tensors) // 2,
                "token_ids": list(item.token_ids),
                "records": list(item.records),
                "metadata": item.metadata.model_dump(mode="json"),
            }
        )
    previous = _previous_files(directory, filename)
    write_json_atomic(
        directory / filename,
        {
            "format": KV_FORMAT,
            "format_version": FORMAT_VERSION,
            "model_id": identity.model_id,
            "model_fingerprint": identity.model_fingerprint,
            "tokenizer_fingerprint": identity.tokenizer_fingerprint,
            "items": entries,
        },
    )
    for stale in previous - {entry["file"] for entry in entries}:
        (directory / stale).unlink(missing_ok=True)


def _previous_files(directory: Path, filename: str) -> set[str]:
    try:
        manifest = read_manifest(directory, filename, KV_FORMAT)
    except DumpFormatError:
        return set()
    return {
        str(entry["file"])
        for entry in manifest["items"]
        if isinstance(entry, dict) and isinstance(entry.get("file"), str)
    }


def load_kv_items(
    directory: Path, filename: str, identity: ModelIdentity, device: str
) -> list[KVCacheItem]:
    """Read and fully validate a KV dump made with a compatible model; all or nothing."""
    manifest = read_manifest(directory, filename, KV_FORMAT)
    try:
        stored = ModelIdentity(
            model_id=str(manifest["model_id"]),
            model_fingerprint=str(manifest["model_fingerprint"]),
            tokenizer_fingerprint=str(manifest["tokenizer_fingerprint"]),
        )
    except KeyError as exc:
        raise DumpFormatError(f"{directory / filename} lacks {exc.args[0]!r}") from exc
    identity.check(stored, what=f"the KV dump in {directory}")
    items = [_load_entry(directory, entry, identity, device) for entry in manifest["items"]]
    if len({item.id for item in items}) != len(items):
        raise DumpFormatError(f"{directory / filename} lists an item id twice")
    return items


def _load_entry(directory: Path, entry: Any, identity: ModelIdentity, device: str) -> KVCacheItem:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from memos.llms.kv import cache_from_tensors

    if not isinstance(entry, dict):
        raise DumpFormatError(f"a manifest entry in {directory} is not an object")
    try:
        item_id = str(entry["id"])
        path = directory / str(entry["file"])
        token_ids = [int(t) for t in entry["token_ids"]]
        num_layers = int(entry["num_layers"])
        metadata = KVCacheMetadata.model_validate(entry["metadata"])
        records = [str(r) for r in entry.get("records", [])]
        expected_sha = str(entry["file_sha256"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DumpFormatError(f"a manifest entry in {directory} is malformed: {exc}") from exc
    if path.parent != directory or not path.is_file():
        raise DumpFormatError(f"KV file {path} of item {item_id} is missing")
    if file_sha256(path) != expected_sha:
        raise DumpFormatError(f"KV file {path} of item {item_id} is corrupt (sha256 mismatch)")
    if metadata.prefix_sha256 != token_ids_sha256(token_ids):
        raise DumpFormatError(
            f"item {item_id} in {directory}: token ids do not match their recorded sha256"
        )
    identity.check(
        ModelIdentity(
            metadata.model_id, metadata.model_fingerprint, metadata.tokenizer_fingerprint
        ),
        what=f"KV item {item_id} in {directory}",
    )
    try:
        tensors = load_file(str(path), device=device)
    except (SafetensorError, OSError, ValueError) as exc:
        raise DumpFormatError(f"KV file {path} cannot be read: {exc}") from exc
    pairs = []
    for index in range(num_layers):
        keys = tensors.get(f"layer.{index}.keys")
        values = tensors.get(f"layer.{index}.values")
        if keys is None or values is None or keys.dim() != 4 or keys.shape != values.shape:
            raise DumpFormatError(f"KV file {path} lacks well-formed tensors for layer {index}")
        if keys.shape[-2] != len(token_ids):
            raise DumpFormatError(
                f"KV file {path} layer {index} holds {keys.shape[-2]} positions for "
                f"{len(token_ids)} token ids"
            )
        pairs.append((keys, values))
    if len(tensors) != 2 * num_layers:
        raise DumpFormatError(f"KV file {path} holds unexpected tensors")
    return KVCacheItem(
        id=item_id,
        memory=cache_from_tensors(pairs),
        metadata=metadata,
        token_ids=token_ids,
        records=records,
    )
