"""Helpers kept from MemOS's ``memos.mem_scheduler.utils``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from memos.errors import ConfigError


def parse_yaml(yaml_file: str | Path) -> dict[str, Any]:
    """Read a YAML file into a dict (MemOS's helper), with errors that name the file.

    Raises:
        ConfigError: the file is missing, is not valid YAML, or does not hold a mapping.
    """
    path = Path(yaml_file)
    if not path.is_file():
        raise ConfigError(f"YAML file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"YAML file {path} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"YAML file {path} must hold a mapping at the top level")
    return data
