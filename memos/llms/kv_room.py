"""Reserved room after a stored KV prefix, so a question is appended without copying the prefix.

A stored prefix may keep its tensors as views into buffers with spare positions after it
(:func:`reserve_room`). A question asked on top then writes its keys and values into that room
(:func:`generation_view`) instead of ``DynamicLayer.update`` concatenating them onto a fresh copy
of the whole prefix in every layer: for SmolLM2 and a 2k-token prefix that copy is ~96 MB per
forward pass (measured, two processes each: the cached first token took 159 / 143 ms without
room and 127 / 131 ms with it, on 2 CPU cores).

Views of a cache (:func:`cache_view`) live here because a view of a whole reserved cache shares
its room; this module builds on :mod:`memos.llms.kv`, which imports nothing from it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from memos.llms.kv import cache_from_tensors, clone_cache, layer_tensors, plain_layers

if TYPE_CHECKING:
    import torch


class PrefixRoom:
    """Per-layer key/value buffers: a stored prefix, then positions reserved for what follows.

    The prefix positions are never written. The reserved ones are scratch space for one
    generation at a time (guarded by a lock); what a generation leaves there is never read,
    because every view ends where its own tokens end.
    """

    def __init__(self, pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], room: int) -> None:
        import torch

        self.length = int(pairs[0][0].shape[-2]) if pairs else 0
        self.buffers: list[tuple[torch.Tensor, torch.Tensor]] = []
        for keys, values in pairs:
            shape = (*keys.shape[:-2], self.length + room, keys.shape[-1])
            key_buffer = torch.empty(shape, dtype=keys.dtype, device=keys.device)
            value_buffer = torch.empty(shape, dtype=values.dtype, device=values.device)
            key_buffer[..., : self.length, :] = keys
            value_buffer[..., : self.length, :] = values
            self.buffers.append((key_buffer, value_buffer))
        self.lock = threading.Lock()

    def prefix_pairs(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Views of the stored prefix (what is read, dumped and copied)."""
        n = self.length
        return [(k[..., :n, :], v[..., :n, :]) for k, v in self.buffers]

    def holds(self, pairs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> bool:
        """True when ``pairs`` are exactly this room's prefix views (not tensors swapped in)."""
        return (
            bool(pairs)
            and len(pairs) == len(self.buffers)
            and all(
                k.shape[-2] == self.length and k.data_ptr() == kb.data_ptr()
                for (k, _), (kb, _) in zip(pairs, self.buffers, strict=True)
            )
        )


class ReservedCache(DynamicCache):
    """A DynamicCache over a stored prefix that has room reserved after it (see the module)."""

    def __init__(self, pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], room: PrefixRoom):
        super().__init__()
        self.layers = list(plain_layers(pairs))
        self.room = room

    def __deepcopy__(self, memo: dict[int, Any]) -> DynamicCache:
        """An independent plain cache of the same positions (the room and its lock stay here)."""
        return clone_cache(self)


class _RoomLayer(DynamicLayer):  # type: ignore[no-untyped-call]  # transformers: untyped
    """A layer that appends into reserved room instead of concatenating onto a copy.

    Once the room is used up, or once anything (cropping, beam reordering) replaced the
    tensors it handed out, it behaves exactly like a DynamicLayer (concatenation).
    """

    def __init__(self, key_buffer: torch.Tensor, value_buffer: torch.Tensor, length: int) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._buffers: tuple[torch.Tensor, torch.Tensor] | None = (key_buffer, value_buffer)
        self.device = key_buffer.device
        self.is_initialized = True
        self._show(length)

    def _show(self, length: int) -> None:
        assert self._buffers is not None
        self.keys = self._buffers[0][..., :length, :]
        self.values = self._buffers[1][..., :length, :]
        self._shown = self.keys

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the new positions into the room (or concatenate when it does not fit)."""
        start, count = self._shown.shape[-2], key_states.shape[-2]
        buffers = self._buffers
        if buffers is None or self.keys is not self._shown or start + count > buffers[0].shape[-2]:
            self._buffers = None
            keys, values = super().update(key_states, value_states, *args, **kwargs)
            assert values is not None  # a dense layer always returns both
            return keys, values
        buffers[0][..., start : start + count, :] = key_states
        buffers[1][..., start : start + count, :] = value_states
        self._show(start + count)
        assert self.values is not None  # set by _show
        return self.keys, self.values


def whole_room(cache: DynamicCache, length: int | None = None) -> PrefixRoom | None:
    """The room of ``cache`` when it is a whole :class:`ReservedCache`, else None.

    Whole: its layers still hold the room's prefix views (nothing swapped in by generation)
    and ``length`` (None: all of it) is the full prefix, so nothing after it is in use.
    """
    if not isinstance(cache, ReservedCache):
        return None
    room = cache.room
    if length is not None and length != room.length:
        return None
    return room if room.holds(layer_tensors(cache)) else None


def cache_view(cache: DynamicCache, length: int | None = None) -> DynamicCache:
    """A new DynamicCache over the same tensors, optionally cut to the first ``length`` tokens.

    Safe to hand to generation: ``DynamicLayer.update`` concatenates into new tensors and never
    writes into the ones it holds, so the source cache is left as it was (tests check this).
    A view of a whole :class:`ReservedCache` is one too, sharing its room.
    """
    pairs = layer_tensors(cache)
    room = whole_room(cache, length)
    if room is not None:
        return ReservedCache(pairs, room)
    if length is not None:
        pairs = [(k[..., :length, :], v[..., :length, :]) for k, v in pairs]
    return cache_from_tensors(pairs)


def reserve_room(cache: DynamicCache, room: int) -> DynamicCache:
    """A copy of ``cache`` with ``room`` positions reserved after it (0: a plain view, no copy)."""
    if room <= 0:
        return cache_view(cache)
    reserved = PrefixRoom(layer_tensors(cache), room)
    return ReservedCache(reserved.prefix_pairs(), reserved)


@contextmanager
def generation_view(cache: DynamicCache, length: int) -> Iterator[DynamicCache]:
    """A cache to compute on top of the first ``length`` positions of ``cache``, left unchanged.

    When ``cache`` is a whole :class:`ReservedCache` and nobody else is generating on its room,
    the new positions go into the room (no copy of the prefix); otherwise this is
    :func:`cache_view` (new positions are concatenated onto copies).
    """
    room = whole_room(cache, length)
    if room is None or not room.lock.acquire(blocking=False):
        yield cache_view(cache, length)
        return
    try:
        view = DynamicCache()
        view.layers = [_RoomLayer(k, v, length) for k, v in room.buffers]
        yield view
    finally:
        room.lock.release()
