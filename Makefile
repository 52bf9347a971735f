# ELBO Lab — the two user commands are `make book` and `make test` (README.md).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.elbo-lab-setup

# MNIST: use the shared copy beside this checkout when it exists (these machines have no internet).
SHARED_DATA := $(abspath $(CURDIR)/../shared/datasets)
ifneq ($(wildcard $(SHARED_DATA)/MNIST/raw),)
export ELBO_LAB_DATA ?= $(SHARED_DATA)
endif

.PHONY: setup book test derivations videos train bench clean

setup:
	@bash scripts/setup.sh

book: setup
	@bash scripts/build_book.sh

test: setup
	$(PY) -m pytest -q

derivations: setup
	$(PY) -m derivations

videos: setup
	$(PY) -m vizlab render --quality l --out book/_static/videos

reproduce: setup ; $(PY) -m training reproduce --minutes 60  # Table 1: train, evaluate, write training/results/ (resumable)

train: setup
	$(PY) -m training --latent-dim 2 --epochs 10

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf book/_build
