"""Activation memory: KV caches of memory prefixes (HF ``kv_cache``) and warmed vLLM prefixes
(``vllm_kv_cache``). Import the backends from their modules (``kv``, ``vllm``); ``chat`` answers
a conversation with a KV memory as its prefix."""
