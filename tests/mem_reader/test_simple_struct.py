"""SimpleStructMemReader fast mode: chat and documents, and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from memos.configs.mem_reader import MemReaderConfigFactory, SimpleStructMemReaderConfig
from memos.errors import ConfigError, InvalidMemoryInputError
from memos.mem_reader.factory import MemReaderFactory
from memos.mem_reader.simple_struct import SimpleStructMemReader
from memos.memories.textual.item import TreeNodeTextualMemoryMetadata

from .test_chunking import make_pdf

EXAMPLE_CONFIG = (
    Path(__file__).resolve().parents[2] / "examples/data/config/simple_struct_reader_config.json"
)
INFO = {"user_id": "u1", "session_id": "s1"}


def reader(**overrides: Any) -> SimpleStructMemReader:
    return SimpleStructMemReader(SimpleStructMemReaderConfig(**overrides))


def locomo_conversation() -> list[dict[str, str]]:
    when = "1:56 pm on 8 May, 2023"
    return [
        {"role": "Caroline", "content": "Hey Mel! Good to see you!", "chat_time": when,
         "message_id": "D1:1"},
        {"role": "Melanie", "content": "Hey Caroline! What's up with you?", "chat_time": when,
         "message_id": "D1:2"},
        {"role": "Caroline", "content": "I went to a LGBTQ support group yesterday.",
         "chat_time": when, "message_id": "D1:3"},
        {"role": "Melanie", "content": "lol ok", "chat_time": when, "message_id": "D1:4"},
        {"role": "Melanie", "content": "I painted a sunrise last year.", "chat_time": when,
         "message_id": "D1:5"},
    ]  # fmt: skip


def meta(item: Any) -> TreeNodeTextualMemoryMetadata:
    assert isinstance(item.metadata, TreeNodeTextualMemoryMetadata)
    return item.metadata


def test_fast_names_speaker_and_resolves_dates() -> None:
    scenes = reader().get_memory([locomo_conversation()], type="chat", info=INFO)
    assert len(scenes) == 1
    items = scenes[0]
    by_id = {s.message_id: i for i in items for s in meta(i).sources}
    group = by_id["D1:3"]
    assert group.memory.startswith("Caroline said on 8 May 2023: ")
    assert "yesterday (7 May 2023)" in group.memory
    assert "LGBTQ support group" in group.memory
    # one turn of context is quoted for retrieval
    assert "Melanie" in group.memory.split("replying to", 1)[1]
    assert "last year (2022)" in by_id["D1:5"].memory
    m = meta(group)
    assert m.user_id == "u1" and m.session_id == "s1"
    assert m.valid_at is not None and m.valid_at.startswith("2023-05-08T13:56")
    assert m.memory_time == "7 May 2023"
    assert m.key and m.key.startswith("Caroline:")
    assert "lgbtq" in (m.tags or []) and "caroline" not in (m.tags or [])
    assert m.confidence is not None and 0 < m.confidence <= 100
    assert "Melanie" in m.background
    src = next(s for s in m.sources if s.message_id == "D1:3")
    assert (src.type, src.role, src.chat_time) == ("chat", "Caroline", "1:56 pm on 8 May, 2023")
    assert src.content == "I went to a LGBTQ support group yesterday."


def test_fast_vector_text_quotes_only_the_nearest_turn_clipped() -> None:
    items = reader(embedding_mode="text", embed_quote_chars=10).get_memory(
        [locomo_conversation()], type="chat", info=INFO
    )[0]
    by_id = {s.message_id: i for i in items for s in meta(i).sources}
    group = by_id["D1:3"]
    # The memory's text (stored, read by keyword search) quotes both previous turns in full.
    assert 'Caroline: "Hey Mel! Good to see you!"' in group.memory
    assert 'Melanie: "Hey Caroline! What\'s up with you?"' in group.memory
    # Its vector's text: the same statement, quoting only the nearest turn, clipped.
    text = meta(group).embedding_text
    assert text is not None
    statement = group.memory.split(" (replying to", 1)[0]
    assert text == statement + ' (replying to Melanie: "Hey Carol…")'
    # The first turn quotes nothing: both texts are the same, so no separate one is kept.
    assert meta(by_id["D1:1"]).embedding_text is None


def test_fast_vector_text_is_the_memory_when_as_much_context_is_embedded() -> None:
    items = reader(embedding_mode="text", embed_context_turns=2, embed_quote_chars=160).get_memory(
        [locomo_conversation()], type="chat", info=INFO
    )[0]
    assert all(meta(item).embedding_text is None for item in items)


def test_fast_composite_mode_lists_turn_header_and_previous_turn_as_parts() -> None:
    text_items = reader(embedding_mode="text").get_memory(
        [locomo_conversation()], type="chat", info=INFO
    )[0]
    items = reader(
        embedding_mode="composite",
        composite_turn_weight=1.0,
        composite_header_weight=0.3,
        composite_context_weight=0.2,
    ).get_memory([locomo_conversation()], type="chat", info=INFO)[0]
    # What the user sees and keyword search reads does not change.
    assert [i.memory for i in items] == [i.memory for i in text_items]
    by_id = {s.message_id: i for i in items for s in meta(i).sources}
    first, group, painted = by_id["D1:1"], by_id["D1:3"], by_id["D1:5"]
    assert all(meta(i).embedding_text is None for i in items)
    # The first memory has no previous turn: its turn and its header only.
    assert [(p.text, p.weight) for p in meta(first).embedding_parts or []] == [
        ("Hey Mel! Good to see you!", 1.0),
        ("Caroline said on 8 May 2023", 0.3),
    ]
    # Dates resolved in the turn; the previous turn is quoted whole, weighted as context.
    assert [(p.text, p.weight) for p in meta(group).embedding_parts or []] == [
        ("I went to a LGBTQ support group yesterday (7 May 2023).", 1.0),
        ("Caroline said on 8 May 2023", 0.3),
        ("Hey Caroline! What's up with you?", 0.2),
    ]
    # A memory's previous-turn part is the previous memory's own turn part (one vector for
    # both), and the folded back-channel ("lol ok") is in no part.
    painted_parts = [p.text for p in meta(painted).embedding_parts or []]
    assert painted_parts[2] == (meta(group).embedding_parts or [])[0].text
    assert painted_parts[1] == "Melanie said on 8 May 2023"
    assert not any("lol" in text for i in items for text in _part_texts(i))


def _part_texts(item: Any) -> list[str]:
    return [p.text for p in meta(item).embedding_parts or []]


def test_fast_composite_mode_without_context_turns_or_times() -> None:
    messages = [
        {"role": "user", "content": "I adopted a grey cat called Miso."},
        {"role": "assistant", "content": "Miso is a lovely name for a cat."},
    ]
    items = reader(embedding_mode="composite", embed_context_turns=0).get_memory(
        [messages], type="chat", info=INFO
    )[0]
    assert [_part_texts(i) for i in items] == [
        ["I adopted a grey cat called Miso.", "The user said"],
        ["Miso is a lovely name for a cat.", "assistant said"],
    ]


def test_fast_composite_mode_is_the_default_with_the_tuned_weights() -> None:
    config = SimpleStructMemReaderConfig()
    assert config.embedding_mode == "composite"
    assert (
        config.composite_turn_weight,
        config.composite_header_weight,
        config.composite_context_weight,
    ) == (1.0, 0.7, 0.35)
    items = reader().get_memory([locomo_conversation()], type="chat", info=INFO)[0]
    assert all(meta(i).embedding_parts for i in items)
    assert all(meta(i).embedding_text is None for i in items)


def test_fast_composite_context_weight_falls_with_a_long_previous_turn() -> None:
    long_answer = "Here is a long answer " + "with many words " * 20  # 65 words
    messages = [
        {"role": "assistant", "content": long_answer},
        {"role": "user", "content": "I adopted a grey cat called Miso."},
        {"role": "assistant", "content": "What a lovely name."},
        {"role": "user", "content": "She sleeps all day."},
    ]

    def context_weights(**overrides: Any) -> list[float]:
        items = reader(composite_context_weight=0.4, **overrides).get_memory(
            [messages], type="chat", info=INFO
        )[0]
        return [(meta(i).embedding_parts or [])[2].weight for i in items[1:]]

    # Off (the default): every context turn weighs the same.
    assert context_weights() == [0.4, 0.4, 0.4]
    # 13 words of reference: the 65-word answer counts a fifth, the short turns in full.
    weights = context_weights(composite_context_ref_words=13)
    assert weights[0] == pytest.approx(0.4 * 13 / 65)
    assert weights[1:] == [0.4, 0.4]


def test_fast_text_mode_emits_no_parts() -> None:
    items = reader(embedding_mode="text").get_memory(
        [locomo_conversation()], type="chat", info=INFO
    )[0]
    assert all(meta(i).embedding_parts is None for i in items)


def test_composite_weights_must_be_positive() -> None:
    with pytest.raises(ValueError, match="composite_header_weight"):
        SimpleStructMemReaderConfig(composite_header_weight=0.0)


def test_fast_every_message_id_is_cited_once_and_backchannels_fold() -> None:
    items = reader().get_memory([locomo_conversation()], info=INFO)[0]
    cited = [s.message_id for i in items for s in meta(i).sources]
    assert sorted(cited) == ["D1:1", "D1:2", "D1:3", "D1:4", "D1:5"]
    # "lol ok" has no memory of its own: it is folded into the previous memory.
    assert len(items) == 4
    folded = next(i for i in items if len(meta(i).sources) == 2)
    assert [s.message_id for s in meta(folded).sources] == ["D1:3", "D1:4"]


def test_user_memory_vs_long_term_memory() -> None:
    conversation = [
        {"role": "user", "content": "I love hiking in the Alps."},
        {"role": "assistant", "content": "The Alps are lovely in June."},
        {"role": "user", "content": "The weather report says rain."},
    ]
    items = reader().get_memory([conversation], info=INFO)[0]
    assert [meta(i).memory_type for i in items] == [
        "UserMemory",
        "LongTermMemory",
        "LongTermMemory",
    ]
    assert items[0].memory.startswith("The user said: I love hiking")
    assert meta(items[0]).valid_at is None


def test_iso_chat_time_and_windows_per_conversation() -> None:
    conv = [{"role": "user", "content": "I moved to Lyon two days ago.",
             "chat_time": "2024-03-10T09:00:00Z", "message_id": 7}]  # fmt: skip
    scenes = reader().get_memory([conv, conv], info=INFO)
    assert len(scenes) == 2
    item = scenes[0][0]
    assert "two days ago (8 March 2024)" in item.memory
    assert meta(item).sources[0].message_id == "7"


@pytest.mark.parametrize(
    ("scene_data", "match"),
    [
        ([], "non-empty list"),
        ("hello", "non-empty list"),
        ([[]], "nothing to store: every conversation is empty"),
        ([{"role": "user", "content": "x"}], "conversation 0 must be a list"),
        ([["just a string"]], "conversation 0 message 0: message: Input should be"),
        ([[{"role": "user", "content": "  "}]], r"nothing to store: all 1 message\(s\) are empty"),
        (
            [[{"role": "user", "content": ""}], [{"role": "user", "content": " \n"}]],
            r"nothing to store: all 2 message\(s\) are empty",
        ),
        ([[{"role": "user"}]], "conversation 0 message 0: content: Field required"),
        ([[{"content": "hi"}]], "conversation 0 message 0: role: Field required"),
        ([[{"role": "user", "content": "hi", "extra": 1}]], "extra: Extra inputs"),
        ([[{"role": "user", "content": "hi", "chat_time": "someday"}]], "chat_time 'someday'"),
    ],
)
def test_bad_chat_input(scene_data: Any, match: str) -> None:
    with pytest.raises(InvalidMemoryInputError, match=match):
        reader().get_memory(scene_data, type="chat", info=INFO)


def test_empty_turns_are_skipped_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    # An exported chat with an empty message among real ones (conversation 1 has only empty
    # turns): the empty turns are skipped and counted, the rest is stored and cited.
    conversations = [
        [{"role": "user", "content": "", "message_id": "e0"}, *locomo_conversation()],
        [{"role": "user", "content": "   ", "message_id": "e1"}],
    ]
    with caplog.at_level("INFO", logger="memos.mem_reader.messages"):
        windows = reader().get_memory(conversations, type="chat", info=INFO, mode="fast")
    assert len(windows) == 2 and windows[1] == []
    cited = {s.message_id for item in windows[0] for s in meta(item).sources}
    assert cited == {"D1:1", "D1:2", "D1:3", "D1:4", "D1:5"}
    assert "skipped 2 empty message(s) of 7" in caplog.text


def test_bad_type_mode_info() -> None:
    conv = [[{"role": "user", "content": "hi there friend"}]]
    with pytest.raises(InvalidMemoryInputError, match="type must be"):
        reader().get_memory(conv, type="video", info=INFO)  # type: ignore[arg-type]
    with pytest.raises(InvalidMemoryInputError, match="mode must be"):
        reader().get_memory(conv, info=INFO, mode="slow")  # type: ignore[arg-type]
    with pytest.raises(InvalidMemoryInputError, match="user_id"):
        reader().get_memory(conv, info={"user_id": 3})


def test_fine_mode_without_llm_config_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="needs an 'llm'"):
        reader().get_memory([[{"role": "user", "content": "I like tea"}]], mode="fine")


def test_docs_fast_mode_chunks_with_overlap(tmp_path: Path) -> None:
    text = " ".join(f"Fact {i} says the {i}th moon of planet X is blue." for i in range(40))
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    (tmp_path / "b.md").write_text("# Notes\n\nThe kiln fires at 1200 degrees.", encoding="utf-8")
    make_pdf(tmp_path / "c.pdf", ["Quarterly revenue grew by 12 percent."])
    r = reader(chunker={"backend": "sentence", "config": {"chunk_size": 60, "chunk_overlap": 20}})
    paths = [str(tmp_path / n) for n in ("a.txt", "b.md", "c.pdf")]
    scenes = r.get_memory(paths, type="doc", info=INFO)
    assert len(scenes) == 3
    txt = scenes[0]
    assert len(txt) > 3
    first, second = meta(txt[0]).sources[0], meta(txt[1]).sources[0]
    assert first.type == "doc" and first.doc_path == paths[0]
    assert first.content == txt[0].memory
    # overlap: the second chunk repeats the end of the first
    assert txt[0].memory.rsplit(". ", 1)[-1].rstrip(".") in second.content  # type: ignore[operator]
    assert "1200 degrees" in scenes[1][0].memory
    assert "revenue grew by 12 percent" in scenes[2][0].memory
    assert all(meta(i).user_id == "u1" for s in scenes for i in s)


def test_bad_doc_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidMemoryInputError, match="non-empty list"):
        reader().get_memory([], type="doc", info=INFO)
    with pytest.raises(InvalidMemoryInputError, match="file path"):
        reader().get_memory([3], type="doc", info=INFO)
    (tmp_path / "empty.txt").write_text("   ", encoding="utf-8")
    with pytest.raises(InvalidMemoryInputError, match="no text"):
        reader().get_memory([str(tmp_path / "empty.txt")], type="doc", info=INFO)


def test_example_config_and_factory() -> None:
    config = SimpleStructMemReaderConfig.from_json_file(EXAMPLE_CONFIG)
    assert config.llm is not None and config.llm.backend == "huggingface"
    assert config.chunker.backend == "sentence"
    factory = MemReaderConfigFactory.model_validate(
        {"backend": "simple_struct", "config": config.model_dump()}
    )
    assert isinstance(MemReaderFactory.from_config(factory), SimpleStructMemReader)
    with pytest.raises(ConfigError, match="unknown backend"):
        MemReaderConfigFactory.validate_data({"backend": "nope", "config": {}})
    with pytest.raises(ConfigError, match="chunk_sizee"):
        SimpleStructMemReaderConfig.validate_data(
            {"chunker": {"backend": "sentence", "config": {"chunk_sizee": 3}}}
        )
