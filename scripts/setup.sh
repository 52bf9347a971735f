#!/usr/bin/env bash
# Set up ELBO Lab on a fresh Debian 12 machine (root or sudo, Python 3.11, package registries only).
#
#   1. apt-installs what Manim, MathTex and the browser test need (skipped when already present);
#   2. creates .venv and installs the project with its pinned torch/torchvision and dev extras;
#   3. is idempotent: a stamp file keyed on pyproject.toml and this script makes a second run take seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
VENV="$ROOT/.venv"
STAMP="$VENV/.elbo-lab-setup"

APT_PACKAGES=(libcairo2-dev libpango1.0-dev pkg-config ffmpeg
  texlive-latex-base texlive-latex-extra texlive-fonts-recommended texlive-science dvisvgm
  chromium
  latexmk texlive-xetex fonts-freefont-otf poppler-utils)  # the book's PDF (XeLaTeX, its fonts; pdftoppm to check it)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm (reveal.js for the offline slide decks): Debian's package only where no npm exists; a NodeSource nodejs
# ships its own npm and conflicts with Debian's npm package.
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to apt-get install ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  echo "setup: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

key="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$key" ] && [ -x "$VENV/bin/python" ]; then
  echo "setup: up to date (.venv)"
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch/torchvision first, pinned: these exact releases lie on this machine's disk (others download GBs).
"$VENV/bin/python" -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
"$VENV/bin/python" -m pip install -q -e ".[dev]"
# reveal.js for the offline slide decks (python -m vizlab slides points manim-slides' template at a local copy;
# the version is manim-slides' reveal_version).
npm install --prefix "$VENV/npm" --no-audit --no-fund --silent reveal.js@6.0.1
# The book's live check boxes (book/_ext/elbo_live.py, which pins the same versions): the Pyodide runtime (npm,
# the core only) and the pure-Python wheels the page loads from the build folder (nothing is fetched at view time).
# mpmath 1.3.0: SymPy 1.14 wants mpmath < 1.4.
npm install --prefix "$VENV/npm" --no-audit --no-fund --silent pyodide@0.29.5
"$VENV/bin/python" -m pip download -q --no-deps --only-binary :all: -d "$VENV/live-wheels" \
  sympy==1.14.0 mpmath==1.3.0 lark==1.3.1
# SymPy and mpmath compiled to bytecode by Pyodide's own Python (in Node): the page imports them in a fraction
# of the time it takes to compile them from source in WebAssembly.
[ -f "$VENV/live-wheels/pyc-pyodide-0.29.5-sympy-1.14.0-mpmath-1.3.0.zip" ] \
  || node scripts/live_pyc.js "$VENV/npm/node_modules/pyodide" \
    "$VENV/live-wheels/pyc-pyodide-0.29.5-sympy-1.14.0-mpmath-1.3.0.zip" \
    "$VENV/live-wheels/sympy-1.14.0-py3-none-any.whl" "$VENV/live-wheels/mpmath-1.3.0-py3-none-any.whl"
echo "$key" > "$STAMP"
echo "setup: done"
