#!/usr/bin/env bash
# Exports the real-data comparison's data sets (bench/realdata/README.md) to CSV with R,
# installing R and the packages that hold them from Debian when missing (as root).
# Usage: bash scripts/realdata/export.sh [OUTDIR]   (default bench/realdata/data)
set -euo pipefail
out="${1:-bench/realdata/data}"
need=()
command -v Rscript >/dev/null || need+=(r-base-core)
for p in mlmRev:r-cran-mlmrev lme4:r-cran-lme4 MASS:r-cran-mass AER:r-cran-aer; do
  if ! Rscript -e "quit(status = !requireNamespace('${p%%:*}', quietly = TRUE))" >/dev/null 2>&1; then need+=("${p#*:}"); fi
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "realdata: missing ${need[*]}; run: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  apt-get update && apt-get install -y --no-install-recommends "${need[@]}"
fi
Rscript scripts/realdata/export.R "$out"
