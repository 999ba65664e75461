"""Rule-based entities of memories and questions: who speaks, and which names are mentioned.

No model and no download: an entity is a run of capitalised words in the text ("Charlotte's
Web", "New York", "Dr. Seuss"), normalised to the same lowercase terms as the full-text index
(``cube_index.doc_terms``), so "Charlotte's Web" and "charlotte web" meet. The speaker of a
memory is stored among its entities with :data:`SPEAKER_PREFIX` ("@melanie"), so one list
property (the metadata's ``entities`` column) carries both and the cube index, which already
re-reads changed nodes, keeps its entity postings in step without a new node kind.

Questions are matched against a cube's own entity vocabulary (:func:`match_query`): their word
n-grams that are entities of the cube, whatever their case, and short forms that stand for
exactly one entity of the cube ("Mel" for "Melanie": a prefix of at least three letters shared by
no other entity). Aliases are therefore resolved within a cube, from its own names, and never
across cubes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

from memos.memories.textual.retrieval import STOPWORDS

__all__ = [
    "FIRST_PERSON_SPEAKERS",
    "SPEAKER_PREFIX",
    "QueryEntities",
    "extract_entities",
    "match_query",
    "memory_entities",
    "normalise",
]

#: Marks the speaker among a memory's entities ("@melanie").
SPEAKER_PREFIX = "@"
#: Speakers a first-person question ("what did I ...") is about, in a user-assistant chat.
FIRST_PERSON_SPEAKERS = ("user", "human", "the user")
# Capitalised words (with an inner apostrophe or a trailing abbreviation dot), optionally joined
# by a short lowercase connector ("Bank of America", "Charlotte's Web").
_CAP = r"[A-Z][\w'’]*\.?"
_SPAN_RE = re.compile(rf"{_CAP}(?:\s+(?:of|the|de|la|van|von|and|&)?\s*{_CAP})*")
_TOKEN_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*", re.UNICODE)
_NON_ALNUM_RE = re.compile(r"[^\w]|_", re.UNICODE)
_FIRST_PERSON_RE = re.compile(r"\b(?:i|i'm|i've|i'd|me|my|mine|myself)\b", re.IGNORECASE)
# Sentence openers that are capitalised without being names ("Hey Mel", "Thanks Jon", "Wow"):
# stripped from the ends of a span like stopwords.
_OPENERS = frozenset(
    """
    hey hi hello thanks thank wow yeah yep yup yes no oh ah aw awesome cool great good nice
    sure lol haha omg congrats congratulations okay ok well anyway totally definitely sounds
    dear bye goodbye welcome sorry please
    """.split()  # noqa: SIM905
)
# The longest entity matched in a question, in words.
_MAX_NGRAM = 3
# Shortest short form resolved to a longer entity ("Mel" -> "melanie").
_MIN_ALIAS = 3


@lru_cache(maxsize=65_536)
def normalise(text: str) -> str:
    """Lowercase terms of ``text`` joined by spaces, as the full-text index tokenises them."""
    out: list[str] = []
    for raw in _TOKEN_RE.findall(text.replace("’", "'").lower()):
        token = raw[:-2] if raw.endswith("'s") else raw
        token = _NON_ALNUM_RE.sub("", token.replace("'", ""))
        if token:
            out.append(token)
    return " ".join(out)


def extract_entities(text: str) -> list[str]:
    """Normalised capitalised spans of ``text``, first-seen order, stopword-only spans dropped.

    A span's leading and trailing stopwords and greetings go ("The Beatles" -> "beatles", "Hey
    Mel" -> "mel"); another sentence-initial common word is kept: such noise only matters if a
    question names the same word, and then it is a name there too.
    """
    seen: dict[str, None] = {}
    for match in _SPAN_RE.finditer(text):
        words = normalise(match.group(0)).split()
        while words and (words[0] in STOPWORDS or words[0] in _OPENERS):
            words.pop(0)
        while words and (words[-1] in STOPWORDS or words[-1] in _OPENERS):
            words.pop()
        if not words or (len(words) == 1 and len(words[0]) < 2):
            continue
        seen.setdefault(" ".join(words), None)
    return list(seen)


def memory_entities(speaker: str | None, text: str) -> list[str]:
    """A memory's entities: its speaker (prefixed) first, then the names its own text mentions."""
    out: list[str] = []
    if speaker:
        name = normalise(speaker)
        if name:
            out.append(SPEAKER_PREFIX + name)
    out.extend(e for e in extract_entities(text) if e not in out)
    return out


class QueryEntities:
    """What a question names of a cube: speakers and other entities (all normalised)."""

    __slots__ = ("entities", "speakers", "terms")

    def __init__(self, speakers: list[str], entities: list[str], terms: list[str]) -> None:
        self.speakers = speakers
        self.entities = entities
        # The question words the matches consumed (to drop from a speaker-restricted query).
        self.terms = terms

    def __repr__(self) -> str:
        return f"QueryEntities(speakers={self.speakers}, entities={self.entities})"


def match_query(
    question: str,
    is_entity: Callable[[str], bool],
    speakers: Iterable[str],
    prefix_matches: Callable[[str], list[str]],
) -> QueryEntities:
    """The speakers and entities of a cube that ``question`` names.

    ``is_entity`` tells whether a normalised name is an entity of the cube, ``speakers`` are the
    cube's speaker names (normalised, without prefix), ``prefix_matches`` lists the cube's
    single-word entities and speakers starting with a term. Word n-grams (longest first) that
    are entities or speakers match; a term of at least three letters that starts exactly one
    name of the cube stands for it (an alias). A first-person question names the cube's user
    speaker when it has one.
    """
    speaker_set = set(speakers)
    words = normalise(question).split()
    found_speakers: list[str] = []
    found: list[str] = []
    consumed: list[str] = []
    i = 0
    while i < len(words):
        matched = False
        for n in range(min(_MAX_NGRAM, len(words) - i), 0, -1):
            gram = " ".join(words[i : i + n])
            if n == 1 and gram in STOPWORDS:
                break
            name = _resolve(gram, speaker_set, is_entity, prefix_matches)
            if name is None:
                continue
            if name in speaker_set:
                if name not in found_speakers:
                    found_speakers.append(name)
            elif name not in found:
                found.append(name)
            consumed.extend(words[i : i + n])
            i += n
            matched = True
            break
        if not matched:
            i += 1
    if not found_speakers and _FIRST_PERSON_RE.search(question):
        found_speakers.extend(s for s in FIRST_PERSON_SPEAKERS if s in speaker_set)
    return QueryEntities(found_speakers, found, consumed)


def _resolve(
    gram: str,
    speakers: set[str],
    is_entity: Callable[[str], bool],
    prefix_matches: Callable[[str], list[str]],
) -> str | None:
    if gram in speakers or is_entity(gram):
        return gram
    if " " in gram or len(gram) < _MIN_ALIAS or gram in STOPWORDS:
        return None
    longer = [name for name in prefix_matches(gram) if name != gram]
    return longer[0] if len(longer) == 1 else None
