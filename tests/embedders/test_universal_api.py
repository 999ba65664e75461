"""UniversalAPIEmbedder against a real HTTP server speaking the OpenAI embeddings protocol."""

from __future__ import annotations

import pytest

from memos.configs.embedder import EmbedderConfigFactory, UniversalAPIEmbedderConfig
from memos.embedders.factory import EmbedderFactory
from memos.embedders.universal_api import UniversalAPIEmbedder
from memos.errors import EmbedderError, InvalidMemoryInputError

from .conftest import FakeServer, toy_vector


def openai_protocol(path, body, headers):
    if path != "/v1/embeddings":
        return 404, {"error": {"message": "unknown path"}}
    if headers.get("authorization") != "Bearer sk-test":
        return 401, {"error": {"message": "Incorrect API key provided"}}
    rows = [
        {"object": "embedding", "index": i, "embedding": toy_vector(t, dim=3)}
        for i, t in enumerate(body["input"])
    ]
    rows.reverse()  # the protocol allows any order; the client must sort by index
    return 200, {"object": "list", "data": rows, "model": body["model"]}


def make(server: FakeServer, **kwargs) -> UniversalAPIEmbedder:
    defaults = {"base_url": f"{server.url}/v1", "api_key": "sk-test", "model_name_or_path": "m"}
    return UniversalAPIEmbedder(UniversalAPIEmbedderConfig(**{**defaults, **kwargs}))


def test_embeds_in_input_order_with_batches_and_auth(embed_server: FakeServer) -> None:
    embed_server.respond = openai_protocol
    texts = ["one", "three", "fives", "sixsix"]
    assert make(embed_server, batch_size=3).embed(texts) == [toy_vector(t, 3) for t in texts]
    assert [len(body["input"]) for _, body, _ in embed_server.requests] == [3, 1]
    assert embed_server.requests[0][1]["model"] == "m"


def test_wrong_key_is_an_embedder_error_with_status(embed_server: FakeServer) -> None:
    embed_server.respond = openai_protocol
    with pytest.raises(EmbedderError, match="HTTP 401") as info:
        make(embed_server, api_key="wrong").embed(["x"])
    assert "Incorrect API key" in str(info.value)
    assert "'m'" in str(info.value)


def test_server_error_status(embed_server: FakeServer) -> None:
    embed_server.respond = lambda p, b, h: (500, {"error": {"message": "boom"}})
    with pytest.raises(EmbedderError, match="HTTP 500"):
        make(embed_server).embed(["x"])


def test_non_json_answer(embed_server: FakeServer) -> None:
    embed_server.respond = lambda p, b, h: (200, b"<html>proxy</html>")
    with pytest.raises(EmbedderError, match="non-JSON"):
        make(embed_server).embed(["x"])


def test_rows_without_embedding_are_malformed(embed_server: FakeServer) -> None:
    embed_server.respond = lambda p, b, h: (200, {"data": [{"index": 0}]})
    with pytest.raises(EmbedderError, match="malformed"):
        make(embed_server).embed(["x"])


def test_wrong_number_of_vectors(embed_server: FakeServer) -> None:
    embed_server.respond = lambda p, b, h: (200, {"data": []})
    with pytest.raises(EmbedderError, match="0 vectors for 1 texts"):
        make(embed_server).embed(["x"])


def test_unreachable_names_url_and_model(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/v1"
    embedder = UniversalAPIEmbedder(
        UniversalAPIEmbedderConfig(base_url=url, model_name_or_path="text-embedding-3-small")
    )
    with pytest.raises(EmbedderError) as info:
        embedder.embed(["x"])
    assert f"{url}/embeddings" in str(info.value)
    assert "text-embedding-3-small" in str(info.value)


def test_a_bare_string_is_not_a_list_of_texts(embed_server: FakeServer) -> None:
    embed_server.respond = openai_protocol
    with pytest.raises(InvalidMemoryInputError, match="list of strings"):
        make(embed_server).embed("hello")  # type: ignore[arg-type]


def test_factory_builds_universal_api(embed_server: FakeServer) -> None:
    embed_server.respond = openai_protocol
    config = EmbedderConfigFactory.validate_data(
        {
            "backend": "universal_api",
            "config": {"base_url": f"{embed_server.url}/v1", "api_key": "sk-test"},
        }
    )
    embedder = EmbedderFactory.from_config(config)
    assert isinstance(embedder, UniversalAPIEmbedder)
    assert embedder.dimension == 3
