#!/usr/bin/env bash
# The beta sweep of the posterior-collapse chapter (book/chapters/posterior_collapse.md): D = 10 VAEs trained with
# the KL term weighted by beta, and one KL warm-up run beside the plain beta = 1 run.  Every run has the same
# recipe and length; results go to training/results/beta_sweep/ (read by training.beta_sweep).
#
#   EPOCHS=10 bash scripts/beta_sweep.sh RUN...   e.g.  EPOCHS=10 bash scripts/beta_sweep.sh beta1 beta0.25 beta0.5
#
# RUN is betaB (the KL weight B), betaB_warmE (ramped from 0 over E epochs) or betaB_fbF (F free bits per dim).
# Each run, named vae_d10_e{EPOCHS}_RUN, is trained (or resumed from its checkpoint, runs/beta_sweep/NAME) and
# evaluated in turn; a run whose results file exists is skipped.  Two lanes side by side on a 2-core machine
# (--threads 1 each).  What was run for the book (2026-12-03, a 2-core machine shared with four other jobs):
#   EPOCHS=20: beta1 and beta1_warm10 (the warm-up pair);  EPOCHS=10: beta0.25 beta0.5 beta1 beta2 beta4 beta8.
# Each run also gets NAME.samples.npz (training.samples); for the book only vae_d10_e20_beta1's was written, by
#   python -m training.samples runs/beta_sweep/vae_d10_e20_beta1 --out training/results/beta_sweep/vae_d10_e20_beta1.samples.npz
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 ELBO_LAB_DATA=${ELBO_LAB_DATA:-/work/shared/datasets}
EPOCHS=${EPOCHS:-20}
RESULTS=training/results/beta_sweep
# the recipe shared by every run (the Table 1 runs' cosine recipe, without the late batch size)
RECIPE=(--latent-dim 10 --hidden 500 500 --epochs "$EPOCHS" --batch-size 100 --lr 0.002 --lr-schedule cosine
        --warmup-epochs 1 --lr-final 1e-5 --seed 0 --test-every 5 --threads 1 --no-progress)

objective_flags() {  # NAME -> the flags that set its objective
  case "$1" in
    beta*_warm*) local b=${1#beta}; echo "--beta ${b%%_warm*} --kl-warmup ${1##*_warm}" ;;
    beta*_fb*) local b=${1#beta}; echo "--beta ${b%%_fb*} --free-bits ${1##*_fb}" ;;
    beta*) echo "--beta ${1#beta}" ;;
    *) echo "unknown run name $1 (use betaB, betaB_warmE or betaB_fbF)" >&2; return 2 ;;
  esac
}

mkdir -p "$RESULTS"
for run in "$@"; do
  name="vae_d10_e${EPOCHS}_${run}"
  out="runs/beta_sweep/$name"
  if [[ -f "$RESULTS/$name.json" ]]; then echo "$name: results exist, skipped"; continue; fi
  flags=$(objective_flags "$run")
  again=""
  [[ -f "$out/checkpoint.pt" ]] && again="--resume"
  echo "$(date -u +%T) train $name ($flags) $again"
  # shellcheck disable=SC2086
  "$PY" -m training train "${RECIPE[@]}" $flags --out-dir "$out" $again
  echo "$(date -u +%T) evaluate $name"
  # the other lane may be writing its results (the folder is locked while one evaluate writes): retry
  for try in 1 2 3 4 5 6 7 8 9 10; do
    rc=0
    "$PY" -m training evaluate "$out" --name "$name" --results-dir "$RESULTS" --iwae-k 200 --iwae-images 500 \
      --threads 1 --note "beta sweep (scripts/beta_sweep.sh): D = 10, $EPOCHS epochs on all 60000 training images, $flags; lr 0.002 cosine (1 warm-up epoch) to 1e-5, batch 100, seed 0; IWAE with K = 200 on 500 test images" \
      2> "$out/evaluate.err" || rc=$?
    cat "$out/evaluate.err" >&2
    if [[ $rc -eq 0 ]] || ! grep -q "in use by another process" "$out/evaluate.err"; then break; fi
    sleep 30
  done
  [[ $rc -eq 0 ]] || exit "$rc"
  # 64 samples and 16 test reconstructions from the checkpoint (the VAE chapter shows vae_d10_e20_beta1's)
  "$PY" -m training.samples "$out" --out "$RESULTS/$name.samples.npz"
  echo "$(date -u +%T) done $name"
done
