"""The embedded supervisor: keeps one bus prefix's daemon and worker (and the servers) running.

Run as ``python -m memos.embedded.supervisor SPEC_FILE`` (``memos.mem_os.services`` starts it
for a MOS on the embedded default and records it in the stack state, so ``memos down`` stops
it by PID). It is the parent of the processes it supervises, so it learns how each one ended
(``killed by SIGKILL``, ``exited with status 1``) and restarts it after a back-off; after
``max_restarts`` restarts within ``window_s`` it stops trying and reports "gave up". Every
``server_check_s`` it also checks Redis and ArcadeDB (PID and ping) and repairs them with
:meth:`EmbeddedStack.up` (which restarts only the dead part, on its old port when free).

Before a Celery worker is started again, the tasks the dead one held are put back on their
queues (:func:`memos.workers.recovery.restore_unacked`), so the daemon's waiting attempt is
answered in seconds, and the loss is announced to the daemons
(:func:`memos.workers.recovery.announce_lost_worker`), which resend at once what a task that
could not be restored would have left waiting for ``task_timeout_s``. A restarted daemon keeps
its consumer name and resumes the entries it had pending itself
(:meth:`MemScheduler._resume_own_pending`).

SIGTERM or SIGINT stop the supervisor: it stops its children (SIGTERM, then SIGKILL after their
grace) and exits without restarting anything. See docs/supervision.md.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from memos.embedded import procs
from memos.embedded.layout import ARCADEDB, REDIS
from memos.embedded.stack import EmbeddedStack
from memos.embedded.state import ProcessRecord, utc_now
from memos.embedded.supervision import (
    PartReport,
    PartState,
    ServiceSpec,
    SupervisorReport,
    SupervisorSpec,
    describe_exit,
    read_spec,
    report_path,
    write_model,
)
from memos.errors import EmbeddedStackError

logger = logging.getLogger("memos.embedded.supervisor")


@dataclass
class _Part:
    """The supervisor's bookkeeping for one part (a child it runs, or a server it repairs)."""

    name: str
    spec: ServiceSpec | None = None
    proc: subprocess.Popen[bytes] | None = None
    state: PartState = "starting"
    restarts: int = 0
    restart_times: list[float] = field(default_factory=list)
    last_exit: str | None = None
    last_exit_at: datetime | None = None
    died_at: float | None = None
    next_start: float | None = None
    last_restart_s: float | None = None

    def report(self) -> PartReport:
        pid = self.proc.pid if self.proc is not None and self.state == "running" else None
        return PartReport(
            name=self.name,
            state=self.state,
            pid=pid,
            restarts=self.restarts,
            last_exit=self.last_exit,
            last_exit_at=self.last_exit_at,
            last_restart_s=self.last_restart_s,
        )


class Supervisor:
    """Runs the children of a :class:`SupervisorSpec` and keeps them (and the servers) alive."""

    def __init__(self, spec: SupervisorSpec) -> None:
        self.spec = spec
        self.policy = spec.policy
        self.stack = EmbeddedStack(Path(spec.stack_home))
        self.parts: dict[str, _Part] = {s.name: _Part(name=s.name, spec=s) for s in spec.services}
        if self.policy.watch_servers:
            for name in (REDIS, ARCADEDB):
                self.parts[name] = _Part(name=name, state="running")
        self.stop_requested = threading.Event()
        self._metrics_url: str | None = None
        self._next_server_check = 0.0

    # ------------------------------------------------------------------ lifecycle

    def request_stop(self, *_args: object) -> None:
        """Stop supervising (safe from a signal handler)."""
        self.stop_requested.set()

    def run(self) -> None:
        """Start every child, then supervise until :meth:`request_stop`; stop the children."""
        server = None
        if self.spec.metrics_port is not None:
            from memos.observability.metrics import MetricsServer

            server = MetricsServer(self.spec.metrics_host, self.spec.metrics_port)
            self._metrics_url = server.url
        try:
            self._stop_leftovers()
            for part in self._children():
                self._start(part)
            self._write_report()
            while not self.stop_requested.wait(self.policy.poll_s):
                changed = self._check_children()
                changed |= self._start_due()
                now = time.monotonic()
                if self.policy.watch_servers and now >= self._next_server_check:
                    changed |= self._check_servers()
                    self._next_server_check = time.monotonic() + self.policy.server_check_s
                if changed:
                    self._write_report()
        finally:
            self._stop_children()
            self._write_report()
            if server is not None:
                server.close()
            logger.info("supervisor %s stopped", self.spec.prefix)

    def _children(self) -> list[_Part]:
        return [part for part in self.parts.values() if part.spec is not None]

    # ------------------------------------------------------------------ children

    def _start(self, part: _Part) -> None:
        spec = part.spec
        assert spec is not None
        if spec.celery_config is not None and part.died_at is not None:
            self._restore_tasks(spec)
        with Path(spec.log).open("ab") as log:
            part.proc = subprocess.Popen(
                spec.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=spec.cwd,
            )
        part.state = "running"
        part.next_start = None
        try:
            self.stack.record_process(
                spec.name,
                ProcessRecord(
                    pid=part.proc.pid,
                    cmdline_contains=spec.cmdline_contains,
                    stop_grace_s=spec.stop_grace_s,
                ),
            )
        except EmbeddedStackError as exc:
            # The stack was stopped under us (`memos down`): nothing left to supervise.
            logger.warning("supervisor %s: %s; stopping", self.spec.prefix, exc)
            self.request_stop()
        if part.died_at is not None:
            part.last_restart_s = round(time.monotonic() - part.died_at, 3)
            part.died_at = None
            logger.warning(
                "supervisor %s: restarted %s as pid %d (restart %d, %.1f s after it died: %s)",
                self.spec.prefix,
                part.name,
                part.proc.pid,
                part.restarts,
                part.last_restart_s,
                part.last_exit,
            )
        else:
            logger.info(
                "supervisor %s: started %s pid %d", self.spec.prefix, part.name, part.proc.pid
            )

    def _stop_leftovers(self) -> None:
        """Stop processes an earlier supervisor of this prefix left running (it was killed).

        Two daemons with one consumer name, or two workers, must never run side by side.
        """
        state = self.stack.read_state()
        if state is None:
            return
        leftovers = []
        for part in self._children():
            record = state.processes.get(part.name)
            if record is not None and procs.process_matches(
                record.pid, cmdline_contains=record.cmdline_contains
            ):
                leftovers.append((part.name, record.pid))
        if leftovers:
            logger.warning("supervisor %s: stopping leftovers %s", self.spec.prefix, leftovers)
            grace = max(part.spec.stop_grace_s for part in self._children() if part.spec)
            procs.stop_all(leftovers, grace_s=grace)

    def _restore_tasks(self, spec: ServiceSpec) -> None:
        assert spec.celery_config is not None
        try:
            from memos.mem_scheduler.config import load_scheduler_config
            from memos.workers.recovery import announce_lost_worker, restore_unacked

            config = load_scheduler_config(spec.celery_config)
            restore_unacked(config)
            announce_lost_worker(config)
        except Exception:
            # Not fatal: kombu restores them after the visibility timeout anyway.
            logger.exception(
                "supervisor %s: could not put %s's tasks back", self.spec.prefix, spec.name
            )

    def _check_children(self) -> bool:
        changed = False
        for part in self._children():
            if part.state != "running" or part.proc is None:
                continue
            code = part.proc.poll()
            if code is None:
                continue
            changed = True
            self._died(part, describe_exit(code))
        return changed

    def _died(self, part: _Part, reason: str) -> None:
        """Record a death; schedule the restart, or give up on a crash loop."""
        now = time.monotonic()
        part.last_exit = reason
        part.last_exit_at = utc_now()
        part.died_at = now
        window = self.policy.window_s
        part.restart_times = [t for t in part.restart_times if now - t < window]
        if len(part.restart_times) >= self.policy.max_restarts:
            part.state = "gave up"
            self._metric_gave_up(part.name, 1)
            logger.error(
                "supervisor %s: %s %s; it was restarted %d times within %.0f s, so it is left "
                "down (crash loop). Read its log, fix the cause and run `memos up` / restart the "
                "application",
                self.spec.prefix,
                part.name,
                reason,
                len(part.restart_times),
                window,
            )
            return
        delay = self.policy.delay_s(len(part.restart_times))
        part.state = "backing off"
        part.next_start = now + delay
        logger.warning(
            "supervisor %s: %s %s; restarting in %.1f s", self.spec.prefix, part.name, reason, delay
        )

    def _start_due(self) -> bool:
        changed = False
        now = time.monotonic()
        for part in self._children():
            due = part.next_start is not None and now >= part.next_start
            if part.state == "backing off" and due and not self.stop_requested.is_set():
                self._count_restart(part)
                self._start(part)
                changed = True
        return changed

    def _count_restart(self, part: _Part) -> None:
        part.restarts += 1
        part.restart_times.append(time.monotonic())
        reason = (part.last_exit or "unknown").split(" ")[0]
        self._metric_restart(part.name, reason)

    def _stop_children(self) -> None:
        targets = [
            (part.name, part.proc.pid)
            for part in self._children()
            if part.proc is not None and part.proc.poll() is None
        ]
        if targets:
            grace = max(part.spec.stop_grace_s for part in self._children() if part.spec)
            procs.stop_all(targets, grace_s=grace)
        for part in self._children():
            if part.proc is not None:
                part.proc.poll()
            part.state = "stopped"

    # ------------------------------------------------------------------ servers

    def _check_servers(self) -> bool:
        """Repair Redis or ArcadeDB when its PID is gone or it does not answer."""
        state = self.stack.read_state()
        if state is None or self.stop_requested.is_set():
            return False  # stopped by `memos down` (which stops us too): nothing to repair
        # Only the two servers are probed (not stack.status(), which would also look at our
        # children's PIDs and could reap one before Popen.poll() learns how it ended).
        broken = {}
        for comp in self.stack.server_statuses(state):
            if not comp.healthy:
                broken[comp.name] = comp.detail
        if not broken:
            return False
        started = time.monotonic()
        for name, detail in broken.items():
            part = self.parts[name]
            part.last_exit, part.last_exit_at, part.state = detail, utc_now(), "backing off"
            logger.warning(
                "supervisor %s: %s is down (%s); repairing", self.spec.prefix, name, detail
            )
        try:
            self.stack.up()
        except EmbeddedStackError:
            logger.exception(
                "supervisor %s: repairing %s failed", self.spec.prefix, ", ".join(broken)
            )
            return True
        for name in broken:
            part = self.parts[name]
            part.state = "running"
            part.last_restart_s = round(time.monotonic() - started, 3)
            self._count_restart(part)
            logger.warning(
                "supervisor %s: %s repaired in %.1f s (restart %d)",
                self.spec.prefix,
                name,
                part.last_restart_s,
                part.restarts,
            )
        return True

    # ------------------------------------------------------------------ reporting

    def _write_report(self) -> None:
        report = SupervisorReport(
            prefix=self.spec.prefix,
            pid=os.getpid(),
            parts={name: part.report() for name, part in self.parts.items()},
            metrics_url=self._metrics_url,
        )
        try:
            write_model(report_path(Path(self.spec.stack_home), self.spec.prefix), report)
        except OSError:
            logger.exception("supervisor %s: cannot write its report", self.spec.prefix)

    def _metric_restart(self, part: str, reason: str) -> None:
        from memos.observability.metrics import get_metrics

        get_metrics().part_restarts_total.labels(part=part, reason=reason).inc()

    def _metric_gave_up(self, part: str, value: int) -> None:
        from memos.observability.metrics import get_metrics

        get_metrics().part_gave_up.labels(part=part).set(value)


def main(argv: list[str] | None = None) -> int:
    """``python -m memos.embedded.supervisor SPEC_FILE``: supervise until SIGTERM."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m memos.embedded.supervisor SPEC_FILE", file=sys.stderr)
        return 2
    from memos.observability.logging import configure_logging

    spec = read_spec(Path(args[0]))
    configure_logging(level="INFO", fmt="json", service=f"supervisor-{spec.prefix}")
    supervisor = Supervisor(spec)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    supervisor.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
