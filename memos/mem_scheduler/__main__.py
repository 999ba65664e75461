"""``python -m memos.mem_scheduler [--check] --config FILE`` / ``... run --config FILE``."""

from __future__ import annotations

from memos.mem_scheduler.cli import scheduler_app

if __name__ == "__main__":
    scheduler_app(prog_name="memos scheduler")
