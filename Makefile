# Two commands on a fresh machine:  `make run` (set up + the whole study)  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
# The CPU build on disk here; GPU users: make run TORCH="torch --index-url https://download.pytorch.org/whl/cu126"
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: install run test test-all lint bench

$(BIN)/mcdropout: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU build first, so nothing pulls gigabytes of CUDA packages (README: GPU users).
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/mcdropout

run: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro
	@echo
	@echo "Done. Where to look:"
	@echo "  reports/report.html         the report (reports/report.md: the same in Markdown)"
	@echo "  $(BIN)/mcdropout ui     the MLflow UI: every run, curve, figure and model"
	@echo "  models:/mcdropout-<dataset>@champion   the best model per dataset: README, 'Use the best model'"

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -m "not slow"

test-all: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/mc_sampling.py
	$(BIN)/python benchmarks/sweep_training.py
