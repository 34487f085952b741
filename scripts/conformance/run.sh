#!/bin/sh
# Regenerates the conformance fixtures (test/fixtures/conformance/) from R. Run by hand from the
# repository root, never by `npm test` (the tests read the committed fixtures and need no R):
#   sh scripts/conformance/run.sh [case name …]
# and those with several random-effect terms (test/fixtures/conformance-multi/, multi.R):
#   sh scripts/conformance/run.sh multi [case name …]
# Installs R and the packages from Debian when they are missing (needs apt-get and root or sudo).
set -eu
cd "$(dirname "$0")/../.."
PKGS="r-base-core r-cran-lme4 r-cran-glmmtmb r-cran-mlmrev r-cran-mass r-cran-nlme r-cran-jsonlite r-cran-numderiv"
have() {
  command -v Rscript >/dev/null 2>&1 &&
    Rscript -e 'q(status = !all(sapply(c("lme4", "glmmTMB", "mlmRev", "MASS", "nlme", "jsonlite", "numDeriv"), requireNamespace, quietly = TRUE)))' >/dev/null 2>&1
}
if ! have; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $PKGS
fi
if [ "${1:-}" = multi ]; then
  shift
  exec Rscript scripts/conformance/multi.R test/fixtures/conformance-multi "$@"
fi
exec Rscript scripts/conformance/conformance.R test/fixtures/conformance "$@"
