# Writes test/fixtures/latent/erm-pcm.json: eRm's conditional-ML partial-credit fit of its
# bundled pcmdat2 (300 persons × 4 items, scores 0–2), for test/ngmm/latent/pcm.erm.test.ts,
# which reads the JSON and never needs R.
#
# eRm's parameterisation (read from its source: PCM, datprep_PCM, thresholds.eRm):
#   P(X_i = c | θ) ∝ exp(cθ + β_ic), β_i0 = 0, with β the item-category "easiness" parameters;
#   sum0 = TRUE (PCM's default) fixes Σ_i Σ_{c ≥ 1} β_ic = 0 through the design matrix W
#   (β_11 = −Σ of the others). thresholds() returns δ_ic = −(β_ic − β_i,c−1), which are
#   Masters' step difficulties, and their SEs by the delta method from W·H⁻¹·Wᵀ.
# So in δ the constraint is Σ_i Σ_h (m_i − h + 1)·δ_ih = 0.
#
# Usage (from the repository root):  Rscript scripts/latent/erm-fixture.R [outDir]
# Needs r-cran-erm (scripts/latent/erm-fixture.sh installs it). Data: eRm's pcmdat2 (GPL).

suppressPackageStartupMessages(library(eRm))

args <- commandArgs(trailingOnly = TRUE)
outDir <- if (length(args) >= 1) args[1] else file.path("test", "fixtures", "latent")
dir.create(outDir, recursive = TRUE, showWarnings = FALSE)

# 17 significant digits round-trip every double.
num <- function(x) paste0("[", paste(sprintf("%.17g", x), collapse = ", "), "]")

data(pcmdat2, package = "eRm")
X <- as.matrix(pcmdat2)
fit <- PCM(X, sum0 = TRUE)
th <- thresholds(fit)
m <- apply(X, 2, max)

out <- paste0(
  "{\n",
  "\"source\": \"eRm ", as.character(packageVersion("eRm")), ", PCM(pcmdat2, sum0 = TRUE), thresholds(); ",
  R.version.string, "\",\n",
  "\"persons\": ", nrow(X), ",\n",
  "\"items\": ", ncol(X), ",\n",
  "\"itemNames\": [", paste0("\"", colnames(X), "\"", collapse = ", "), "],\n",
  "\"maxScore\": ", num(m), ",\n",
  "\"scoresByPerson\": ", num(as.vector(t(X))), ",\n",
  "\"thresholds\": ", num(unname(th$threshpar)), ",\n",
  "\"thresholdSE\": ", num(unname(th$se.thresh)), ",\n",
  "\"conditionalLogLik\": ", sprintf("%.17g", fit$loglik), ",\n",
  "\"nlmCode\": ", fit$convergence, "\n",
  "}\n")
writeLines(out, file.path(outDir, "erm-pcm.json"), sep = "")
cat("wrote", file.path(outDir, "erm-pcm.json"), "\n")
