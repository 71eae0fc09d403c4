# ResNet Viz: `make run` starts the app, `make test` runs every test. Both set everything up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ADDRESS ?= localhost
PORT ?= 8501
# Root installs system packages directly; others go through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run classroom test lint format bench assets chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The editable install lets your own training scripts `import resnet_viz` (resnet_viz.watch).
$(VENV)/.app: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.dev: requirements-dev.txt requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(VENV)/.app $@

run: $(VENV)/.app
	$(BIN)/python -m streamlit run app.py --server.address $(ADDRESS) --server.port $(PORT)

# A class on the same network: every interface, a presenter link (printed) and viewers.
classroom: $(VENV)/.app
	$(BIN)/python -m resnet_viz.classroom --port $(PORT)

# Debian's Chromium drives the real-browser tests (Playwright cannot download browsers here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

test: $(VENV)/.dev chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: $(VENV)/.dev
	$(BIN)/python bench/instrumentation_overhead.py
	$(BIN)/python bench/time_to_accuracy.py
	$(BIN)/python bench/explain_speed.py
	$(BIN)/python bench/activation_redraw.py
	$(BIN)/python bench/runview_poll.py

# The bundled default model, made by the project's own training command.
assets: $(VENV)/.app
	$(BIN)/python -m resnet_viz.train --preset default --runs-dir runs \
		--export assets/default_model.safetensors

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-results
