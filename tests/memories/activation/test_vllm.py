"""VLLMKVCacheMemory against a protocol double of a vLLM server.

PROTOCOL DOUBLE, not vLLM: a stdlib HTTP server on 127.0.0.1 (in this file) that speaks the
OpenAI chat-completions protocol plus vLLM's ``/tokenize`` and Prometheus ``/metrics``. It renders
messages with a ChatML template, tokenises into word pieces, and keeps vLLM's prefix-cache
bookkeeping: chained hashes of full 16-token blocks, separated per ``cache_salt``; a request
reports ``usage.prompt_tokens_details.cached_tokens`` for its leading cached blocks (never the
whole prompt) and raises ``vllm:prefix_cache_queries_total`` / ``vllm:prefix_cache_hits_total``.
It checks what the client sends and how it reads the answers; a real vLLM check is the slow test
at the bottom (``MEMOS_TEST_VLLM_URL``).
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from llms.http_double import Reply, base_url, serve

from memos.configs.memory import VLLMKVCacheMemoryConfig
from memos.errors import DumpFormatError, MemoryNotFoundError
from memos.memories.activation.vllm import VLLMKVCacheMemory

BLOCK = 16
MEMORY = " ".join(f"Fact {i}: Ada visited city number {i} in spring." for i in range(12))


class PrefixCacheDouble:
    """vLLM's prefix-cache accounting over a word-piece tokenizer (see the module docstring)."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.blocks: set[tuple[Any, ...]] = set()
        self.hits = 0
        self.queries = 0
        self.lock = threading.Lock()

    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")

    def tokenize(self, text: str) -> list[int]:
        pieces = re.findall(r"<\|[a-z_]+\|>|\w+|[^\w\s]|\s+", text)
        return [self.vocab.setdefault(p, len(self.vocab) + 3) for p in pieces]

    def schedule(self, tokens: list[int], salt: str | None) -> int:
        """Count the cached leading blocks, then cache every full block of ``tokens``."""
        with self.lock:
            keys, parent = [], (salt,)
            for start in range(0, len(tokens) - len(tokens) % BLOCK, BLOCK):
                parent = (parent, tuple(tokens[start : start + BLOCK]))
                keys.append(parent)
            hit = 0
            for key in keys:
                if key not in self.blocks:
                    break
                hit += BLOCK
            if hit >= len(tokens):  # the last token is always computed
                hit -= BLOCK
            self.blocks.update(keys)
            self.queries += len(tokens)
            self.hits += hit
            return hit

    def route(self, method: str, path: str, body: Any) -> Reply:
        if path == "/metrics":
            labels = '{engine="0",model_name="smol"}'
            text = (
                "# TYPE vllm:prefix_cache_queries_total counter\n"
                f"vllm:prefix_cache_queries_total{labels} {float(self.queries)}\n"
                "# TYPE vllm:prefix_cache_hits_total counter\n"
                f"vllm:prefix_cache_hits_total{labels} {float(self.hits)}\n"
            )
            return Reply(body=text, content_type="text/plain; version=0.0.4")
        if path == "/tokenize":
            tokens = self.tokenize(
                self.render(body["messages"], body.get("add_generation_prompt", True))
            )
            return Reply(body={"count": len(tokens), "max_model_len": 8192, "tokens": tokens})
        if path == "/v1/chat/completions":
            tokens = self.tokenize(self.render(body["messages"], True))
            cached = self.schedule(tokens, body.get("cache_salt"))
            return Reply(
                body={
                    "id": "cmpl-1",
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
                    "usage": {
                        "prompt_tokens": len(tokens),
                        "completion_tokens": 1,
                        "total_tokens": len(tokens) + 1,
                        "prompt_tokens_details": {"cached_tokens": cached},
                    },
                }
            )
        return Reply(404, {"error": {"message": f"no route {path}"}})


def _memory(url: str, salt: str | None) -> VLLMKVCacheMemory:
    config = VLLMKVCacheMemoryConfig.model_validate(
        {
            "extractor_llm": {
                "backend": "vllm",
                "config": {"model_name_or_path": "smol", "api_base": url},
            },
            "cache_salt": salt,
        }
    )
    return VLLMKVCacheMemory(config)


def test_extract_warms_and_chat_hits_the_prefix() -> None:
    double = PrefixCacheDouble()
    with serve(double.route) as server:
        memory = _memory(base_url(server) + "/v1", "tenant-a")
        item = memory.extract(MEMORY)
        warm = next(r for r in server.requests if r.path == "/v1/chat/completions")
        assert warm.body["max_tokens"] == 1 and warm.body["cache_salt"] == "tenant-a"
        assert item.metadata.token_count and item.metadata.warmed_cached_tokens == 0
        memory.add([item])
        report = memory.verify(item.id)
        assert report.cached_tokens == item.metadata.cacheable_tokens > 100
        assert report.hits_delta == report.cached_tokens
        assert report.hit_rate is not None and report.hit_rate > 0.8
        result = memory.chat([{"role": "user", "content": "Which cities?"}], [item.id])
        # The system-message prefix is shared token for token with the warmed request.
        assert result.cached_tokens == item.metadata.cacheable_tokens
        assert memory.hit_rate() is not None


def test_cache_salt_isolates_tenants() -> None:
    double = PrefixCacheDouble()
    with serve(double.route) as server:
        tenant_a = _memory(base_url(server) + "/v1", "tenant-a")
        tenant_b = _memory(base_url(server) + "/v1", "tenant-b")
        item_a = tenant_a.extract(MEMORY)
        item_b = tenant_b.extract(MEMORY)
        assert item_b.metadata.warmed_cached_tokens == 0  # a's blocks are not b's
        tenant_b.add([item_b])
        assert tenant_b.verify(item_b.id).cached_tokens == item_a.metadata.cacheable_tokens


def test_store_dump_and_load(tmp_path: Path) -> None:
    double = PrefixCacheDouble()
    with serve(double.route) as server:
        memory = _memory(base_url(server) + "/v1", None)
        items = [memory.extract(MEMORY), memory.extract(["Ada likes tea.", "Ada hates rain."])]
        memory.add(items)
        assert memory.get_cache([i.id for i in items]).count("Ada") >= 3
        memory.dump(tmp_path)
        memory.delete([items[0].id])
        with pytest.raises(MemoryNotFoundError):
            memory.get(items[0].id)
        memory.load(tmp_path)
        assert [i.id for i in memory.get_all()] == [i.id for i in items]
        (tmp_path / "activation_memory.json").write_text('{"format": "other"}')
        with pytest.raises(DumpFormatError):
            memory.load(tmp_path)
        assert len(memory.get_all()) == 2


@pytest.mark.slow
def test_real_vllm_server_prefix_hits() -> None:
    """Against a REAL vLLM server (see NOTES.md); set MEMOS_TEST_VLLM_URL=http://host:port/v1."""
    url = os.environ.get("MEMOS_TEST_VLLM_URL")
    if not url:
        pytest.skip("MEMOS_TEST_VLLM_URL is not set")
    model = os.environ.get("MEMOS_TEST_VLLM_MODEL", "smol")
    config = VLLMKVCacheMemoryConfig.model_validate(
        {
            "extractor_llm": {
                "backend": "vllm",
                "config": {"model_name_or_path": model, "api_base": url},
            },
            "cache_salt": f"test-{os.getpid()}",
        }
    )
    memory = VLLMKVCacheMemory(config)
    item = memory.extract(MEMORY)
    memory.add([item])
    report = memory.verify(item.id)
    assert report.cached_tokens > 0
    assert report.hits_delta is not None and report.hits_delta >= report.cached_tokens
