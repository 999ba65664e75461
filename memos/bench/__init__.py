"""Benchmarks: ``python -m memos.bench <suite> [--quick] [--json PATH]``."""
