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

.PHONY: setup book serve test derivations videos slides reproduce train bench clean

setup:
	@bash scripts/setup.sh

book: setup
	@bash scripts/build_book.sh

serve:  ## the built book on http://127.0.0.1:$(PORT)/ (the live check boxes need HTTP, not file://); PORT=8000
	@[ -f book/_build/html/index.html ] || { echo "make serve: no book/_build/html/index.html; run 'make book' first" >&2; exit 1; }
	@echo "serving book/_build/html on http://127.0.0.1:$(or $(PORT),8000)/ (Ctrl-C stops)"
	$(PY) -m http.server --bind 127.0.0.1 --directory book/_build/html $(or $(PORT),8000)

test: setup
	$(PY) -m pytest -q

derivations: setup
	$(PY) -m derivations

videos: setup
	$(PY) -m vizlab render --quality l --out book/_static/videos

slides: setup  ## offline decks: book/_static/slides/elbo-lab.html (+ .pdf, one deck per scene); Q=h for 1080p60
	$(PY) -m vizlab slides --quality $(or $(Q),l) --out book/_static/slides

reproduce: setup ; $(PY) -m training reproduce --minutes 60  # Table 1: train, evaluate, write training/results/ (resumable)

train: setup  ## a 2-D VAE in runs/vae_d2; run again (EPOCHS=N) to continue it with --resume
	$(PY) -m training train --latent-dim 2 --epochs $(or $(EPOCHS),10) --out-dir runs/vae_d2 $(if $(wildcard runs/vae_d2/checkpoint.pt),--resume)

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf book/_build
