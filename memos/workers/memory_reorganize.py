"""Background reorganisation of tree cubes: when a cube is due, and one run of it.

Scheduling lives in the add path, not in the daemon: after an applied add,
:func:`schedule_after_add` queues one Lua script on the add's transaction (``ctx.tx``), so
counting and publishing happen exactly once with the add. The script

1. ``INCR``s the cube's add counter (``<prefix>:reorganize:count:<cube>``) and notes the time of
   the first add when the cube was never reorganised (``...:last_run:<cube>``);
2. decides the cube is due when the counter reached ``every_n_adds``, or when it is positive and
   ``every_s`` seconds passed since the last run;
3. takes ``...:pending:<cube>`` with ``SET NX EX``, so a due cube gets one ``reorganize`` event
   however many adds find it due before that event runs;
4. appends the event to the bus stream exactly as the facade's transport does (the cube's next
   sequence number, then ``XADD``; see :data:`memos.mem_scheduler.ordering.PUBLISH_LUA`).

:func:`run_reorganize` is the body of the ``reorganize`` handler: one bounded
:func:`~memos.memories.textual.organize.reorganize_cube` run under the cube's lock. A run resets
the counter, records its time and its report (``...:report:<cube>``), and frees ``pending``.

A cube gets no ``T``-second run while it receives no adds at all: the time condition is checked
when an add is applied (the daemon has no timer of its own for it).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pydantic import JsonValue

from memos.configs.mem_os import ReorganizeSettings
from memos.configs.organize import ReorganizeConfig
from memos.errors import EventValidationError
from memos.mem_scheduler.constants import FIELD_CUBE, FIELD_EVENT, FIELD_SEQ, SchedulerKeys
from memos.mem_scheduler.events import AddEvent, ReorganizeEvent, make_event
from memos.memories.textual.organize import reorganize_cube
from memos.workers.handlers import HandlerContext

logger = logging.getLogger(__name__)

#: Options key of an add event carrying the facade's :class:`ReorganizeSettings`.
SETTINGS_OPTION = "reorganize"
#: Options key of a reorganize event carrying its :class:`ReorganizeConfig`.
CONFIG_OPTION = "config"
#: ``pending`` outlives the longest expected wait of a queued run; if the event is lost (dead
#: letter), the key expires and a later add publishes again.
PENDING_SLACK_S = 600

# KEYS: counter, last run, pending, event stream, cube sequence counter.
# ARGV: every_n_adds, every_s, now (s), pending TTL (s), event JSON, cube id.
TRIGGER_LUA = f"""
local count = redis.call('INCR', KEYS[1])
local now = tonumber(ARGV[3])
local last = tonumber(redis.call('GET', KEYS[2]) or '')
if not last then
  redis.call('SET', KEYS[2], ARGV[3])
  last = now
end
if count < tonumber(ARGV[1]) and now - last < tonumber(ARGV[2]) then
  return 0
end
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[4]) then
  return 0
end
local seq = redis.call('INCR', KEYS[5])
redis.call('XADD', KEYS[4], '*', '{FIELD_EVENT}', ARGV[5], '{FIELD_CUBE}', ARGV[6],
  '{FIELD_SEQ}', seq)
return 1
"""


def count_key(keys: SchedulerKeys, cube_id: str) -> str:
    """Adds applied to a cube since its last reorganisation."""
    return f"{keys.prefix}:reorganize:count:{cube_id}"


def last_run_key(keys: SchedulerKeys, cube_id: str) -> str:
    """Unix time of the cube's last reorganisation (or of its first counted add)."""
    return f"{keys.prefix}:reorganize:last_run:{cube_id}"


def pending_key(keys: SchedulerKeys, cube_id: str) -> str:
    """Set while a scheduled reorganisation of the cube is queued."""
    return f"{keys.prefix}:reorganize:pending:{cube_id}"


def report_key(keys: SchedulerKeys, cube_id: str) -> str:
    """The JSON report of the cube's last reorganisation run."""
    return f"{keys.prefix}:reorganize:report:{cube_id}"


def cube_keys(keys: SchedulerKeys, cube_id: str) -> tuple[str, ...]:
    """Every reorganisation key of a cube (dropped with the cube)."""
    return tuple(f(keys, cube_id) for f in (count_key, last_run_key, pending_key, report_key))


def settings_from(options: dict[str, Any]) -> ReorganizeSettings | None:
    """The facade's settings carried by an add event, or None when it sent none."""
    raw = options.get(SETTINGS_OPTION)
    if raw is None:
        return None
    try:
        return ReorganizeSettings.model_validate(raw)
    except ValueError as exc:
        raise EventValidationError(f"options.{SETTINGS_OPTION} is invalid: {exc}") from exc


def is_enabled(settings: ReorganizeSettings, text_mem_config: Any) -> bool:
    """Whether a tree cube is reorganised automatically (settings, else the cube's flag)."""
    if settings.enabled is not None:
        return settings.enabled
    return bool(getattr(text_mem_config, "reorganize", False))


def schedule_after_add(
    ctx: HandlerContext, add_event: AddEvent, settings: ReorganizeSettings, now: float | None = None
) -> None:
    """Queue on ``ctx.tx``: count this add and publish one ``reorganize`` event if due."""
    cube_id = str(add_event.cube_id)
    event = make_event(
        "reorganize",
        user_id=add_event.user_id,
        cube_id=cube_id,
        session_id=add_event.session_id,
        payload={
            "reason": "scheduled",
            "options": {CONFIG_OPTION: settings.config.model_dump(mode="json")},
        },
    )
    ttl_s = int(PENDING_SLACK_S + 2 * settings.config.time_budget_s)
    keys = ctx.keys
    ctx.tx.eval(
        TRIGGER_LUA,
        5,
        count_key(keys, cube_id),
        last_run_key(keys, cube_id),
        pending_key(keys, cube_id),
        keys.events,
        keys.cube_seq(cube_id),
        settings.every_n_adds,
        repr(settings.every_s),
        repr(time.time() if now is None else now),
        ttl_s,
        event.to_json(),
        cube_id,
    )


def config_from(event: ReorganizeEvent) -> ReorganizeConfig:
    """The run's config from the event's options (defaults when absent)."""
    raw = (event.payload.options or {}).get(CONFIG_OPTION)
    if raw is None:
        return ReorganizeConfig()
    try:
        return ReorganizeConfig.model_validate(raw)
    except ValueError as exc:
        raise EventValidationError(f"options.{CONFIG_OPTION} is invalid: {exc}") from exc


def run_reorganize(event: ReorganizeEvent, ctx: HandlerContext, memory: Any) -> JsonValue:
    """One bounded run over ``memory`` (the cube's TreeTextMemory); returns the report as JSON.

    A run that finds the cube locked by another worker does nothing and says
    ``skipped="locked"``; it only frees ``pending`` so a later add can schedule again.
    """
    config = config_from(event)
    cube_id = str(event.cube_id)
    keys = ctx.keys
    report = reorganize_cube(
        memory,
        config,
        deadline_s=config.time_budget_s,
        redis_client=ctx.redis,
        lock_wait_s=0,
    )
    result: dict[str, Any] = report.model_dump(mode="json")
    ctx.tx.delete(pending_key(keys, cube_id))
    if report.skipped is None:
        ctx.tx.set(count_key(keys, cube_id), 0)
        ctx.tx.set(last_run_key(keys, cube_id), repr(time.time()))
        ctx.tx.set(report_key(keys, cube_id), report.model_dump_json())
    logger.info(
        "reorganize event %s (%s) on cube %s: %d changes, skipped=%s",
        event.id,
        event.payload.reason,
        cube_id,
        report.changes,
        report.skipped,
    )
    return result
