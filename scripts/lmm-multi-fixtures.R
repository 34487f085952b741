# Writes test/fixtures/lmm-multi/*.json: lme4 reference fits of Gaussian linear mixed models
# with several random-effect terms (crossed, nested, uncorrelated), for
# test/ngmm/lmm.multi.test.ts, which reads the JSON and never needs R.
#
# Each file holds the inputs as lme4 saw them (fixed design X, response, and per term its
# grouping factor as 0-based indices, its n × q design and whether its covariance is
# diagonal) and lme4's results: logLik (ML, or −REMLcrit/2 under REML, as logLik() reports),
# β, vcov, σ, θ, each term's covariance Σ_k, the conditional modes and conditional SDs, and
# lme4's own profiled deviance function at a few θ.
#
# Terms are written in lme4's order (the terms of getME(fit, "cnms"), sorted by lme4 by
# decreasing number of levels), so the concatenated θ of the file is lme4's θ. The two scalar
# terms lme4 makes of (Days || Subject) are merged into one diagonal term with q = 2, whose θ
# is (Λ₁₁, Λ₂₂), again in lme4's order.
#
# lmer is run with BOBYQA's tolerances tightened (ftol_abs = 1e-15, xtol_abs = 1e-12) so the
# stored θ is lme4's optimum rather than a point within 1e-8 of it. Data from lme4 and mlmRev
# (both GPL).
#
# Usage (from the repository root):  Rscript scripts/lmm-multi-fixtures.R [outDir]
# Needs r-cran-lme4 and r-cran-mlmrev.

# The shared part (packages, JSON writer, lmer control) is in lmm-common.R, beside this script.
scriptDir <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
source(file.path(scriptDir, "lmm-common.R"))

outDir <- fixtureDir(file.path("test", "fixtures", "lmm-multi"))

fixture <- function(name, formula, data, REML, mergeDiagonal = FALSE, thetaProbe = list()) {
  fit <- lmer(formula, data = data, REML = REML, control = ctrl)
  defaultFit <- lmer(formula, data = data, REML = REML)
  X <- getME(fit, "X")
  n <- nrow(X)
  cnms <- getME(fit, "cnms")
  flist <- getME(fit, "flist")
  asgn <- attr(flist, "assign")
  mm <- getME(fit, "mmList")
  Gp <- getME(fit, "Gp")
  s2 <- sigma(fit)^2
  # Conditional covariance of b = Λu given β̂, θ̂: σ² Λ (Λ'Z'ZΛ + I)⁻¹ Λ' (CHOLMOD's factor L
  # of the permuted matrix; system = "A" solves with the matrix itself, permutation included).
  Lam <- getME(fit, "Lambda")
  Ainv <- as.matrix(Matrix::solve(getME(fit, "L"), Diagonal(ncol(Lam)), system = "A"))
  bvar <- s2 * diag(as.matrix(Lam %*% Ainv %*% t(Lam)))
  b <- getME(fit, "b")
  lme4Terms <- lapply(seq_along(cnms), function(i) {
    idx <- (Gp[i] + 1):Gp[i + 1]
    q <- length(cnms[[i]])
    f <- flist[[asgn[i]]]
    G <- nlevels(f)
    # lme4 orders a term's columns group by group, components within a group.
    list(name = names(cnms)[i], f = f, G = G, q = q, Z = as.matrix(mm[[i]]),
         b = matrix(b[idx], G, q, byrow = TRUE), bsd = matrix(sqrt(bvar[idx]), G, q, byrow = TRUE),
         Sigma = as.matrix(VarCorr(fit)[[i]]))
  })
  terms <- if (mergeDiagonal) {
    stopifnot(all(vapply(lme4Terms, function(t) t$q, 0) == 1))
    f1 <- lme4Terms[[1]]
    list(list(name = f1$name, f = f1$f, G = f1$G, q = length(lme4Terms),
              Z = do.call(cbind, lapply(lme4Terms, `[[`, "Z")),
              b = do.call(cbind, lapply(lme4Terms, `[[`, "b")),
              bsd = do.call(cbind, lapply(lme4Terms, `[[`, "bsd")),
              Sigma = diag(vapply(lme4Terms, function(t) t$Sigma[1, 1], 0)), diagonal = TRUE))
  } else {
    lapply(lme4Terms, function(t) c(t, diagonal = FALSE))
  }
  termJson <- lapply(terms, function(t) list(
    name = t$name, G = t$G, q = t$q, diagonal = t$diagonal,
    group = arr(as.integer(t$f) - 1L), Z = rowMajor(t$Z),
    Sigma = rowMajor(t$Sigma), ranef = rowMajor(t$b), condsd = rowMajor(t$bsd)
  ))
  out <- c(list(
    name = name,
    formula = paste(deparse(formula), collapse = " "),
    lme4 = as.character(packageVersion("lme4")),
    reml = REML,
    n = n, p = ncol(X),
    xNames = structure(as.character(colnames(X)), array = TRUE),
    X = rowMajor(X),
    y = arr(getME(fit, "y")),
    terms = structure(json(termJson), class = "rawjson"),
    logLik = as.numeric(logLik(fit))
  ), estimates(fit, defaultFit), list(
    singular = isSingular(fit),
    devAt = devianceAt(fit, thetaProbe)
  ))
  writeLines(json(out), file.path(outDir, paste0(name, ".json")))
  cat(sprintf("%-24s logLik %.10f  theta %s  singular %s\n", name, out$logLik,
              paste(format(out$theta, digits = 8), collapse = " "), out$singular))
}

for (reml in c(FALSE, TRUE)) {
  tag <- if (reml) "reml" else "ml"
  fixture(paste0("penicillin_crossed_", tag), diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin, reml,
          thetaProbe = list(c(1, 1), c(0.5, 2.5)))
  fixture(paste0("pastes_nested_", tag), strength ~ 1 + (1 | batch/cask), Pastes, reml,
          thetaProbe = list(c(1, 1), c(3, 0.2), c(2, 0)))
  fixture(paste0("sleepstudy_uncorr_", tag), Reaction ~ Days + (Days || Subject), sleepstudy, reml,
          mergeDiagonal = TRUE, thetaProbe = list(c(1, 1), c(0.8, 0.2)))
  # Larger and crossed with a correlated random slope: 3435 pupils, 148 primary × 19 secondary
  # schools (ScotsSec, mlmRev).
  fixture(paste0("scotssec_crossed_slope_", tag), attain ~ verbal + sex + (1 | primary) + (verbal | second),
          ScotsSec, reml, thetaProbe = list(c(1, 1, 0, 1), c(0.3, 0.2, 0.01, 0.02)))
}
