"""Entity nodes of a cube: what its memories mention, as graph nodes linked to those memories.

Each memory's ``entities`` (written by the reader, see :mod:`entities`: its speaker as
``@name`` and the capitalised names its text mentions) become, in the transaction that creates
the memory, ``(:Entity {cube_id, id, name, kind})`` nodes with
``(memory)-[:MENTIONS {role}]->(entity)`` edges (``role``: ``speaker`` for who said it,
``mention`` for a name in its text). A short form that stands for exactly one speaker of the
same write ("Mel" in "Hey Mel!" while Melanie speaks) is an alias: the mention links to the
speaker's entity and ``(:Entity {name: "mel"})-[:ALIAS_OF]->(melanie)`` records the name.

Entity ids are derived from the cube-scoped normalised name, and every statement is a MERGE, so
a replayed add (a redelivered event, a batch written again alone after a rollback) leaves the
same graph. The entity postings of the in-process cube index (:mod:`cube_index`) are read from
the same ``entities`` property, so search uses these edges without a store round trip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from memos.memories.textual.entities import SPEAKER_PREFIX, normalise

__all__ = ["EntityWrite", "entity_id", "entity_write"]

# Shortest short form taken for an alias of a speaker ("Mel" -> "melanie").
MIN_ALIAS = 3


def entity_id(name: str) -> str:
    """The id of the entity called ``name`` (normalised) in any cube: stable across writes."""
    return "entity:" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:20]


@dataclass
class EntityWrite:
    """The rows of one write: entity nodes, MENTIONS edges and ALIAS_OF edges."""

    entities: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[dict[str, Any]] = field(default_factory=list)
    aliases: list[dict[str, Any]] = field(default_factory=list)


def _alias_target(name: str, speakers: Iterable[str]) -> str | None:
    """The one speaker whose first word ``name`` is a strict prefix of, if exactly one."""
    if " " in name or len(name) < MIN_ALIAS:
        return None
    found = {s for s in speakers if s != name and s.split()[0].startswith(name)}
    return found.pop() if len(found) == 1 else None


def entity_write(rows: Sequence[Mapping[str, Any]]) -> EntityWrite:
    """What the memory ``rows`` (node properties with ``id`` and ``entities``) add to the graph."""
    speakers: dict[str, None] = {}
    for row in rows:
        for raw in row.get("entities") or ():
            text = str(raw)
            if text.startswith(SPEAKER_PREFIX):
                name = normalise(text[len(SPEAKER_PREFIX) :])
                if name:
                    speakers.setdefault(name, None)
    out = EntityWrite()
    kinds: dict[str, str] = {}
    alias_of: dict[str, str] = {}
    for row in rows:
        linked: dict[str, str] = {}
        for raw in row.get("entities") or ():
            text = str(raw)
            is_speaker = text.startswith(SPEAKER_PREFIX)
            name = normalise(text[len(SPEAKER_PREFIX) :] if is_speaker else text)
            if not name:
                continue
            target = name
            if not is_speaker and name not in speakers:
                canonical = _alias_target(name, speakers)
                if canonical is not None:
                    alias_of[name] = canonical
                    target = canonical
            kind = "speaker" if is_speaker or target in speakers else "name"
            if kinds.get(target) != "speaker":
                kinds[target] = kind
            role = "speaker" if is_speaker else "mention"
            if linked.get(target) != "speaker":
                linked[target] = role
        out.mentions.extend(
            {"memory": str(row["id"]), "entity": entity_id(name), "role": role}
            for name, role in linked.items()
        )
    for alias in alias_of:
        kinds.setdefault(alias, "alias")
    out.entities = [{"id": entity_id(n), "name": n, "kind": k} for n, k in kinds.items()]
    out.aliases = [
        {"alias": entity_id(alias), "entity": entity_id(canonical)}
        for alias, canonical in alias_of.items()
    ]
    return out
