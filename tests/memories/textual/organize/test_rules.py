"""The rule-based fact reader behind conflict detection."""

from __future__ import annotations

import pytest

from memos.memories.textual.organize.rules import Fact, contradicts, extract_facts, same_value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Caroline lives in Boston.", ("caroline", "residence", "boston")),
        ("Caroline moved to Denver last month.", ("caroline", "residence", "denver")),
        ("I work at Google and love it", ("user:alice", "employer", "google")),
        ("Jon is married to Sarah, who is a nurse.", ("jon", "spouse", "sarah")),
        ("Melanie's favourite food is lemon tart.", ("melanie", "favourite food", "lemon tart")),
        ("My wife is Anna.", ("user:alice", "spouse", "anna")),
        ("Bob is 34 years old", ("bob", "age", "34")),
        (
            "The user said on 5 May 2023: I live in New York City now",
            ("user:alice", "residence", "new york city"),
        ),
        (
            "Melanie said on 1 June 2023: I just started working at Acme Corp (replying to x)",
            ("melanie", "employer", "acme corp"),
        ),
        ("Caroline works as a counselor.", ("caroline", "occupation", "counselor")),
    ],
)
def test_facts_are_read(text: str, expected: tuple[str, str, str]) -> None:
    assert Fact(*expected) in extract_facts(text, "alice")


@pytest.mark.parametrize(
    "text",
    ["He lives in Paris.", "Caroline adopted a beagle named Rex.", "The weather was nice."],
)
def test_no_fact_without_a_named_subject_and_known_attribute(text: str) -> None:
    assert extract_facts(text, "alice") == []


def test_contradiction_needs_same_subject_attribute_and_a_different_value() -> None:
    boston = extract_facts("Caroline lives in Boston.")
    assert contradicts(boston, extract_facts("Caroline moved to Denver."))
    assert not contradicts(boston, extract_facts("Caroline lives in Boston now."))
    assert not contradicts(boston, extract_facts("Melanie lives in Denver."))
    assert not contradicts(boston, extract_facts("Caroline works at Denver Health."))
    assert same_value("new york", "new york city") and not same_value("york", "yorkshire")


@pytest.mark.parametrize(
    "text",
    [
        # Joining a group, a church or a gym is not an employer (and several hold at once):
        # read as one, a later join ended an earlier, still true memory (LoCoMo conv 3 lost
        # two evidence memories to it after reorganize).
        "Maria said on 5 May 2023: Just yesterday I joined a nearby church.",
        "John said on 1 May 2023: I joined a service-focused online group last week",
        "Saturday works for me!",
        "Wow, Caroline. Your drive to help is awesome!",
        "Evan said on 2 June 2023: my partner is pregnant",
        "Jolene said on 3 May 2023: One of my favorite dishes is lasagna!",
    ],
)
def test_phrasings_that_state_no_exclusive_fact(text: str) -> None:
    assert extract_facts(text, "alice") == []


def test_joins_do_not_supersede_each_other() -> None:
    church = extract_facts("Maria said on 5 May 2023: I joined a nearby church.")
    gym = extract_facts("Maria said on 9 June 2023: I joined a gym last week.")
    assert not contradicts(church, gym)
