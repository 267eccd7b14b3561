# Drover: `make run` starts it on the embedded AWS; `make test` runs the checks.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: install run test lint unit fuzz package eval-alerts eval-diagnosis bench clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(BIN)/python -m infra.local

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

# Schemathesis against the embedded stack with many examples per operation (make test runs
# the same suite with 3).
FUZZ_EXAMPLES ?= 100
fuzz: $(STAMP)
	DROVER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/fuzz -p no:xdist

# Normalize every alert payload in DIR without a server: one JSON line per file.
DIR ?= ../shared/eval/alerts
eval-alerts: $(STAMP)
	$(BIN)/python -m bench.eval_alerts $(DIR)

# Diagnose every Kubernetes failure case in CASES offline with the builtin engine: one JSON
# line per case, then accuracy and calibration.
CASES ?= ../shared/eval/k8s
eval-diagnosis: $(STAMP)
	$(BIN)/python -m bench.eval_diagnosis $(CASES)

# Benchmarks print JSON figures (see BENCHMARKS.md).
bench: $(STAMP)
	$(BIN)/python -m bench.analysis
	$(BIN)/python -m bench.diagnosis
	$(BIN)/python -m bench.cold_start
	$(BIN)/python -m bench.package_size
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.storm

package: $(STAMP)
	$(BIN)/python -m infra.package prod

clean:
	rm -rf build .pytest_cache .ruff_cache
