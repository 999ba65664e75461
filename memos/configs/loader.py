"""The one place that reads deployment YAML and environment overrides.

Nothing here runs at import time: callers pass the environment they want applied (usually
``os.environ``) so tests and tools stay in control.

Overrides use ``MEMOS__`` plus the key path in upper case joined by ``__``: for example
``MEMOS__GRAPH_DB__CONFIG__URI=bolt://neo4j:7687`` sets ``graph_db.config.uri``. Values are parsed
as YAML scalars, so ``5``, ``true`` and ``[a, b]`` become an int, a bool and a list.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from memos.configs.base import BaseConfig, _read_file
from memos.errors import ConfigError

ENV_PREFIX = "MEMOS__"
HOME_ENV = "MEMOS_HOME"
DEFAULT_HOME = Path.home() / ".memos"

ConfigT = TypeVar("ConfigT", bound=BaseConfig)


def memos_home(env: Mapping[str, str] | None = None) -> Path:
    """The data home: ``$MEMOS_HOME`` if set, else ``~/.memos``."""
    source = os.environ if env is None else env
    value = source.get(HOME_ENV)
    return Path(value).expanduser() if value else DEFAULT_HOME


def apply_env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Return a copy of ``data`` with every ``MEMOS__A__B=value`` override applied."""
    result: dict[str, Any] = _deep_copy(data)
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if not path:
            continue
        try:
            value = yaml.safe_load(env[name])
        except yaml.YAMLError as exc:
            raise ConfigError(f"environment override {name} is not a valid value: {exc}") from exc
        node = result
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[path[-1]] = value
    return result


def load_config(
    path: str | Path, model: type[ConfigT], env: Mapping[str, str] | None = None
) -> ConfigT:
    """Read a YAML or JSON file, apply environment overrides from ``env``, validate as ``model``."""
    file = Path(path)
    if file.suffix.lower() == ".json":
        import json

        data = _read_file(file, json.loads, "JSON")
    else:
        data = _read_file(file, yaml.safe_load, "YAML")
    if env is not None:
        data = apply_env_overrides(data, env)
    return model.validate_data(data, source=str(file))


def _deep_copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in data.items()}
