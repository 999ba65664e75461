"""The MCP tools: add_memory, add_conversation, search_memories, get_memory, delete_memory, chat.

Each tool resolves the caller's tenant (:mod:`memos.mcp.tenancy`) and calls the process's one
MOS in a worker thread, exactly as the REST API does. Failures come back as MCP tool errors
whose text starts with the REST API's stable code (``access_denied: ...``).
"""

from __future__ import annotations

import logging
from typing import Any

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from memos.api.auth import Principal, Scope
from memos.api.errors import classify
from memos.errors import InvalidMemoryInputError, MemOSError
from memos.mcp.tenancy import TenantResolver
from memos.mem_os.main import MOS
from memos.messages import parse_messages

logger = logging.getLogger(__name__)

SERVER_NAME = "memos"
INSTRUCTIONS = (
    "Long-term memory for this user. Call add_memory with facts or conversation turns worth "
    "keeping, search_memories before answering questions about the user, and chat for an "
    "answer grounded in the user's memories."
)


def _headers(ctx: Context) -> dict[str, str] | None:
    try:
        headers = ctx.headers
    except ValueError:  # outside a request: no transport headers
        return None
    return dict(headers) if headers is not None else None


def _message(raw: Any) -> dict[str, Any]:
    """One turn checked against the shared message shape (:class:`memos.messages.ChatMessage`)."""
    try:
        (message,) = parse_messages([raw], where="message")
    except InvalidMemoryInputError as exc:
        raise ToolError(f"invalid_input: {exc}") from None
    return message.model_dump(exclude_none=True)


def build_server(mos: MOS, resolver: TenantResolver) -> MCPServer:
    """An MCP server whose tools act on ``mos`` as the tenant ``resolver`` names."""
    server: MCPServer = MCPServer(SERVER_NAME, instructions=INSTRUCTIONS, log_level="WARNING")

    async def run(ctx: Context, scope: Scope, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            principal: Principal = await anyio.to_thread.run_sync(
                resolver.resolve, _headers(ctx), scope
            )
            return await anyio.to_thread.run_sync(
                lambda: fn(*args, user_id=principal.user_id, **kwargs)
            )
        except MemOSError as exc:
            _, code = classify(exc)
            raise ToolError(f"{code}: {exc}") from exc

    @server.tool()
    async def add_memory(
        content: str,
        ctx: Context,
        cube_id: str | None = None,
        role: str = "user",
        message_id: str | None = None,
        chat_time: str | None = None,
    ) -> dict[str, list[str]]:
        """Store something worth remembering (one message of ``role``) in the user's memory.

        The text is extracted into memories by a worker; ``cube_id`` picks a cube (default:
        the user's first). ``message_id`` and ``chat_time`` (ISO-8601) are your own id and time
        of the message: the stored memories cite them in their sources. Returns the ids of the
        stored memories.
        """
        if not content.strip():
            raise ToolError(f"invalid_input: {InvalidMemoryInputError('content is empty')}")
        if role not in ("user", "assistant"):
            raise ToolError("invalid_input: role must be 'user' or 'assistant'")
        message = _message(
            {"role": role, "content": content, "message_id": message_id, "chat_time": chat_time}
        )
        ids = await run(ctx, "write", mos.add, messages=[message], mem_cube_id=cube_id)
        return {"added_ids": list(ids)}

    @server.tool()
    async def add_conversation(
        messages: list[dict[str, Any]],
        ctx: Context,
        cube_id: str | None = None,
    ) -> dict[str, Any]:
        """Store a conversation: turns of ``{role, content, chat_time?, message_id?, name?}``.

        Empty turns are skipped (``skipped_messages`` counts them); a conversation with only
        empty turns is refused. The stored memories cite each turn's ``message_id`` and
        ``chat_time`` in their sources. Returns the ids of the stored memories.
        """
        turns = [_message(m) for m in messages]
        skipped = sum(1 for m in turns if not str(m["content"]).strip())
        ids = await run(ctx, "write", mos.add, messages=turns, mem_cube_id=cube_id)
        return {"added_ids": list(ids), "skipped_messages": skipped}

    @server.tool()
    async def search_memories(
        query: str,
        ctx: Context,
        top_k: int = 5,
        cube_ids: list[str] | None = None,
    ) -> dict[str, list[dict[str, Any]]]:
        """Find the user's memories relevant to ``query`` (best first, per cube)."""
        if not 1 <= top_k <= 100:
            raise ToolError("invalid_input: top_k must be between 1 and 100")
        result = await run(ctx, "read", mos.search, query, install_cube_ids=cube_ids, top_k=top_k)
        found: list[dict[str, Any]] = []
        for part in result["text_mem"]:
            for memory in part["memories"]:
                found.append(
                    {"cube_id": part["cube_id"], "id": memory["id"], "memory": memory["memory"]}
                )
        return {"memories": found}

    @server.tool()
    async def get_memory(cube_id: str, memory_id: str, ctx: Context) -> dict[str, Any]:
        """One memory (text and metadata) by its id."""
        return dict(await run(ctx, "read", mos.get, cube_id, memory_id))

    @server.tool()
    async def delete_memory(cube_id: str, memory_id: str, ctx: Context) -> dict[str, str]:
        """Delete one memory by its id."""
        await run(ctx, "write", mos.delete, cube_id, memory_id)
        return {"deleted": memory_id}

    @server.tool()
    async def chat(query: str, ctx: Context) -> str:
        """Answer ``query`` with the chat model, from the user's memories and recent history."""
        return str(await run(ctx, "read", mos.chat, query))

    return server
