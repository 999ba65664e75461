"""Base class for every config model, and the generic backend factory.

Configs reject unknown keys (a misspelt YAML key fails at start-up) and every validation error is
turned into a :class:`~memos.errors.ConfigError` naming the file and the dotted key path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self

import yaml
from pydantic import BaseModel, ConfigDict, SerializeAsAny, ValidationError, model_validator
from pydantic_core import InitErrorDetails

from memos.errors import ConfigError


def format_validation_error(exc: ValidationError, *, source: str | None = None) -> str:
    """Render a pydantic error as one line per problem, each naming the key path."""
    where = f"config file {source}" if source else f"{exc.title} config"
    lines = [f"invalid {where}:"]
    for err in exc.errors():
        path = ".".join(str(part) for part in err["loc"]) or "<root>"
        lines.append(f"  - {path}: {err['msg']}")
    return "\n".join(lines)


class BaseConfig(BaseModel):
    """Common behaviour: strict keys, assignment validation, JSON/YAML files.

    Models are not frozen because MemOS code assigns to config fields (``config.user_id = ...``);
    ``validate_assignment`` keeps those assignments type-checked instead.
    """

    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        protected_namespaces=(),
        arbitrary_types_allowed=False,
    )

    @classmethod
    def validate_data(cls, data: Any, *, source: str | None = None) -> Self:
        """Validate ``data``, raising :class:`ConfigError` that names ``source`` and key paths."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, source=source)) from exc

    @classmethod
    def from_json_file(cls, path: str | Path) -> Self:
        """Load and validate a JSON config file."""
        return cls.validate_data(_read_file(path, json.loads, "JSON"), source=str(path))

    @classmethod
    def from_yaml_file(cls, path: str | Path) -> Self:
        """Load and validate a YAML config file."""
        return cls.validate_data(_read_file(path, yaml.safe_load, "YAML"), source=str(path))

    def to_json_file(self, path: str | Path) -> None:
        """Write the config as indented JSON, creating parent directories."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.model_dump_json(indent=2), encoding="utf-8")

    def to_yaml_file(self, path: str | Path) -> None:
        """Write the config as YAML, creating parent directories."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False), encoding="utf-8"
        )

    def get(self, key: str, default: Any = None) -> Any:
        """Dict-style access kept from MemOS configs."""
        return getattr(self, key, default)


def _read_file(path: str | Path, parse: Any, kind: str) -> Any:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {file} does not exist or is not a file")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {file} cannot be read: {exc}") from exc
    try:
        data = parse(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {file} is not valid {kind}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {file} must hold a mapping at the top level")
    return data


def _prefixed(exc: ValidationError, prefix: tuple[str | int, ...]) -> ValidationError:
    """Re-raise a nested model's errors with their location under ``prefix``."""
    details: list[InitErrorDetails] = []
    for err in exc.errors():
        detail: InitErrorDetails = {
            "type": err["type"],  # type: ignore[typeddict-item]
            "loc": (*prefix, *err["loc"]),
            "input": err["input"],
        }
        if "ctx" in err:
            detail["ctx"] = err["ctx"]
        details.append(detail)
    return ValidationError.from_exception_data(exc.title, details)


class BaseConfigFactory(BaseConfig):
    """``{"backend": name, "config": {...}}``: picks the config class for ``backend``.

    Subclasses set ``backend_to_class``; an unknown backend names the known ones.
    """

    backend_to_class: ClassVar[dict[str, type[BaseConfig]]] = {}

    backend: str
    # SerializeAsAny: dump the backend's own fields, not the (empty) declared base class.
    config: SerializeAsAny[BaseConfig]

    @model_validator(mode="before")
    @classmethod
    def _build_backend_config(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "backend" not in data:
            return data
        backend = data["backend"]
        if not isinstance(backend, str) or backend not in cls.backend_to_class:
            known = ", ".join(sorted(cls.backend_to_class))
            raise ValueError(f"unknown backend {backend!r}; known backends: {known}")
        raw = data.get("config", {})
        target = cls.backend_to_class[backend]
        if isinstance(raw, target):
            return data
        if isinstance(raw, BaseModel):
            raw = raw.model_dump()
        try:
            built = target.model_validate(raw if raw is not None else {})
        except ValidationError as exc:
            raise _prefixed(exc, ("config",)) from None
        return {**data, "config": built}
