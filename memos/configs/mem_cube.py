"""MemCube configs: ``GeneralMemCubeConfig`` names a cube's textual, activation, parametric memory.

The shape is MemOS's ``config.json`` of a cube directory (``model_schema``, ``user_id``,
``cube_id``, ``config_filename``, ``text_mem``, ``act_mem``, ``para_mem``). A memory that a cube
does not have is ``{"backend": "uninitialized"}`` (or left out).
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field

from memos.configs.base import BaseConfig
from memos.configs.memory import MemoryConfigFactory

#: What ``model_schema`` holds in a cube's config.json (MemOS writes the dotted class path).
MODEL_SCHEMA = "memos.configs.mem_cube.GeneralMemCubeConfig"
UNINITIALIZED = "uninitialized"
CUBE_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
_CUBE_ID_RE = re.compile(CUBE_ID_PATTERN)


def is_valid_cube_id(value: object) -> bool:
    """True when ``value`` can name a cube (letters, digits, ``_ . : -``; 1-128 characters)."""
    return isinstance(value, str) and _CUBE_ID_RE.fullmatch(value) is not None


class UninitializedMemoryConfig(BaseConfig):
    """The config of a memory slot a cube leaves empty (MemOS's ``uninitialized`` backend)."""


class CubeMemoryConfigFactory(MemoryConfigFactory):
    """``MemoryConfigFactory`` plus the ``uninitialized`` backend for an unset memory slot."""

    backend_to_class: ClassVar[dict[str, type[BaseConfig]]] = {
        **MemoryConfigFactory.backend_to_class,
        UNINITIALIZED: UninitializedMemoryConfig,
    }

    @property
    def is_set(self) -> bool:
        """False for the ``uninitialized`` placeholder."""
        return self.backend != UNINITIALIZED


def _unset() -> CubeMemoryConfigFactory:
    return CubeMemoryConfigFactory(backend=UNINITIALIZED, config=UninitializedMemoryConfig())


class BaseMemCubeConfig(BaseConfig):
    """Fields every cube config has."""

    model_schema: str = Field(default=MODEL_SCHEMA, description="kept for MemOS's config.json")
    config_filename: str = Field(default="config.json", min_length=1)


class GeneralMemCubeConfig(BaseMemCubeConfig):
    """A general cube: one textual, one activation and one parametric memory slot.

    ``cube_id`` is free text here (MemOS's directories use ``owner/name``); it is checked against
    :data:`CUBE_ID_PATTERN` when the cube is registered with MOS.
    """

    user_id: str = Field(default="default_user", min_length=1)
    cube_id: str = Field(default="default_cube", min_length=1)
    text_mem: CubeMemoryConfigFactory = Field(default_factory=_unset)
    act_mem: CubeMemoryConfigFactory = Field(default_factory=_unset)
    para_mem: CubeMemoryConfigFactory = Field(default_factory=_unset)
