"""kv-ttft: time to first token with a cached memory prefix vs prompt injection of the same text.

For memory prefixes of about 256, 1k and 2k tokens (LoCoMo conversation turns rendered as one
system message, or synthetic facts when the data set is absent), the KV cache is built once;
then the median time to the first answer token is measured for (a) the cached path (only the
question's tokens are computed on top of the stored cache) and (b) prompt injection (the whole
prompt is computed). Both include rendering and tokenising the prompt, and both must produce
the same first token. Target: >= 20x at 2k tokens.

    python -m memos.bench kv-ttft [--quick] [--json out.json] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from memos.bench.common import REPO_ROOT, machine, write_json

logger = logging.getLogger(__name__)

SIZES = (256, 1024, 2048)
LOCOMO = REPO_ROOT.parent / "shared" / "data" / "locomo" / "locomo10.json"
QUESTION = [{"role": "user", "content": "What did Caroline say about her plans for next week?"}]


def memory_lines() -> list[str]:
    """Conversation turns of the first LoCoMo conversation, or synthetic facts without it."""
    if LOCOMO.is_file():
        data = json.loads(LOCOMO.read_text(encoding="utf-8"))
        conversation = data[0]["conversation"]
        lines: list[str] = []
        for key in sorted(k for k in conversation if k.startswith("session_") and "date" not in k):
            turns = conversation[key]
            if isinstance(turns, list):
                lines.extend(f"{t['speaker']}: {t['text']}" for t in turns if "text" in t)
        if lines:
            return lines
    return [f"Fact {i}: the user visited place number {i} and liked it." for i in range(2000)]


def prefix_of_size(llm: Any, lines: list[str], target: int) -> list[str]:
    """The shortest run of ``lines`` whose rendered prefix has at least ``target`` tokens."""
    low, high = 1, len(lines)
    while low < high:
        mid = (low + high) // 2
        if len(llm.encode_prefix(lines[:mid]).token_ids) >= target:
            high = mid
        else:
            low = mid + 1
    return lines[:low]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Suite options (``--quick`` and ``--json`` come from the dispatcher)."""
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--model", default="smollm2-135m-instruct", help="model name or folder")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per path")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the suite, print a table, return ``{size: {cached_ms, injected_ms, ratio, ...}}``."""
    from memos.configs.memory import KVCacheMemoryConfig
    from memos.memories.activation.chat import measure_kv_ttft
    from memos.memories.activation.kv import KVCacheMemory

    repeats = args.repeats or (3 if args.quick else 9)
    config = KVCacheMemoryConfig.model_validate(
        {
            "extractor_llm": {
                "backend": "huggingface",
                "config": {"device": args.device, "model_name_or_path": args.model},
            }
        }
    )
    memory = KVCacheMemory(config)
    lines = memory_lines()
    results: dict[str, Any] = {}
    print(f"{'prefix':>8} {'tokens':>7} {'cached ms':>10} {'injected ms':>12} {'ratio':>7}  same")
    for size in SIZES:
        item = memory.extract(prefix_of_size(memory.llm, lines, size))
        memory.add([item])
        view = memory.get_stored_view(item.id)
        result = measure_kv_ttft(memory.llm, view, QUESTION, repeats=repeats, warmup=1)
        results[str(size)] = {
            "cached_ms": round(result.cached_ms, 2),
            "injected_ms": round(result.injected_ms, 2),
            "ratio": round(result.ratio, 2),
            "prefix_tokens": result.prefix_tokens,
            "prompt_tokens": result.prompt_tokens,
            "same_first_token": result.same_first_token,
        }
        print(
            f"{size:>8} {result.prefix_tokens:>7} {result.cached_ms:>10.1f} "
            f"{result.injected_ms:>12.1f} {result.ratio:>7.1f}  {result.same_first_token}"
        )
    results["_meta"] = {
        "repeats": repeats,
        "statistic": "median",
        "device": args.device,
        "model": memory.llm.model_id,
        "target": ">= 20x at 2048 tokens",
        "machine": machine(),
    }
    return results


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: ``python -m memos.bench.kv_ttft``."""
    parser = argparse.ArgumentParser(prog="python -m memos.bench.kv_ttft", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", metavar="PATH")
    add_arguments(parser)
    args = parser.parse_args(argv)
    result = run(args)
    if args.json:
        write_json(Path(args.json), "kv-ttft", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
