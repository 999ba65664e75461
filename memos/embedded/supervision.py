"""What the embedded supervisor runs and what it reports: its spec, restart policy and report.

The supervisor (:mod:`memos.embedded.supervisor`) of one bus prefix reads a
:class:`SupervisorSpec` from ``<stack>/services/supervisor-<prefix>.spec.json`` and writes a
:class:`SupervisorReport` to ``<stack>/services/supervisor-<prefix>.status.json`` whenever a part
changes (started, died, restarted, given up). ``memos status`` reads the reports to show each
part's restart count and last exit reason. Both files are written atomically (mode 0600).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memos.embedded.state import ComponentStatus, utc_now, write_private_text

logger = logging.getLogger(__name__)

SERVICES_DIR = "services"
SUPERVISOR_PREFIX = "supervisor-"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

PartState = Literal["starting", "running", "backing off", "gave up", "stopped"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RestartPolicy(_Model):
    """How fast, and how often, a dead part is started again.

    The n-th restart within ``window_s`` waits ``min(backoff_base_s * 2**(n-1), backoff_max_s)``
    after the death; once ``max_restarts`` restarts happened within ``window_s`` the part is
    left down and reported as "gave up" (a crash loop is reported, not spun).
    """

    backoff_base_s: float = Field(default=0.5, ge=0, description="delay before the 1st restart")
    backoff_max_s: float = Field(default=30.0, ge=0, description="longest delay between restarts")
    max_restarts: int = Field(default=5, ge=1, description="restarts allowed within window_s")
    window_s: float = Field(default=300.0, gt=0, description="the crash-loop window")
    poll_s: float = Field(default=0.5, gt=0, description="how often children are checked")
    server_check_s: float = Field(
        default=2.0, gt=0, description="how often Redis and ArcadeDB are checked (PID + ping)"
    )
    watch_servers: bool = Field(default=True, description="also repair Redis and ArcadeDB")

    def delay_s(self, restarts_in_window: int) -> float:
        """The wait before the next restart, given the restarts already in the window."""
        return float(min(self.backoff_base_s * 2**restarts_in_window, self.backoff_max_s))


class ServiceSpec(_Model):
    """One child process the supervisor starts and keeps running."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    argv: list[str] = Field(min_length=1)
    cwd: str
    log: str = Field(description="file that receives the child's stdout and stderr")
    cmdline_contains: tuple[str, ...] = Field(
        min_length=1, description="identity for `memos down` (see ProcessRecord)"
    )
    stop_grace_s: float = Field(default=30.0, gt=0)
    celery_config: str | None = Field(
        default=None,
        description="a Celery worker's scheduler config file: before the worker is started "
        "again, the tasks the dead worker held are put back on their queues",
    )


class SupervisorSpec(_Model):
    """Everything one supervisor needs: its stack, children, policy and metrics port."""

    prefix: str
    stack_home: str
    services: list[ServiceSpec]
    policy: RestartPolicy = Field(default_factory=RestartPolicy)
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=0, le=65535)


class PartReport(_Model):
    """One supervised part as the supervisor last saw it."""

    name: str
    state: PartState
    pid: int | None = None
    restarts: int = 0
    last_exit: str | None = None
    last_exit_at: datetime | None = None
    last_restart_s: float | None = Field(
        default=None, description="seconds from noticing the death to the part running again"
    )


class SupervisorReport(_Model):
    """What ``memos status`` shows about supervision: every part's restarts and last exit."""

    prefix: str
    pid: int
    parts: dict[str, PartReport] = Field(default_factory=dict)
    metrics_url: str | None = None
    updated_at: datetime = Field(default_factory=utc_now)


def services_dir(stack_home: Path) -> Path:
    """``<stack>/services``: config files, logs, specs and reports of supervised services."""
    return stack_home / SERVICES_DIR


def spec_path(stack_home: Path, prefix: str) -> Path:
    """Where the spec of the supervisor for ``prefix`` is written."""
    return services_dir(stack_home) / f"{SUPERVISOR_PREFIX}{prefix}.spec.json"


def report_path(stack_home: Path, prefix: str) -> Path:
    """Where the supervisor for ``prefix`` writes its report."""
    return services_dir(stack_home) / f"{SUPERVISOR_PREFIX}{prefix}.status.json"


def write_model(path: Path, model: BaseModel) -> None:
    """Write ``model`` as JSON, atomically, mode 0600."""
    write_private_text(path, model.model_dump_json(indent=2) + "\n")


def read_spec(path: Path) -> SupervisorSpec:
    """Load a spec (errors propagate: a supervisor without a valid spec must not start)."""
    return SupervisorSpec.model_validate(json.loads(path.read_text(encoding="utf-8")))


def read_reports(stack_home: Path) -> list[SupervisorReport]:
    """Every supervisor report of a stack (unreadable ones are skipped and logged)."""
    reports: list[SupervisorReport] = []
    directory = services_dir(stack_home)
    if not directory.is_dir():
        return reports
    for path in sorted(directory.glob(f"{SUPERVISOR_PREFIX}*.status.json")):
        try:
            reports.append(SupervisorReport.model_validate_json(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, ValidationError) as exc:
            logger.warning("ignoring unreadable supervisor report %s: %s", path, exc)
    return reports


def with_supervision(
    components: list[ComponentStatus], reports: list[SupervisorReport]
) -> list[ComponentStatus]:
    """``components`` with the restart counts and last exits the supervisors reported.

    A server (Redis, ArcadeDB) may be repaired by the supervisor of any prefix: its restarts are
    summed over the reports, and the most recent exit is shown.
    """
    merged: dict[str, tuple[int, PartReport]] = {}
    for report in reports:
        for name, part in report.parts.items():
            total, latest = merged.get(name, (0, part))
            if (part.last_exit_at or _EPOCH) >= (latest.last_exit_at or _EPOCH):
                latest = part
            merged[name] = (total + part.restarts, latest)
    out: list[ComponentStatus] = []
    for comp in components:
        if comp.name in merged:
            restarts, part = merged[comp.name]
            comp = comp.model_copy(
                update={
                    "restarts": restarts,
                    "last_exit": part.last_exit,
                    "supervision": part.state,
                }
            )
        out.append(comp)
    return out


def describe_exit(returncode: int | None) -> str:
    """A dead child's exit as people read it: ``killed by SIGKILL``, ``exited with status 1``."""
    import signal

    if returncode is None:
        return "gone (exit status unknown)"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"
