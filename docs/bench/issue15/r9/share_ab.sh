#!/bin/bash
# Round 8 A/B of the add-batch share while searching (bench tenants --levels 1,100), run from the
# repository root on an idle machine. The 2026-12-06 04:00 runs set the share through a temporary
# environment override in CeleryExecutor; this script does the same through --add-share.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out=${1:-docs/bench/issue15/r9}
for rep in a b; do for share in 0.25 0.5 0.75 1.0; do
  echo "$(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg) share $share $rep"
  .venv/bin/memos bench tenants --levels 1,100 --add-share "$share" --json "$out/share_${share}_${rep}.json"
done; done
