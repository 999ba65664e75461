"""The mem0 benchmark peer on tiny data: real mem0ai (Qdrant local mode, the packaged MiniLM).

Skipped, with the reason, when the optional extra ``peers`` is not installed (CI); the checks
that need no mem0 (option parsing, the missing-package error) always run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from memos.bench import peers
from memos.bench.__main__ import main
from memos.bench.locomo_data import load_locomo
from memos.bench.locomo_recall import recall_at_k
from memos.bench.peers import mem0_peer
from memos.bench.turns import synthetic_sessions
from memos.errors import MemOSError, PeerUnavailableError
from tests.bench.test_locomo_recall import synthetic_sample

needs_mem0 = pytest.mark.skipif(
    importlib.util.find_spec("mem0") is None,
    reason="mem0ai (optional extra 'peers') is not installed: make install-peers",
)


def _args(value: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    peers.add_peers_argument(parser)
    return parser.parse_args(["--peers", value] if value else [])


def test_peers_are_opt_in_and_names_are_checked() -> None:
    assert peers.requested(_args("")) == []
    assert peers.requested(argparse.Namespace()) == []  # a suite without the option
    assert peers.requested(_args(" mem0 ,")) == ["mem0"]
    with pytest.raises(SystemExit, match="unknown peers"):
        peers.requested(_args("mem0,zep"))


def test_missing_mem0_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import mem0` raise ImportError, as if not installed.
    monkeypatch.setitem(sys.modules, "mem0", None)
    with pytest.raises(PeerUnavailableError, match="make install-peers") as info:
        mem0_peer.require()
    assert isinstance(info.value, MemOSError)


@pytest.fixture(scope="module")
def peer() -> Iterator[mem0_peer.Mem0Peer]:
    with mem0_peer.Mem0Peer() as p:
        yield p


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "locomo_tiny.json"
    path.write_text(json.dumps([synthetic_sample("conv-a"), synthetic_sample("conv-b")]))
    return path


@needs_mem0
def test_turn_ids_come_back_from_mem0_metadata(peer: mem0_peer.Mem0Peer) -> None:
    turns = {
        "D1:1": "Ana: I adopted a grey cat called Pixel yesterday.",
        "D1:2": "Ben: Congrats! I started learning the cello.",
        "D2:1": "Ben: My cello teacher lives in Vienna.",
    }
    for turn_id, text in turns.items():
        peer.add_turn(text, "tiny-a", turn_id)
    peer.add_turn("Ana: I adopted a grey cat called Pixel yesterday.", "tiny-b", "X:1")
    assert peer.count("tiny-a") == 3
    results = peer.search("What pet did Ana adopt?", "tiny-a", 5)
    cited = mem0_peer.turn_ids(results)
    assert cited[0] == ["D1:1"]
    # the other user's identical memory is not in this user's scope
    assert ["X:1"] not in cited
    assert all(r["user_id"] == "tiny-a" for r in results)
    assert peer.llm_calls == 0


@needs_mem0
def test_bulk_load_writes_what_add_writes(peer: mem0_peer.Mem0Peer) -> None:
    peer.add_messages([{"role": "user", "content": "I planted tulips by the fence."}], "bulk-a")
    vector = peer.memory.embedding_model.embed("I planted roses by the fence.", "add")
    peer.bulk_load(["I planted roses by the fence."], [vector], "bulk-b")
    store = peer.memory.vector_store
    payloads = {}
    for user in ("bulk-a", "bulk-b"):
        hits = peer.search("fence flowers", user, 5)
        assert len(hits) == 1
        payloads[user] = store.get(vector_id=hits[0]["id"]).payload
    assert sorted(payloads["bulk-a"]) == sorted(payloads["bulk-b"])
    assert payloads["bulk-b"]["data"] == "I planted roses by the fence."


@needs_mem0
def test_llm_guard_counts_and_refuses_an_inferring_add(peer: mem0_peer.Mem0Peer) -> None:
    before = peer.llm_calls
    # infer=True would ask the LLM to extract facts: the guard must see it and refuse.
    with pytest.raises(Exception, match="called its LLM"):
        peer.memory.add("I like tea.", user_id="guard", infer=True)
    assert peer.llm_calls == before + 1
    assert peer.count("guard") == 0


@needs_mem0
def test_locomo_rankings_store_every_turn_and_cite_the_evidence(data_file: Path) -> None:
    conversations = load_locomo(data_file)
    rows, facts = mem0_peer.locomo_rankings(conversations, fetch=20)
    assert facts["turns"] == facts["memories_stored"] == 10
    assert facts["llm_calls"] == 0
    assert len(rows) == sum(len(c.questions) for c in conversations)
    pet = next(r for q, r in rows if q.text == "What pet did Ana adopt?")
    assert recall_at_k(("D1:1",), pet, 1) == 1.0


@needs_mem0
def test_ingest_counts_every_message_once() -> None:
    sessions = synthetic_sessions(30, per_session=10)
    result = mem0_peer.ingest(sessions)
    assert result["turns"] == result["stored"] == result["memories"] == 30
    assert result["lost"] == result["duplicated"] == result["llm_calls"] == 0
    assert mem0_peer.check_ingest({"peers": {"mem0": result}}) == []
    assert result["turns_per_s"] > 0


@needs_mem0
def test_search_latency_peer_grows_by_prefixes() -> None:
    from memos.bench.locomo_recall import _base_embedder
    from memos.bench.search_latency import cube_items

    items = cube_items(Path("/nonexistent"), 40)
    vectors = _base_embedder().embed([i["memory"] for i in items])
    for item, vector in zip(items, vectors, strict=True):
        item["metadata"]["embedding"] = vector
    questions = [f"Where did Person{i} go?" for i in range(8)]
    with mem0_peer.search_latency_peer(["mem0"]) as searcher:
        assert searcher is not None
        small = searcher.measure(items[:15], questions, 5)
        large = searcher.measure(items, questions, 5)
    assert (small["nodes"], large["nodes"]) == (15, 40)
    assert large["search"]["n"] == 3
    result = {"sizes": {"15": {"mem0": small}, "40": {"mem0": large}}}
    assert mem0_peer.check_search(result) == []
    large["nodes"] = 39
    assert mem0_peer.check_search(result) == ["search-latency mem0 40 holds 39 memories"]
    with mem0_peer.search_latency_peer([]) as nothing:
        assert nothing is None


@needs_mem0
def test_locomo_suite_adds_a_mem0_row(data_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    code = main(["locomo-recall", "--data", str(data_file), "--systems", "bm25,dense,rrf",
                 "--peers", "mem0", "--json", str(out), "--out", str(tmp_path)])  # fmt: skip
    assert code == 0
    systems = json.loads(out.read_text())["locomo-recall"]["systems"]
    # mem0 ranks these turns by cosine with the same MiniLM as `dense`: the same recall
    assert systems["mem0"]["R@5"] == systems["dense"]["R@5"]
    assert systems["mem0"]["peer"]["llm_calls"] == 0
