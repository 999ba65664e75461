"""reorganize_cube on the real embedded ArcadeDB with the packaged MiniLM embedder."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from memos.configs.organize import ReorganizeConfig
from memos.memories.textual.organize import ReorganizeReport, reorganize_cube
from tests.memories.textual.organize.helpers import (
    assert_consistent,
    cube,
    edges_of,
    is_topic,
    item,
)

pytestmark = pytest.mark.services

NO_HIERARCHY = ReorganizeConfig(hierarchy=False)

COOKING = [
    "Bake the sourdough bread at 230 degrees for forty minutes.",
    "The risotto needs arborio rice and warm chicken stock added slowly.",
    "Caramelise the onions in butter before adding them to the soup.",
    "Knead pizza dough for ten minutes until it is smooth and elastic.",
    "Marinate the chicken in yoghurt, garlic and cumin overnight.",
    "Whisk eggs and sugar until pale for a light sponge cake.",
    "Season the tomato pasta sauce with basil and a pinch of salt.",
    "Roast the vegetables in olive oil until their edges brown.",
]
ASTRONOMY = [
    "Jupiter's Great Red Spot is a storm larger than Earth.",
    "The telescope showed the rings of Saturn on a clear night.",
    "A light-year is the distance light travels in one year.",
    "The Andromeda galaxy is the nearest large spiral galaxy to the Milky Way.",
    "Mars appears red because of iron oxide dust on its surface.",
    "A total solar eclipse happens when the Moon covers the Sun.",
    "Neutron stars are the collapsed cores of massive stars.",
    "The Hubble space telescope orbits Earth above the atmosphere.",
]


def test_duplicates_merge_with_lineage_and_second_run_changes_nothing(make_memory: Any) -> None:
    memory = make_memory()
    ids = memory.add(
        [
            item("Caroline adopted a beagle named Rex.", "m1", tags=["pets"]),
            item("caroline adopted a  beagle named Rex.", "m2", tags=["dogs"]),
            item("Caroline adopted a beagle called Rex.", "m3", tags=["pets", "family"]),
            item("Melanie is training for the Boston marathon.", "m4"),
            item("The book club meets every Thursday at the library.", "m5"),
            # Near-identical embeddings, different numbers: not duplicates.
            item("Melanie ran 5 kilometres on Sunday.", "m6"),
            item("Melanie ran 10 kilometres on Sunday.", "m7"),
        ]
    )
    assert len(ids.new_ids) == 7  # different source messages: add keeps all three
    report = reorganize_cube(memory, NO_HIERARCHY)
    assert report.completed and report.errors == []
    assert report.dedup.groups_merged == 1 and report.dedup.originals_archived == 3
    assert report.dedup.exact_pairs == 1 and report.dedup.near_pairs >= 1

    nodes, edges = cube(memory)
    lineage = edges_of(edges, "MERGED_TO")
    assert sorted(s for s, _ in lineage) == sorted(ids[:3])
    targets = {t for _, t in lineage}
    assert len(targets) == 1
    merged = nodes[targets.pop()]
    assert merged["metadata"]["status"] == "activated"
    assert {s["message_id"] for s in merged["metadata"]["sources"]} == {"m1", "m2", "m3"}
    assert set(merged["metadata"]["tags"]) == {"pets", "dogs", "family"}
    for original in ids[:3]:
        assert nodes[original]["metadata"]["status"] == "archived"
    for other in ids[3:]:
        assert nodes[other]["metadata"]["status"] == "activated"
    hits = memory.search("Caroline's beagle Rex", top_k=5)
    assert merged["id"] in [h.id for h in hits]
    assert not set(ids[:3]) & {h.id for h in hits}
    assert_consistent(memory, ids)

    before = cube(memory)
    again = reorganize_cube(memory, NO_HIERARCHY)
    assert again.completed and again.changes == 0
    assert cube(memory) == before


def test_superseded_fact_hidden_by_default_and_visible_as_of(make_memory: Any) -> None:
    memory = make_memory()
    boston, denver, _book = memory.add(
        [
            item("Caroline lives in Boston.", "c1", valid_at="2023-01-10T00:00:00+00:00"),
            item("Caroline moved to Denver.", "c2", valid_at="2024-03-01T00:00:00+00:00"),
            item("The book club meets every Thursday at the library.", "c3"),
        ]
    )
    report = reorganize_cube(memory, NO_HIERARCHY)
    assert report.conflicts.superseded == 1 and report.conflicts.by_rule == 1
    old = memory.get(boston)
    assert old.metadata.status == "activated"  # ended, not deleted
    assert old.metadata.invalid_at == "2024-03-01T00:00:00+00:00"  # type: ignore[union-attr]
    _nodes, edges = cube(memory)
    assert edges_of(edges, "SUPERSEDES") == [(denver, boston)]

    now_ids = [h.id for h in memory.search("Where does Caroline live?", top_k=5)]
    assert denver in now_ids and boston not in now_ids
    then_ids = [
        h.id
        for h in memory.search(
            "Where does Caroline live?", top_k=5, as_of="2023-06-01T00:00:00+00:00"
        )
    ]
    assert boston in then_ids and denver not in then_ids

    assert reorganize_cube(memory, NO_HIERARCHY).changes == 0


def test_working_memory_is_bounded_and_nothing_evicted_is_lost(make_memory: Any) -> None:
    memory = make_memory()
    s1 = [
        item(
            f"I like visiting museum number {i} on weekends."
            if i % 3 == 0
            else f"The city museum number {i} opens at nine.",
            f"w{i}",
            memory_type="WorkingMemory",
            session_id="s1",
            confidence=float(5 + 7 * i),
        )
        for i in range(12)
    ]
    s2 = [
        item(
            f"The train to town number {i} leaves hourly.",
            f"t{i}",
            memory_type="WorkingMemory",
            session_id="s2",
        )
        for i in range(3)
    ]
    ids = memory.add(s1 + s2)
    config = ReorganizeConfig(working_capacity=5, dedup=False, conflicts=False, hierarchy=False)
    report = reorganize_cube(memory, config)
    assert report.tiers.moved_to_long_term + report.tiers.moved_to_user == 7
    assert report.tiers.moved_to_user == 3  # the first-person ones the user said: 0, 3, 6 (9 kept)

    nodes, _ = cube(memory)
    assert set(nodes) == set(ids)
    assert all(n["metadata"]["status"] == "activated" for n in nodes.values())
    working_s1 = {i for i in ids[:12] if nodes[i]["metadata"]["memory_type"] == "WorkingMemory"}
    assert working_s1 == set(ids[7:12])  # the five with the highest confidence stay
    for i in ids[:7]:
        expected = "UserMemory" if ids.index(i) % 3 == 0 else "LongTermMemory"
        assert nodes[i]["metadata"]["memory_type"] == expected
    assert all(nodes[i]["metadata"]["memory_type"] == "WorkingMemory" for i in ids[12:])
    assert reorganize_cube(memory, config).changes == 0

    capped = config.model_copy(update={"long_term_cap": 2})
    report = reorganize_cube(memory, capped)
    assert report.tiers.archived_over_cap == 2  # 4 long-term memories, cap 2
    nodes, _ = cube(memory)
    assert set(nodes) == set(ids)  # archived, never deleted
    live_lt = [
        n
        for n in nodes.values()
        if n["metadata"]["memory_type"] == "LongTermMemory"
        and n["metadata"]["status"] == "activated"
    ]
    assert len(live_lt) == 2


def test_hierarchy_creates_parents_for_a_topic_split_and_updates_incrementally(
    make_memory: Any,
) -> None:
    memory = make_memory()
    cooking = list(memory.add([item(t, f"k{i}") for i, t in enumerate(COOKING)]))
    space = list(memory.add([item(t, f"a{i}") for i, t in enumerate(ASTRONOMY)]))
    config = ReorganizeConfig(cluster_target_size=8, cluster_min_size=3)
    report = reorganize_cube(memory, config)
    assert report.hierarchy.parents_created == 2

    nodes, edges = cube(memory)
    topics = [i for i, n in nodes.items() if is_topic(n)]
    assert len(topics) == 2
    children = {t: {c for s, c in edges_of(edges, "PARENT") if s == t} for t in topics}
    assert sorted(map(frozenset, children.values()), key=len) in (
        [frozenset(cooking), frozenset(space)],
        [frozenset(space), frozenset(cooking)],
    )
    cooking_topic = next(t for t in topics if children[t] == set(cooking))
    # Graph expansion walks PARENT: the topic reaches its leaves.
    reached = {r["id"] for r in memory.graph.neighbors([cooking_topic], ("PARENT",))}
    assert reached == set(cooking)
    assert reorganize_cube(memory, config).changes == 0

    extra = list(
        memory.add(
            [
                item("Simmer the curry with coconut milk and fresh ginger.", "k8"),
                item("Fry the pancakes in butter and serve them with maple syrup.", "k9"),
            ]
        )
    )
    report = reorganize_cube(memory, config)
    assert report.hierarchy.parents_created == 0 and report.hierarchy.parents_updated == 1
    nodes, edges = cube(memory)
    kids = {c for s, c in edges_of(edges, "PARENT") if s == cooking_topic}
    assert kids == set(cooking + extra)
    assert nodes[cooking_topic]["metadata"]["status"] == "activated"
    assert "10 memories" in nodes[cooking_topic]["memory"]
    assert reorganize_cube(memory, config).changes == 0


def test_search_hides_topics_unless_asked_and_still_expands_through_them(
    make_memory: Any,
) -> None:
    memory = make_memory()
    cooking = list(memory.add([item(t, f"k{i}") for i, t in enumerate(COOKING)]))
    memory.add([item(t, f"a{i}") for i, t in enumerate(ASTRONOMY)])
    config = ReorganizeConfig(cluster_target_size=8, cluster_min_size=3)
    assert reorganize_cube(memory, config).hierarchy.parents_created == 2
    nodes, _ = cube(memory)
    topics = {i for i, n in nodes.items() if is_topic(n)}
    query = "cooking food recipes in the kitchen"
    shown = memory.search(query, top_k=len(nodes), include_topics=True)
    assert topics & {h.id for h in shown}, "the control: topics are found when asked for"
    hidden = memory.search(query, top_k=len(nodes))
    assert not topics & {h.id for h in hidden}
    # The slots the topics took go to memories: every memory shown with topics is still there.
    assert {h.id for h in shown} - topics <= {h.id for h in hidden}
    assert len(hidden) == len(nodes) - len(topics)
    assert set(cooking) <= {h.id for h in hidden[: len(cooking) + 2]}


def test_deadline_stops_the_run_and_the_next_run_finishes(make_memory: Any) -> None:
    memory = make_memory()
    ids = memory.add([item("Melanie's favourite food is lemon tart.", f"d{i}") for i in range(3)])
    cut = reorganize_cube(memory, NO_HIERARCHY, deadline_s=1e-9)
    assert not cut.completed and cut.phases_not_run == ["dedup", "conflicts", "tiers"]
    assert cut.changes == 0
    assert all(n["metadata"]["status"] == "activated" for n in cube(memory)[0].values())
    done = reorganize_cube(memory, NO_HIERARCHY)
    assert done.completed and done.dedup.groups_merged == 1
    assert_consistent(memory, ids)


def _seed_cube(memory: Any) -> list[str]:
    texts = [
        item("Caroline adopted a beagle named Rex.", "x1"),
        item("Caroline adopted a beagle named Rex.", "x2"),
        item("Melanie is training for the Boston marathon.", "x3"),
        item("Melanie is training for the Boston Marathon this year.", "x4"),
        item("Jon lives in Paris.", "x5", valid_at="2022-01-01T00:00:00+00:00"),
        item("Jon moved to Lisbon.", "x6", valid_at="2023-05-01T00:00:00+00:00"),
    ]
    texts += [item(t, f"kc{i}") for i, t in enumerate(COOKING)]
    texts += [item(t, f"as{i}") for i, t in enumerate(ASTRONOMY)]
    return list(memory.add(texts))


def _race(memories: list[Any], run: Any) -> list[ReorganizeReport]:
    reports: list[ReorganizeReport] = []
    failures: list[BaseException] = []
    barrier = threading.Barrier(len(memories))

    def work(memory: Any) -> None:
        try:
            barrier.wait()
            reports.append(run(memory))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(m,)) for m in memories]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, failures
    return reports


def test_concurrent_runs_with_the_cube_lock_do_not_corrupt(
    make_memory: Any, redis_client: Any
) -> None:
    first = make_memory()
    ids = _seed_cube(first)
    second = make_memory(first.cube_id)
    config = ReorganizeConfig(cluster_target_size=8)
    reports = _race(
        [first, second],
        lambda m: reorganize_cube(m, config, redis_client=redis_client, lock_wait_s=120),
    )
    assert sorted(r.changes > 0 for r in reports) == [False, True]  # one did it all
    busy = max(reports, key=lambda r: r.changes)
    assert busy.dedup.groups_merged == 2 and busy.conflicts.superseded == 1
    assert_consistent(first, ids)
    assert redis_client.keys("memos:lock:reorganize:*") == []


def test_concurrent_runs_without_a_lock_do_not_corrupt(make_memory: Any) -> None:
    first = make_memory()
    ids = _seed_cube(first)
    second = make_memory(first.cube_id)
    config = ReorganizeConfig(cluster_target_size=8)
    _race([first, second], lambda m: reorganize_cube(m, config))
    assert_consistent(first, ids)
    # Whatever a lost race left undone, the next run finishes and the one after does nothing.
    reorganize_cube(first, config)
    assert reorganize_cube(first, config).changes == 0
    _nodes, edges = cube(first)
    assert len({t for _, t in edges_of(edges, "MERGED_TO")}) == 2
    assert_consistent(first, ids)
