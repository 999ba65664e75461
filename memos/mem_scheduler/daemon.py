"""The MemScheduler daemon: reads the event stream, orders and prioritises, executes, acks.

One replica is one asyncio process with a consumer name; any number share the consumer group.
Loops: *reader* (XREADGROUP BLOCK into the read-ahead buffer, :mod:`.reading`), *dispatcher*
(picks the next entry, see :mod:`.fairness` and :mod:`.ordering`; runs attempts,
:mod:`.dispatch`), *notify* (BLPOP of worker outcomes), *claimer*, *heartbeat* and *trimmer*
(:mod:`.maintenance`). Acks and dead letters are in :mod:`.bookkeeping`.

An entry is acked only after the worker committed its effect and reply (one MULTI, see
:mod:`.idempotency`), or after it was dead-lettered with a reply. Failed attempts are retried
with exponential backoff up to ``max_attempts``; the cube stays blocked meanwhile, so order holds.

Attempts are counted in Redis (``<prefix>:attempts:<entry id>``, INCR before each attempt,
deleted with the ack), not in this process: an event that kills the replica handling it is
reclaimed by another with its count intact, and once ``max_attempts`` attempts ended without an
outcome it is dead-lettered instead of started again. The count is also what makes
``max_attempts`` hold across replicas and restarts.

Shutdown (SIGTERM, SIGINT or :meth:`MemScheduler.request_stop`) is bounded: reading stops at
once (the blocking read is cancelled, not waited for), in-flight events get up to
``shutdown_grace_s`` to finish, what is left is cancelled and handed back (un-acked entries
stay pending and another replica's XAUTOCLAIM takes them at once), and every step after the
grace has its own time limit. Nothing waits on a thread: executors run on daemon threads that
are abandoned, never joined. In the CLI process a watchdog ends the process if all that has not
finished within ``shutdown_grace_s`` + :data:`SHUTDOWN_MARGIN_S`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterable

import redis
import redis.asyncio as aioredis

from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.dispatch import DispatchMixin
from memos.mem_scheduler.maintenance import MaintenanceMixin
from memos.mem_scheduler.ordering import FINISH_LUA
from memos.mem_scheduler.threads import ShutdownWatchdog
from memos.observability.metrics import MetricsServer
from memos.workers.handlers import import_handler_modules

logger = logging.getLogger(__name__)

#: What a shutdown may take beyond ``shutdown_grace_s``: cancelling, hand-back, closing.
SHUTDOWN_MARGIN_S = 5.0
#: How long cancelled loops get to unwind before we stop waiting for them.
_CANCEL_WAIT_S = 1.0
#: Each Redis step after the grace (give back attempts, hand back, drop the heartbeat key).
_STEP_TIMEOUT_S = 1.0


class MemScheduler(DispatchMixin, MaintenanceMixin):
    """One daemon replica. ``await run()`` until :meth:`request_stop` (or SIGTERM) is called."""

    # ------------------------------------------------------------------ lifecycle

    def request_stop(self) -> None:
        """Stop reading and shut down within ``shutdown_grace_s`` (safe from a signal handler)."""
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
            logger.info("scheduler %s: stop requested", self.consumer)
        self.stop_requested.set()
        self._stopping.set()
        self._wakeup.set()
        self._room.set()

    def install_signal_handlers(self, on_signal: Callable[[], None] | None = None) -> None:
        """SIGTERM and SIGINT request a graceful stop, after calling ``on_signal`` (if given).

        ``on_signal`` is where the CLI arms its :class:`ShutdownWatchdog`, so the time limit
        starts with the signal itself.
        """
        loop = asyncio.get_running_loop()

        def handle() -> None:
            if on_signal is not None:
                on_signal()
            self.request_stop()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, handle)

    async def run(self) -> None:
        """Run until stopped; un-acked entries are handed back for other replicas."""
        cfg = self.config
        import_handler_modules(cfg.handler_modules)
        self._client = aioredis.Redis.from_url(cfg.redis_url, socket_timeout=None)
        reader = aioredis.Redis.from_url(cfg.redis_url, socket_timeout=None)
        notifier = aioredis.Redis.from_url(cfg.redis_url, socket_timeout=None)
        self._finish = self._client.register_script(FINISH_LUA)
        loops: dict[str, asyncio.Task[None]] = {}
        try:
            await self._ensure_group()
            await self._resume_own_pending()
            if cfg.metrics_port is not None:
                self.metrics_server = MetricsServer(cfg.metrics_host, cfg.metrics_port)
                logger.info("scheduler %s: metrics on %s", self.consumer, self.metrics_server.url)
            logger.info(
                "scheduler %s: reading %s as group %s",
                self.consumer,
                self.keys.events,
                self.keys.group,
            )
            loops = {
                "reader": asyncio.create_task(self._reader_loop(reader)),
                "dispatcher": asyncio.create_task(self._dispatch_loop()),
                "notify": asyncio.create_task(self._notify_loop(notifier)),
                "claimer": asyncio.create_task(self._claim_loop()),
                "heartbeat": asyncio.create_task(self._heartbeat_loop()),
            }
            if cfg.trim_interval_s is not None:
                loops["trimmer"] = asyncio.create_task(self._trim_loop(cfg.trim_interval_s))
            self.started.set()
            await self._stopping.wait()
        finally:
            self.request_stop()
            if loops:
                await self._shutdown(loops)
            for conn in (reader, notifier, self._client):
                await _bounded(conn.aclose(), _STEP_TIMEOUT_S, "closing a connection")
            for executor in self._executors.values():
                executor.close()
            if self.metrics_server is not None:
                self.metrics_server.close()
            logger.info("scheduler %s stopped: %r", self.consumer, self)

    async def _ensure_group(self) -> None:
        assert self._client is not None
        try:
            await self._client.xgroup_create(
                self.keys.events, self.keys.group, id="0", mkstream=True
            )
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _shutdown(self, loops: dict[str, asyncio.Task[None]]) -> None:
        """Stop reading now, give in-flight events the grace, cancel the rest, hand back."""
        cfg = self.config
        assert self._stop_requested_at is not None
        grace_ends = self._stop_requested_at + cfg.shutdown_grace_s
        # Reading and starting new work stop at once. The reader is cancelled mid-BLOCK rather
        # than waited for (a long block_ms would otherwise hold up the stop); entries its cut
        # read delivered are pending under our name and handed back below.
        feeding = ("reader", "dispatcher", "claimer", "trimmer")
        await _cancel([loops.pop(name) for name in feeding if name in loops])
        # The notify and heartbeat loops keep going: in-flight events need their outcomes.
        running = [task for _, task in self._running.values()]
        if running:
            logger.info(
                "scheduler %s: waiting up to %.1f s for %d in-flight events",
                self.consumer,
                max(0.0, grace_ends - time.monotonic()),
                len(running),
            )
            await asyncio.wait(running, timeout=max(0.0, grace_ends - time.monotonic()))
        left = [entry.entry_id for entry, _ in self._running.values()]
        left += [entry.entry_id for entry in self._queue.drain()]
        interrupted = sorted(self._attempting)
        if interrupted:
            logger.warning(
                "scheduler %s: %d events still running after %.1f s; handing them back",
                self.consumer,
                len(interrupted),
                cfg.shutdown_grace_s,
            )
        await _cancel([task for _, task in self._running.values()] + list(loops.values()))
        await _bounded(self._uncount_attempts(interrupted), _STEP_TIMEOUT_S, "giving back attempts")
        await _bounded(self._hand_back(left), _STEP_TIMEOUT_S, "handing back entries")
        assert self._client is not None
        await _bounded(
            self._client.delete(self.keys.health(self.consumer)),
            _STEP_TIMEOUT_S,
            "deleting the heartbeat key",
        )


async def _cancel(tasks: Iterable[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and let them unwind, but never wait more than :data:`_CANCEL_WAIT_S`."""
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        _, stuck = await asyncio.wait(pending, timeout=_CANCEL_WAIT_S)
        for task in stuck:
            logger.warning("task %s did not unwind within %.1f s", task.get_name(), _CANCEL_WAIT_S)


async def _bounded(step: Awaitable[object], timeout_s: float, what: str) -> None:
    """Await one shutdown step for at most ``timeout_s``; log (never raise) when it fails."""
    try:
        await asyncio.wait_for(step, timeout=timeout_s)
    except TimeoutError:
        logger.warning("shutdown: %s took over %.1f s; skipped", what, timeout_s)
    except (redis.RedisError, OSError):
        logger.exception("shutdown: %s failed", what)


def run_scheduler(config: SchedulerConfig) -> None:
    """Run one replica in this process until SIGTERM/SIGINT (the CLI's entry point).

    The process exits within ``shutdown_grace_s`` + :data:`SHUTDOWN_MARGIN_S` of the signal:
    the orderly shutdown fits in that, and a watchdog thread armed by the signal handler ends
    the process if anything (a blocked loop, a thread the interpreter would join) overruns it.
    """
    watchdog = ShutdownWatchdog(config.shutdown_grace_s + SHUTDOWN_MARGIN_S)

    async def main() -> None:
        scheduler = MemScheduler(config)
        scheduler.install_signal_handlers(on_signal=watchdog.arm)
        await scheduler.run()

    # Not asyncio.run(): in Python 3.11 it then waits, without a time limit, for every thread
    # of the loop's default executor (getaddrinfo calls, for instance).
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main())
        loop.run_until_complete(_cancel(asyncio.all_tasks(loop)))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
