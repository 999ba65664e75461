"""The MCP server answers the SDK's own client over stdio (``python -m memos mcp``)."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from memos.api.settings import ApiRuntime, build_runtime
from memos.configs.mem_cube import GeneralMemCubeConfig
from memos.configs.mem_os import MOSConfig
from tests.examples.conftest import stop_services

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def setup(
    embedded_stack: object, memos_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, str, str, ApiRuntime]]:
    """A MOS config file, alice's cube and bob's cube; daemon + worker stopped at the end."""
    prefix = f"mcp{uuid.uuid4().hex[:8]}"
    data = {
        "user_id": "root",
        "embedded": {"home": str(memos_home)},
        "scheduler": {"prefix": prefix, "block_ms": 200},
        "event_timeout_s": 240,
    }
    root = tmp_path_factory.mktemp("mcp")
    config_file = root / "mos.json"
    config_file.write_text(json.dumps(data), encoding="utf-8")
    runtime: ApiRuntime = build_runtime(MOSConfig.model_validate(data))
    try:
        cubes = []
        for user in ("alice", "bob"):
            runtime.mos.create_user(user)
            cube_id = f"{user}_{uuid.uuid4().hex[:6]}"
            GeneralMemCubeConfig.model_validate(
                {"user_id": user, "cube_id": cube_id, "text_mem": {"backend": "tree_text"}}
            ).to_json_file(root / cube_id / "config.json")
            runtime.mos.register_mem_cube(str(root / cube_id), mem_cube_id=cube_id, user_id=user)
            cubes.append(cube_id)
        yield config_file, cubes[0], cubes[1], runtime
    finally:
        runtime.close()
        stop_services(memos_home, prefix)


def _payload(result: Any) -> Any:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


async def test_stdio_tools_for_one_tenant(
    setup: tuple[Path, str, str, ApiRuntime], memos_home: Path
) -> None:
    config_file, alice_cube, bob_cube, _ = setup
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "memos", "mcp", "--config", str(config_file), "--transport", "stdio"],
        env={
            "MEMOS_MCP_USER": "alice",
            "MEMOS_HOME": str(memos_home),
            "PYTHONPATH": str(REPO),
            "OMP_NUM_THREADS": "1",
            "PATH": os.environ.get("PATH", ""),
        },
        cwd=str(REPO),
    )
    # The server's stderr goes to a file beside its config, for post-mortems.
    with (config_file.parent / "mcp-stderr.log").open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = {tool.name for tool in (await session.list_tools()).tools}
            assert {
                "add_memory",
                "add_conversation",
                "search_memories",
                "get_memory",
                "delete_memory",
                "chat",
            } <= tools

            added = _payload(
                await session.call_tool(
                    "add_memory",
                    {"content": "My sister Lena lives in Porto.", "cube_id": alice_cube},
                )
            )
            assert added["added_ids"]
            found = _payload(
                await session.call_tool(
                    "search_memories", {"query": "Where does Lena live?", "top_k": 3}
                )
            )["memories"]
            hit = next(m for m in found if "Porto" in m["memory"])
            assert hit["cube_id"] == alice_cube

            got = _payload(
                await session.call_tool(
                    "get_memory", {"cube_id": alice_cube, "memory_id": hit["id"]}
                )
            )
            assert got["id"] == hit["id"]

            # the tenant is alice for every call: bob's cube is refused
            refused = await session.call_tool(
                "search_memories", {"query": "x", "cube_ids": [bob_cube]}
            )
            assert refused.is_error
            assert "access_denied" in refused.content[0].text

            deleted = _payload(
                await session.call_tool(
                    "delete_memory", {"cube_id": alice_cube, "memory_id": hit["id"]}
                )
            )
            assert deleted == {"deleted": hit["id"]}
            gone = await session.call_tool(
                "get_memory", {"cube_id": alice_cube, "memory_id": hit["id"]}
            )
            assert gone.is_error and "not_found" in gone.content[0].text

            # The shared message shape: the caller's id and time are cited in the sources.
            when = "2023-05-08T13:56:00"
            cited = _payload(
                await session.call_tool(
                    "add_memory",
                    {
                        "content": "My uncle Bo repairs clocks in Ghent.",
                        "cube_id": alice_cube,
                        "message_id": "mcp-1",
                        "chat_time": when,
                    },
                )
            )["added_ids"]
            got = _payload(
                await session.call_tool(
                    "get_memory", {"cube_id": alice_cube, "memory_id": cited[0]}
                )
            )
            sources = {
                (s.get("message_id"), s.get("chat_time")) for s in got["metadata"]["sources"]
            }
            assert ("mcp-1", when) in sources
            conversation = _payload(
                await session.call_tool(
                    "add_conversation",
                    {
                        "cube_id": alice_cube,
                        "messages": [
                            {"role": "user", "content": "", "message_id": "c0"},
                            {"role": "user", "content": "I swim at 6 am.", "message_id": "c1"},
                        ],
                    },
                )
            )
            assert conversation["added_ids"] and conversation["skipped_messages"] == 1
            empty = await session.call_tool(
                "add_conversation",
                {"cube_id": alice_cube, "messages": [{"role": "user", "content": "  "}]},
            )
            assert empty.is_error and "nothing to store" in empty.content[0].text


async def test_http_transport_takes_the_tenant_from_the_key(
    setup: tuple[Path, str, str, ApiRuntime],
) -> None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    from memos.api.auth import ApiKeyStore
    from memos.api.ratelimit import FixedWindowRateLimiter
    from memos.mcp.server import build_server
    from memos.mcp.tenancy import TenantResolver
    from tests.api.helpers import serve

    _, alice_cube, bob_cube, runtime = setup
    prefix = runtime.scheduler.prefix
    keys = ApiKeyStore(runtime.redis, prefix=prefix)
    resolver = TenantResolver(
        keys=keys, limiter=FixedWindowRateLimiter(runtime.redis, prefix=prefix)
    )
    bob_key = keys.create("bob", ("read",))[0]
    app = build_server(runtime.mos, resolver).streamable_http_app()

    async def call(headers: dict[str, str], name: str, args: dict[str, Any]) -> Any:
        async with (
            httpx2.AsyncClient(headers=headers, timeout=240) as http,
            streamable_http_client(f"{url}/mcp", http_client=http) as (read, write, *_),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await session.call_tool(name, args)

    with serve(app) as url:
        anonymous = await call({}, "search_memories", {"query": "x"})
        assert anonymous.is_error and "unauthenticated" in anonymous.content[0].text
        bob = {"X-API-Key": bob_key}
        refused = await call(bob, "search_memories", {"query": "x", "cube_ids": [alice_cube]})
        assert refused.is_error and "access_denied" in refused.content[0].text
        read_only = await call(bob, "add_memory", {"content": "hi", "cube_id": bob_cube})
        assert read_only.is_error and "insufficient_scope" in read_only.content[0].text
        own = await call(bob, "search_memories", {"query": "anything", "cube_ids": [bob_cube]})
        assert _payload(own) == {"memories": []}
