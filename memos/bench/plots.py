"""PNG plots of suite results (matplotlib, Agg backend: no display needed).

``plot(suite, result, out_dir)`` draws what a chart says better than the table, for the suites
that have one, and returns the files written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def search_latency(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Search p50/p95/p99 against cube size, direct vs daemon (log x)."""
    plt = _pyplot()
    sizes = sorted(int(s) for s in result["sizes"])
    fig, ax = plt.subplots(figsize=(7, 4.2))
    paths = (("direct", "tab:blue"), ("daemon", "tab:orange"), ("global", "tab:green"))
    for path, colour in paths:
        if not all(path in result["sizes"][str(s)] for s in sizes):
            continue  # --no-daemon, or no --profile (the global-index path)
        for pct, style in (("p50_ms", "-o"), ("p95_ms", "--s"), ("p99_ms", ":^")):
            values = [result["sizes"][str(s)][path][pct] for s in sizes]
            ax.plot(sizes, values, style, color=colour, label=f"{path} {pct[:3]}")
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{s:,}" for s in sizes])
    ax.minorticks_off()
    ax.set_xlabel("memories in the cube")
    ax.set_ylabel("search latency (ms)")
    ax.set_title(f"TreeTextMemory search, top_k={result['top_k']}: direct vs through the daemon")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    saved = [_save(fig, out_dir, "search_latency")]
    if all("profile" in result["sizes"][str(s)] for s in sizes):
        saved.append(_search_profile(result, sizes, out_dir))
    if "tenants" in result:
        saved.append(_tenant_shape(result["tenants"], out_dir))
    return saved


def _search_profile(result: dict[str, Any], sizes: list[int], out_dir: Path) -> Path:
    """Median ms of every step of a direct search, stacked, per size and path (``--profile``)."""
    from memos.bench.search_scale import STEPS

    plt = _pyplot()
    bars: list[tuple[str, dict[str, float]]] = []
    for size in sizes:
        row = result["sizes"][str(size)]
        bars.append((f"{size:,}\nindex", row["profile"]))
        if row.get("profile_global"):
            bars.append((f"{size:,}\nglobal", row["profile_global"]))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    labels = [label for label, _ in bars]
    bottom = [0.0] * len(bars)
    colours = plt.get_cmap("tab10")
    for i, step in enumerate(STEPS):
        values = [float(profile.get(step, 0.0)) for _, profile in bars]
        if not any(values):
            continue
        ax.bar(labels, values, bottom=bottom, label=step, color=colours(i % 10))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("median ms per step")
    ax.set_title("Where a direct search spends its time, by cube size")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, out_dir, "search_profile")


def _tenant_shape(shape: dict[str, Any], out_dir: Path) -> Path:
    """One small cube's search p50 alone and among many other tenants' cubes, per path."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    paths = [p for p in ("index", "global") if f"alone_{p}" in shape]
    width = 0.38
    xs = list(range(len(paths)))
    for offset, phase, colour in (
        (-width / 2, "alone", "tab:blue"),
        (width / 2, "among", "tab:red"),
    ):
        values = [shape[f"{phase}_{p}"]["p50_ms"] for p in paths]
        bars = ax.bar([x + offset for x in xs], values, width, label=phase, color=colour)
        ax.bar_label(bars, fmt="%.0f ms", padding=2, fontsize=8)
    ax.set_xticks(xs, [f"{p}\n(among/alone {shape[f'ratio_{p}_p50']})" for p in paths])
    ax.set_ylabel("search p50 (ms)")
    ax.set_title(
        f"One cube of {shape['tenant_size']} alone vs among {shape['tenants']:,} tenants' cubes"
    )
    ax.legend(fontsize=8)
    return _save(fig, out_dir, "search_tenants")


def tenants(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Operations per second and p95 latency against concurrent tenants, per worker count."""
    plt = _pyplot()
    curves = result.get("by_workers") or {"": result["levels"]}
    fig, ax = plt.subplots(figsize=(7, 4.2))
    right = ax.twinx()
    colours = plt.get_cmap("tab10")
    levels: list[int] = []
    for i, (workers, curve) in enumerate(curves.items()):
        levels = sorted(int(k) for k in curve)
        rows = [curve[str(k)] for k in levels]
        name = f" ({workers} worker{'s' if workers != '1' else ''})" if workers else ""
        colour = colours(i % 10)
        ax.plot(levels, [r["ops_per_s"] for r in rows], "-o", color=colour, label=f"ops/s{name}")
        right.plot(levels, [r["add"]["p95_ms"] for r in rows], "--s", color=colour, alpha=0.7,
                   label=f"add p95{name}")  # fmt: skip
        right.plot(levels, [r["search"]["p95_ms"] for r in rows], ":^", color=colour,
                   alpha=0.7, label=f"search p95{name}")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xticks(levels, [str(k) for k in levels])
    ax.minorticks_off()
    ax.set_ylim(bottom=0)
    ax.set_xlabel("concurrent tenants (threads, one user and cube each)")
    ax.set_ylabel("operations per second (solid)")
    # Add latency spans 300 ms to a minute across the levels: only a log axis shows both ends.
    right.set_yscale("log")
    right.set_ylabel("p95 latency (ms, log; dashed add, dotted search)")
    handles = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], fontsize=7, loc="upper left")
    ax.set_title("Tenants adding and searching through one MOS")
    ax.grid(alpha=0.3)
    return [_save(fig, out_dir, "tenants")]


def ingest(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Turns per second: the daemon path (per adds in flight) vs the embedder alone."""
    plt = _pyplot()
    runs = result.get("by_inflight") or {"1": result}
    labels = [f"daemon, {k} in flight\n(MOS.add, ArcadeDB)" for k in runs]
    values = [float(r["daemon_turns_per_s"]) for r in runs.values()]
    labels.append("embedder only\n(in process)")
    values.append(float(result["embedder_turns_per_s"]))
    fig, ax = plt.subplots(figsize=(6, 1.2 + 0.7 * len(values)))
    colours = ["tab:orange"] * (len(values) - 1) + ["tab:blue"]
    bars = ax.barh(labels, values, color=colours)
    ax.bar_label(bars, fmt="%.1f turns/s", padding=3)
    ax.set_xlim(0, max(values) * 1.35)
    ax.set_xlabel("turns per second")
    ratios = ", ".join(f"{k}: {r['ratio_daemon_to_embedder']}" for k, r in runs.items())
    ax.set_title(f"Ingest of {result['turns']} turns, daemon / embedder ({ratios})", fontsize=9)
    return [_save(fig, out_dir, "ingest")]


def locomo_recall(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Evidence recall@5/10/20 per system."""
    plt = _pyplot()
    systems = list(result["systems"])
    ks = ("R@5", "R@10", "R@20")
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(ks)
    for j, k in enumerate(ks):
        xs = [i + (j - 1) * width for i in range(len(systems))]
        ax.bar(xs, [result["systems"][s][k] for s in systems], width, label=k)
    ax.set_xticks(range(len(systems)), systems)
    ax.set_ylim(0, 1)
    ax.set_ylabel("evidence recall")
    ax.set_title(f"LoCoMo evidence recall ({result['questions']} questions)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return [_save(fig, out_dir, "locomo_recall")]


def kv_ttft(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Time to first token, cached prefix vs prompt injection, per prefix size."""
    plt = _pyplot()
    sizes = [k for k in result if not k.startswith("_")]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    tokens = [result[s]["prefix_tokens"] for s in sizes]
    ax.plot(tokens, [result[s]["injected_ms"] for s in sizes], "-o", label="prompt injection")
    ax.plot(tokens, [result[s]["cached_ms"] for s in sizes], "-s", label="cached KV prefix")
    for t, s in zip(tokens, sizes, strict=True):
        ax.annotate(f"{result[s]['ratio']:.0f}x", (t, result[s]["injected_ms"]), fontsize=8,
                    textcoords="offset points", xytext=(0, 6), ha="center")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("memory prefix (tokens)")
    ax.set_ylabel("time to first token (ms, log)")
    ax.set_title("Activation memory: time to first token")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return [_save(fig, out_dir, "kv_ttft")]


PLOTTERS: dict[str, Callable[[dict[str, Any], Path], list[Path]]] = {
    "search-latency": search_latency,
    "tenants": tenants,
    "ingest": ingest,
    "locomo-recall": locomo_recall,
    "kv-ttft": kv_ttft,
}


def plot(suite: str, result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write the suite's plots under ``out_dir`` (none for suites without a plotter)."""
    plotter = PLOTTERS.get(suite)
    if plotter is None:
        return []
    try:
        return plotter(result, out_dir)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        # A partial result (a suite that failed its checks) must not hide the table and JSON.
        raise RuntimeError(f"could not plot {suite}: {exc}") from exc
