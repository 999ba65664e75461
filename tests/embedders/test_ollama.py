"""OllamaEmbedder against a real HTTP server speaking Ollama's /api/embed."""

from __future__ import annotations

import pytest

from memos.configs.embedder import EmbedderConfigFactory, OllamaEmbedderConfig
from memos.embedders.factory import EmbedderFactory
from memos.embedders.ollama import OllamaEmbedder
from memos.errors import DimensionMismatchError, EmbedderError, InvalidMemoryInputError

from .conftest import FakeServer, toy_vector


def ollama_protocol(path, body, headers):
    if path != "/api/embed":
        return 404, {"error": "not found"}
    if body.get("model") != "nomic-embed-text:latest":
        return 404, {"error": f"model '{body.get('model')}' not found, try pulling it first"}
    return 200, {"model": body["model"], "embeddings": [toy_vector(t) for t in body["input"]]}


def make(server: FakeServer, **kwargs) -> OllamaEmbedder:
    return OllamaEmbedder(OllamaEmbedderConfig(api_base=server.url, **kwargs))


def test_embeds_in_batches_with_the_ollama_protocol(embed_server: FakeServer) -> None:
    embed_server.respond = ollama_protocol
    embedder = make(embed_server, batch_size=2)
    texts = ["a", "bb", "ccc", "dddd", "eeeee"]
    vectors = embedder.embed(texts)
    assert vectors == [toy_vector(t) for t in texts]
    assert [len(body["input"]) for _, body, _ in embed_server.requests] == [2, 2, 1]
    assert all(body["model"] == "nomic-embed-text:latest" for _, body, _ in embed_server.requests)
    assert embedder.dimension == 4


def test_dimension_probes_the_server_when_not_configured(embed_server: FakeServer) -> None:
    embed_server.respond = ollama_protocol
    assert make(embed_server).dimension == 4
    assert len(embed_server.requests) == 1


def test_empty_list_makes_no_request(embed_server: FakeServer) -> None:
    embed_server.respond = ollama_protocol
    assert make(embed_server).embed([]) == []
    assert embed_server.requests == []


@pytest.mark.parametrize("bad", [[""], ["   "], [None], ["ok", 3]])
def test_bad_text_is_rejected_before_any_request(embed_server: FakeServer, bad) -> None:
    embed_server.respond = ollama_protocol
    with pytest.raises(InvalidMemoryInputError):
        make(embed_server).embed(bad)
    assert embed_server.requests == []


def test_error_status_names_url_model_and_server_message(embed_server: FakeServer) -> None:
    embed_server.respond = ollama_protocol
    embedder = make(embed_server, model_name_or_path="missing-model")
    with pytest.raises(EmbedderError) as info:
        embedder.embed(["hello"])
    message = str(info.value)
    assert "HTTP 404" in message
    assert "missing-model" in message
    assert f"{embed_server.url}/api/embed" in message
    assert "try pulling it first" in message


def test_malformed_answer_is_an_embedder_error(embed_server: FakeServer) -> None:
    embed_server.respond = lambda p, b, h: (200, {"embedding": [1.0]})
    with pytest.raises(EmbedderError, match="no 'embeddings'"):
        make(embed_server).embed(["hello"])


def test_unreachable_server_names_url_and_model(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    embedder = OllamaEmbedder(OllamaEmbedderConfig(api_base=url, timeout_s=5))
    with pytest.raises(EmbedderError) as info:
        embedder.embed(["hello"])
    assert f"{url}/api/embed" in str(info.value)
    assert "nomic-embed-text:latest" in str(info.value)


def test_configured_dimension_is_checked(embed_server: FakeServer) -> None:
    embed_server.respond = ollama_protocol
    embedder = make(embed_server, embedding_dims=768)
    with pytest.raises(DimensionMismatchError) as info:
        embedder.embed(["hello"])
    assert "768" in str(info.value) and "4" in str(info.value)
    assert (info.value.expected, info.value.got) == (768, 4)


def test_factory_builds_ollama(embed_server: FakeServer) -> None:
    embed_server.respond = ollama_protocol
    config = EmbedderConfigFactory.validate_data(
        {"backend": "ollama", "config": {"api_base": embed_server.url}}
    )
    embedder = EmbedderFactory.from_config(config)
    assert isinstance(embedder, OllamaEmbedder)
    assert embedder.embed(["x"]) == [toy_vector("x")]
