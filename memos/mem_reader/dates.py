"""Parse message timestamps and resolve relative date phrases against them.

``parse_chat_time`` accepts LoCoMo's ``"1:56 pm on 8 May, 2023"``, ISO-8601 (with or without a
time or zone) and a few common written forms. ``resolve_relative_dates`` rewrites phrases such
as "yesterday" or "last Saturday" into ``"yesterday (7 May 2023)"`` so a memory read months
later still says when something happened.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

__all__ = ["format_date", "parse_chat_time", "resolve_relative_dates"]

# strptime formats tried after ISO-8601, most specific first.
_FORMATS: tuple[str, ...] = (
    "%I:%M %p on %d %B, %Y",  # LoCoMo: "1:56 pm on 8 May, 2023"
    "%I:%M %p on %d %b, %Y",
    "%I:%M %p on %B %d, %Y",
    "%d %B, %Y",
    "%d %B %Y",
    "%B %d, %Y",
    "%B %d %Y",
    "%d %b %Y",
    "%b %d, %Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
)

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "a couple of": 2,
    "a couple": 2,
    "couple of": 2,
    "a few": 3,
    "few": 3,
}
_NUM = r"(?P<n>\d{1,3}|a couple of|a couple|couple of|a few|few|an|a|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"  # noqa: E501
_UNIT = r"(?P<unit>day|week|month|year)s?"
_WD = r"(?P<wd>" + "|".join(_WEEKDAYS) + r")"

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(rx, re.IGNORECASE))
    for name, rx in (
        ("ago", rf"\b{_NUM}\s+{_UNIT}\s+ago\b"),
        ("rel_wd", rf"\b(?P<dir>last|this past|past|next|this coming|coming|this)\s+{_WD}\b"),
        (
            "rel_unit",
            r"\b(?P<dir>last|next|this|this past|past)\s+(?P<unit>week|weekend|month|year)\b",
        ),
        ("yesterday", r"\b(?:the day before yesterday|yesterday|last night)\b"),
        ("today", r"\b(?:today|tonight|this morning|this afternoon|this evening)\b"),
        ("tomorrow", r"\b(?:the day after tomorrow|tomorrow)\b"),
    )
)


def parse_chat_time(value: str) -> datetime | None:
    """Parse a message timestamp; ``None`` if no supported format matches.

    Supported: ISO-8601 (``2023-05-08``, ``2023-05-08T13:56:00+00:00``, ``...Z``), LoCoMo's
    ``"1:56 pm on 8 May, 2023"`` and written dates such as ``"8 May 2023"`` or
    ``"May 8, 2023"``.
    """
    text = " ".join(value.strip().split())
    if not text:
        return None
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        pass
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def format_date(day: date) -> str:
    """``7 May 2023``: the unambiguous day-month-year form LoCoMo answers use."""
    return f"{day.day} {day.strftime('%B')} {day.year}"


def _month_shift(day: date, months: int) -> date:
    index = day.year * 12 + (day.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def _ago(n: int, unit: str, ref: date) -> str:
    if unit == "day":
        return format_date(ref - timedelta(days=n))
    if unit == "week":
        if n == 1:
            return f"the week before {format_date(ref)}"
        return f"about {format_date(ref - timedelta(weeks=n))}"
    if unit == "month":
        return _month_shift(ref, -n).strftime("%B %Y")
    return str(ref.year - n)


def _weekday(direction: str, weekday: str, ref: date) -> str:
    target = _WEEKDAYS.index(weekday)
    if direction in {"last", "this past", "past"}:
        delta = (ref.weekday() - target) % 7 or 7
        return format_date(ref - timedelta(days=delta))
    if direction == "this":
        # "this Friday" means the one of the current week, before or after the reference day.
        return format_date(ref + timedelta(days=target - ref.weekday()))
    delta = (target - ref.weekday()) % 7 or 7
    return format_date(ref + timedelta(days=delta))


def _relative_unit(direction: str, unit: str, ref: date) -> str:
    step = {"last": -1, "past": -1, "this past": -1, "next": 1, "this": 0}[direction]
    if unit in {"week", "weekend"}:
        if step < 0:
            return f"the {unit} before {format_date(ref)}"
        if step > 0:
            return f"the {unit} after {format_date(ref)}"
        return f"the {unit} of {format_date(ref)}"
    if unit == "month":
        return _month_shift(ref, step).strftime("%B %Y")
    return str(ref.year + step)


def _resolve(name: str, match: re.Match[str], ref: date) -> str:
    phrase = match.group(0).lower()
    if name == "ago":
        n = match.group("n").lower()
        count = int(n) if n.isdigit() else _NUMBER_WORDS[n]
        return _ago(count, match.group("unit").lower(), ref)
    if name == "rel_wd":
        return _weekday(match.group("dir").lower(), match.group("wd").lower(), ref)
    if name == "rel_unit":
        return _relative_unit(match.group("dir").lower(), match.group("unit").lower(), ref)
    if name == "yesterday":
        days = 2 if phrase.startswith("the day before") else 1
        return format_date(ref - timedelta(days=days))
    if name == "tomorrow":
        days = 2 if phrase.startswith("the day after") else 1
        return format_date(ref + timedelta(days=days))
    return format_date(ref)


def resolve_relative_dates(text: str, reference: datetime | date) -> tuple[str, list[str]]:
    """Insert the absolute date after each relative date phrase in ``text``.

    Returns the rewritten text and the list of resolved dates (in text order). Overlapping
    phrases resolve once, the earliest and longest match winning, so "last week" is never
    also read as "week ago".
    """
    ref = reference.date() if isinstance(reference, datetime) else reference
    spans: list[tuple[int, int, str]] = []
    for name, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < e and s < end for s, e, _ in spans):
                continue
            spans.append((start, end, _resolve(name, match, ref)))
    spans.sort()
    out: list[str] = []
    resolved: list[str] = []
    cursor = 0
    for _start, end, value in spans:
        out.append(text[cursor:end])
        out.append(f" ({value})")
        resolved.append(value)
        cursor = end
    out.append(text[cursor:])
    return "".join(out), resolved
