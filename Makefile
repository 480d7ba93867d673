# seqlab: the two set-up commands of the README are `make lab` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# Installed only when the virtual environment has no torch yet, so an existing torch is never
# replaced. torch==2.13.0 is the CPU build on the course machines; elsewhere pip picks the build.
TORCH_SPEC ?= torch==2.13.0
NB ?= nbs/00_core.ipynb
# papermill parameters for `make run`, e.g. PARAMS="-p epochs 5 -p seed 1" (names of the notebook's parameter cell)
PARAMS ?=
# e.g. VENV_ARGS=--system-site-packages to let .venv see a torch installed outside it
VENV_ARGS ?=
export PYTHONUNBUFFERED := 1

.PHONY: install lab test test-nbs test-py check-sync run docs readme check-readme bench clean help

help:
	@echo "make lab    - set up .venv and open JupyterLab on nbs/"
	@echo "make test   - set up .venv and run every test (notebooks in quick mode, pytest, sync checks, docs)"
	@echo "make run NB=nbs/10_cnn_lstm.ipynb [PARAMS='-p epochs 5'] - execute one notebook headless (papermill), outputs saved under runs/"
	@echo "make docs   - build the docs site into _site/ (offline)"
	@echo "make readme - regenerate README.md (and the table of notebooks) from nbs/index.ipynb"
	@echo "make bench  - run the benchmarks in bench/"

$(VENV)/.installed: settings.ini setup.py
	test -x $(PY) || python3 -m venv $(VENV_ARGS) $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	# the notebooks' kernel: display name = name (what nbdev_clean keeps), so opening a notebook changes nothing
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name python3
	touch $@

install: $(VENV)/.installed

lab: install
	$(BIN)/jupyter lab --notebook-dir=nbs $$([ "$$(id -u)" = 0 ] && echo --allow-root)

test: install test-nbs check-readme docs test-py check-sync
	@echo "make test: all checks passed"

test-nbs: install
	@bash .ci/test_nbs.sh $(BIN)

test-py: install
	SEQLAB_QUICK=1 $(PY) -m pytest tests -q -rs
	$(PY) bench/padding_waste.py

check-sync: install
	@bash .ci/check_sync.sh $(BIN)

run: install
	@mkdir -p runs
	$(BIN)/papermill --cwd "$$(dirname "$(NB)")" "$(NB)" "runs/$$(basename "$(NB)")" $(PARAMS)
	$(BIN)/jupyter nbconvert --to html "runs/$$(basename "$(NB)")" >/dev/null 2>&1
	@echo "Executed copy with all outputs: runs/$$(basename "$(NB)"); to read in a browser: runs/$$(basename "$(NB)" .ipynb).html"

docs: install
	$(PY) docs/build.py

readme: install
	$(PY) docs/readme.py

check-readme: install
	$(PY) docs/readme.py --check

bench: install
	@for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf _proc _docs _site build runs .pytest_cache
