"""Timestamps parse; relative dates resolve against the message time."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from memos.mem_reader.dates import parse_chat_time, resolve_relative_dates

REF = datetime(2023, 5, 8, 13, 56)  # a Monday


@pytest.mark.parametrize(
    "raw",
    [
        "1:56 pm on 8 May, 2023",
        "2023-05-08T13:56:00",
        "2023-05-08 13:56",
        "2023-05-08T13:56:00Z",
        "2023-05-08T13:56:00+02:00",
    ],
)
def test_parse_chat_time_formats(raw: str) -> None:
    parsed = parse_chat_time(raw)
    assert parsed is not None
    assert (parsed.year, parsed.month, parsed.day, parsed.hour, parsed.minute) == (
        2023,
        5,
        8,
        13,
        56,
    )


def test_parse_chat_time_date_only_and_garbage() -> None:
    assert parse_chat_time("8 May 2023") == datetime(2023, 5, 8)
    assert parse_chat_time("May 8, 2023") == datetime(2023, 5, 8)
    assert parse_chat_time("next tuesday-ish") is None
    assert parse_chat_time("   ") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I went yesterday.", "I went yesterday (7 May 2023)."),
        ("two days ago", "two days ago (6 May 2023)"),
        ("3 days ago", "3 days ago (5 May 2023)"),
        ("last Saturday", "last Saturday (6 May 2023)"),
        ("last Monday", "last Monday (1 May 2023)"),
        ("next Friday", "next Friday (12 May 2023)"),
        ("next month", "next month (June 2023)"),
        ("last month", "last month (April 2023)"),
        ("last year", "last year (2022)"),
        ("last week", "last week (the week before 8 May 2023)"),
        ("Tomorrow!", "Tomorrow (9 May 2023)!"),
        ("a year ago", "a year ago (2022)"),
        ("nothing relative here", "nothing relative here"),
    ],
)
def test_resolve_relative_dates(text: str, expected: str) -> None:
    assert resolve_relative_dates(text, REF)[0] == expected


def test_resolve_reports_every_date_in_order() -> None:
    text, dates = resolve_relative_dates("Yesterday I ran; next month I swim.", date(2023, 1, 31))
    assert dates == ["30 January 2023", "February 2023"]
    assert text == "Yesterday (30 January 2023) I ran; next month (February 2023) I swim."
