"""What the demo's sections share (:mod:`memos.demo` runs them; most are in ``demo_stack``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console


@dataclass
class DemoContext:
    """State shared by the sections: the console, a scratch directory, built objects."""

    console: Console
    workdir: Path
    objects: dict[str, object] = field(default_factory=dict)


#: One part of the tour: prints what it did; raises ``MemOSError`` / ``RuntimeError`` on failure.
Section = Callable[[DemoContext], None]
