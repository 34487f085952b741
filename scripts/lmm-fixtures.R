# Writes test/fixtures/lmm/*.json: lme4 reference fits of Gaussian linear mixed models with one
# grouping factor, for test/ngmm/lmm.test.ts (which reads the JSON and never needs R).
#
# Each file holds the model's inputs exactly as lme4 saw them (the fixed design X, the
# per-row random-effect design Z of the single term, the response, the group index, prior
# weights and offset) and lme4's results: logLik (ML, or the REML criterion as logLik()
# reports it), the fixed effects, their covariance, sigma, theta, the random-effect
# covariance, the conditional modes and conditional SDs (ranef(condVar = TRUE)), isSingular,
# and lme4's own profiled deviance function evaluated at a few theta.
#
# lmer's default optimiser stops at ftol_abs = 1e-8 on the deviance; the references are fitted
# with the tolerances tightened (nloptwrap/BOBYQA, ftol_abs = 1e-15, xtol_abs = 1e-12) so the
# stored theta is lme4's optimum rather than a point within 1e-8 of it. The data come from
# lme4 (sleepstudy, Dyestuff, Dyestuff2) and mlmRev (Exam), both GPL, and are written into
# the JSON so the tests run without R.
#
# Usage (from the repository root):  Rscript scripts/lmm-fixtures.R [outDir]
# Needs r-cran-lme4 and r-cran-mlmrev (Debian: apt-get install r-cran-lme4 r-cran-mlmrev).

# The shared part (packages, JSON writer, lmer control) is in lmm-common.R, beside this script.
scriptDir <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
source(file.path(scriptDir, "lmm-common.R"))

outDir <- fixtureDir(file.path("test", "fixtures", "lmm"))

fixture <- function(name, formula, data, REML, weights = NULL, thetaProbe = list(), extra = list()) {
  # lmer evaluates `weights` in the data, as it does the formula's variables
  if (!is.null(weights)) data$w <- weights
  fit <- if (is.null(weights)) {
    lmer(formula, data = data, REML = REML, control = ctrl)
  } else {
    lmer(formula, data = data, REML = REML, weights = w, control = ctrl)
  }
  defaultFit <- if (is.null(weights)) {
    lmer(formula, data = data, REML = REML)
  } else {
    lmer(formula, data = data, REML = REML, weights = w)
  }
  stopifnot(length(getME(fit, "flist")) == 1, length(getME(fit, "cnms")) == 1)
  X <- getME(fit, "X")
  Z <- getME(fit, "mmList")[[1]]
  grp <- getME(fit, "flist")[[1]]
  re <- ranef(fit, condVar = TRUE)[[1]]
  pv <- attr(re, "postVar")
  q <- ncol(Z)
  condsd <- t(vapply(seq_len(nlevels(grp)), function(g) sqrt(diag(matrix(pv[, , g], q, q))), numeric(q)))
  if (q == 1) condsd <- t(condsd)
  out <- c(list(
    name = name,
    formula = paste(deparse(formula), collapse = " "),
    lme4 = as.character(packageVersion("lme4")),
    reml = REML,
    n = nrow(X), p = ncol(X), q = q, G = nlevels(grp),
    xNames = structure(as.character(colnames(X)), array = TRUE),
    zNames = structure(colnames(Z), array = TRUE),
    X = rowMajor(X),
    Z = rowMajor(Z),
    y = arr(getME(fit, "y")),
    group = arr(as.integer(grp) - 1L),
    weights = arr(weights(fit)),
    offset = arr(getME(fit, "offset")),
    logLik = as.numeric(logLik(fit)),
    df = attr(logLik(fit), "df"),
    # −2 logLik: deviance() under ML, REMLcrit() under REML. Not REMLcrit() itself: with p = 0
    # (where the REML criterion is the ML deviance) lme4 1.1-31 marks the fit as not REML and
    # its REMLcrit() came out 1 above −2 logLik for this script's fit.
    deviance = -2 * as.numeric(logLik(fit))
  ), estimates(fit, defaultFit), list(
    Sigma = rowMajor(VarCorr(fit)[[1]]),
    ranef = rowMajor(as.matrix(re)),
    condsd = rowMajor(condsd),
    singular = isSingular(fit),
    devAt = devianceAt(fit, thetaProbe)
  ), extra)
  writeLines(json(out), file.path(outDir, paste0(name, ".json")))
  cat(sprintf("%-28s logLik %.10f  theta %s  singular %s\n", name, out$logLik,
              paste(format(out$theta, digits = 8), collapse = " "), out$singular))
}

ss <- sleepstudy
fixture("sleepstudy_slope_ml", Reaction ~ Days + (Days | Subject), ss, FALSE,
        thetaProbe = list(c(1, 0, 1), c(0.5, -0.1, 0.3), c(0, 0.2, 0.1)))
fixture("sleepstudy_slope_reml", Reaction ~ Days + (Days | Subject), ss, TRUE,
        thetaProbe = list(c(1, 0, 1), c(0.5, -0.1, 0.3)))
fixture("sleepstudy_int_ml", Reaction ~ Days + (1 | Subject), ss, FALSE,
        thetaProbe = list(1, 0.3, 0))
fixture("sleepstudy_int_reml", Reaction ~ Days + (1 | Subject), ss, TRUE)
fixture("dyestuff_ml", Yield ~ 1 + (1 | Batch), Dyestuff, FALSE, thetaProbe = list(1, 0))
fixture("dyestuff_reml", Yield ~ 1 + (1 | Batch), Dyestuff, TRUE)
fixture("dyestuff2_ml", Yield ~ 1 + (1 | Batch), Dyestuff2, FALSE)
fixture("dyestuff2_reml", Yield ~ 1 + (1 | Batch), Dyestuff2, TRUE)
# Prior weights: deterministic, unequal, not a function of the group.
wss <- 1 + (ss$Days %% 3) / 2 + (as.integer(ss$Subject) %% 2) / 4
fixture("sleepstudy_weighted_ml", Reaction ~ Days + (Days | Subject), ss, FALSE, weights = wss,
        thetaProbe = list(c(1, 0, 1), c(0.5, -0.1, 0.3)))
fixture("sleepstudy_weighted_reml", Reaction ~ Days + (Days | Subject), ss, TRUE, weights = wss,
        thetaProbe = list(c(0.5, -0.1, 0.3)))
# An offset outside the fixed design's column space (a quadratic in Days).
fixture("sleepstudy_offset_ml", Reaction ~ Days + offset(0.8 * Days^2) + (Days | Subject), ss, FALSE,
        thetaProbe = list(c(0.5, -0.1, 0.3)))
fixture("sleepstudy_offset_reml", Reaction ~ Days + offset(0.8 * Days^2) + (Days | Subject), ss, TRUE)
# No intercept column in the fixed design.
fixture("sleepstudy_noint_ml", Reaction ~ 0 + Days + (Days | Subject), ss, FALSE,
        thetaProbe = list(c(1, 0, 1)))
fixture("sleepstudy_noint_reml", Reaction ~ 0 + Days + (Days | Subject), ss, TRUE)
# No fixed effects at all (p = 0).
fixture("sleepstudy_nofixed_reml", Reaction ~ 0 + (Days | Subject), ss, TRUE)
# Larger data, three fixed effects, and a three-dimensional random effect.
fixture("exam_slope_reml", normexam ~ standLRT + sex + (standLRT | school), Exam, TRUE,
        thetaProbe = list(c(1, 0, 1)))
fixture("exam_q3_ml", normexam ~ standLRT + sex + (standLRT + sex | school), Exam, FALSE,
        thetaProbe = list(c(1, 0, 0, 1, 0, 1), c(0.3, 0.1, -0.1, 0.2, 0.05, 0.1)))

# A data set on which lme4 stops at a worse optimum than the profiled deviance's minimum: both
# BOBYQA and Nelder-Mead end with Λ₁₁ = 0 and the entries below it non-zero, a point where the
# gradient leaves lme4's box (docs/lmm.md, "Optimisation"). The probe θ is ngmm's optimum
# (fitLmm on these data); lme4's own deviance function there is 1.99 below its reported
# optimum, which the test checks. The data are case 23 of a random battery (set.seed(7)):
# the generator is replayed to reach it.
battery <- function(case) {
  set.seed(7)
  for (s in seq_len(case)) {
    q <- 1 + (s %% 3); G <- sample(c(3, 6, 15, 40), 1); sizes <- sample(1:12, G, replace = TRUE)
    n <- sum(sizes); g <- factor(rep(seq_len(G), sizes)); x <- rnorm(n); x2 <- runif(n); x3 <- rbinom(n, 1, 0.5)
    sdb <- c(runif(1, 0, 2), runif(1, 0, 1), runif(1, 0, 0.5))[1:q] * (runif(1) > 0.2)
    Zf <- cbind(1, x, x3)[, 1:q, drop = FALSE]
    b <- matrix(rnorm(G * q), G, q) %*% diag(sdb, q)
    w <- if (s %% 4 == 0) runif(n, 0.3, 3) else rep(1, n)
    y <- 3 + 0.5 * x - x2 + rowSums(Zf * b[as.integer(g), , drop = FALSE]) + rnorm(n) / sqrt(w)
  }
  data.frame(y, x, x2, x3, g)
}
fixture("random_q3_lme4_suboptimal_ml", y ~ x + x2 + (x + x3 | g), battery(23), FALSE,
        thetaProbe = list(c(0.46883615801820555, -0.36980430468089154, -1.3178424543323477, 0, 1.931774725774812e-10, 0)),
        extra = list(lme4Suboptimal = TRUE))
