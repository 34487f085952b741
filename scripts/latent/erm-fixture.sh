#!/usr/bin/env bash
# Regenerates test/fixtures/latent/erm-pcm.json with R's eRm, installing R and Debian's
# r-cran-erm when missing (as root). Usage: bash scripts/latent/erm-fixture.sh [OUTDIR]
set -euo pipefail
need=()
command -v Rscript >/dev/null || need+=(r-base-core)
if ! Rscript -e "quit(status = !requireNamespace('eRm', quietly = TRUE))" >/dev/null 2>&1; then need+=(r-cran-erm); fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "erm-fixture: missing ${need[*]}; run: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  apt-get update && apt-get install -y --no-install-recommends "${need[@]}"
fi
Rscript scripts/latent/erm-fixture.R "$@"
