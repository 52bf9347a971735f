#!/usr/bin/env bash
# Build the ELBO Lab book (called by `make book` after `make setup`).
#
#   1. renders the animations into book/_static/videos with `python -m vizlab render` (unchanged scenes
#      are skipped by vizlab's manifest);
#   2. runs `jupyter-book build book` with warnings as errors (-W) and --keep-going, so every problem shows;
#      notebook execution is cached (book/_build/.jupyter_cache), and book/_ext/elbo_book.py re-executes a
#      page when the registry, the palette or the training results it reads have changed;
#   3. builds the PDF with the LaTeX builder (`jupyter-book build book --builder pdflatex`, XeLaTeX via latexmk,
#      the same execution cache) and copies it to book/_build/html/elbo-lab.pdf, where every chapter links it;
#   4. prints the time taken.  The result is book/_build/html/index.html, readable offline; the live check boxes
#      run Python in the page (Pyodide, copied into _static/live/ by book/_ext/elbo_live.py), which needs the
#      book served over HTTP: `make serve`.
#
# Nothing is fetched: MathJax comes from the sphinx-mathjax-offline package, the rest from the theme.
#
# Environment:
#   ELBO_BOOK_SKIP_VIDEOS=1   build with whatever videos book/_static/videos already holds (pages show
#                             "not rendered yet" for the others) instead of rendering them first.
#   ELBO_BOOK_SKIP_PDF=1      skip step 3 (the HTML links to a PDF that is then not there).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
JB="$ROOT/.venv/bin/jupyter-book"
BOOK="$ROOT/book"
VIDEOS="$BOOK/_static/videos"

die() { echo "build_book: $*" >&2; exit 1; }

[ -x "$PY" ] || die "no virtualenv at .venv: run 'make setup' first"
[ -x "$JB" ] || die "jupyter-book is not installed in .venv: run 'make setup' (the [book] extra)"
# The book imports derivations/, training/ and vizlab/ from this checkout, whatever the editable install maps.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# Keep notebook kernels from fighting the training job for the two cores.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"

start=$(date +%s)

# 1. Videos.
if [ "${ELBO_BOOK_SKIP_VIDEOS:-0}" = "1" ]; then
  echo "build_book: ELBO_BOOK_SKIP_VIDEOS=1, using the videos already in ${VIDEOS#$ROOT/}:"
  shopt -s nullglob
  have=("$VIDEOS"/*.mp4)
  shopt -u nullglob
  if [ ${#have[@]} -eq 0 ]; then echo "  (none)"; else printf '  %s\n' "${have[@]##*/}"; fi
else
  "$PY" -c "import vizlab.render" 2>/dev/null \
    || die "the vizlab render CLI is not available (python -m vizlab render); render the videos first or set ELBO_BOOK_SKIP_VIDEOS=1"
  echo "build_book: rendering videos (python -m vizlab render --quality l --out ${VIDEOS#$ROOT/})"
  "$PY" -m vizlab render --quality l --out "$VIDEOS" \
    || die "rendering the videos failed (python -m vizlab render --quality l --out ${VIDEOS#$ROOT/}); see above"
fi
videos_done=$(date +%s)

# 2. The book.
# Sphinx does not see a change of our extensions (book/_ext) as a change of the pages they render: when the
# extensions changed since the last build, drop the saved doctrees so every page is re-read (the execution
# cache is kept).
ext_key="$( (cat "$BOOK"/_ext/*.py "$BOOK"/_ext/static/* 2>/dev/null || true) | sha256sum | cut -d' ' -f1)"
ext_stamp="$BOOK/_build/.ext-key"
if [ ! -f "$ext_stamp" ] || [ "$(cat "$ext_stamp")" != "$ext_key" ]; then
  rm -rf "$BOOK/_build/.doctrees"
fi
echo "build_book: jupyter-book build book -W --keep-going"
if ! "$JB" build "$BOOK" -W --keep-going; then
  # Sphinx does not repeat the warnings of a page it does not re-read: drop the saved environment so the
  # next build re-reads every page (cached executions are kept) and shows every problem again.
  rm -rf "$BOOK/_build/.doctrees"
  die "jupyter-book build failed (warnings are errors); notebook tracebacks are in book/_build/html/reports/"
fi
[ -f "$BOOK/_build/html/index.html" ] || die "no book/_build/html/index.html after the build"
# The live check boxes' checker (book/_ext/elbo_live.py copies Pyodide, the wheels and the engine into the build).
[ -f "$BOOK/_build/html/_static/live/manifest.json" ] \
  || die "no _static/live/manifest.json (the live check boxes' Pyodide and wheels): run 'make setup'"
echo "$ext_key" > "$ext_stamp"
html_done=$(date +%s)

# 3. The PDF.  The LaTeX builder keeps its own doctrees so that it does not invalidate the HTML build's.
if [ "${ELBO_BOOK_SKIP_PDF:-0}" = "1" ]; then
  echo "build_book: ELBO_BOOK_SKIP_PDF=1, no PDF"
else
  command -v latexmk >/dev/null && command -v xelatex >/dev/null \
    || die "the PDF needs latexmk and xelatex (Debian: latexmk texlive-xetex fonts-freefont-otf; run 'make setup')"
  echo "build_book: jupyter-book build book --builder pdflatex -W --keep-going"
  if ! "$JB" build "$BOOK" --builder pdflatex -W --keep-going; then
    die "the PDF build failed (warnings are errors); the LaTeX log is book/_build/latex/elbo-lab.log"
  fi
  pdf="$BOOK/_build/latex/elbo-lab.pdf"
  [ -f "$pdf" ] || die "no $pdf after the LaTeX build"
  cp "$pdf" "$BOOK/_build/html/elbo-lab.pdf"
fi

end=$(date +%s)
echo "build_book: done in $((end - start)) s (videos $((videos_done - start)) s, HTML $((html_done - videos_done)) s, PDF $((end - html_done)) s)"
echo "build_book: open book/_build/html/index.html"
