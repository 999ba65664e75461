"""Benchmarks: ``python -m bench <suite> [--quick] [--json PATH]``."""
