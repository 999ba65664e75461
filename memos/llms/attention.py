"""Attention for cached prefixes on CPU: grouped-query attention without copying keys and values.

transformers' ``sdpa`` attention hands grouped-query attention to the kernel only when no mask
is given. A question computed on top of a cached prefix always carries a mask (its new tokens
are causal among themselves), so ``sdpa`` first repeats every cached key and value once per
query group: for SmolLM2 (9 query heads, 3 key/value heads) a 2k-token prefix means copying
3x its 96 MB cache on every forward pass. On CPU, ``torch``'s kernel takes the mask together
with ``enable_gqa`` and gives the same (bit-identical) result without that copy. Together with
the copy-free views and reserved room of ``kv_room``, the first token after a 2k-token cached
prefix came 1.5x sooner (BENCHMARKS.md, kv-ttft).

Other devices and every case this does not cover go to transformers' own ``sdpa`` function:
CUDA kernels fall back to the slow math path for masked grouped-query attention.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: Name under which the attention function and its mask builder are registered.
CPU_GQA_SDPA = "memos_cpu_gqa_sdpa"


def cpu_gqa_sdpa_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' sdpa attention, with masked grouped-query attention done by the kernel."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    groups = getattr(module, "num_key_value_groups", 1)
    plain = (
        attention_mask is None
        or groups <= 1
        or query.shape[2] >= key.shape[2]  # nothing cached: left exactly as transformers does it
        or query.device.type != "cpu"
        or any(kwargs.get(name) is not None for name in ("position_bias", "softcap"))
        or kwargs.get("output_attentions", False)
    )
    if plain:
        return sdpa_attention_forward(  # type: ignore[no-any-return]
            module,
            query,
            key,
            value,
            attention_mask,
            dropout=dropout,
            scaling=scaling,
            is_causal=is_causal,
            **kwargs,
        )
    # With a mask, sdpa_attention_forward never sets is_causal: the mask says it all.
    output = torch.nn.functional.scaled_dot_product_attention(
        query,
        key,
        value,
        attn_mask=attention_mask,
        dropout_p=dropout,
        scale=scaling,
        enable_gqa=True,
    )
    return output.transpose(1, 2).contiguous(), None


def register() -> str:
    """Register the attention function and its (sdpa) mask builder; return their name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(CPU_GQA_SDPA, cpu_gqa_sdpa_forward)
    AttentionMaskInterface.register(CPU_GQA_SDPA, sdpa_mask)
    return CPU_GQA_SDPA


def use_cpu_gqa_attention(model: Any) -> bool:
    """Switch a CPU model that uses ``sdpa`` with grouped queries to the function above.

    Returns True when switched; other models (eager attention, no grouped queries, not on
    CPU) are left as they are.
    """
    config = getattr(model, "config", None)
    if config is None or getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    heads = getattr(config, "num_attention_heads", None)
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    if not heads or heads == kv_heads or model.device.type != "cpu":
        return False
    model.set_attn_implementation(register())
    return True
