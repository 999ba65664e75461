"""The LoCoMo recall suite on a tiny synthetic LoCoMo-shaped file (never the real data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memos.bench.__main__ import main
from memos.bench.locomo_data import load_locomo, turn_document
from memos.bench.locomo_recall import HybridIndex, plain_tokens, recall_at_k, select_split
from memos.bench.locomo_user_view import first_person, user_view


def synthetic_sample(sample_id: str) -> dict[str, Any]:
    turns_1 = [
        {
            "speaker": "Ana",
            "dia_id": "D1:1",
            "text": "I adopted a grey cat called Pixel yesterday.",
        },
        {"speaker": "Ben", "dia_id": "D1:2", "text": "Congrats! I started learning the cello."},
        {
            "speaker": "Ana",
            "dia_id": "D1:3",
            "text": "Look at my garden.",
            "blip_caption": "a photo of red tulips",
            "img_url": ["x"],
        },
    ]
    turns_2 = [
        {"speaker": "Ben", "dia_id": "D2:1", "text": "My cello teacher lives in Vienna."},
        {"speaker": "Ana", "dia_id": "D2:2", "text": "Pixel broke a vase last week."},
    ]
    return {
        "sample_id": sample_id,
        "conversation": {
            "speaker_a": "Ana",
            "speaker_b": "Ben",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": turns_1,
            "session_2_date_time": "10:00 am on 20 June, 2023",
            "session_2": turns_2,
            "session_3_date_time": "10:00 am on 1 July, 2023",  # no turn list: not a session
        },
        "qa": [
            {"question": "What pet did Ana adopt?", "answer": "a cat", "evidence": ["D1:1"],
             "category": 4},
            {"question": "When did Ana adopt Pixel?", "answer": "7 May 2023",
             "evidence": ["D1:1"], "category": 2},
            {"question": "What instrument does Ben play and where does his teacher live?",
             "answer": "cello, Vienna", "evidence": ["D1:2", "D2:1"], "category": 1},
            {"question": "What flowers grow in Ana's garden?", "answer": "tulips",
             "evidence": ["D1:3"], "category": 3},
            {"question": "Adversarial", "evidence": ["D1:1"], "category": 5},
            {"question": "Broken evidence", "answer": "x", "evidence": ["D9:9"], "category": 4},
        ],
        "event_summary": {},
        "observation": {},
        "session_summary": {},
    }  # fmt: skip


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "locomo_tiny.json"
    path.write_text(json.dumps([synthetic_sample("conv-a"), synthetic_sample("conv-b")]))
    return path


def test_recall_at_k_hand_computed() -> None:
    ranked = [["D1:1"], ["D1:1", "D1:2"], ["D3:3"], ["D2:1"], ["D2:2"]]
    evidence = ["D1:2", "D2:1"]
    # distinct turns in order: D1:1, D1:2, D3:3, D2:1, D2:2
    assert recall_at_k(evidence, ranked, 1) == 0.0
    assert recall_at_k(evidence, ranked, 2) == 0.5
    assert recall_at_k(evidence, ranked, 3) == 0.5
    assert recall_at_k(evidence, ranked, 4) == 1.0
    # a memory citing several turns counts each, stopping at k distinct turns
    assert recall_at_k(["D2:1"], [["D1:1", "D1:2", "D2:1"]], 2) == 0.0
    assert recall_at_k(["D2:1"], [["D1:1", "D1:2", "D2:1"]], 3) == 1.0
    assert recall_at_k(["D1:1"], [], 10) == 0.0


def test_load_locomo_messages_and_questions(data_file: Path) -> None:
    conversations = load_locomo(data_file)
    assert [c.sample_id for c in conversations] == ["conv-a", "conv-b"]
    conv = conversations[0]
    assert [m["message_id"] for m in conv.messages] == ["D1:1", "D1:2", "D1:3", "D2:1", "D2:2"]
    assert conv.messages[0] == {
        "role": "Ana",
        "content": "I adopted a grey cat called Pixel yesterday.",
        "message_id": "D1:1",
        "chat_time": "1:56 pm on 8 May, 2023",
    }
    assert conv.messages[2]["content"].endswith("[shares an image: a photo of red tulips]")
    # category 5 and questions whose evidence names no turn are excluded
    assert [q.category for q in conv.questions] == [4, 2, 1, 3]
    assert conv.questions[2].evidence == ("D1:2", "D2:1")
    assert len(load_locomo(data_file, limit=1)) == 1


def test_raw_turn_documents_name_the_speaker_and_caption(data_file: Path) -> None:
    messages = load_locomo(data_file)[0].messages
    assert turn_document(messages[0]) == "Ana: I adopted a grey cat called Pixel yesterday."
    assert turn_document(messages[2]) == (
        "Ana: Look at my garden. [shares an image: a photo of red tulips]"
    )


def test_plain_tokens_keep_every_word() -> None:
    # the reference BM25 tokenizer drops nothing (unlike retrieval.keywords)
    assert plain_tokens("What did Ana's cat, Pixel, do?") == [
        "what", "did", "ana", "s", "cat", "pixel", "do"
    ]  # fmt: skip


def test_speaker_prefix_lets_bm25_find_a_speakers_turn(data_file: Path) -> None:
    # "Ben" is only in the speaker prefix of his turns: indexing bare text could not rank
    # them, the speaker-prefixed documents put both of his turns first.
    messages = load_locomo(data_file)[0].messages
    index = HybridIndex(
        [turn_document(m) for m in messages],
        [[m["message_id"]] for m in messages],
        lambda texts: np.eye(len(texts), dtype=np.float32),
        tokenize=plain_tokens,
    )
    top = [messages[i]["message_id"] for i in index.bm25("What did Ben say?", 2)]
    assert sorted(top) == ["D1:2", "D2:1"]


def test_cli_json_shape(data_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    systems = "fast-inproc,bm25,bm25-kw,dense,rrf,rrf-tuned"
    assert main(["locomo-recall", "--data", str(data_file), "--json", str(out),
                 "--systems", systems]) == 0  # fmt: skip
    result = json.loads(out.read_text())["locomo-recall"]
    assert result["questions"] == 8
    assert set(result["machine"]) >= {"cpu_count", "python", "platform"}
    assert set(result["systems"]) == set(systems.split(","))
    for summary in result["systems"].values():
        for k in ("R@5", "R@10", "R@20"):
            assert 0.0 <= summary[k] <= 1.0
        assert set(summary["by_category"]) == {"1", "2", "3", "4"}
        assert summary["by_category"]["1"]["questions"] == 2
    # five turns per conversation: by k=5 every evidence turn has been cited
    assert result["systems"]["bm25"]["R@5"] == 1.0
    assert result["systems"]["fast-inproc"]["R@5"] == 1.0


def test_split_selects_train_and_test_conversations() -> None:
    convs = [load_sample(f"c{i}") for i in range(7)]
    assert [i for i, _ in select_split(convs, "train")] == [0, 1, 2, 3, 4]
    assert [i for i, _ in select_split(convs, "test")] == [5, 6]
    assert len(select_split(convs, "all")) == 7
    with pytest.raises(ValueError):
        select_split(convs, "dev")


def load_sample(sample_id: str) -> Any:
    from memos.bench.locomo_data import Conversation

    return Conversation(sample_id, [], [])


def test_summaries_per_split(tmp_path: Path) -> None:
    path = tmp_path / "six.json"
    path.write_text(json.dumps([synthetic_sample(f"conv-{i}") for i in range(6)]))
    out = tmp_path / "result.json"
    assert main(["locomo-recall", "--data", str(path), "--json", str(out),
                 "--systems", "bm25,dense,rrf"]) == 0  # fmt: skip
    result = json.loads(out.read_text())["locomo-recall"]
    splits = result["systems"]["bm25"]["splits"]
    assert set(splits) == {"train", "test"}
    # Four answerable questions per conversation: five train conversations, one test.
    assert sum(c["questions"] for c in splits["train"]["by_category"].values()) == 20
    assert sum(c["questions"] for c in splits["test"]["by_category"].values()) == 4
    assert main(["locomo-recall", "--data", str(path), "--json", str(out),
                 "--systems", "bm25,dense,rrf", "--split", "test"]) == 0  # fmt: skip
    result = json.loads(out.read_text())["locomo-recall"]
    assert result["questions"] == 4 and result["split"] == "test"
    assert set(result["systems"]["bm25"]["splits"]) == {"test"}


def test_user_view_renames_speakers_and_asks_in_the_first_person(data_file: Path) -> None:
    conv = load_locomo(data_file)[0]
    view = user_view(conv)
    assert {m["role"] for m in view.messages} == {"user", "assistant"}
    assert [m["content"] for m in view.messages] == [m["content"] for m in conv.messages]
    # Questions about Ana (the first speaker) only, in her words; Ben's question is dropped.
    assert [q.text for q in view.questions] == [
        "What pet did I adopt?",
        "When did I adopt Pixel?",
        "What flowers grow in my garden?",
    ]
    assert [q.evidence for q in view.questions] == [("D1:1",), ("D1:1",), ("D1:3",)]
    assert first_person("What does Ana like?", "Ana") == "What do I like?"


def test_long_turn_view_adds_haystack_and_filler_but_keeps_the_evidence(tmp_path: Path) -> None:
    from memos.bench.locomo_long_turns import FILLER_TURNS, long_turn_view

    path = tmp_path / "three.json"
    path.write_text(json.dumps([synthetic_sample(f"conv-{x}") for x in "abc"]))
    convs = load_locomo(path)
    views = long_turn_view(convs)
    own, view = convs[0], views[0]
    assert view.questions == user_view(own).questions  # same questions, same evidence ids
    ids = [m["message_id"] for m in view.messages]
    assert len(ids) == len(set(ids)) == 2 * len(own.messages)
    # Sessions interleaved: own D1, haystack D1 (conv-b's), own D2, haystack D2.
    sessions = list(dict.fromkeys(i.split(":", 1)[0] for i in ids))
    assert sessions == ["D1", "Hconv-b-D1", "D2", "Hconv-b-D2"]
    cited = {e for q in view.questions for e in q.evidence}
    assert cited <= {i for i in ids if not i.startswith("H")}
    by_id = {m["message_id"]: m for m in view.messages}
    for message in user_view(own).messages:
        kept = by_id[message["message_id"]]
        assert kept["role"] == message["role"]
        if message["role"] == "user":
            assert kept["content"] == message["content"]
        else:  # the original words first, then the filler conversation's assistant turns
            assert kept["content"].startswith(message["content"] + " ")
            assert len(kept["content"].split()) > len(message["content"].split()) * 2
    assert FILLER_TURNS >= 2
    with pytest.raises(ValueError, match="at least 3"):
        long_turn_view(convs[:2])
    # The CLI says why instead of a traceback.
    with pytest.raises(SystemExit, match="--long-turns"):
        main(["locomo-recall", "--data", str(path), "--conversations", "2", "--long-turns",
              "--systems", "bm25"])  # fmt: skip
