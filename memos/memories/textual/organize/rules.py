"""Rule-based facts: ``(subject, attribute, value)`` read from a memory's text.

Two memories contradict when they state the same attribute of the same subject with different
values; the newer one then ends the older (see :mod:`conflicts`). The rules, all in English:

=================  ==========================================================================
attribute          phrasings (``S`` subject, ``V`` value)
=================  ==========================================================================
residence          S lives / is living / resides / is based in V; S moved / relocated to V
employer           S works / is working at|for V; S started working / a new job at V;
                   S is employed by|at V (not "S joined V": people join groups, clubs,
                   churches and gyms, several at once, so a join ends nothing)
occupation         S works as (a|an) V; S is (a|an) V by profession
spouse             S is married to V; S married V; S's wife|husband|spouse is V (V a name)
partner            S is dating V; S's girlfriend|boyfriend|partner is V (V a name)
school             S studies / is studying at V; S goes to V (school)
favourite <thing>  S's favourite|favorite <thing> is V (not "one of S's favourite ...")
age                S is N years old
car                S drives (a|an) V
contact <kind>     S's phone number|email|address is V
=================  ==========================================================================

Subjects are a capitalised name (one or two words; not a weekday or month, which open
sentences like "Saturday works for me"), ``I`` / ``my`` (the speaker) or "the user".
Text the fast MemReader writes, ``<speaker> said on <date>: <text>``, is unwrapped first, so
``I``/``my`` in the quote mean the speaker (and "The user" means the cube's user). A value ends
at punctuation or at a time word ("now", "since", "last", "in 2024", ...). Values compare
case-folded without articles; one containing the other ("New York" / "New York City") counts
as the same value, not a contradiction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = r"[A-Z][\w'\-]*(?: [A-Z][\w'\-]*)?"
_SUBJECT = rf"(?P<subject>{_NAME}|I|[Tt]he user)"
_POSSESSIVE = rf"(?:(?P<subject>{_NAME})(?:'s|’s)|(?P<mine>[Mm]y)|(?P<users>[Tt]he user's))"
# A value: words up to punctuation or a word that starts a time / manner phrase.
_VALUE = (
    r"(?P<value>[^.,;:!?()\"]+?)"
    r"(?=\s*(?:[.,;:!?()\"]|$| now\b| since\b| last\b| this\b| next\b| in \d{4}\b| for \d"
    r"| with\b| and\b| because\b| after\b| before\b| when\b| where\b| but\b))"
)
# A person's value (a spouse, a partner): a capitalised name, so "my partner is pregnant" is no
# fact about who the partner is.
_NAMED_VALUE = rf"(?P<value>{_NAME})(?![\w'\-])"
_ADVERBS = r"(?:(?:now|currently|still|just|recently|finally|also|has|have|had|'ve|'s) )*"

_RULES: tuple[tuple[str, str], ...] = (
    (
        "residence",
        rf"{_SUBJECT} {_ADVERBS}(?:lives|live|living|is living|am living|'m living|resides|"
        rf"reside|is based|am based) in {_VALUE}",
    ),
    ("residence", rf"{_SUBJECT} {_ADVERBS}(?:moved|relocated|moving) (?:back )?to {_VALUE}"),
    ("occupation", rf"{_SUBJECT} {_ADVERBS}(?:works|work|working|is working) as (?:an? )?{_VALUE}"),
    ("occupation", rf"{_SUBJECT} (?:is|am|was) (?:an? )(?P<value>[\w \-]+?) by profession"),
    (
        "employer",
        rf"{_SUBJECT} {_ADVERBS}(?:works|work|working|is working|am working) (?:at|for) {_VALUE}",
    ),
    ("employer", rf"{_SUBJECT} {_ADVERBS}started (?:working|a new job) at {_VALUE}"),
    ("employer", rf"{_SUBJECT} (?:is|am) {_ADVERBS}employed (?:by|at) {_VALUE}"),
    ("spouse", rf"{_SUBJECT} (?:is|am|'m) {_ADVERBS}married to {_VALUE}"),
    ("spouse", rf"{_SUBJECT} {_ADVERBS}(?:got married to|married) {_VALUE}"),
    ("spouse", rf"{_POSSESSIVE} (?:wife|husband|spouse) is {_NAMED_VALUE}"),
    ("partner", rf"{_SUBJECT} (?:is|am|'m) {_ADVERBS}dating {_VALUE}"),
    ("partner", rf"{_POSSESSIVE} (?:girlfriend|boyfriend|partner) is {_NAMED_VALUE}"),
    ("school", rf"{_SUBJECT} {_ADVERBS}(?:studies|study|is studying|am studying) at {_VALUE}"),
    ("age", rf"{_SUBJECT} (?:is|am|'m|turned) (?P<value>\d{{1,3}}) years? old"),
    ("car", rf"{_SUBJECT} {_ADVERBS}(?:drives|drive|is driving) (?:an? )?{_VALUE}"),
    (
        "favourite",
        # "One of my favourite dishes is X" names one of several, which ends no other.
        rf"(?<![Oo]ne of ){_POSSESSIVE} (?:favou?rite) (?P<thing>[a-z]+(?: [a-z]+)?) is {_VALUE}",
    ),
    ("contact", rf"{_POSSESSIVE} (?P<thing>phone number|email address|email|address) is {_VALUE}"),
)
_COMPILED = tuple((attr, re.compile(pattern)) for attr, pattern in _RULES)

_SAID_RE = re.compile(r"^(?P<speaker>[^:]{1,60}?) said(?: on [^:]{1,40})?: (?P<body>.*)$", re.S)
_TRAILER_RE = re.compile(r"\s*\((?:replying to|followed by) .*$", re.S)
_ARTICLES_RE = re.compile(r"^(?:the|a|an|my|his|her|their|our) ")
_NOT_SUBJECTS = frozenset(
    """He She They We It This That There You Your My Our His Her Their Monday Tuesday Wednesday
    Thursday Friday Saturday Sunday Today Tomorrow Yesterday January February March April May
    June July August September October November December""".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class Fact:
    """One attribute of one subject: ``("caroline", "residence", "denver")``."""

    subject: str
    attribute: str
    value: str


def _normalise_value(value: str) -> str:
    text = " ".join(value.casefold().split())
    return _ARTICLES_RE.sub("", text).strip()


def same_value(a: str, b: str) -> bool:
    """Equal, or one contains the other as whole words ("new york" / "new york city")."""
    if a == b:
        return True
    return f" {a} " in f" {b} " or f" {b} " in f" {a} "


def _subject(match: re.Match[str], speaker: str, user_subject: str) -> str | None:
    groups = match.groupdict()
    if groups.get("mine"):
        return speaker
    if groups.get("users"):
        return user_subject
    raw = groups.get("subject")
    if raw is None:
        return None
    if raw == "I":
        return speaker
    if raw.casefold() == "the user":
        return user_subject
    if raw.split()[0] in _NOT_SUBJECTS:
        return None
    return raw.casefold()


def extract_facts(text: str, user_id: str | None = None) -> list[Fact]:
    """The facts :data:`_RULES` find in ``text`` (first match per attribute, in rule order)."""
    user_subject = f"user:{user_id or ''}"
    speaker = user_subject
    body = text.strip()
    said = _SAID_RE.match(body)
    if said is not None:
        who = said.group("speaker").strip()
        speaker = user_subject if who.casefold() == "the user" else who.casefold()
        body = said.group("body")
    body = _TRAILER_RE.sub("", body)
    facts: dict[tuple[str, str], Fact] = {}
    for attribute, pattern in _COMPILED:
        for match in pattern.finditer(body):
            subject = _subject(match, speaker, user_subject)
            value = _normalise_value(match.group("value"))
            if subject is None or not value or len(value) > 60:
                continue
            thing = match.groupdict().get("thing")
            name = f"{attribute} {thing.casefold()}" if thing else attribute
            facts.setdefault((subject, name), Fact(subject, name, value))
    return list(facts.values())


def contradicts(a: list[Fact], b: list[Fact]) -> bool:
    """Whether some fact of ``a`` and one of ``b`` give one attribute two different values."""
    for fa in a:
        for fb in b:
            if (
                fa.subject == fb.subject
                and fa.attribute == fb.attribute
                and not same_value(fa.value, fb.value)
            ):
                return True
    return False
