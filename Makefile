# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[convert,quantize,scale,completion,test]'
	# Test-only, installed without dependencies because they ask for the full `tensorflow`
	# wheel (tensorflow-cpu provides the same module): tf-keras builds Keras 2 SavedModels;
	# keras-hub (with the two modules its import needs) builds the real-world zoo's backbones.
	$(PIP) install --quiet --no-deps -c constraints.txt tf-keras keras-hub regex tokenizers
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/litesig demo build/demo --force

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PIP) install --quiet -c constraints.txt -e '.[lint]'
	$(VENV)/bin/ruff check src tests bench tools examples
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) bench/inspect_speed.py
	$(PY) bench/runtime_bench.py
	$(PY) bench/rename_speed.py
	$(PY) bench/convert_speed.py
	$(PY) bench/batch_speed.py

clean:
	rm -rf $(VENV) build
