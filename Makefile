# Two commands on a fresh machine:  `make run` (set up + the whole study)  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
# The CPU build on disk here; GPU users: make run TORCH="torch --index-url https://download.pytorch.org/whl/cu126"
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: install run test test-all lint bench mutation plots-template

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
	$(BIN)/deptry src
	$(BIN)/python -m pytest -m "not slow"

test-all: install
	$(BIN)/python -m pytest

# `dvc plots show` offline: Vega inline from its npm packages (needs npm and the registry; docs/dvc.md)
plots-template:
	bash .dvc/plots/make_offline.sh

bench: install
	$(BIN)/python benchmarks/mc_sampling.py
	$(BIN)/python benchmarks/sweep_training.py

# Mutation testing of the modules that assemble the reported numbers ([tool.mutmut] in pyproject.toml; long: not in
# `make test`). Runs in a copy under build/mutation (git-ignored) with one worker; prints the killed fraction per
# module (a timeout counts as killed). One thread for torch: its thread pool deadlocks in mutmut's forked children, which
# turned surviving mutants into false timeouts. docs/testing.md: the survivors and why they are left.
mutation: install
	$(BIN)/python -c "import mutmut" 2>/dev/null || $(BIN)/python -m pip install -q -e ".[mutation]"
	rm -rf build/mutation && mkdir -p build/mutation
	cp -r src tests pyproject.toml build/mutation/
	cd build/mutation && OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(abspath $(BIN))/mutmut run --max-children 1 >mutmut-run.log 2>&1 || \
		{ tail -20 mutmut-run.log; exit 1; }
	cd build/mutation && $(abspath $(BIN))/mutmut results --all true | $(abspath $(BIN))/python -c "$$MUTATION_SUMMARY"
	@echo "survivors: cd build/mutation && $(abspath $(BIN))/mutmut results; ... mutmut show NAME"

define MUTATION_SUMMARY
import collections, re, sys
total, killed, status = collections.Counter(), collections.Counter(), collections.Counter()
for line in sys.stdin:
    m = re.match(r"\s*(mcdropout(?:\.\w+)+?)\.x.*__mutmut_\d+: (.+)$$", line)
    if m:
        total[m[1]] += 1
        killed[m[1]] += m[2].strip() in ("killed", "timeout")
        status[m[2].strip()] += 1
for mod in sorted(total):
    print(f"{mod:28s} {killed[mod]:4d} / {total[mod]:4d} killed  {killed[mod] / total[mod]:6.1%}")
print(f"{'all':28s} {sum(killed.values()):4d} / {sum(total.values()):4d} killed  "
      f"{sum(killed.values()) / max(sum(total.values()), 1):6.1%}   ({dict(status)})")
endef
export MUTATION_SUMMARY
