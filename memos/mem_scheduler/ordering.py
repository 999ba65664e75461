"""Per-cube ordering across every daemon replica: sequence numbers and an "applied" watermark.

Why not a per-cube lock: a lock gives mutual exclusion, not order. With one consumer group,
replica A may read a cube's event 1 and replica B its event 2; whoever locks first runs first.
Instead, publishing hands each event the next number of its cube (``INCR`` and ``XADD`` in one
Lua script, so numbers follow stream order without gaps), and finishing an event (applied or
dead-lettered) raises the cube's watermark ``applied`` in the same script that acks it. A replica
starts event ``n`` only when ``applied == n - 1``. That gives at most one event in flight per cube
over all replicas, in publish order, without leases to renew; a replica that holds event ``n``
and dies is covered by XAUTOCLAIM, after which another replica runs ``n``.

Entries without a sequence number (written by other tools) are applied without this gate.
"""

from __future__ import annotations

from typing import Any

PUBLISH_LUA = """
local seq = redis.call('INCR', KEYS[2])
local id = redis.call('XADD', KEYS[1], '*', 'event', ARGV[1], 'cube', ARGV[2], 'seq', seq)
return {id, seq}
"""

# KEYS: stream, applied key (or a dummy when there is no sequence), and optionally the entry's
# attempt counter (deleted with the ack); ARGV: group, entry id, seq.
FINISH_LUA = """
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if KEYS[3] then redis.call('DEL', KEYS[3]) end
if ARGV[3] ~= '' then
  local seq = tonumber(ARGV[3])
  local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
  if cur < seq then redis.call('SET', KEYS[2], seq) end
end
return acked
"""


def parse_entry_id(entry_id: str) -> tuple[int, int]:
    """Stream ids ``ms-n`` as a sortable tuple."""
    ms, _, n = entry_id.partition("-")
    return int(ms), int(n or 0)


def gate_state(applied: int | None, seq: int | None) -> str:
    """``ready``, ``wait`` (an earlier event of the cube is unfinished), ``done`` or ``unknown``."""
    if seq is None:
        return "ready"
    if applied is None:
        return "unknown"
    if applied >= seq:
        return "done"
    if applied == seq - 1:
        return "ready"
    return "wait"


def decode(value: Any) -> str:
    """Redis replies as str, whatever the client's decode setting."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
