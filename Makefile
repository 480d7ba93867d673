# seqlab: the two set-up commands of the README are `make lab` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# Installed only when the virtual environment has no torch yet, so an existing torch is never
# replaced. torch==2.13.0 is the CPU build on the course machines; elsewhere pip picks the build.
TORCH_SPEC ?= torch==2.13.0
NB ?= nbs/00_core.ipynb
# `make rehearse` / `make gpu-check` run every notebook unless NB is given on the command line (or in the environment)
ONLY_NB = $(if $(filter command line environment,$(origin NB)),$(NB))
# e.g. REHEARSE_ARGS="--timeout 900 --keep", GPU_CHECK_ARGS="--no-bench"
REHEARSE_ARGS ?=
GPU_CHECK_ARGS ?=
# papermill parameters for `make run`, e.g. PARAMS="-p epochs 5 -p seed 1" (names of the notebook's parameter cell)
PARAMS ?=
# e.g. VENV_ARGS=--system-site-packages to let .venv see a torch installed outside it
VENV_ARGS ?=
export PYTHONUNBUFFERED := 1

.PHONY: install lab test test-nbs test-py check-sync rehearse gpu-check run docs readme check-readme bench clean help

help:
	@echo "make lab    - set up .venv and open JupyterLab on nbs/"
	@echo "make test   - set up .venv and run every test (notebooks in quick mode, pytest, sync checks, docs)"
	@echo "make run NB=nbs/10_cnn_lstm.ipynb [PARAMS='-p epochs 5'] - execute one notebook headless (papermill), outputs saved under runs/"
	@echo "make docs   - build the docs site into _site/ (offline)"
	@echo "make readme - regenerate README.md (and the table of notebooks) from nbs/index.ipynb"
	@echo "make bench  - run the benchmarks in bench/"
	@echo "make rehearse [NB=nbs/16_audio.ipynb] - every notebook (or one) in full mode as a smoke run, on small archives in the real formats served on 127.0.0.1; table in runs/rehearse.md"
	@echo "make gpu-check [NB=...] - on a CUDA machine: every notebook in full mode (8 batches per fit) and the bench GPU branches; cost table in bench/gpu_check.md"

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

test: install test-nbs check-readme docs test-py check-sync rehearse
	@echo "make test: all checks passed"

test-nbs: install
	@bash .ci/test_nbs.sh $(BIN)

test-py: install
	SEQLAB_QUICK=1 $(PY) -m pytest tests -q -rs
	$(PY) bench/padding_waste.py

check-sync: install
	@bash .ci/check_sync.sh $(BIN)

# full mode proven on a CPU: real-format archives on 127.0.0.1, every fit cut to a few batches (.ci/rehearse.py)
rehearse: install
	$(PY) .ci/rehearse.py $(ONLY_NB) $(REHEARSE_ARGS)

# the cost table on a CUDA machine (no internet needed): bench/gpu_check.md (.ci/gpu_check.py)
gpu-check: install
	$(PY) .ci/gpu_check.py $(ONLY_NB) $(GPU_CHECK_ARGS)

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
