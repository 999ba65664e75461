"""Operations on transformers ``DynamicCache`` objects (transformers 5.x layer API).

A cache holds, per layer, ``keys`` and ``values`` shaped ``[batch, kv_heads, seq, head_dim]``.
These helpers copy, slice and rebuild caches without touching the tensors of the source, so a
stored memory is never changed by being used.

Stored prefixes may keep room reserved after them for what is computed on top: views of a cache
(``cache_view``) and that room live in :mod:`memos.llms.kv_room`, which builds on this module
(this one imports nothing from it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from memos.errors import KVCacheCompatibilityError

if TYPE_CHECKING:
    import torch
    from transformers import DynamicCache, PreTrainedModel
    from transformers.cache_utils import CacheLayerMixin


def new_cache(model: PreTrainedModel) -> DynamicCache:
    """An empty DynamicCache laid out for ``model``."""
    from transformers import DynamicCache

    return DynamicCache(config=model.config)


def layer_tensors(cache: DynamicCache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(keys, values)`` of every layer; refuses caches that are not plain attention layers."""
    import torch

    pairs: list[tuple[torch.Tensor, torch.Tensor]] = []
    for index, layer in enumerate(cache.layers):
        keys = getattr(layer, "keys", None)
        values = getattr(layer, "values", None)
        if not isinstance(keys, torch.Tensor) or not isinstance(values, torch.Tensor):
            raise KVCacheCompatibilityError(
                f"cache layer {index} ({type(layer).__name__}) holds no key/value tensors; "
                "only full-attention DynamicCache layers can be stored"
            )
        pairs.append((keys, values))
    return pairs


def cache_from_tensors(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> DynamicCache:
    """Rebuild a DynamicCache from per-layer ``(keys, values)`` (the tensors are not copied)."""
    from transformers import DynamicCache

    cache = DynamicCache()
    cache.layers = list(plain_layers(pairs))
    return cache


def plain_layers(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> list[CacheLayerMixin]:
    """One DynamicLayer per ``(keys, values)``, holding those very tensors.

    ``DynamicCache(ddp_cache_data=...)`` would copy them: it fills each layer through
    ``update``, which concatenates onto an empty tensor (a full copy of a 2k-token prefix,
    96 MB for SmolLM2, on every view that was meant to be free).
    """
    from transformers.cache_utils import DynamicLayer

    layers: list[CacheLayerMixin] = []
    for keys, values in pairs:
        layer = DynamicLayer()  # type: ignore[no-untyped-call]  # transformers leaves it untyped
        layer.lazy_initialization(keys, values)
        layer.keys, layer.values = keys, values
        layers.append(layer)
    return layers


def clone_cache(cache: DynamicCache, device: str | None = None) -> DynamicCache:
    """A deep copy of ``cache`` (optionally on ``device``): callers may do anything with it."""
    pairs = layer_tensors(cache)
    if device is not None:
        return cache_from_tensors(
            [(k.to(device, copy=True), v.to(device, copy=True)) for k, v in pairs]
        )
    return cache_from_tensors([(k.clone(), v.clone()) for k, v in pairs])


def concat_caches(caches: Sequence[DynamicCache]) -> DynamicCache:
    """Join caches along the sequence axis. An APPROXIMATION: see ``KVCacheMemory.get_cache``.

    Tokens of a later cache were computed without attending to the earlier ones (and at
    positions starting from 0), so the result differs from a joint computation.
    """
    import torch

    per_cache = [layer_tensors(c) for c in caches]
    layers = len(per_cache[0])
    return cache_from_tensors(
        [
            (
                torch.cat([pairs[i][0] for pairs in per_cache], dim=-2),
                torch.cat([pairs[i][1] for pairs in per_cache], dim=-2),
            )
            for i in range(layers)
        ]
    )


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token id sequences."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
