"""OpenAI-compatible, vLLM and Ollama backends against protocol doubles on 127.0.0.1.

The doubles are real HTTP servers (stdlib ``http.server``) speaking the wire formats: OpenAI
chat completions (JSON and Server-Sent Events), vLLM's ``/tokenize`` and ``/metrics``, and
Ollama's ``/api/chat`` (JSON and newline-delimited JSON). They are doubles of external servers
that cannot run here, not the servers themselves.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from llms.http_double import Reply, base_url, free_port, serve
from memos.configs.llm import LLMConfigFactory
from memos.errors import LLMError
from memos.llms.factory import LLMFactory
from memos.llms.ollama import OllamaLLM
from memos.llms.openai import OpenAILLM
from memos.llms.vllm import VLLMLLM, parse_prometheus

MESSAGES = [{"role": "user", "content": "Say hello"}]


def openai_route(method: str, path: str, body: Any) -> Reply:
    if path != "/v1/chat/completions":
        return Reply(404, {"error": {"message": f"no route {path}"}})
    if body["model"] != "known-model":
        return Reply(404, {"error": {"message": f"The model `{body['model']}` does not exist."}})
    if body.get("stream"):
        pieces = ["<think>hmm</think>", " Hel", "lo", " world"]
        events = [
            f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': p}}]})}\n\n"
            for p in pieces
        ]
        events.append("data: [DONE]\n\n")
        return Reply(content_type="text/event-stream", chunks=[e.encode() for e in events])
    return Reply(
        body={
            "id": "c1",
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "<think>x</think>Hello"}}
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
        }
    )


def _factory(backend: str, **config: Any) -> Any:
    return LLMFactory.from_config(LLMConfigFactory(backend=backend, config=config))


def test_openai_generate_sends_protocol_fields_and_strips_think() -> None:
    with serve(openai_route) as server:
        llm = _factory(
            "openai",
            model_name_or_path="known-model",
            api_base=base_url(server) + "/v1",
            api_key="sk-test",
            remove_think_prefix=True,
            max_tokens=7,
        )
        assert isinstance(llm, OpenAILLM)
        assert llm.generate(MESSAGES) == "Hello"
    request = server.requests[0]
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert request.body["messages"] == MESSAGES
    assert request.body["max_tokens"] == 7 and request.body["stream"] is False


def test_openai_stream_reads_sse_until_done() -> None:
    with serve(openai_route) as server:
        llm = _factory(
            "openai", model_name_or_path="known-model", api_base=base_url(server) + "/v1"
        )
        assert "".join(llm.generate_stream(MESSAGES)) == "<think>hmm</think> Hello world"
        llm.config.remove_think_prefix = True
        assert "".join(llm.generate_stream(MESSAGES)) == "Hello world"
    assert server.requests[0].body["stream"] is True


def test_openai_unknown_model_is_a_clear_error() -> None:
    with serve(openai_route) as server:
        llm = _factory("openai", model_name_or_path="nope", api_base=base_url(server) + "/v1")
        with pytest.raises(LLMError, match=r"has no model 'nope'"):
            llm.generate(MESSAGES)
        with pytest.raises(LLMError, match=r"has no model 'nope'"):
            list(llm.generate_stream(MESSAGES))


@pytest.mark.parametrize("backend", ["openai", "vllm", "ollama"])
def test_unreachable_server_names_the_address(backend: str) -> None:
    port = free_port()
    suffix = "" if backend == "ollama" else "/v1"
    llm = _factory(
        backend, model_name_or_path="m", api_base=f"http://127.0.0.1:{port}{suffix}", timeout_s=5
    )
    with pytest.raises(LLMError, match=rf"127\.0\.0\.1:{port}.*unreachable"):
        llm.generate(MESSAGES)


def test_vllm_adds_cache_salt_and_reads_tokenize_and_metrics() -> None:
    metrics_text = (
        "# HELP vllm:prefix_cache_hits_total hits\n"
        "# TYPE vllm:prefix_cache_hits_total counter\n"
        'vllm:prefix_cache_hits_total{engine="0",model_name="m"} 32.0\n'
        'vllm:prefix_cache_queries_total{engine="0",model_name="m"} 48.0\n'
    )

    def route(method: str, path: str, body: Any) -> Reply:
        if path == "/tokenize":
            return Reply(body={"tokens": [1, 2, 3], "count": 3, "max_model_len": 2048})
        if path == "/metrics":
            return Reply(body=metrics_text, content_type="text/plain; version=0.0.4")
        return openai_route(method, path, body)

    with serve(route) as server:
        llm = _factory(
            "vllm",
            model_name_or_path="known-model",
            api_base=base_url(server) + "/v1",
            cache_salt="tenant-a",
        )
        assert isinstance(llm, VLLMLLM)
        assert llm.generate(MESSAGES) == "<think>x</think>Hello"
        assert llm.tokenize_messages(MESSAGES, add_generation_prompt=False) == [1, 2, 3]
        totals = llm.metrics()
    assert totals["vllm:prefix_cache_hits_total"] == 32.0
    assert totals["vllm:prefix_cache_queries_total"] == 48.0
    assert server.requests[0].body["cache_salt"] == "tenant-a"
    assert server.requests[1].path == "/tokenize"
    assert server.requests[1].body["add_generation_prompt"] is False


def test_parse_prometheus_sums_label_sets_and_skips_comments() -> None:
    text = '# c\na_total{x="1"} 2\na_total{x="2"} 3.5\nb 1e3\nbad line\n'
    assert parse_prometheus(text) == {"a_total": 5.5, "b": 1000.0}


def ollama_route(method: str, path: str, body: Any) -> Reply:
    if path != "/api/chat":
        return Reply(404, "404 page not found", content_type="text/plain")
    if body["model"] != "llama3":
        return Reply(404, {"error": f"model '{body['model']}' not found"})
    if body.get("stream"):
        lines = [
            {"model": "llama3", "message": {"role": "assistant", "content": p}, "done": False}
            for p in ["Hi", " there"]
        ]
        lines.append(
            {"model": "llama3", "message": {"role": "assistant", "content": ""}, "done": True}
        )
        return Reply(
            content_type="application/x-ndjson",
            chunks=[(json.dumps(line) + "\n").encode() for line in lines],
        )
    return Reply(
        body={
            "model": "llama3",
            "message": {"role": "assistant", "content": "Hi there"},
            "done": True,
        }
    )


def test_ollama_generate_and_stream() -> None:
    with serve(ollama_route) as server:
        llm = _factory(
            "ollama", model_name_or_path="llama3", api_base=base_url(server), max_tokens=9
        )
        assert isinstance(llm, OllamaLLM)
        assert llm.generate(MESSAGES) == "Hi there"
        assert list(llm.generate_stream(MESSAGES)) == ["Hi", " there"]
    first = server.requests[0].body
    assert first["stream"] is False and first["options"]["num_predict"] == 9
    assert server.requests[1].body["stream"] is True


def test_ollama_missing_model_is_a_clear_error() -> None:
    with serve(ollama_route) as server:
        llm = _factory("ollama", model_name_or_path="ghost", api_base=base_url(server))
        with pytest.raises(LLMError, match=r"Ollama server .* has no model 'ghost'"):
            llm.generate(MESSAGES)


def test_bad_messages_are_refused_before_any_request() -> None:
    with serve(openai_route) as server:
        llm = _factory(
            "openai", model_name_or_path="known-model", api_base=base_url(server) + "/v1"
        )
        with pytest.raises(LLMError, match="role"):
            llm.generate([{"role": "wizard", "content": "x"}])
    assert server.requests == []
