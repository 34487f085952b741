# Writes test/fixtures/laplace/*.json: lme4's and glmmTMB's Laplace log-likelihoods of GLMMs
# with several random-effect terms at given parameters, for test/ngmm/marginal.laplace.test.ts
# (which reads the JSON and never needs R).
#
# Each file holds the inputs as lme4 saw them: the fixed design X (row-major), the response y
# and trials m (binomial), per term its grouping factor as 0-based indices, its n × q design Z
# and q, in lme4's order of terms; then probes, each a parameter point (β, θ in lme4's order,
# and Λ per term as its lower triangle by rows, which is what the Laplace op takes) with
#   lme4:    −½ × glmer's stage-2 deviance function at c(θ, β) (nAGQ = 1, the Laplace deviance);
#   glmmTMB: −obj$fn at the same β and covariance (TMB's Laplace), where the model allows the
#            mapping (scalar terms: log SD = log θ; a 2 × 2 term: log SDs and ρ/√(1 − ρ²)).
# The first probe is glmer's estimate; the others move θ and β away from it.
#
# Usage (from the repository root):  Rscript scripts/laplace-fixtures.R [outDir]
# Needs r-cran-lme4, r-cran-glmmtmb and r-cran-mlmrev. Data from lme4 and mlmRev (GPL).

scriptDir <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
source(file.path(scriptDir, "lmm-common.R"))
suppressPackageStartupMessages(library(glmmTMB))

outDir <- fixtureDir(file.path("test", "fixtures", "laplace"))

# Λ (q × q, lower) from lme4's θ (lower triangle by columns), and its lower triangle by rows.
lambdaOf <- function(th, q) {
  L <- matrix(0, q, q)
  L[lower.tri(L, diag = TRUE)] <- th
  L
}
byRows <- function(L) arr(t(L)[upper.tri(L, diag = TRUE)])

# glmmTMB's θ for a term with relative factor Λ (no residual scale for these families):
# log SDs, then for 2 × 2 the correlation parameter ρ/√(1 − ρ²).
tmbTheta <- function(L) {
  S <- L %*% t(L)
  sd <- sqrt(diag(S))
  if (nrow(L) == 1) return(log(sd))
  stopifnot(nrow(L) == 2)
  rho <- S[1, 2] / (sd[1] * sd[2])
  c(log(sd), rho / sqrt(1 - rho^2))
}

fixture <- function(name, formula, data, family, moves) {
  fit <- glmer(formula, data = data, family = family)
  devfun <- glmer(formula, data = data, family = family, devFunOnly = TRUE)
  tmb <- glmmTMB(formula, data = data, family = family)
  X <- getME(fit, "X")
  n <- nrow(X)
  cnms <- getME(fit, "cnms")
  flist <- getME(fit, "flist")
  asgn <- attr(flist, "assign")
  mm <- getME(fit, "mmList")
  qs <- vapply(cnms, length, 0L)
  yy <- getME(fit, "y")                       # proportions for cbind(...) responses
  wts <- weights(fit)                         # the trials for cbind(...), else 1
  binom <- family$family == "binomial" && any(wts != 1)
  terms <- lapply(seq_along(cnms), function(i) {
    f <- flist[[asgn[i]]]
    list(name = names(cnms)[i], index = arr(as.integer(f) - 1L), nlevels = nlevels(f), q = qs[[i]],
         Z = rowMajor(as.matrix(mm[[i]])))
  })
  theta0 <- getME(fit, "theta")
  beta0 <- fixef(fit)
  # TMB's fixed-parameter vector: β first, then the θ of each term in glmmTMB's term order,
  # which is the formula's order; lme4 sorts terms by decreasing levels, so match by name.
  tmbNames <- names(tmb$modelInfo$reTrms$cond$cnms)
  probe <- function(theta, beta) {
    tv <- split(theta, rep(seq_along(qs), qs * (qs + 1) / 2))
    Ls <- lapply(seq_along(qs), function(i) lambdaOf(tv[[i]], qs[[i]]))
    lme4 <- -devfun(c(theta, beta)) / 2
    tth <- unlist(lapply(tmbNames, function(nm) tmbTheta(Ls[[match(nm, names(cnms))]])))
    par <- c(beta, tth)
    stopifnot(length(par) == length(tmb$obj$par))
    glmmTMB <- -tmb$obj$fn(par)
    list(beta = arr(beta), theta = arr(theta), lambdas = lapply(Ls, byRows), lme4 = lme4, glmmTMB = glmmTMB)
  }
  probes <- c(list(probe(theta0, beta0)),
              lapply(moves, function(mv) probe(theta0 * mv$theta, beta0 + mv$beta)))
  out <- list(
    name = name, formula = deparse(formula), family = family$family, link = family$link,
    logLik = as.numeric(logLik(fit)), n = n, p = ncol(X), X = rowMajor(X),
    y = arr(if (binom) round(yy * wts) else yy), m = if (binom) arr(wts) else structure("null", class = "rawjson"),
    terms = terms, probes = probes
  )
  writeLines(json(out), file.path(outDir, paste0(name, ".json")))
  cat(name, ": n =", n, " logLik", logLik(fit), " glmmTMB", logLik(tmb), "\n")
  for (p in probes) cat("   lme4", sprintf("%.12f", p$lme4), " glmmTMB", sprintf("%.12f", p$glmmTMB), "\n")
}

# Persons × items (crossed, Bernoulli): VerbAgg, the first 100 persons (2400 rows) to keep the file small.
data(VerbAgg, package = "lme4")
va <- droplevels(subset(VerbAgg, as.integer(id) <= 100))
fixture("verbagg_crossed", r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item), va, binomial(),
        list(list(theta = c(1.4, 0.6), beta = 0.1)))

# Three terms, nested and an observation-level effect (Poisson): grouseticks.
data(grouseticks, package = "lme4")
gt <- transform(grouseticks, cHEIGHT = HEIGHT - 462.2)
fixture("grouseticks_three_terms", TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION), gt, poisson(),
        list(list(theta = c(0.7, 1.3, 1.5), beta = -0.05)))

# Binomial with trials: cbpp.
data(cbpp, package = "lme4")
fixture("cbpp_trials", cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial(),
        list(list(theta = 1.5, beta = 0.2)))

# A correlated random slope (Bernoulli): Contraception, (urban | district).
data(Contraception, package = "mlmRev")
fixture("contraception_slope", use ~ age + urban + (urban | district), Contraception, binomial(),
        list(list(theta = c(1.2, 0.5, 0.8), beta = 0.05)))
