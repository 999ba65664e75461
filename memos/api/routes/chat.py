"""Chat: a full answer, or the same answer as server-sent events (see :mod:`memos.api.sse`)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from memos.api.deps import ERROR_RESPONSES, ContextDep, Reader
from memos.api.schemas import ChatRequest, ChatResponse
from memos.api.sse import MEDIA_TYPE, chat_events

router = APIRouter(prefix="/v1", tags=["chat"], responses=ERROR_RESPONSES)


@router.post("/chat", response_model=ChatResponse)
def chat(body: ChatRequest, context: ContextDep, principal: Reader) -> ChatResponse:
    """Answer from the tenant's memories and chat history (generated on a worker)."""
    return ChatResponse(answer=context.mos.chat(body.query, user_id=principal.user_id))


@router.post(
    "/chat/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
            "description": "events start, chunk*, done (or error); see docs/api.md",
        }
    },
)
async def chat_stream(
    body: ChatRequest, context: ContextDep, principal: Reader
) -> StreamingResponse:
    """The answer as server-sent events: ``start``, ``chunk`` x N, ``done`` (or ``error``).

    The worker returns the complete answer; it is then split into chunks (``start`` says so),
    not streamed token by token.
    """

    async def produce() -> str:
        return await run_in_threadpool(context.mos.chat, body.query, user_id=principal.user_id)

    return StreamingResponse(
        chat_events(produce, context.settings.chat_chunk_chars),
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
