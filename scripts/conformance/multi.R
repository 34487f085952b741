# Conformance references for models with several random-effect terms (issue 13, bars 1–3 and 5).
#
# Usage: Rscript scripts/conformance/multi.R <fixture directory> [case name …]
# (`sh scripts/conformance/run.sh multi [case name …]` installs R and the packages when missing.)
#
# Every case writes <name>.csv (only the columns its formula uses) and <name>.json in the format
# of the one-term fixtures (conformance.R), plus `reference.terms`: one entry per lme4 term, in
# lme4's order (mkReTrms sorts terms by decreasing number of levels), each with its grouping
# factor, its columns, its number of levels, its SDs and correlations. As there, the model is
# fitted to the CSV as read back with read.csv(stringsAsFactors = TRUE) in the C collation.
#
# References (test/fixtures/conformance-multi/README.md says the same at more length):
# - Gaussian LMMs: lmer, ML or REML, tight optimizer tolerances; checked against the Gaussian
#   (restricted) likelihood written out densely, y ~ N(X beta, sigma^2 (Z Lambda Lambda' Z' + I)).
# - Crossed GLMMs: glmmTMB's Laplace fit, cross-checked with lme4's glmer Laplace (nAGQ = 1).
# - Two nested scalar terms: glmmTMB's Laplace fit, and the exact marginal likelihood at its
#   estimates by nested adaptive Gauss–Hermite quadrature (nested_groups below), checked
#   against more nodes and against nested integrate() on two outer groups; and the exact
#   maximum-likelihood fit (reference.exactFit), that log-likelihood maximised by BFGS.
scriptDir <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
default_outdir <- "test/fixtures/conformance-multi"
source(file.path(scriptDir, "common.R"))

versions <- list(R = paste(R.version$major, R.version$minor, sep = "."),
                 lme4 = as.character(packageVersion("lme4")), glmmTMB = as.character(packageVersion("glmmTMB")),
                 TMB = as.character(packageVersion("TMB")), Matrix = as.character(packageVersion("Matrix")))

# Evaluates expr, collecting its messages and warnings instead of printing them, and the elapsed
# time (system.time).
timed <- function(expr) {
  msgs <- character(0)
  t <- system.time(v <- withCallingHandlers(expr,
    message = function(c) { msgs <<- c(msgs, conditionMessage(c)); invokeRestart("muffleMessage") },
    warning = function(c) { msgs <<- c(msgs, paste("warning:", conditionMessage(c))); invokeRestart("muffleWarning") }))
  list(value = v, messages = trimws(msgs), seconds = unname(t[["elapsed"]]))
}

# lme4's random-effect terms for formula f on dat, in lme4's order: for each, its key (lme4's
# name, e.g. "Subject.1" for the second term of (Days || Subject)), the grouping factor's name
# and values, and the term's columns.
lme4_terms <- function(f, dat) {
  fe <- lme4::expandDoubleVerts(f)
  mf <- model.frame(lme4::subbars(fe), dat)
  stopifnot(nrow(mf) == nrow(dat))
  rt <- lme4::mkReTrms(lme4::findbars(fe), mf)
  asgn <- attr(rt$flist, "assign")
  lapply(seq_along(rt$cnms), function(i) {
    list(key = names(rt$cnms)[i], group = names(rt$flist)[asgn[i]], f = rt$flist[[asgn[i]]], columns = rt$cnms[[i]])
  })
}

# Which other terms' grouping factors a term's factor is nested in (each of its levels occurs with
# one level of the other only); a term is not nested in a term on the same factor.
nested_in <- function(terms, i) {
  fi <- terms[[i]]$f
  out <- character(0)
  for (k in seq_along(terms)) {
    fk <- terms[[k]]$f
    if (terms[[k]]$group == terms[[i]]$group || nlevels(fk) >= nlevels(fi)) next
    if (all(tapply(as.integer(fk), fi, function(v) length(unique(v))) == 1)) out <- c(out, terms[[k]]$group)
  }
  unique(out)
}

term_entries <- function(terms, sds, corrs, dat) {
  lapply(seq_along(terms), function(i) {
    t <- terms[[i]]
    list(group = t$group, columns = I(vapply(t$columns, ngmm_name, "", dat = dat)), levels = nlevels(t$f),
         sd = I(unname(sds[[i]])), corr = if (length(sds[[i]]) > 1) I(unname(corrs[[i]])) else NULL,
         nestedIn = I(nested_in(terms, i)))
  })
}
# A term's correlations row by row from its correlation matrix C: (1,2), (1,3), …, (2,3), …
upper_rows <- function(C) C[lower.tri(C)]

# glmmTMB's optimizer (nlminb) stops on a relative change of the objective of 1e-10, where the
# gradient can still be 1e-3 (VerbAgg) to 5e-3 (grouseticks, nbinom2); Newton steps on the
# Hessian of differences of TMB's exact gradient (optimHess) then take it to the optimum. glmmTMB
# calls it as it calls nlminb (fitTMB: optimizer(par, fn, gr, control = optCtrl)), so its logLik,
# SEs and SDs are those of the polished point. The objective is evaluated last at the returned
# point, so TMB's last.par.best, which sdreport uses, is that point.
polished_nlminb <- function(start, objective, gradient, control = list(), ...) {
  fit <- nlminb(start, objective, gradient, control = control)
  par <- fit$par
  for (it in 1:8) {
    g <- gradient(par)
    if (max(abs(g)) < 1e-9) break
    step <- solve(optimHess(par, objective, gradient), g)
    if (!(objective(par - step) <= objective(par))) break
    par <- par - step
  }
  fit$par <- par
  fit$objective <- objective(par)
  fit
}
tmb_control <- glmmTMBControl(optimizer = polished_nlminb)

# ---------------------------------------------------------------------------------------------
# Gaussian LMM by lmer.
lmm_multi_case <- function(name, dataset, source, df, formula, reml, structure, features, tol = list()) {
  if (length(only) && !(name %in% only)) return(invisible())
  d <- write_data(name, df)
  dat <- d$dat
  f <- as.formula(formula)
  ctrl <- lmerControl(optimizer = "nloptwrap", check.conv.singular = "ignore",
                      optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12, maxeval = 1e5))
  r <- timed(lmer(f, data = dat, REML = reml, control = ctrl))
  m <- r$value
  terms <- lme4_terms(f, dat)
  stopifnot(identical(vapply(terms, `[[`, "", "key"), names(getME(m, "cnms"))))
  vc <- VarCorr(m)
  sds <- lapply(seq_along(terms), function(i) attr(vc[[i]], "stddev"))
  corrs <- lapply(seq_along(terms), function(i) upper_rows(attr(vc[[i]], "correlation")))
  # The (restricted) Gaussian log-likelihood written out at lme4's estimates, with
  # V = sigma^2 (I + Z Lambda Lambda' Z'), r = y - X beta:
  #   ML:   -1/2 [n log 2 pi + log|V| + r' V^-1 r],
  #   REML: -1/2 [(n - p) log 2 pi + log|V| + log|X' V^-1 X| + r' V^-1 r]
  # (Harville 1977; lme4's REML criterion is this with sigma^2 profiled, Bates et al. 2015,
  # eq. 42). The n x n V is too big for InstEval, so with U = Z Lambda (n x q) and the dense
  # q x q A = I + U'U = R'R: log|I + UU'| = log|A| (the determinant lemma) and
  # (I + UU')^-1 = I - U A^-1 U' (Woodbury), so r'V^-1 r = (r'r - |R^-T U'r|^2) / sigma^2 and
  # X'V^-1 X = (X'X - (R^-T U'X)'(R^-T U'X)) / sigma^2. A is factored densely (base R's chol),
  # not by lme4's sparse Cholesky factor, and no penalised least squares is involved.
  X <- as.matrix(getME(m, "X"))
  n <- nrow(X); p <- ncol(X)
  s2 <- sigma(m)^2
  U <- crossprod(getME(m, "Zt"), getME(m, "Lambda"))
  R <- chol(diag(ncol(U)) + as.matrix(crossprod(U)))
  res <- getME(m, "y") - as.vector(X %*% fixef(m))
  zr <- backsolve(R, as.vector(crossprod(U, res)), transpose = TRUE)
  logdetV <- n * log(s2) + 2 * sum(log(diag(R)))
  quad <- (sum(res^2) - sum(zr^2)) / s2
  dense <- -0.5 * (logdetV + quad)
  if (reml) {
    zx <- backsolve(R, as.matrix(crossprod(U, X)), transpose = TRUE)
    XVX <- (crossprod(X) - crossprod(zx)) / s2
    dense <- dense - 0.5 * as.numeric(determinant(XVX)$modulus) - 0.5 * (n - p) * log(2 * pi)
  } else {
    dense <- dense - 0.5 * n * log(2 * pi)
  }
  fx <- list(
    name = name, dataset = dataset, source = source, csv = d$csv, formula = formula,
    family = "gaussian", link = "identity", rFamily = "gaussian", weights = NULL, reml = reml,
    structure = structure, comparison = "exact", features = features,
    reference = list(
      method = sprintf("lme4 %s lmer(%s), nloptwrap with tight tolerances; logLik, fixef, vcov SEs, sigma and the per-term SDs/correlations are lme4's", versions$lme4, if (reml) "REML" else "ML"),
      logLik = as.numeric(logLik(m)),
      fixef = named(fixef(m), dat),
      se = named(setNames(sqrt(diag(as.matrix(vcov(m)))), names(fixef(m))), dat),
      sigma = sigma(m),
      ranefSD = NULL, ranefCov = NULL, dispersion = NULL, dispersionName = NULL,
      nobs = nobs(m), ngroups = I(vapply(terms, function(t) nlevels(t$f), 0)),
      nrowsCsv = nrow(dat), droppedRows = I(omitted(model.frame(m))),
      droppedColumns = I(unname(vapply(names(attr(X, "col.dropped")), ngmm_name, "", dat = dat))),
      terms = term_entries(terms, sds, corrs, dat),
      singular = isSingular(m),
      messages = I(r$messages),
      rSeconds = r$seconds,
      versions = versions,
      checks = list(denseMinusLmer = dense - as.numeric(logLik(m)))
    ),
    tolerances = modifyList(list(logLik = 1e-6, coef = 1e-4, se = 1e-3, scale = 1e-4), tol)
  )
  write_fixture(fx)
}

# ---------------------------------------------------------------------------------------------
# The exact marginal log-likelihood of two nested scalar random intercepts, per outer group o:
#   L_o = ∫ N(u; 0, s_out^2) prod_{inner i in o} [ ∫ N(b; 0, s_in^2) prod_{j in i} f(y_j | eta_j + u + b) db ] du.
# The inner integrals are adaptive Gauss–Hermite with Kin nodes (agq_at, centred at each inner
# group's mode given u), so log L_o = log ∫ exp(H_o(u)) du with H_o smooth in u. The outer
# integral is adaptive Gauss–Hermite with Kout nodes: Newton's method (central differences of
# H, all outer groups at once, step halving) finds the mode û_o, the second difference there
# gives the scale s_o = (-H_o''(û_o))^{-1/2}, and log L_o = log(√2 s_o) +
# log sum_k w_k exp(H_o(û_o + √2 s_o x_k) + x_k^2) (Liu & Pierce 1994; Pinheiro & Chao 2006,
# section 3, do the same level by level for nested models).
nested_groups <- function(S, eta, s_out, s_in, phi, Kout = 30, Kin = 50) {
  Sin <- list(y = S$y, m = S$m, f = S$f, g = S$inner, G = S$Gi)
  H <- function(u) as.vector(rowsum(agq_at(Sin, eta + u[S$outer], s_in, phi, Kin), S$in2out, reorder = TRUE)) +
    dnorm(u, 0, s_out, log = TRUE)
  hd <- 1e-3 * s_out
  derivs <- function(u, h0) {
    hp <- H(u + hd); hm <- H(u - hd)
    list(d1 = (hp - hm) / (2 * hd), d2 = (hp - 2 * h0 + hm) / hd^2)
  }
  u <- numeric(S$Go)
  h0 <- H(u)
  for (it in 1:100) {
    dd <- derivs(u, h0)
    # H is log-concave for the log-concave families used here (Prékopa: the inner integrals of
    # log-concave integrands are log-concave), so H'' <= -1/s_out^2; the bound guards rounding.
    step <- -dd$d1 / pmin(dd$d2, -1 / s_out^2)
    t <- rep(1, S$Go)
    for (k in 1:40) {
      hn <- H(u + t * step)
      bad <- !(is.finite(hn) & hn >= h0 - 1e-12 * abs(h0))
      if (!any(bad)) break
      t[bad] <- t[bad] / 2
    }
    u <- u + t * step
    h0 <- hn
    if (max(abs(t * step)) < 1e-7 * s_out) break
  }
  s <- 1 / sqrt(-pmin(derivs(u, h0)$d2, -1 / s_out^2))
  R <- gh_rule(Kout)
  M <- matrix(0, S$Go, Kout)
  for (k in 1:Kout) M[, k] <- H(u + sqrt(2) * s * R$x[k]) + log(R$w[k]) + R$x[k]^2
  list(logL = log(sqrt(2) * s) + logsumexp_rows(M), mode = u, hmax = h0)
}

# The same integral for one outer group o by integrate() at both levels (adaptive Gauss–Kronrod,
# split at the mode), to check nested_groups. Each integrand is log-concave with log-curvature at
# most -1/s^2 (s = s_in, s_out: the prior's), so it is below exp(-(x - mode)^2 / (2 s^2)) times its
# peak, and cutting the range at mode ± 15 s leaves out less than exp(-112) of it; integrate()'s
# infinite-range transform would instead evaluate the family densities at |eta| ~ 1e10.
nested_integrate_group <- function(S, eta, s_out, s_in, phi, o, uhat, hmax) {
  rows <- which(S$outer == o)
  inners <- unique(S$inner[rows])
  inner_sum <- function(u) sum(vapply(inners, function(i) {
    j <- which(S$inner == i)
    Ssub <- list(y = S$y[j], m = S$m[j], f = S$f, g = rep(1L, length(j)), G = 1L)
    bm <- group_modes(Ssub, eta[j] + u, s_in, phi)$b
    hb <- function(b) vapply(b, function(bb) sum(S$f(S$y[j], eta[j] + u + bb, phi, S$m[j])$l) + dnorm(bb, 0, s_in, log = TRUE), 0)
    h0 <- hb(bm)
    fb <- function(b) exp(hb(b) - h0)
    h0 + log(integrate(fb, bm - 15 * s_in, bm, rel.tol = 1e-12, subdivisions = 2000L)$value +
             integrate(fb, bm, bm + 15 * s_in, rel.tol = 1e-12, subdivisions = 2000L)$value)
  }, 0))
  fu <- function(u) vapply(u, function(uu) exp(inner_sum(uu) + dnorm(uu, 0, s_out, log = TRUE) - hmax), 0)
  hmax + log(integrate(fu, uhat - 15 * s_out, uhat, rel.tol = 1e-11, subdivisions = 2000L)$value +
             integrate(fu, uhat, uhat + 15 * s_out, rel.tol = 1e-11, subdivisions = 2000L)$value)
}

# The exact maximum-likelihood fit of two nested scalar terms: nested_groups' log-likelihood over
# par = (beta, log s_in, log s_out[, log theta]) maximised by BFGS from glmmTMB's estimates, with
# central-difference gradients (step 1e-5; the log-likelihood is smooth to ~1e-10, so the
# gradient is good to ~1e-5; BFGS's own gradient tolerance cannot be set, hence reltol below). The search uses the cheaper 15 x 20-node rule (within 3e-8 of the
# 30 x 50 one on these data); the maximum is reported with 30 x 50 nodes, where the rule's error
# moves the optimum only to second order.
exact_nested_fit <- function(S, X, off, par0, parscale, disp) {
  p <- ncol(X)
  unpackn <- function(par) list(beta = par[1:p], s_in = exp(par[p + 1]), s_out = exp(par[p + 2]), phi = if (disp) exp(par[p + 3]) else 1)
  # BFGS's first step is the raw gradient, which can take log s to -100 (s = 0, where the modes
  # are undefined); -Inf there makes optim's line search shorten the step (vmmin accepts only
  # finite values).
  ll <- function(par, Kout = 15, Kin = 20) {
    u <- unpackn(par)
    v <- tryCatch(sum(nested_groups(S, as.vector(X %*% u$beta) + off, u$s_out, u$s_in, u$phi, Kout, Kin)$logL),
                  error = function(e) -Inf)
    if (is.finite(v)) v else -Inf
  }
  grad <- function(par) vapply(seq_along(par), function(i) {
    e <- replace(numeric(length(par)), i, 1e-5)
    (ll(par + e) - ll(par - e)) / 2e-5
  }, 0)
  # parscale (glmmTMB's SEs for beta, 0.1 for the log SDs and log theta) makes BFGS's first,
  # identity-metric steps the right size. reltol 1e-11 stops it when the log-likelihood changes
  # by ~1e-8 (|logLik| ~ 1e3): the value is then within ~1e-8 of the maximum, and the
  # estimates within ~1e-4 SE of it.
  opt <- optim(par0, function(par) -ll(par), function(par) -grad(par), method = "BFGS",
               control = list(reltol = 1e-11, maxit = 200, parscale = parscale))
  g <- grad(opt$par)
  # g_i * parscale_i: with parscale ~ the SEs, about how far (in SEs) the point is from the maximum.
  list(par = opt$par, u = unpackn(opt$par), logLik = ll(opt$par, 30, 50), gradientMaxAbs = max(abs(g)),
       gradientScaledMaxAbs = max(abs(g * parscale)), iterations = opt$counts[["gradient"]])
}

# ---------------------------------------------------------------------------------------------
# GLMM with several scalar random intercepts: glmmTMB's Laplace fit (the reference), lme4's
# glmer Laplace fit beside it where lme4 has the family, and for two nested terms the exact
# marginal likelihood at glmmTMB's estimates.
glmm_multi_case <- function(name, dataset, source, df, formula, family, link, structure, features,
                            exact = structure == "nested", tol = list()) {
  if (length(only) && !(name %in% only)) return(invisible())
  d <- write_data(name, df)
  dat <- d$dat
  f <- as.formula(formula)
  rfam <- switch(family, bernoulli = binomial(link), binomial = binomial(link), poisson = poisson(link), nbinom2 = nbinom2(link))
  r <- timed(glmmTMB(f, data = dat, family = rfam, control = tmb_control))
  tmb <- r$value
  terms <- lme4_terms(f, dat)
  keys <- vapply(terms, `[[`, "", "key")
  vc <- VarCorr(tmb)$cond
  stopifnot(setequal(names(vc), keys), all(vapply(terms, function(t) length(t$columns), 0) == 1))
  sds <- lapply(keys, function(k) attr(vc[[k]], "stddev"))
  corrs <- lapply(keys, function(k) numeric(0))
  beta <- fixef(tmb)$cond
  se <- sqrt(diag(vcov(tmb)$cond))
  phi <- if (family == "nbinom2") sigma(tmb) else 1
  X <- getME(tmb, "X")
  checks <- list(glmmTMBGradientMaxAbs = max(abs(tmb$sdr$gradient.fixed)))
  msgs <- r$messages
  lme4Seconds <- NULL
  if (family != "nbinom2") {
    # lme4's Laplace fit. The observation-level factor of cbpp has as many levels as rows, which
    # lme4 refuses by default (check.nobs.vs.nlev); the model is identifiable through the
    # binomial trials, so the check is switched off.
    g <- timed(glmer(f, data = dat, family = rfam, nAGQ = 1,
                     control = glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5),
                                            check.nobs.vs.nlev = "ignore", check.nobs.vs.nRE = "ignore")))
    gl <- g$value
    stopifnot(identical(names(getME(gl, "cnms")), keys))
    lsd <- vapply(seq_along(keys), function(i) attr(VarCorr(gl)[[i]], "stddev")[[1]], 0)
    checks$lme4LaplaceLogLik <- as.numeric(logLik(gl))
    checks$lme4MinusGlmmTMBLogLik <- as.numeric(logLik(gl)) - as.numeric(logLik(tmb))
    checks$lme4FixefMaxRelDiff <- max(abs(fixef(gl) - beta) / pmax(abs(beta), se))
    checks$lme4TermSDMaxRelDiff <- max(abs(lsd - unlist(sds)) / unlist(sds))
    checks$lme4Seconds <- g$seconds
    msgs <- c(msgs, if (length(g$messages)) paste("lme4:", g$messages))
  }
  exactFit <- NULL
  method <- sprintf("glmmTMB %s Laplace fit (TMB %s): logLik, fixef, SEs (sdreport), per-term SDs%s are glmmTMB's", versions$glmmTMB, versions$TMB,
                    if (family == "nbinom2") ", the NB theta" else "")
  if (family != "nbinom2") {
    method <- paste0(method, sprintf("; checks.lme4* compare lme4 %s glmer(nAGQ = 1), its Laplace fit (bobyqa), with it", versions$lme4))
  }
  if (exact) {
    stopifnot(length(terms) == 2, nested_in(terms, 1) == terms[[2]]$group)
    mf <- model.frame(tmb)
    y <- model.response(mf)
    m <- rep(1, NROW(y))
    if (is.factor(y)) y <- as.numeric(y != levels(y)[1])
    if (is.matrix(y)) { m <- rowSums(y); y <- y[, 1] / m }
    off <- model.offset(mf); if (is.null(off)) off <- rep(0, length(y))
    inner <- as.integer(terms[[1]]$f); outer <- as.integer(terms[[2]]$f)
    S <- list(y = as.numeric(y), m = m, f = family_fun(if (family == "bernoulli") "binomial" else family, link),
              inner = inner, outer = outer, Gi = nlevels(terms[[1]]$f), Go = nlevels(terms[[2]]$f),
              in2out = as.integer(tapply(outer, inner, function(v) v[1])))
    eta <- as.vector(as.matrix(X) %*% beta) + off
    s_in <- sds[[1]][[1]]; s_out <- sds[[2]][[1]]
    ex <- nested_groups(S, eta, s_out, s_in, phi)
    ex2 <- nested_groups(S, eta, s_out, s_in, phi, Kout = 40, Kin = 60)
    # integrate() at both levels on two outer groups: the one with the most inner groups, and the first.
    nin <- tabulate(S$in2out, S$Go)
    pick <- unique(c(which.max(nin), 1L))
    int <- vapply(pick, function(o) nested_integrate_group(S, eta, s_out, s_in, phi, o, ex$mode[o], ex$hmax[o]), 0)
    checks$exactLogLikAtLaplaceEstimates <- sum(ex$logL)
    checks$exactMinusLaplace <- sum(ex$logL) - as.numeric(logLik(tmb))
    checks$exactNodes40x60Minus30x50 <- sum(ex2$logL) - sum(ex$logL)
    checks$exactIntegrateMinusAgqMaxAbs <- max(abs(int - ex$logL[pick]))
    checks$exactIntegrateGroups <- I(levels(terms[[2]]$f)[pick])
    Xm <- as.matrix(X)
    ef <- exact_nested_fit(S, Xm, off, c(beta, log(s_in), log(s_out), if (family == "nbinom2") log(phi)),
                           c(se, 0.1, 0.1, if (family == "nbinom2") 0.1), family == "nbinom2")
    exactFit <- list(
      method = "exact ML: the nested adaptive Gauss-Hermite log-likelihood above maximised by BFGS (central-difference gradients, 15 x 20 nodes) from glmmTMB's estimates; logLik with 30 x 50 nodes at the maximum",
      logLik = ef$logLik,
      fixef = named(setNames(ef$u$beta, names(beta)), dat),
      sd = I(c(ef$u$s_in, ef$u$s_out)),
      dispersion = if (family == "nbinom2") ef$u$phi else NULL,
      gradientMaxAbs = ef$gradientMaxAbs,
      gradientScaledMaxAbs = ef$gradientScaledMaxAbs,
      gradientEvaluations = ef$iterations,
      minusLaplaceLogLik = ef$logLik - as.numeric(logLik(tmb)))
    method <- paste0(method, "; checks.exactLogLikAtLaplaceEstimates is the exact marginal log-likelihood at glmmTMB's estimates (fixef, the two SDs",
                     if (family == "nbinom2") ", theta" else "", "), computed here by nested adaptive Gauss-Hermite quadrature: 30 nodes over each outer group's effect, ",
                     "and for each outer node 50 nodes over each inner group's effect; checked against 40 x 60 nodes and against integrate() at both levels on the outer groups in exactIntegrateGroups")
  }
  fx <- list(
    name = name, dataset = dataset, source = source, csv = d$csv, formula = formula,
    family = family, link = link, rFamily = paste0(rfam$family, "(", rfam$link, ")"), weights = NULL, reml = FALSE,
    structure = structure, comparison = if (exact) "nestedExact" else "laplace", features = features,
    reference = list(
      method = method,
      logLik = as.numeric(logLik(tmb)),
      fixef = named(beta, dat),
      se = named(setNames(se, names(beta)), dat),
      sigma = NULL, ranefSD = NULL, ranefCov = NULL,
      dispersion = if (family == "nbinom2") phi else NULL,
      dispersionName = if (family == "nbinom2") "theta (var = mu + mu^2/theta)" else NULL,
      nobs = nobs(tmb), ngroups = I(vapply(terms, function(t) nlevels(t$f), 0)),
      nrowsCsv = nrow(dat), droppedRows = I(integer(0)),
      droppedColumns = I(character(0)),
      terms = term_entries(terms, sds, corrs, dat),
      exactFit = exactFit,
      messages = I(msgs),
      rSeconds = r$seconds,
      versions = versions,
      checks = checks
    ),
    # laplace: ngmm's Laplace fit against glmmTMB's (issue 13, bar 3). nestedExact (bar 2):
    # ngmm's exact marginal at glmmTMB's estimates against checks.exactLogLikAtLaplaceEstimates
    # (exactLogLik, relative); ngmm's exact fit against exactFit (logLik relative, coefficients
    # relative to max(|beta|, SE), SDs and theta relative); and its logLik at least glmmTMB's
    # Laplace logLik minus logLikBelowLaplace (absolute), which is null where the exact maximum
    # itself is below the Laplace value (the Laplace approximation overestimates the marginal
    # there, so no exact fit can meet that bound).
    tolerances = modifyList(if (exact) list(logLikBelowLaplace = if (exactFit$minusLaplaceLogLik >= -1e-6) 1e-6 else NULL,
                                            exactLogLik = 1e-6, exactFitLogLik = 1e-6, exactFitCoef = 1e-3, exactFitScale = 1e-3)
                            else list(logLik = 1e-5, coef = 1e-3, se = 1e-3, scale = 1e-3), tol)
  )
  write_fixture(fx)
}

# ---------------------------------------------------------------------------------------------
# The cases.
for (reml in c(FALSE, TRUE)) {
  tag <- if (reml) "reml" else "ml"
  lmm_multi_case(paste0("penicillin_crossed_", tag), "lme4::Penicillin", "lme4", lme4::Penicillin[, c("diameter", "plate", "sample")],
                 "diameter ~ 1 + (1 | plate) + (1 | sample)", reml, "crossed", features = c("gaussian", if (reml) "REML" else "ML", "crossed", "intercept only"))
  lmm_multi_case(paste0("pastes_nested_", tag), "lme4::Pastes", "lme4", lme4::Pastes[, c("strength", "batch", "cask")],
                 "strength ~ 1 + (1 | batch/cask)", reml, "nested", features = c("gaussian", if (reml) "REML" else "ML", "nested a/b", "intercept only"))
  lmm_multi_case(paste0("sleepstudy_uncorr_", tag), "lme4::sleepstudy", "lme4", lme4::sleepstudy[, c("Reaction", "Days", "Subject")],
                 "Reaction ~ Days + (Days || Subject)", reml, "uncorrelated", features = c("gaussian", if (reml) "REML" else "ML", "||"))
  sc <- mlmRev::ScotsSec[, c("attain", "verbal", "sex", "primary", "second")]
  lmm_multi_case(paste0("scotssec_crossed_", tag), "mlmRev::ScotsSec", "mlmRev", sc,
                 "attain ~ verbal + sex + (1 | primary) + (1 | second)", reml, "crossed", features = c("gaussian", if (reml) "REML" else "ML", "crossed", "text factor"))
  # InstEval's students x lecturers design with a third term for the department-by-service
  # interaction; departments 1-4 (17928 ratings).
  ie <- lme4::InstEval[lme4::InstEval$dept %in% c("1", "2", "3", "4"), ]
  ie <- data.frame(y = ie$y, service = as.integer(as.character(ie$service)), s = as.integer(as.character(ie$s)),
                   d = as.integer(as.character(ie$d)), dept = as.integer(as.character(ie$dept)))
  lmm_multi_case(paste0("insteval_three_", tag), "lme4::InstEval, departments 1-4 only", "lme4", ie,
                 "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)", reml, "crossed",
                 features = c("gaussian", if (reml) "REML" else "ML", "crossed", "three terms", "a:b interaction of factors", "subsample"))
}

gt <- lme4::grouseticks[, c("TICKS", "YEAR", "cHEIGHT", "LOCATION", "BROOD")]
gt$YEAR <- as.integer(as.character(gt$YEAR))
glmm_multi_case("grouseticks_nested_poisson", "lme4::grouseticks", "lme4", gt, "TICKS ~ factor(YEAR) + cHEIGHT + (1 | LOCATION/BROOD)",
                "poisson", "log", "nested", features = c("poisson", "nested a/b", "factor()"))
glmm_multi_case("grouseticks_nested_nb", "lme4::grouseticks", "lme4", gt, "TICKS ~ factor(YEAR) + cHEIGHT + (1 | LOCATION/BROOD)",
                "nbinom2", "log", "nested", features = c("negative binomial (nbinom2)", "nested a/b", "factor()"))
cb <- lme4::cbpp[, c("incidence", "size", "period", "herd")]
cb$period <- as.integer(as.character(cb$period))
cb$obs <- seq_len(nrow(cb))
glmm_multi_case("cbpp_obs", "lme4::cbpp, with obs = row number added", "lme4", cb,
                "cbind(incidence, size - incidence) ~ factor(period) + (1 | herd) + (1 | obs)", "binomial", "logit", "nested",
                features = c("binomial", "cbind", "observation-level factor", "nested (obs within herd, written as two terms)", "factor()"))
gi <- mlmRev::guImmun[, c("immun", "kid2p", "mom25p", "ord", "ethn", "pcInd81", "comm", "mom")]
glmm_multi_case("guimmun_nested", "mlmRev::guImmun", "mlmRev", gi,
                "immun ~ kid2p + mom25p + factor(ord) + ethn + pcInd81 + (1 | comm/mom)", "bernoulli", "logit", "nested",
                features = c("bernoulli", "nested a/b", "text response N/Y", "text factors"))

va <- lme4::VerbAgg[, c("r2", "Anger", "Gender", "btype", "situ", "id", "item")]
glmm_multi_case("verbagg_crossed", "lme4::VerbAgg", "lme4", va,
                "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "bernoulli", "logit", "crossed",
                features = c("bernoulli", "crossed", "persons x items", "at least 5000 rows", "text response N/Y", "text factors"))
sal <- data.frame(count = glmmTMB::Salamanders$count, mined = as.character(glmmTMB::Salamanders$mined),
                  site = as.character(glmmTMB::Salamanders$site), spp = as.character(glmmTMB::Salamanders$spp))
glmm_multi_case("salamanders_crossed", "glmmTMB::Salamanders", "glmmTMB", sal,
                "count ~ mined + (1 | site) + (1 | spp)", "poisson", "log", "crossed",
                features = c("poisson", "crossed", "sites x species", "text factors"))
ie <- lme4::InstEval[lme4::InstEval$dept == "1", ]
ie <- data.frame(good = as.integer(ie$y >= 4), service = as.integer(as.character(ie$service)),
                 s = as.integer(as.character(ie$s)), d = as.integer(as.character(ie$d)))
glmm_multi_case("insteval_crossed", "lme4::InstEval, department 1 only, with good = (y >= 4)", "lme4", ie,
                "good ~ service + (1 | s) + (1 | d)", "bernoulli", "logit", "crossed",
                features = c("bernoulli", "crossed", "students x lecturers", "subsample", "derived binary response"))
