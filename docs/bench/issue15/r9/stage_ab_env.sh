#!/bin/bash
# Note: MEMOS_EXP_STAGE was read by a temporary, uncommitted edit of add_batch.STAGE_TEXTS for this A/B only.
cd /work/main
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
for rep in a b; do for st in 32 64 128; do
  MEMOS_EXP_STAGE=$st .venv/bin/memos bench ingest --turns 2000 --inflight 8 --json /work/notes/r8/stage_${st}_${rep}.json > /dev/null 2>&1
  python3 -c "
import json; d=json.load(open('/work/notes/r8/stage_${st}_${rep}.json'))['ingest']; r=d['by_inflight']['8']
print('$(date +%T) stage $st $rep', r['daemon_turns_per_s'], 'raw', d['embedder_turns_per_s'], 'ratio', r['ratio_daemon_to_embedder'], 'reader', r['ratio_daemon_to_reader_embedding'], 'lost', r['lost'], 'dup', r['duplicated'])"
done; done
