"""``python -m memos``: the same command line as the ``memos`` script."""

from __future__ import annotations

from memos.cli import main

if __name__ == "__main__":
    main()
