"""Fine mode against a real OpenAI chat-completions server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from memos.configs.mem_reader import SimpleStructMemReaderConfig
from memos.errors import ExtractionError
from memos.mem_reader.prompts import (
    ChatExtractionContext,
    ExtractionResponse,
    chat_extraction_messages,
)
from memos.mem_reader.simple_struct import SimpleStructMemReader
from memos.memories.textual.item import TreeNodeTextualMemoryMetadata

VALID = {
    "memory list": [
        {
            "key": "Caroline's support group",
            "memory_type": "LongTermMemory",
            "value": "Caroline went to an LGBTQ support group on 7 May 2023.",
            "tags": ["LGBTQ", "support group"],
        },
        {
            "key": "User likes tea",
            "memory_type": "UserMemory",
            "value": "The user likes green tea.",
            "tags": ["tea"],
        },
    ],
    "summary": "Caroline talks about her support group.",
}


class ChatServer:
    """An OpenAI-compatible /v1/chat/completions endpoint replying from a script."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "body": body})
                index = min(len(server.requests) - 1, len(server.replies) - 1)
                payload = json.dumps(
                    {
                        "id": f"chatcmpl-{len(server.requests)}",
                        "object": "chat.completion",
                        "model": body.get("model", "test"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": server.replies[index]},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ChatServer] = []

    def start(replies: list[str]) -> ChatServer:
        server = ChatServer(replies).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()


def fine_reader(url: str, max_retries: int = 2) -> SimpleStructMemReader:
    config = SimpleStructMemReaderConfig.model_validate(
        {
            "llm": {
                "backend": "openai",
                "config": {"model_name_or_path": "test-model", "api_base": url, "api_key": "k"},
            },
            "max_retries": max_retries,
            "window_size": 2,
        }
    )
    return SimpleStructMemReader(config)


CONVERSATION = [
    {"role": "Caroline", "content": "I went to a LGBTQ support group yesterday.",
     "chat_time": "1:56 pm on 8 May, 2023", "message_id": "D1:3"},
    {"role": "user", "content": "I like green tea.", "chat_time": "2023-05-08T14:00:00",
     "message_id": "D1:4"},
    {"role": "assistant", "content": "Noted!", "message_id": "D1:5"},
]  # fmt: skip


def meta(item: Any) -> TreeNodeTextualMemoryMetadata:
    assert isinstance(item.metadata, TreeNodeTextualMemoryMetadata)
    return item.metadata


def test_fine_valid_json(serve: Any) -> None:
    server = serve([json.dumps(VALID)])
    scenes = fine_reader(server.url).get_memory(
        [CONVERSATION], type="chat", info={"user_id": "u", "session_id": "s"}, mode="fine"
    )
    # window_size 2 over 3 messages: two windows, two inner lists
    assert len(scenes) == 2 and len(server.requests) == 2
    first = scenes[0]
    assert [i.memory for i in first] == [m["value"] for m in VALID["memory list"]]
    assert [meta(i).memory_type for i in first] == ["LongTermMemory", "UserMemory"]
    assert meta(first[0]).background == VALID["summary"]
    assert meta(first[0]).tags == ["lgbtq", "support group"]
    assert [s.message_id for s in meta(first[0]).sources] == ["D1:3", "D1:4"]
    assert meta(first[0]).user_id == "u"
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    prompt = request["body"]["messages"][-1]["content"]
    assert "[8 May 2023] Caroline: I went to a LGBTQ support group yesterday." in prompt


def test_fine_malformed_then_valid_retries(serve: Any) -> None:
    fenced = "```json\n" + json.dumps(VALID) + "\n```"
    server = serve(["Sure! Here are the memories: {not json", '{"summary": "no list"}', fenced])
    scenes = fine_reader(server.url, max_retries=2).get_memory(
        [CONVERSATION[:2]], info={"user_id": "u", "session_id": "s"}, mode="fine"
    )
    assert len(server.requests) == 3
    assert len(scenes[0]) == 2
    # the retry shows the model its bad reply and what was wrong
    retry_messages = server.requests[1]["body"]["messages"]
    assert retry_messages[-2] == {
        "role": "assistant",
        "content": "Sure! Here are the memories: {not json",
    }
    assert "no JSON object" in retry_messages[-1]["content"]
    assert "memory list: Field required" in server.requests[2]["body"]["messages"][-1]["content"]


def test_fine_always_malformed_raises_naming_window(serve: Any) -> None:
    server = serve(["definitely not json"])
    with pytest.raises(ExtractionError, match=r"conversation 0 messages 0-1.*3 times"):
        fine_reader(server.url, max_retries=2).get_memory(
            [CONVERSATION], info={"user_id": "u", "session_id": "s"}, mode="fine"
        )
    assert len(server.requests) == 3


def test_fine_unreachable_server_is_extraction_error() -> None:
    reader = fine_reader("http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(ExtractionError, match="LLM call failed"):
        reader.get_memory([CONVERSATION[:1]], mode="fine")


def test_fine_docs(serve: Any, tmp_path: Path) -> None:
    server = serve([json.dumps(VALID)])
    doc = tmp_path / "notes.md"
    doc.write_text("# Notes\n\nCaroline joined a support group.", encoding="utf-8")
    scenes = fine_reader(server.url).get_memory([str(doc)], type="doc", mode="fine")
    assert len(scenes) == 1 and len(scenes[0]) == 2
    source = meta(scenes[0][0]).sources[0]
    assert source.type == "doc" and source.doc_path == str(doc)
    assert "Caroline joined" in (source.content or "")


def test_prompt_returns_fresh_lists_and_model_parses_alias() -> None:
    context = ChatExtractionContext(transcript=["user: hi"])
    a, b = chat_extraction_messages(context), chat_extraction_messages(context)
    a.append({"role": "user", "content": "extra"})
    assert len(b) == 2
    parsed = ExtractionResponse.model_validate(VALID)
    assert parsed.memory_list[1].memory_type == "UserMemory"
