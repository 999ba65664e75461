"""The MOS facade (MemOS's Python API) and the user/cube registry."""

from __future__ import annotations

__all__ = ["MOS"]


def __getattr__(name: str) -> object:
    # Lazy: `import memos.mem_os.registry` (done by workers) must not import the facade.
    if name == "MOS":
        from memos.mem_os.main import MOS

        return MOS
    raise AttributeError(name)
