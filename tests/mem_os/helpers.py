"""Shared builders for the MOS tests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from memos.configs.mem_cube import GeneralMemCubeConfig
from memos.mem_cube.general import GeneralMemCube
from memos.mem_scheduler.constants import SchedulerKeys


def general_cube_dir(root: Path, cube_id: str, memories: list[str]) -> Path:
    """A MemOS-layout cube directory holding a GeneralTextMemory with ``memories``."""
    config = GeneralMemCubeConfig.model_validate(
        {
            "user_id": "someone",
            "cube_id": cube_id,
            "text_mem": {"backend": "general_text", "config": {"cube_id": cube_id}},
        }
    )
    cube = GeneralMemCube(config)
    if memories:
        cube.text_mem.add(memories)
    target = root / cube_id
    cube.dump(target)
    return target


def tree_cube_config(cube_id: str) -> GeneralMemCubeConfig:
    """A cube with a TreeTextMemory on the embedded ArcadeDB."""
    return GeneralMemCubeConfig.model_validate(
        {
            "user_id": "someone",
            "cube_id": cube_id,
            "text_mem": {"backend": "tree_text", "config": {}},
        }
    )


def snapshot(directory: Path) -> dict[str, Any]:
    """Every file under ``directory`` with its size, mtime and sha256."""
    out: dict[str, Any] = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            out[str(path.relative_to(directory))] = (stat.st_size, stat.st_mtime_ns, digest)
    return out


def run_locally(client: redis.Redis, keys: SchedulerKeys) -> Callable[[Any], Any]:
    """Apply an event with its registered handler in process, committing ctx.tx afterwards."""
    from memos.workers import memory_handlers
    from memos.workers.handlers import HandlerContext, get_handler

    # Other suites register their own test handlers in this process; the session fixture in
    # tests/conftest.py puts the registry back after each test.
    memory_handlers.register(replace=True)

    def run(event: Any) -> Any:
        spec = get_handler(event.type)
        with client.pipeline(transaction=True) as tx:
            ctx = HandlerContext(redis=client, tx=tx, keys=keys, attempt=event.attempt)
            result = spec.fn(event, ctx)
            tx.execute()
        return result

    return run


@contextmanager
def local_mos(client: redis.Redis, keys: SchedulerKeys, **config: Any) -> Iterator[Any]:
    """A MOS (user ``alice``, no embedded stack) whose events run in this process on the
    worker's real handlers (:func:`run_locally`); ``config`` adds to or overrides its MOSConfig
    (e.g. ``reorganize``). The transport is closed on exit."""
    from memos.configs.mem_os import MOSConfig
    from memos.mem_os.main import MOS
    from memos.mem_scheduler.transport import InMemoryEventTransport

    transport = InMemoryEventTransport(run_locally(client, keys))
    settings = {"user_id": "alice", "embedded": None, "scheduler": {"prefix": keys.prefix}}
    facade = MOS(MOSConfig.model_validate({**settings, **config}), transport=transport,
                 redis_client=client)  # fmt: skip
    try:
        yield facade
    finally:
        transport.close()
