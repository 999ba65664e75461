"""GeneralTextMemory on the real packaged MiniLM and faiss."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from memos.configs.memory import GeneralTextMemoryConfig, MemoryConfigFactory
from memos.errors import (
    ConfigError,
    DimensionMismatchError,
    DumpFormatError,
    ExtractionError,
    InvalidMemoryInputError,
    MemoryNotFoundError,
)
from memos.memories.factory import MemoryFactory
from memos.memories.textual.general import FAISS_SUBDIR, GeneralTextMemory
from memos.memories.textual.item import TextualMemoryItem, TextualMemoryMetadata

FACTS = [
    "Alice has a golden retriever named Biscuit.",
    "Alice works as a nurse at the city hospital.",
    "Bob plays bass guitar in a jazz band.",
    "Bob is allergic to peanuts.",
    "The team meeting moved to Thursday afternoon.",
]


def new_memory(**config: Any) -> GeneralTextMemory:
    return GeneralTextMemory(GeneralTextMemoryConfig.validate_data(config))


@pytest.fixture
def memory() -> GeneralTextMemory:
    mem = new_memory()
    mem.add(
        [
            TextualMemoryItem(memory=FACTS[0], metadata=TextualMemoryMetadata(user_id="alice")),
            {"memory": FACTS[1], "metadata": {"user_id": "alice", "tags": ["work"]}},
            {"memory": FACTS[2], "metadata": {"user_id": "bob"}},
            {"memory": FACTS[3], "metadata": {"user_id": "bob"}},
            FACTS[4],
        ]
    )
    return mem


def texts(items: list[TextualMemoryItem]) -> list[str]:
    return [item.memory for item in items]


def test_add_accepts_items_dicts_and_strings_and_returns_ids(memory: GeneralTextMemory) -> None:
    item = TextualMemoryItem(memory="Carol collects vintage stamps.")
    ids = memory.add([item, {"memory": "Dan runs marathons."}, "Eve speaks Japanese."])
    assert ids[0] == item.id and len(set(ids)) == 3
    assert memory.get(ids[2]).memory == "Eve speaks Japanese."
    assert memory.count() == 8
    assert texts(memory.get_all())[:2] == FACTS[:2]
    assert memory.get_all()[1].metadata.tags == ["work"]


def test_search_ranks_by_meaning_and_sets_relativity(memory: GeneralTextMemory) -> None:
    hits = memory.search("What pet does Alice own?", top_k=3)
    assert hits[0].memory == FACTS[0]
    scores = [hit.metadata.relativity for hit in hits]
    assert all(isinstance(s, float) for s in scores)
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert memory.search("food allergy", top_k=1)[0].memory == FACTS[3]
    # stored items carry no stale score
    assert memory.get(hits[0].id).metadata.relativity is None


def test_search_filter_is_on_metadata(memory: GeneralTextMemory) -> None:
    hits = memory.search("What pet does Alice own?", top_k=5, filter={"user_id": "bob"})
    assert sorted(texts(hits)) == sorted(FACTS[2:4])
    assert memory.search("anything", top_k=0) == []


@pytest.mark.parametrize(
    "bad",
    [[""], ["   "], [None], [42], [{"metadata": {}}], [{"memory": ""}], [{"memory": 3}], [b"x"]],
)
def test_bad_input_is_rejected_and_nothing_is_added(memory: GeneralTextMemory, bad) -> None:
    with pytest.raises(InvalidMemoryInputError):
        memory.add(["a valid one", *bad])
    assert memory.count() == len(FACTS)


def test_bare_string_and_bad_query_are_rejected(memory: GeneralTextMemory) -> None:
    with pytest.raises(InvalidMemoryInputError, match="list"):
        memory.add("not a list")  # type: ignore[arg-type]
    with pytest.raises(InvalidMemoryInputError):
        memory.search("", top_k=3)
    with pytest.raises(InvalidMemoryInputError):
        memory.search(None, top_k=3)  # type: ignore[arg-type]


def test_existing_id_cannot_be_added_again(memory: GeneralTextMemory) -> None:
    existing = memory.get_all()[0]
    with pytest.raises(InvalidMemoryInputError, match=f"{existing.id}.*already exists"):
        memory.add([TextualMemoryItem(memory="something new"), existing])
    same = TextualMemoryItem(memory="twice")
    with pytest.raises(InvalidMemoryInputError, match="already exists"):
        memory.add([same, same])
    assert memory.count() == len(FACTS)


def test_unknown_ids(memory: GeneralTextMemory) -> None:
    ghost = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(MemoryNotFoundError, match=ghost):
        memory.get(ghost)
    first = memory.get_all()[0].id
    with pytest.raises(MemoryNotFoundError, match=ghost):
        memory.get_by_ids([first, ghost])
    with pytest.raises(MemoryNotFoundError, match=ghost):
        memory.update(ghost, "new text")
    with pytest.raises(MemoryNotFoundError, match=ghost):
        memory.delete([first, ghost])
    assert memory.count() == len(FACTS)  # nothing deleted


def test_update_text_re_embeds_and_metadata_merges(memory: GeneralTextMemory) -> None:
    target = memory.search("bass guitar", top_k=1)[0]
    before = memory.vector_db.get_by_id(target.id)
    memory.update(target.id, {"metadata": {"tags": ["music"]}})
    after_meta = memory.vector_db.get_by_id(target.id)
    assert after_meta is not None and before is not None
    assert after_meta.vector == before.vector  # same text: no re-embedding
    updated = memory.get(target.id)
    assert updated.metadata.tags == ["music"] and updated.metadata.user_id == "bob"
    assert updated.metadata.updated_at >= target.metadata.updated_at

    memory.update(target.id, "Bob now plays the saxophone.")
    assert memory.search("saxophone player", top_k=1)[0].id == target.id
    assert memory.get(target.id).metadata.tags == ["music"]

    replacement = TextualMemoryItem(memory="Bob moved to Oslo.", metadata={"user_id": "bob"})
    memory.update(target.id, replacement)
    assert memory.get(target.id).memory == "Bob moved to Oslo."
    assert memory.get(target.id).id == target.id
    with pytest.raises(InvalidMemoryInputError):
        memory.update(target.id, "")
    with pytest.raises(InvalidMemoryInputError, match="memroy"):
        memory.update(target.id, {"memroy": "typo"})
    assert memory.get(target.id).memory == "Bob moved to Oslo."


def test_delete_delete_all_and_drop(memory: GeneralTextMemory, tmp_path) -> None:
    ids = [item.id for item in memory.get_all()]
    memory.delete(ids[:2])
    assert [i.id for i in memory.get_all()] == ids[2:]
    with pytest.raises(InvalidMemoryInputError):
        memory.delete(ids[2])  # type: ignore[arg-type]
    memory.delete_all()
    assert memory.get_all() == [] and memory.search("Alice", top_k=3) == []

    stored = new_memory(vector_db={"backend": "faiss", "config": {"path": str(tmp_path)}})
    stored.add(["something to drop"])
    stored.vector_db.save()
    assert any(tmp_path.iterdir())
    stored.drop()
    assert stored.count() == 0 and not any(tmp_path.iterdir())


def test_round_trip_of_1000_memories_is_identical(tmp_path) -> None:
    source = new_memory()
    rows = [
        {
            "memory": f"Note {i}: user {i % 7} mentioned topic {i % 13} during session {i // 50}.",
            "metadata": {"user_id": f"user-{i % 7}", "tags": [f"t{i % 5}"], "confidence": 50.0},
        }
        for i in range(1000)
    ]
    source.add(rows)
    source.dump(tmp_path)
    document = json.loads((tmp_path / "textual_memory.json").read_text())
    assert document["format_version"] == 1 and len(document["memories"]) == 1000

    loaded = new_memory()
    loaded.load(tmp_path)
    assert [i.to_dict() for i in loaded.get_all()] == [i.to_dict() for i in source.get_all()]
    for query, flt in [
        ("topic 3", None),
        ("what did user 5 say", {"user_id": "user-5"}),
        ("session 12", {"tags": ["t2"]}),
    ]:
        want = [(h.id, h.metadata.relativity) for h in source.search(query, top_k=10, filter=flt)]
        got = [(h.id, h.metadata.relativity) for h in loaded.search(query, top_k=10, filter=flt)]
        assert len(want) == 10 and got == want


def test_load_errors_change_nothing(memory: GeneralTextMemory, tmp_path) -> None:
    before = [i.to_dict() for i in memory.get_all()]
    with pytest.raises(DumpFormatError, match="does not exist"):
        memory.load(tmp_path / "absent")
    with pytest.raises(DumpFormatError, match="missing"):
        memory.load(tmp_path)

    dump = tmp_path / "dump"
    other = new_memory()
    other.add(["one thing", "another thing"])
    other.dump(dump)
    memory_file = dump / "textual_memory.json"
    good = memory_file.read_text()

    memory_file.write_text(good[:-20])
    with pytest.raises(DumpFormatError, match="not valid JSON"):
        memory.load(dump)
    memory_file.write_text(json.dumps({**json.loads(good), "format_version": 7}))
    with pytest.raises(DumpFormatError, match="format version 7"):
        memory.load(dump)
    memory_file.write_text(json.dumps({**json.loads(good), "dimension": 768}))
    with pytest.raises(DimensionMismatchError) as info:
        memory.load(dump)
    assert (info.value.expected, info.value.got) == (384, 768)
    doc = json.loads(good)
    memory_file.write_text(json.dumps({**doc, "memories": doc["memories"][:1]}))
    with pytest.raises(DumpFormatError, match="holds 1 memories"):
        memory.load(dump)
    memory_file.write_text(json.dumps({**doc, "memories": [{"id": "x", "memory": "y"}]}))
    with pytest.raises(DumpFormatError, match="malformed"):
        memory.load(dump)
    memory_file.write_text(good)
    (dump / FAISS_SUBDIR / "faiss.index").write_bytes(b"garbage")
    with pytest.raises(DumpFormatError, match="faiss index"):
        memory.load(dump)
    assert [i.to_dict() for i in memory.get_all()] == before


def test_memos_style_list_without_vectors_is_re_embedded(tmp_path) -> None:
    item = TextualMemoryItem(memory="Frank grows tomatoes on his balcony.")
    (tmp_path / "textual_memory.json").write_text(json.dumps([item.to_dict()]))
    mem = new_memory()
    mem.load(tmp_path)
    hit = mem.search("vegetable gardening", top_k=1)[0]
    assert hit.id == item.id and hit.memory == item.memory


def test_vector_store_of_another_dimension_names_both() -> None:
    mem = new_memory(vector_db={"backend": "faiss", "config": {"vector_dimension": 128}})
    with pytest.raises(DimensionMismatchError) as info:
        mem.add(["hello"])
    assert "128" in str(info.value) and "384" in str(info.value)


def test_rule_based_extraction_names_the_speaker() -> None:
    mem = new_memory()
    items = mem.extract(
        [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "Hi! I moved to Lisbon last year.  ", "chat_time": "t1"},
            {"role": "assistant", "content": "How do you like it?"},
            {"role": "user", "content": "   "},
        ]
    )
    assert texts(items) == [
        "User: Hi!",
        "User: I moved to Lisbon last year.",
        "Assistant: How do you like it?",
    ]
    assert items[1].metadata.memory_time == "t1"
    assert mem.count() == 0  # extraction does not add
    with pytest.raises(InvalidMemoryInputError):
        mem.extract([{"role": "user"}])


def test_memory_factory_and_config_errors() -> None:
    mem = MemoryFactory.from_config(MemoryConfigFactory(backend="general_text", config={}))
    assert isinstance(mem, GeneralTextMemory)
    with pytest.raises(ConfigError, match="known backends: general_text"):
        MemoryConfigFactory.validate_data({"backend": "nope", "config": {}})
    with pytest.raises(ConfigError, match=r"config\.vector_db\.config\.vector_dimension"):
        MemoryConfigFactory.validate_data(
            {
                "backend": "general_text",
                "config": {"vector_db": {"backend": "faiss", "config": {"vector_dimension": "x"}}},
            }
        )


# ---- LLM extraction through a real OpenAI-compatible server on 127.0.0.1 ------------------------


@pytest.fixture
def chat_server() -> Iterator[dict[str, Any]]:
    state: dict[str, Any] = {"answer": "", "requests": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state["requests"].append((self.path, body))
            answer = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": state["answer"]},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
            raw = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["url"] = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_llm_extraction_parses_json_facts(chat_server: dict[str, Any]) -> None:
    pytest.importorskip("memos.llms.openai", reason="memos.llms (chat backends) is not built yet")
    mem = new_memory(
        extractor_llm={
            "backend": "openai",
            "config": {"api_base": chat_server["url"], "api_key": "k", "model_name_or_path": "m"},
        }
    )
    chat_server["answer"] = (
        "```json\n"
        '{"memories": [{"memory": "The user lives in Lisbon.", "type": "fact", '
        '"tags": ["home"], "confidence": 90}, {"memory": ""}]}\n```'
    )
    items = mem.extract([{"role": "user", "content": "I live in Lisbon."}])
    assert texts(items) == ["The user lives in Lisbon."]
    assert items[0].metadata.tags == ["home"] and items[0].metadata.confidence == 90
    path, body = chat_server["requests"][0]
    assert path.endswith("/chat/completions")
    assert "I live in Lisbon." in body["messages"][-1]["content"]

    chat_server["answer"] = "Sorry, I cannot do that."
    with pytest.raises(ExtractionError, match="JSON"):
        mem.extract([{"role": "user", "content": "I live in Lisbon."}])
