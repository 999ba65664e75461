"""The hop profile's table: every hop, and the worker's own steps under the handler row."""

from __future__ import annotations

import pytest

from memos.bench import daemon_hops


def test_the_report_lists_the_handler_steps_under_the_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hops = {name: 1.0 for name, _, _ in daemon_hops.HOPS}
    by_size = {
        "1000": {
            "hops_p50_ms": hops,
            "steps_p50_ms": {"access": 0.25, "search.embed": 9.5},
            "total_p50_ms": 12.0,
            "overhead_p50_ms": 3.0,
        },
        "100000": {"hops_p50_ms": hops, "total_p50_ms": 20.0, "overhead_p50_ms": 4.0},
    }
    daemon_hops.report(by_size)
    lines = capsys.readouterr().out.splitlines()
    handler = next(i for i, line in enumerate(lines) if "handler (the search itself)" in line)
    assert "step: access" in lines[handler + 1] and "0.25" in lines[handler + 1]
    assert "step: search.embed" in lines[handler + 2] and "9.5" in lines[handler + 2]
    assert "commit + reply" in lines[handler + 3]
    assert daemon_hops.STEP_PREFIX == "ms:"
