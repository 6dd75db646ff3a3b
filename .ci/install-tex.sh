#!/usr/bin/env bash
# Install the TeX toolchain needed to build and test this project on Debian bookworm:
# pdflatex, latexmk, pdftoppm, plus amsmath/amssymb/mathtools, geometry, hyperref,
# booktabs, xcolor, tikz/pgf, beamer, lmodern + T1 fontenc, inputenc utf8.
# Idempotent: does nothing if the tools exist and a tiny tikz+beamer document compiles.
set -euo pipefail

PACKAGES=(
  texlive-latex-base         # pdflatex, amsmath, geometry, hyperref, fontenc, inputenc
  texlive-latex-recommended  # beamer, mathtools, booktabs, xcolor
  texlive-pictures           # pgf / tikz (beamer needs pgf too)
  lmodern                    # lmodern.sty + T1 Latin Modern Type 1 fonts
  latexmk
  poppler-utils              # pdftoppm, pdftotext
  texlive-lang-korean        # kotex, for Korean documents
  texlive-xetex              # xelatex, the engine Korean documents compile with
  fonts-nanum                # a Korean font for xelatex
)

tex_works() {
  command -v pdflatex >/dev/null 2>&1 || return 1
  command -v latexmk  >/dev/null 2>&1 || return 1
  command -v pdftoppm >/dev/null 2>&1 || return 1
  command -v xelatex  >/dev/null 2>&1 || return 1
  kpsewhich kotex.sty >/dev/null 2>&1 || return 1
  fc-list : family | grep -i nanum >/dev/null || return 1
  local dir rc=0
  dir="$(mktemp -d)"
  cat > "$dir/check.tex" <<'TEX'
\documentclass{beamer}
\usepackage[T1]{fontenc}
\usepackage[utf8]{inputenc}
\usepackage{lmodern}
\usepackage{amsmath,amssymb,mathtools,booktabs,xcolor,tikz}
\begin{document}
\begin{frame}{Check}
  \begin{tikzpicture}\draw[->] (0,0) -- node[above]{$\mathbb{R}$} (1,0);\end{tikzpicture}
  \begin{align*} a &\coloneqq b \end{align*}
\end{frame}
\end{document}
TEX
  ( cd "$dir" && pdflatex -no-shell-escape -interaction=nonstopmode -halt-on-error check.tex ) \
    >/dev/null 2>&1 || rc=1
  [ "$rc" -eq 0 ] && [ -s "$dir/check.pdf" ] || rc=1
  rm -rf "$dir"
  return "$rc"
}

if tex_works; then
  echo "install-tex: TeX toolchain already present and working; nothing to do."
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-tex: need root (or sudo) to run apt-get" >&2; exit 1
  fi
fi

echo "install-tex: installing ${PACKAGES[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}"

if ! tex_works; then
  echo "install-tex: TeX toolchain installed but the check document failed to compile" >&2
  exit 1
fi
echo "install-tex: done."
