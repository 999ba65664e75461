#!/bin/bash
# Round 8 idle sitting: the done-when suites of issue 15 (plus the profile and the recall check),
# one after the other with nothing else running. Run from the repository root.
out=${1:-docs/bench/issue15/r9}; mkdir -p $out
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
log=$out/sitting.log
stamp() { echo "$(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg) $*" | tee -a $log; }
stamp "start $(git rev-parse --short HEAD)"
.venv/bin/memos bench search-latency --sizes 1000,100000 --json $out/search_latency_1k_100k.json --out $out > $out/search_latency.txt 2>&1; stamp "search-latency rc=$?"
.venv/bin/memos bench tenants --levels 1,100 --workers 1,2,4 --json $out/tenants_workers_1_2_4.json --out $out > $out/tenants.txt 2>&1; stamp "tenants rc=$?"
.venv/bin/memos bench ingest --turns 2000 --inflight 1,8 --json $out/ingest_1_8.json --out $out > $out/ingest.txt 2>&1; stamp "ingest rc=$?"
.venv/bin/memos bench search-latency --sizes 1000,100000 --profile --no-add --json $out/search_latency_profile.json > $out/search_latency_profile.txt 2>&1; stamp "search-latency --profile rc=$?"
.venv/bin/memos bench locomo-recall --systems fast --json $out/locomo_recall_fast.json > $out/locomo_recall.txt 2>&1; stamp "locomo-recall rc=$?"
stamp done
