"""Every Cypher statement of the graph store, in one place.

Values are always parameters (``$name``). The only text spliced into a statement is one of the
constant fragments below or a label / relationship type that passed :func:`safe_identifier`
against the allow-lists, because Cypher cannot take labels or types as parameters.

Each statement that touches nodes is scoped by ``n.cube_id = $cube_id``; the store never builds a
statement without that clause (see :class:`memos.graph_dbs.store.CubeGraph`).
"""

from __future__ import annotations

import re

from memos.errors import GraphStoreError

# Labels and relationship types the store will ever splice into a statement.
MEMORY_LABEL = "Memory"
# PARENT (hierarchy), RELATE_TO (topical link), MERGED_TO (deduplicated into), SUPERSEDES (a newer
# fact replaces an older one), CONTEXT (extracted from the same conversation window), FOLLOWS
# (temporal order within a session).
EDGE_TYPES: frozenset[str] = frozenset(
    {"PARENT", "RELATE_TO", "MERGED_TO", "SUPERSEDES", "CONTEXT", "FOLLOWS"}
)
# Entity nodes (people, places, names a memory mentions; see memories/textual/entity_graph):
# ``(memory)-[:MENTIONS {role}]->(entity)``, ``(alias)-[:ALIAS_OF]->(entity)``. They never carry
# the Memory label, so no memory statement (search, counts, dumps, tiers) can see one.
ENTITY_LABEL = "Entity"
ENTITY_EDGE_TYPES: frozenset[str] = frozenset({"MENTIONS", "ALIAS_OF"})
NODE_LABELS: frozenset[str] = frozenset({MEMORY_LABEL, ENTITY_LABEL})
# Edge types graph expansion walks by default.
EXPANSION_EDGE_TYPES: tuple[str, ...] = ("CONTEXT", "RELATE_TO", "PARENT")

_IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def safe_identifier(name: str, allowed: frozenset[str]) -> str:
    """Return ``name`` if it is a plain identifier in ``allowed``; raise otherwise.

    Raises:
        GraphStoreError: naming the bad identifier and the allowed ones.
    """
    if not isinstance(name, str) or not _IDENTIFIER_RE.match(name) or name not in allowed:
        known = ", ".join(sorted(allowed))
        raise GraphStoreError(f"refusing identifier {name!r}; allowed: {known}")
    return name


# --- WHERE fragments over the node variable ``n`` (combined by NodeFilter) -------------------

WHERE_CUBE = "n.cube_id = $cube_id"
WHERE_STATUS = "n.status IN $statuses"
WHERE_MEMORY_TYPE = "n.memory_type IN $memory_types"
WHERE_TYPE = "n.type IN $types"
WHERE_SESSION = "n.session_id = $session_id"
# Bi-temporal validity at ``$as_of_ts`` (epoch seconds): started, and not yet ended.
WHERE_VALID = (
    "(n.valid_at_ts IS NULL OR n.valid_at_ts <= $as_of_ts) "
    "AND (n.invalid_at_ts IS NULL OR n.invalid_at_ts > $as_of_ts)"
)

# --- nodes -----------------------------------------------------------------------------------

# cube_id and user_id are set after the row's properties so that a row can never override them.
CREATE_NODES = (
    "UNWIND $rows AS row "
    "CREATE (n:Memory) "
    "SET n = row, n.cube_id = $cube_id, n.user_id = coalesce(row.user_id, $user_id) "
    "RETURN count(n) AS created"
)

UPSERT_NODES = (
    "UNWIND $rows AS row "
    "MERGE (n:Memory {cube_id: $cube_id, id: row.id}) "
    "SET n = row, n.cube_id = $cube_id, n.user_id = coalesce(row.user_id, $user_id) "
    "RETURN count(n) AS written"
)

GET_NODES = (
    "UNWIND $ids AS wanted "
    "MATCH (n:Memory {cube_id: $cube_id, id: wanted}) "
    "RETURN properties(n) AS props"
)

EXISTING_IDS = (
    "UNWIND $ids AS wanted MATCH (n:Memory {cube_id: $cube_id, id: wanted}) RETURN n.id AS id"
)

FIND_BY_DEDUP_KEYS = (
    "UNWIND $keys AS wanted "
    "MATCH (n:Memory {cube_id: $cube_id, dedup_key: wanted}) "
    "RETURN n.dedup_key AS dedup_key, n.id AS id"
)

# --- several cubes in one statement (StoreTransaction's batch writes) -------------------------
#
# A worker writing a batch of adds for many tenants sends each kind of statement once for the
# whole batch instead of once per add. Every row carries the cube its view was made for
# (``row.cube_id``, set by the store from the view, never from a caller's properties) and every
# pattern is scoped by it exactly as the one-cube statements are by ``$cube_id``: a row reaches
# only its own cube's nodes, and an edge never crosses cubes.

FIND_BY_DEDUP_KEYS_MANY = (
    "UNWIND $rows AS row "
    "MATCH (n:Memory {cube_id: row.cube_id, dedup_key: row.key}) "
    "RETURN row.cube_id AS cube_id, n.dedup_key AS dedup_key, n.id AS id"
)

EXISTING_IDS_MANY = (
    "UNWIND $rows AS row "
    "MATCH (n:Memory {cube_id: row.cube_id, id: row.id}) "
    "RETURN row.cube_id AS cube_id, n.id AS id"
)

# ``row.props`` are the node's properties (scope keys removed by the store).
CREATE_NODES_MANY = (
    "UNWIND $rows AS row "
    "CREATE (n:Memory) "
    "SET n = row.props, n.cube_id = row.cube_id, n.user_id = row.user_id "
    "RETURN count(n) AS created"
)

MERGE_EDGES_MANY = (
    "UNWIND $rows AS row "
    "MATCH (a:Memory {{cube_id: row.cube_id, id: row.source}}) "
    "MATCH (b:Memory {{cube_id: row.cube_id, id: row.target}}) "
    "MERGE (a)-[r:{rel_type}]->(b) "
    "SET r += row.props "
    "RETURN count(r) AS merged"
)

MERGE_ENTITIES_MANY = (
    "UNWIND $rows AS row "
    "MERGE (e:Entity {cube_id: row.cube_id, id: row.id}) "
    "ON CREATE SET e.name = row.name, e.kind = row.kind "
    "WITH e, row WHERE row.kind = 'speaker' AND e.kind <> 'speaker' "
    "SET e.kind = 'speaker' RETURN count(e) AS raised"
)

MERGE_MENTIONS_MANY = (
    "UNWIND $rows AS row "
    "MATCH (m:Memory {cube_id: row.cube_id, id: row.memory}) "
    "MATCH (e:Entity {cube_id: row.cube_id, id: row.entity}) "
    "MERGE (m)-[r:MENTIONS]->(e) SET r.role = row.role "
    "RETURN count(r) AS merged"
)

MERGE_ALIASES_MANY = (
    "UNWIND $rows AS row "
    "MATCH (a:Entity {cube_id: row.cube_id, id: row.alias}) "
    "MATCH (e:Entity {cube_id: row.cube_id, id: row.entity}) "
    "MERGE (a)-[r:ALIAS_OF]->(e) RETURN count(r) AS merged"
)

LOG_CHANGES_MANY = (
    "UNWIND $rows AS row "
    "CREATE (c:CubeChange {cube_id: row.cube_id, key: row.key, at: row.at, slot: row.slot, "
    "ids: row.ids, reset: row.reset}) RETURN count(c) AS logged"
)

# Streamed in chunks by the caller (CubeGraph.iter_node_pages), ordered by id.
ALL_NODES = (
    "MATCH (n:Memory) WHERE n.cube_id = $cube_id RETURN properties(n) AS props ORDER BY n.id"
)

COUNT_NODES = "MATCH (n:Memory) WHERE {where} RETURN count(n) AS count"

# ``SET n += $props`` with id and cube_id removed by the caller; nulls remove properties.
UPDATE_NODE = "MATCH (n:Memory {cube_id: $cube_id, id: $id}) SET n += $props RETURN n.id AS id"

DELETE_NODES = (
    "UNWIND $ids AS wanted "
    "MATCH (n:Memory {cube_id: $cube_id, id: wanted}) "
    "DETACH DELETE n RETURN count(*) AS deleted"
)

# Deleting in slices keeps each transaction small on a cube of any size.
DELETE_CUBE_SLICE = (
    "MATCH (n:Memory) WHERE n.cube_id = $cube_id "
    "WITH n LIMIT $limit DETACH DELETE n RETURN count(*) AS deleted"
)

# --- edges -----------------------------------------------------------------------------------

# Both ends must be in this cube: an edge can never cross cubes.
MERGE_EDGES = (
    "UNWIND $rows AS row "
    "MATCH (a:Memory {{cube_id: $cube_id, id: row.source}}) "
    "MATCH (b:Memory {{cube_id: $cube_id, id: row.target}}) "
    "MERGE (a)-[r:{rel_type}]->(b) "
    "SET r += row.props "
    "RETURN count(r) AS merged"
)

# Outgoing edges of a page of nodes; both ends must be in the cube.
EDGES_FROM = (
    "MATCH (a:Memory)-[r]->(b:Memory) "
    "WHERE a.cube_id = $cube_id AND a.id IN $ids AND b.cube_id = $cube_id "
    "RETURN a.id AS source, b.id AS target, type(r) AS type, properties(r) AS props"
)

# Edges of the given types touching seed nodes, one direction per statement. The seed comes first
# in each pattern and is matched on (cube_id, id) like NEIGHBORS: ``a.id IN $ids`` (EDGES_FROM)
# scans the cube on ArcadeDB, and so does a seed written as the pattern's second node.
EDGES_OUT_OF = (
    "UNWIND $ids AS seed_id "
    "MATCH (a:Memory {cube_id: $cube_id, id: seed_id})-[r]->(b:Memory) "
    "WHERE type(r) IN $rel_types AND b.cube_id = $cube_id "
    "RETURN a.id AS source, b.id AS target, type(r) AS type"
)
EDGES_INTO = (
    "UNWIND $ids AS seed_id "
    "MATCH (b:Memory {cube_id: $cube_id, id: seed_id})<-[r]-(a:Memory) "
    "WHERE type(r) IN $rel_types AND a.cube_id = $cube_id "
    "RETURN a.id AS source, b.id AS target, type(r) AS type"
)

DELETE_EDGES = (
    "UNWIND $rows AS row "
    "MATCH (a:Memory {{cube_id: $cube_id, id: row.source}})"
    "-[r:{rel_type}]->(b:Memory {{cube_id: $cube_id, id: row.target}}) "
    "DELETE r RETURN count(*) AS deleted"
)

# Neighbours of seed nodes (either direction) through the given edge types, filtered like search.
# Seeds are matched one by one on (cube_id, id): ArcadeDB answers ``s.id IN $ids`` by scanning
# the cube (measured: 42 ms at 1k nodes, 195 ms at 20k), the map pattern through the index.
NEIGHBORS = (
    "UNWIND $ids AS seed_id "
    "MATCH (s:Memory {{cube_id: $cube_id, id: seed_id}})-[r]-(n:Memory) "
    "WHERE type(r) IN $rel_types AND {where} "
    "RETURN s.id AS seed, n.id AS id, type(r) AS type LIMIT $limit"
)

# --- entities --------------------------------------------------------------------------------

# Idempotent (MERGE only, no counters), so a replayed add leaves the same graph. ``kind``
# only ever rises to "speaker" (a name that also speaks in the cube is a participant).
MERGE_ENTITIES = (
    "UNWIND $rows AS row "
    "MERGE (e:Entity {cube_id: $cube_id, id: row.id}) "
    "ON CREATE SET e.name = row.name, e.kind = row.kind "
    "WITH e, row WHERE row.kind = 'speaker' AND e.kind <> 'speaker' "
    "SET e.kind = 'speaker' RETURN count(e) AS raised"
)

MERGE_MENTIONS = (
    "UNWIND $rows AS row "
    "MATCH (m:Memory {cube_id: $cube_id, id: row.memory}) "
    "MATCH (e:Entity {cube_id: $cube_id, id: row.entity}) "
    "MERGE (m)-[r:MENTIONS]->(e) SET r.role = row.role "
    "RETURN count(r) AS merged"
)

MERGE_ALIASES = (
    "UNWIND $rows AS row "
    "MATCH (a:Entity {cube_id: $cube_id, id: row.alias}) "
    "MATCH (e:Entity {cube_id: $cube_id, id: row.entity}) "
    "MERGE (a)-[r:ALIAS_OF]->(e) RETURN count(r) AS merged"
)

# An entity with what it is called: its own name and the names of its aliases.
CUBE_ENTITIES = (
    "MATCH (e:Entity) WHERE e.cube_id = $cube_id "
    "OPTIONAL MATCH (a:Entity)-[:ALIAS_OF]->(e) "
    "RETURN e.id AS id, e.name AS name, e.kind AS kind, collect(a.name) AS aliases "
    "ORDER BY id"
)

# Memories mentioning these entities (or an entity they are an alias of).
ENTITY_MEMORIES = (
    "UNWIND $ids AS wanted "
    "MATCH (e:Entity {cube_id: $cube_id, id: wanted}) "
    "OPTIONAL MATCH (e)-[:ALIAS_OF]->(canon:Entity) "
    "WITH wanted, coalesce(canon, e) AS target "
    "MATCH (m:Memory)-[r:MENTIONS]->(target) WHERE m.cube_id = $cube_id "
    "RETURN wanted AS entity, m.id AS id, r.role AS role"
)

DELETE_ENTITY_SLICE = (
    "MATCH (e:Entity) WHERE e.cube_id = $cube_id "
    "WITH e LIMIT $limit DETACH DELETE e RETURN count(*) AS deleted"
)

# --- search ----------------------------------------------------------------------------------

# The vector and full-text indexes are global, so their hits are filtered by cube after the
# call; ``raw`` tells the caller whether the over-fetch was saturated (then it falls back).
VECTOR_QUERY = (
    "CALL db.index.vector.queryNodes($index, $fetch_k, $vector) YIELD node, score "
    "WITH node AS n, score "
    "WITH count(*) AS raw, collect(CASE WHEN {where} THEN [n.id, score] ELSE null END) AS hits "
    "RETURN raw, hits"
)

# Exact scan inside one cube; ``{similarity}`` comes from the dialect (see dialects.py).
VECTOR_EXACT = (
    "MATCH (n:Memory) WHERE {where} AND n.embedding IS NOT NULL "
    "WITH n, {similarity} AS score "
    "ORDER BY score DESC LIMIT $k "
    "RETURN n.id AS id, score"
)

FULLTEXT_QUERY = (
    "CALL db.index.fulltext.queryNodes($index, $query, {{limit: $fetch_k}}) YIELD node, score "
    "WITH node AS n, score "
    "WITH count(*) AS raw, collect(CASE WHEN {where} THEN [n.id, score] ELSE null END) AS hits "
    "RETURN raw, hits"
)

FULLTEXT_UNBOUNDED = (
    "CALL db.index.fulltext.queryNodes($index, $query) YIELD node, score "
    "WITH node AS n, score WHERE {where} "
    "RETURN n.id AS id, score ORDER BY score DESC LIMIT $k"
)

# Most recent memories of one session (session context for search).
SESSION_RECENT = (
    "MATCH (n:Memory) WHERE {where} RETURN n.id AS id ORDER BY n.created_at DESC LIMIT $limit"
)

# --- change log (keeps per-cube in-process indexes in step; see memories/textual/cube_index) ---

CHANGE_LABEL = "CubeChange"

# One entry per write transaction that touched nodes: which ids changed (``reset``: the whole
# cube was replaced or emptied). ``at`` is the writer's clock; readers re-read a window wider
# than the longest transaction, so an entry committed late is never missed.
# ``slot`` is ``at`` in whole :data:`CHANGE_SLOT_S` steps: a reader asks for the few slots its
# window covers by equality on the (cube_id, slot) index. A range on ``at`` was not served by the
# (cube_id, at) index on ArcadeDB: every search scanned all of the cube's retained entries
# (measured: 2.4 ms with 1 entry, 18 ms with 2,500, and a busy cube logs thousands an hour).
CHANGE_SLOT_S = 60.0
LOG_CHANGE = (
    "CREATE (c:CubeChange {cube_id: $cube_id, key: $key, at: $at, slot: $slot, ids: $ids, "
    "reset: $reset}) RETURN c.key AS key"
)

CHANGES_SINCE = (
    "UNWIND $slots AS wanted MATCH (c:CubeChange {cube_id: $cube_id, slot: wanted}) "
    "WHERE c.at > $since AND NOT c.key IN $seen "
    "RETURN c.key AS key, c.at AS at, c.ids AS ids, c.reset AS reset"
)

PRUNE_CHANGES = (
    "MATCH (c:CubeChange) WHERE c.cube_id = $cube_id AND c.at < $before "
    "WITH c LIMIT $limit DELETE c RETURN count(*) AS deleted"
)

# Just what an in-process index needs of a node (no sources, no timestamps but validity).
_INDEX_FIELDS = (
    "n.id AS id, n.embedding AS embedding, n.memory AS memory, n.status AS status, "
    "n.memory_type AS memory_type, n.type AS type, n.session_id AS session_id, "
    "n.valid_at_ts AS valid_at_ts, n.invalid_at_ts AS invalid_at_ts, n.created_at AS created_at, "
    "n.entities AS entities, n.memory_time AS memory_time"
)

INDEX_ROWS = (
    "UNWIND $ids AS wanted MATCH (n:Memory {cube_id: $cube_id, id: wanted}) "
    f"RETURN {_INDEX_FIELDS}"
)

INDEX_ROWS_ALL = f"MATCH (n:Memory) WHERE n.cube_id = $cube_id RETURN {_INDEX_FIELDS}"
