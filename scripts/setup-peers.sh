#!/bin/sh
# Installs the peers the quality benchmark (bench/quality) runs beside ngmm when
# they are missing: PyTorch for /usr/bin/python3 from the distribution's package
# (python3-torch; a pip wheel would pull its own BLAS and CUDA stubs, the Debian
# package uses the system's). R and mgcv are expected from the machine's setup.
set -eu
if /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
  echo "setup-peers: python3-torch present"
else
  echo "setup-peers: installing python3-torch"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y python3-torch
fi
if [ -x /usr/bin/Rscript ] && /usr/bin/Rscript -e 'quit(status = !requireNamespace("mgcv", quietly = TRUE))' >/dev/null 2>&1; then
  echo "setup-peers: R with mgcv present"
else
  echo "setup-peers: R or mgcv missing (the GAM column is skipped)"
fi
