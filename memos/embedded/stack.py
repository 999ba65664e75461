"""The embedded stack's lifecycle: ``up``, ``down`` and ``status`` of redis-server and ArcadeDB.

Each server runs in its own detached process (own session, so the caller - ``memos up``, a test,
a MOS - can exit and the services keep running), is identified by PID *and* by what only our
process has (working directory, command line), and is stopped by that PID. The files under a
home are described in :mod:`memos.embedded.layout`.

Example::

    stack = EmbeddedStack(Path("/tmp/memos/stack"))
    state = stack.up()          # idempotent; repairs dead or foreign PIDs
    state.redis.url, state.arcadedb.bolt_url, state.arcadedb.password
    stack.status().healthy
    stops = stack.down()        # every process gone, state file removed; how each stopped
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from memos.configs.loader import memos_home
from memos.embedded import arcadedb_server, procs, redis_server
from memos.embedded.launches import ArcadeDBLaunch, Launch, RedisLaunch, free_port, run_launches
from memos.embedded.layout import (
    ARCADEDB,
    ARCADEDB_STOP_GRACE_S,
    REDIS,
    REDIS_STOP_GRACE_S,
    StackLayout,
)
from memos.embedded.ports import port_is_free
from memos.embedded.state import (
    ArcadeDBEndpoint,
    ComponentStatus,
    ProcessRecord,
    RedisEndpoint,
    StackState,
    StackStatus,
    read_state,
    utc_now,
    write_state,
)
from memos.embedded.supervision import SUPERVISOR_PREFIX, read_reports, with_supervision
from memos.errors import EmbeddedStackError

logger = logging.getLogger(__name__)

__all__ = ["EmbeddedStack", "StackState", "StackStatus", "default_stack_home", "ensure_stack"]

STACK_DIR_NAME = "stack"
_LOCK_POLL_S = 0.1


def default_stack_home() -> Path:
    """Where the embedded stack lives by default: ``memos_home() / "stack"``."""
    return memos_home() / STACK_DIR_NAME


def ensure_stack(home: Path | None = None) -> StackState:
    """The running stack's state, starting (or repairing) the stack when it is not healthy.

    Used by configs whose URI is ``embedded``. ``home`` defaults to :func:`default_stack_home`.
    """
    return EmbeddedStack(home if home is not None else default_stack_home()).up()


class EmbeddedStack:
    """The embedded Redis and ArcadeDB of one data home, started and stopped by PID.

    The constructor does no I/O. Ports left as None are chosen when a part is started: the port
    recorded by an earlier run when it is still free (so clients' URLs stay valid), else a free
    one. Ports apply only to parts being started; a healthy running part keeps its own.
    """

    def __init__(
        self,
        home: Path,
        *,
        redis_port: int | None = None,
        bolt_port: int | None = None,
        http_port: int | None = None,
        arcadedb_heap: str = arcadedb_server.DEFAULT_HEAP,
    ) -> None:
        self.home = Path(home).expanduser().absolute()
        self.layout = StackLayout(self.home)
        self.redis_port = redis_port
        self.bolt_port = bolt_port
        self.http_port = http_port
        self.arcadedb_heap = arcadedb_heap

    def __repr__(self) -> str:
        return f"EmbeddedStack(home={str(self.home)!r})"

    @property
    def state_path(self) -> Path:
        """The state file, ``<home>/state.json``."""
        return self.layout.state_path

    def read_state(self) -> StackState | None:
        """The recorded state, or None when the stack was never started or was stopped."""
        return read_state(self.state_path)

    def up(self, timeout_s: float = 120.0) -> StackState:
        """Start whatever part is not running and healthy; return the state.

        Idempotent: a healthy stack is returned as it is. A part whose PID is dead, or now
        belongs to another program, or that does not answer, is (stopped and) started again.
        Raises :class:`EmbeddedStackError` when a part does not answer within ``timeout_s``;
        whatever this call started is stopped again then.
        """
        deadline = time.monotonic() + timeout_s
        self.layout.prepare()
        with self._locked(deadline):
            state = self.read_state()
            redis_ep = state.redis if state and self._redis_healthy(state.redis) else None
            adb_ep = state.arcadedb if state and self._arcadedb_healthy(state.arcadedb) else None
            if state is not None and redis_ep is not None and adb_ep is not None:
                logger.debug("embedded stack in %s already running", self.home)
                return state
            if redis_ep is None:
                self._stop_part(REDIS, state)
            if adb_ep is None:
                self._stop_part(ARCADEDB, state)
            launches = self._plan_launches(
                state, start_redis=redis_ep is None, start_adb=adb_ep is None
            )
            try:
                results = run_launches(
                    launches, deadline=deadline, timeout_s=timeout_s, home=str(self.home)
                )
            except BaseException:
                for launch in launches:
                    launch.abort()
                raise
            new_redis = redis_ep or results[REDIS]
            new_adb = adb_ep or results[ARCADEDB]
            assert isinstance(new_redis, RedisEndpoint)
            assert isinstance(new_adb, ArcadeDBEndpoint)
            kept = {
                name: rec
                for name, rec in (state.processes.items() if state else ())
                if procs.process_matches(rec.pid, cmdline_contains=rec.cmdline_contains)
            }
            now = utc_now()
            new_state = StackState(
                home=str(self.home),
                redis=new_redis,
                arcadedb=new_adb,
                processes=kept,
                started_at=state.started_at if state and (redis_ep or adb_ep) else now,
                updated_at=now,
            )
            write_state(self.state_path, new_state)
            logger.info(
                "embedded stack up in %s: redis pid=%d %s, arcadedb pid=%d %s",
                self.home,
                new_redis.pid,
                new_redis.url,
                new_adb.pid,
                new_adb.bolt_url,
            )
            return new_state

    def down(self, timeout_s: float = 120.0) -> list[procs.ProcessStop]:
        """Stop every process of the stack by PID and remove the state file.

        Extra processes (daemon, workers) go first, then ArcadeDB and Redis together. Works
        without a state file too (the pid files written at launch name the servers). Returns
        how each running process stopped (:attr:`~procs.StopMethod.SIGTERM` is a clean stop;
        :attr:`~procs.StopMethod.SIGKILL` means it ignored SIGTERM for the whole grace period).
        Raises :class:`EmbeddedStackError` when a process survives SIGKILL.
        """
        if not self.home.is_dir():
            return []
        with self._locked(time.monotonic() + timeout_s):
            state = self.read_state()
            records = dict(state.processes) if state else {}
            # Supervisors first, on their own: stopped, they stop their children and restart
            # nothing, so the workers and daemons stopped next stay stopped.
            supervisors = _live(
                {k: v for k, v in records.items() if k.startswith(SUPERVISOR_PREFIX)}
            )
            children = {k: v for k, v in records.items() if not k.startswith(SUPERVISOR_PREFIX)}
            stops: list[procs.ProcessStop] = []
            if supervisors:
                running = _live(children)
                stops += procs.stop_all(
                    [(name, pid) for name, pid, _ in supervisors],
                    grace_s=max(grace for _, _, grace in supervisors),
                )
                # What the supervisors stopped with them is reported too, so the caller sees
                # every process of the stack go, not only the ones stopped here.
                still = {pid for _, pid, _ in _live(children)}
                took_s = max((stop.seconds for stop in stops), default=0.0)
                stops += [
                    procs.ProcessStop(name, pid, procs.StopMethod.SUPERVISOR, took_s)
                    for name, pid, _ in running
                    if pid not in still
                ]
            extras = _live(children)
            if extras:
                # Workers first: they may still need Redis to acknowledge what they finish.
                stops += procs.stop_all(
                    [(name, pid) for name, pid, _ in extras],
                    grace_s=max(grace for _, _, grace in extras),
                )
            servers = [(REDIS, pid) for pid in self._our_pids(REDIS, state)]
            servers += [(ARCADEDB, pid) for pid in self._our_pids(ARCADEDB, state)]
            stops += procs.stop_all(servers, grace_s=ARCADEDB_STOP_GRACE_S)
            survivors = [stop for stop in stops if not stop.gone]
            if survivors:
                listed = ", ".join(f"{stop.name} pid={stop.pid}" for stop in survivors)
                raise EmbeddedStackError(
                    f"could not stop {listed}; stop it by hand (kill -9 PID) and run `memos down`"
                )
            with contextlib.suppress(FileNotFoundError):
                self.state_path.unlink()
            self.layout.remove_pidfiles()
            logger.info("embedded stack in %s stopped", self.home)
            return stops

    def status(self) -> StackStatus:
        """Check each part: its PID is ours and alive, and it answers (PING / ``RETURN 1``)."""
        state = self.read_state()
        components: list[ComponentStatus] = []
        if state is None:
            for name in (REDIS, ARCADEDB):
                orphans = self._our_pids(name, None)
                detail = "not running (no state file)"
                if orphans:
                    detail = f"no state file, but pid {orphans[0]} runs; `memos down` stops it"
                components.append(
                    ComponentStatus(name=name, pid=None, url=None, healthy=False, detail=detail)
                )
        else:
            components.append(self._redis_status(state.redis))
            components.append(self._arcadedb_status(state.arcadedb))
            for name, rec in state.processes.items():
                alive = procs.process_matches(rec.pid, cmdline_contains=rec.cmdline_contains)
                components.append(
                    ComponentStatus(
                        name=name,
                        pid=rec.pid,
                        url=rec.url,
                        healthy=alive,
                        detail="running" if alive else _gone_detail(rec.pid),
                        rss_bytes=procs.rss_bytes(rec.pid) if alive else None,
                    )
                )
        return StackStatus(
            home=str(self.home),
            state_file=str(self.state_path),
            components=with_supervision(components, read_reports(self.home)),
        )

    def server_statuses(self, state: StackState) -> list[ComponentStatus]:
        """The health of Redis and ArcadeDB alone (PID is ours and alive, and a ping answers)."""
        return [self._redis_status(state.redis), self._arcadedb_status(state.arcadedb)]

    def record_process(self, name: str, record: ProcessRecord) -> StackState:
        """Add (or replace) an extra process, so ``status`` reports it and ``down`` stops it."""
        if name in (REDIS, ARCADEDB):
            raise EmbeddedStackError(f"{name!r} is a reserved component name")
        with self._locked(time.monotonic() + 60.0):
            state = self._require_state()
            new = state.model_copy(
                update={"processes": {**state.processes, name: record}, "updated_at": utc_now()}
            )
            write_state(self.state_path, new)
            return new

    def forget_process(self, name: str) -> StackState:
        """Remove an extra process from the state (it is not signalled)."""
        with self._locked(time.monotonic() + 60.0):
            state = self._require_state()
            remaining = {k: v for k, v in state.processes.items() if k != name}
            new = state.model_copy(update={"processes": remaining, "updated_at": utc_now()})
            write_state(self.state_path, new)
            return new

    # --- internals ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, deadline: float) -> Iterator[None]:
        """Hold ``<home>/.lock`` so concurrent ``up``/``down`` calls take turns."""
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self.layout.lock_path.open("a") as fh:
            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise EmbeddedStackError(
                            f"another `memos up`/`memos down` holds {self.layout.lock_path}; "
                            "wait for it to finish and retry"
                        ) from None
                    time.sleep(_LOCK_POLL_S)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _require_state(self) -> StackState:
        state = self.read_state()
        if state is None:
            raise EmbeddedStackError(
                f"the embedded stack in {self.home} is not running; start it with `memos up`"
            )
        return state

    def _is_ours(self, name: str, pid: int) -> bool:
        if name == REDIS:
            return redis_server.is_ours(pid, self.layout.redis_dir)
        return arcadedb_server.is_ours(pid, self.layout.arcadedb_root)

    def _our_pids(self, name: str, state: StackState | None) -> list[int]:
        """PIDs of running processes that are this home's ``name`` (state file and pid file)."""
        candidates: list[int] = []
        if state is not None:
            candidates.append(state.redis.pid if name == REDIS else state.arcadedb.pid)
        from_file = self.layout.read_pidfile(name)
        if from_file is not None:
            candidates.append(from_file)
        return [pid for pid in dict.fromkeys(candidates) if self._is_ours(name, pid)]

    def _stop_part(self, name: str, state: StackState | None) -> None:
        """Stop a part that is ours but unhealthy (hung, or orphaned without a state file)."""
        pids = self._our_pids(name, state)
        if not pids:
            return
        logger.warning("restarting %s: pid %s is ours but not healthy", name, pids)
        grace = REDIS_STOP_GRACE_S if name == REDIS else ARCADEDB_STOP_GRACE_S
        survivors = procs.terminate_all([(name, pid) for pid in pids], grace_s=grace)
        if survivors:
            raise EmbeddedStackError(
                f"could not stop the unhealthy {name} pid={survivors[0][1]}; kill it by hand"
            )

    def _plan_launches(
        self, state: StackState | None, *, start_redis: bool, start_adb: bool
    ) -> list[Launch]:
        taken: set[int] = set()
        if state is not None:
            # Ports of the part that keeps running must not be given to the one restarted.
            if not start_redis:
                taken.add(state.redis.port)
            if not start_adb:
                taken |= {state.arcadedb.bolt_port, state.arcadedb.http_port}
        launches: list[Launch] = []
        if start_redis:
            recorded = state.redis.port if state else None
            port, auto = _choose_port("Redis", self.redis_port, recorded, taken)
            taken.add(port)
            launches.append(RedisLaunch(self.layout, port, auto_port=auto))
        if start_adb:
            recorded_bolt = state.arcadedb.bolt_port if state else None
            bolt, auto_bolt = _choose_port("ArcadeDB Bolt", self.bolt_port, recorded_bolt, taken)
            taken.add(bolt)
            recorded_http = state.arcadedb.http_port if state else None
            http, auto_http = _choose_port("ArcadeDB HTTP", self.http_port, recorded_http, taken)
            launches.append(
                ArcadeDBLaunch(
                    self.layout,
                    bolt,
                    http,
                    auto_port=auto_bolt and auto_http,
                    heap=self.arcadedb_heap,
                )
            )
        return launches

    def _redis_healthy(self, ep: RedisEndpoint) -> bool:
        if not redis_server.is_ours(ep.pid, self.layout.redis_dir):
            return False
        return _answers_twice(lambda: redis_server.ping(ep.port))

    def _arcadedb_healthy(self, ep: ArcadeDBEndpoint) -> bool:
        if not arcadedb_server.is_ours(ep.pid, self.layout.arcadedb_root):
            return False
        return _answers_twice(
            lambda: arcadedb_server.bolt_ping(ep.bolt_url, ep.password, ep.database)
        )

    def _redis_status(self, ep: RedisEndpoint) -> ComponentStatus:
        if not redis_server.is_ours(ep.pid, self.layout.redis_dir):
            return ComponentStatus(
                name=REDIS, pid=ep.pid, url=ep.url, healthy=False, detail=_gone_detail(ep.pid)
            )
        problem = redis_server.ping(ep.port)
        return ComponentStatus(
            name=REDIS,
            pid=ep.pid,
            url=ep.url,
            healthy=problem is None,
            detail=problem or "PING ok",
            rss_bytes=procs.rss_bytes(ep.pid),
        )

    def _arcadedb_status(self, ep: ArcadeDBEndpoint) -> ComponentStatus:
        if not arcadedb_server.is_ours(ep.pid, self.layout.arcadedb_root):
            return ComponentStatus(
                name=ARCADEDB,
                pid=ep.pid,
                url=ep.bolt_url,
                healthy=False,
                detail=_gone_detail(ep.pid),
            )
        problem = arcadedb_server.bolt_ping(ep.bolt_url, ep.password, ep.database)
        return ComponentStatus(
            name=ARCADEDB,
            pid=ep.pid,
            url=ep.bolt_url,
            healthy=problem is None,
            detail=problem or f"RETURN 1 ok (database {ep.database}, http {ep.http_url})",
            rss_bytes=procs.rss_bytes(ep.pid),
        )


#: How long ``up`` waits for a restarted server's recorded port to be free again.
RECORDED_PORT_WAIT_S = 10.0


def _choose_port(
    what: str, explicit: int | None, recorded: int | None, taken: set[int]
) -> tuple[int, bool]:
    """``(port, auto)``: the explicit port, else the recorded one if free, else a free one."""
    if explicit is not None:
        if explicit in taken or not port_is_free(explicit):
            raise EmbeddedStackError(
                f"the {what} port {explicit} on 127.0.0.1 is in use; choose another port "
                "or leave it unset to pick a free one"
            )
        return explicit, False
    if recorded is not None and recorded not in taken:
        # Clients hold the recorded address: a crashed server's port can stay busy for a
        # moment (sockets closing), so wait for it rather than move the server elsewhere.
        deadline = time.monotonic() + RECORDED_PORT_WAIT_S
        while True:
            if port_is_free(recorded):
                return recorded, True
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        logger.warning(
            "the %s port %d recorded for this stack is still in use; picking another one "
            "(clients configured with the old address must be restarted)",
            what,
            recorded,
        )
    return free_port(taken), True


def _answers_twice(probe: Callable[[], str | None]) -> bool:
    """True when ``probe`` succeeds, allowing one retry.

    ``up`` restarts a part that fails this, so a single slow answer on a loaded machine must
    not cost a running server.
    """
    for attempt in range(2):
        problem = probe()
        if problem is None:
            return True
        logger.info("health probe failed (attempt %d): %s", attempt + 1, problem)
        if attempt == 0:
            time.sleep(0.5)
    return False


def _live(records: dict[str, ProcessRecord]) -> list[tuple[str, int, float]]:
    """``(name, pid, stop grace)`` of the recorded extra processes that still run."""
    return [
        (name, rec.pid, rec.stop_grace_s)
        for name, rec in records.items()
        if procs.process_matches(rec.pid, cmdline_contains=rec.cmdline_contains)
    ]


def _gone_detail(pid: int) -> str:
    if procs.pid_alive(pid):
        return f"pid {pid} now belongs to another program; `memos up` restarts it"
    return f"pid {pid} is not running; `memos up` restarts it"
