# Conformance references for ngmm against lme4 and glmmTMB (issue 12, bar 1).
#
# Usage: Rscript scripts/conformance/conformance.R <fixture directory> [case name …]
# (scripts/conformance/run.sh installs R and the packages when Rscript is missing.)
#
# Every case writes <name>.csv (only the columns its formula uses, the grouping factor, and the
# weights column) and <name>.json. The model is always fitted to the CSV as read back with
# read.csv(stringsAsFactors = TRUE) in the C collation, so R's factor levels, the reference
# level and the coefficient names are those ngmm derives from the same file.
#
# References:
# - Gaussian identity-link LMMs: lmer (ML or REML, as the case says), with tight optimizer
#   tolerances; logLik, fixef, vcov SEs, sigma, the random-effect SDs/correlation.
# - GLMMs with one scalar random effect: the exact marginal likelihood, by our own adaptive
#   Gauss–Hermite quadrature with 25 nodes per group (agq_loglik below), maximised here by
#   BFGS from lme4's nAGQ = 25 fit (binomial, Poisson-log) or glmmTMB's Laplace fit (the other
#   families); for the sqrt link, whose integrand has two modes, a trapezoid rule over the whole
#   range of b instead (grid_groups). SEs from the inverse Hessian of that exact log-likelihood
#   (numDeriv). A GLMM with a random intercept and slope: the same by two-dimensional adaptive
#   Gauss–Hermite (25 x 25 nodes per group, glmm_slope_case), checked against 35 x 35 nodes.
#   Gaussian ML fits also record lme4's logLik minus the per-group Gaussian
#   likelihood written out (with prior weights dividing the variance). Checks
#   recorded in each fixture: (a) the quadrature equals integrate() per group to ~1e-9 at the
#   optimum; (b) where lme4 fitted with nAGQ = 25, its logLik plus the saturated log-likelihood
#   (lme4 issue #161, see README.md) equals our quadrature at lme4's estimates.

# The shared helpers (packages, arguments, quadrature, names, writers) are in common.R beside this file.
scriptDir <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
default_outdir <- "test/fixtures/conformance"
source(file.path(scriptDir, "common.R"))

# ---------------------------------------------------------------------------------------------
# Log marginal likelihood by adaptive Gauss–Hermite (25 nodes), per group, summed.
unpack <- function(S, par) {
  p <- ncol(S$X)
  list(beta = par[1:p], sigb = exp(par[p + 1]), phi = if (S$disp) exp(par[p + 2]) else 1)
}
agq_groups <- function(S, par) {
  u <- unpack(S, par)
  agq_at(S, as.vector(S$X %*% u$beta) + S$offset, u$sigb, u$phi)
}
# With the sqrt link mu = eta^2 is even in eta, so a group's integrand has a second mode on the
# other side of eta = 0 (and zeros at b = -eta_j where y_j > 0): adaptive quadrature around one
# mode misses it. There the integral is a trapezoid rule over b in [-20 sigma_b, 20 sigma_b]
# (4001 points): the integrand is smooth and negligible at the ends (it is at most
# exp(l_saturated) N(b; 0, sigma_b^2)), where the trapezoid rule converges geometrically.
grid_groups <- function(S, par, npts = 4001) {
  u <- unpack(S, par)
  eta <- as.vector(S$X %*% u$beta) + S$offset
  B <- seq(-20 * u$sigb, 20 * u$sigb, length.out = npts)
  M <- matrix(0, S$G, npts)
  for (k in 1:npts) {
    M[, k] <- as.vector(rowsum(S$f(S$y, eta + B[k], u$phi, S$m)$l, S$g, reorder = TRUE)) + dnorm(B[k], 0, u$sigb, log = TRUE)
  }
  log(B[2] - B[1]) + logsumexp_rows(M)
}
agq_loglik <- function(S, par) sum(if (S$link == "sqrt") grid_groups(S, par) else agq_groups(S, par))

# The same integrals by integrate() (adaptive Gauss–Kronrod over the whole real line, split at
# the mode), for checking the quadrature at one parameter vector.
integrate_loglik <- function(S, par) {
  u <- unpack(S, par)
  eta <- as.vector(S$X %*% u$beta) + S$offset
  md <- group_modes(S, eta, u$sigb, u$phi)
  out <- numeric(S$G)
  for (i in 1:S$G) {
    j <- which(S$g == i)
    hfun <- function(b) vapply(b, function(bb) sum(S$f(S$y[j], eta[j] + bb, u$phi, S$m[j])$l) + dnorm(bb, 0, u$sigb, log = TRUE), 0)
    h0 <- hfun(md$b[i])
    f <- function(b) exp(hfun(b) - h0)
    # Pieces split at the mode and (sqrt link) at every zero b = -eta_j of the integrand.
    cuts <- c(md$b[i], if (S$link == "sqrt") -eta[j])
    cuts <- sort(unique(cuts[abs(cuts) < 20 * u$sigb]))
    ends <- c(-Inf, cuts, Inf)
    tot <- 0
    for (k in seq_len(length(ends) - 1)) tot <- tot + integrate(f, ends[k], ends[k + 1], rel.tol = 1e-12, subdivisions = 2000L)$value
    out[i] <- h0 + log(tot)
  }
  sum(out)
}


# ---------------------------------------------------------------------------------------------
# Gaussian LMM by lmer.
lmm_case <- function(name, dataset, source, df, formula, reml, weights = NULL, features, tol = list()) {
  if (length(only) && !(name %in% only)) return(invisible())
  d <- write_data(name, df)
  dat <- d$dat
  f <- as.formula(formula)
  ctrl <- lmerControl(optimizer = "nloptwrap", optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12, maxeval = 1e5))
  msgs <- character(0)
  m <- withCallingHandlers(
    if (is.null(weights)) lmer(f, data = dat, REML = reml, control = ctrl)
    else eval(bquote(lmer(f, data = dat, REML = reml, control = ctrl, weights = .(as.name(weights))))),
    message = function(c) { msgs <<- c(msgs, conditionMessage(c)); invokeRestart("muffleMessage") })
  # ML fits: lme4's logLik against the Gaussian marginal likelihood written out per group,
  # y_i ~ N(X_i beta, Z_i Sigma Z_i' + sigma^2 diag(1 / w_i)) (prior weights divide the variance).
  checks <- NULL
  if (!reml) {
    Zt <- as.matrix(getME(m, "Zt")); Lam <- as.matrix(getME(m, "Lambda"))
    Vb <- sigma(m)^2 * (t(Zt) %*% Lam %*% t(Lam) %*% Zt)
    w <- weights(m)
    r <- getME(m, "y") - as.vector(getME(m, "X") %*% fixef(m))
    gl <- getME(m, "flist")[[1]]
    dense <- 0
    for (lev in levels(gl)) {
      j <- which(gl == lev)
      V <- Vb[j, j, drop = FALSE] + diag(sigma(m)^2 / w[j], length(j))
      R <- chol(V)
      z <- backsolve(R, r[j], transpose = TRUE)
      dense <- dense - sum(log(diag(R))) - 0.5 * sum(z^2) - 0.5 * length(j) * log(2 * pi)
    }
    checks <- list(denseMinusLmer = dense - as.numeric(logLik(m)))
  }
  vc <- as.data.frame(VarCorr(m))
  re <- vc[vc$grp != "Residual", ]
  sds <- re[is.na(re$var2), "sdcor"]
  names(sds) <- vapply(re[is.na(re$var2), "var1"], ngmm_name, "", dat = dat)
  cor <- re[!is.na(re$var2), "sdcor"]
  X <- getME(m, "X")
  fx <- list(
    name = name, dataset = dataset, source = source, csv = d$csv, formula = formula,
    family = "gaussian", link = "identity", rFamily = "gaussian", weights = weights, reml = reml,
    features = features,
    reference = list(
      method = sprintf("lme4 %s lmer(%s), %s", packageVersion("lme4"), if (reml) "REML" else "ML", "nloptwrap with tight tolerances"),
      logLik = as.numeric(logLik(m)),
      fixef = named(fixef(m), dat),
      se = named(sqrt(diag(as.matrix(vcov(m)))) |> setNames(names(fixef(m))), dat),
      sigma = sigma(m),
      ranefSD = if (length(sds) == 1) unname(sds) else NULL,
      ranefCov = if (length(sds) > 1) list(names = I(names(sds)), sd = I(unname(sds)), corr = I(cor)) else NULL,
      dispersion = NULL,
      nobs = nobs(m), ngroups = unname(ngrps(m)),
      nrowsCsv = nrow(dat), droppedRows = I(omitted(model.frame(m))),
      droppedColumns = I(unname(vapply(names(attr(X, "col.dropped")), ngmm_name, "", dat = dat))),
      messages = I(trimws(msgs)),
      checks = checks
    ),
    tolerances = modifyList(list(logLik = 1e-6, coef = 1e-4, se = 1e-3, scale = 1e-4), tol)
  )
  write_fixture(fx)
}

# ---------------------------------------------------------------------------------------------
# GLMM with one scalar random intercept: exact likelihood by our adaptive quadrature.
glmm_case <- function(name, dataset, source, df, formula, family, link, weights = NULL,
                      start = c("lme4", "glmmTMB"), features, tol = list()) {
  if (length(only) && !(name %in% only)) return(invisible())
  start <- match.arg(start)
  d <- write_data(name, df)
  dat <- d$dat
  f <- as.formula(formula)
  rfam <- switch(family, bernoulli = binomial(link), binomial = binomial(link), poisson = poisson(link),
                 gaussian = gaussian(link), nbinom2 = nbinom2(link), Gamma = Gamma(link))
  msgs <- character(0)
  catchm <- function(expr) withCallingHandlers(expr, message = function(c) { msgs <<- c(msgs, conditionMessage(c)); invokeRestart("muffleMessage") })
  wexpr <- if (is.null(weights)) NULL else as.name(weights)
  lme4fit <- NULL
  if (start == "lme4") {
    lme4fit <- catchm(eval(bquote(glmer(f, data = dat, family = rfam, nAGQ = 25, weights = .(wexpr),
      control = glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))))))
    mf <- model.frame(lme4fit)
    X <- getME(lme4fit, "X")
    resp <- lme4fit@resp
    y <- resp$y; m <- resp$weights; off <- resp$offset
    gfac <- getME(lme4fit, "flist")[[1]]
    par0 <- c(fixef(lme4fit), log(getME(lme4fit, "theta")[[1]]))
  } else {
    tmb <- catchm(eval(bquote(glmmTMB(f, data = dat, family = rfam, weights = .(wexpr)))))
    mf <- model.frame(tmb)
    X <- getME(tmb, "X")
    y <- model.response(mf); m <- rep(1, length(y))
    if (is.factor(y)) y <- as.numeric(y != levels(y)[1])
    off <- model.offset(mf); if (is.null(off)) off <- rep(0, length(y))
    gname <- lme4::findbars(f)[[1]][[3]]
    gfac <- factor(mf[[deparse(gname)]])
    ph <- sigma(tmb)
    disp <- switch(family, nbinom2 = ph, Gamma = 1 / ph^2, gaussian = ph)
    par0 <- c(fixef(tmb)$cond, log(sqrt(VarCorr(tmb)$cond[[1]][1, 1])), log(disp))
  }
  if (is.matrix(y)) { m <- rowSums(y); y <- y[, 1] / m }
  if (family == "binomial" && !is.null(weights) && start == "glmmTMB") m <- model.weights(mf)
  S <- list(y = as.numeric(y), X = as.matrix(X), m = as.numeric(m), offset = as.numeric(off),
            g = as.integer(gfac), G = nlevels(gfac), link = link, f = family_fun(if (family == "bernoulli") "binomial" else family, link),
            disp = family %in% c("gaussian", "nbinom2", "Gamma"))
  if (!S$disp) par0 <- par0[seq_len(ncol(S$X) + 1)]
  negll <- function(par) -agq_loglik(S, par)
  gr <- function(par) numDeriv::grad(negll, par)
  opt <- optim(par0, negll, gr, method = "BFGS", control = list(reltol = 1e-15, maxit = 2000))
  # Polish with Newton steps on the Richardson Hessian (BFGS's end is limited by its line search).
  par <- opt$par
  for (it in 1:5) {
    H <- numDeriv::hessian(negll, par)
    g1 <- gr(par)
    stepn <- solve(H, g1)
    if (negll(par - stepn) <= negll(par)) par <- par - stepn
    if (max(abs(stepn)) < 1e-10) break
  }
  H <- numDeriv::hessian(negll, par)
  gfinal <- gr(par)
  V <- solve(H)
  p <- ncol(S$X)
  u <- unpack(S, par)
  ll <- agq_loglik(S, par)
  checks <- list(gradientMaxAbs = max(abs(gfinal)), integrateMinusAgq = integrate_loglik(S, par) - ll)
  if (!is.null(lme4fit)) {
    # lme4 issue #161: for nAGQ > 1 glmer's deviance is built from the deviance residuals, i.e.
    # -2 (l - l_saturated); adding back l_saturated gives the log-likelihood.
    sat <- if (family %in% c("binomial", "bernoulli")) sum(dbinom(round(S$y * S$m), S$m, S$y, log = TRUE)) else sum(dpois(S$y, S$y, log = TRUE))
    p0 <- c(fixef(lme4fit), log(getME(lme4fit, "theta")[[1]]))
    checks$lme4Nagq25LogLik <- as.numeric(logLik(lme4fit))
    checks$lme4SaturatedLogLik <- sat
    checks$lme4CorrectedMinusAgqAtLme4Estimates <- as.numeric(logLik(lme4fit)) + sat - agq_loglik(S, p0)
    checks$lme4FixefMaxRelDiff <- max(abs(fixef(lme4fit) - par[1:p]) / pmax(abs(par[1:p]), sqrt(diag(V))[1:p]))
  }
  beta <- setNames(par[1:p], colnames(S$X))
  se <- setNames(sqrt(diag(V))[1:p], colnames(S$X))
  lmeth <- if (!is.null(lme4fit)) sprintf("lme4 %s glmer nAGQ = 25", packageVersion("lme4")) else sprintf("glmmTMB %s (Laplace)", packageVersion("glmmTMB"))
  fx <- list(
    name = name, dataset = dataset, source = source, csv = d$csv, formula = formula,
    family = family, link = link, rFamily = paste0(rfam$family, "(", rfam$link, ")"), weights = weights, reml = FALSE,
    features = features,
    reference = list(
      method = paste0("exact ML: own ", if (link == "sqrt") "trapezoid rule over b (both modes of the sqrt link)" else "adaptive Gauss-Hermite (25 nodes per group)", " maximised by BFGS + Newton from ", lmeth, "; SEs from the numDeriv Hessian of that log-likelihood"),
      logLik = ll,
      fixef = named(beta, dat),
      se = named(se, dat),
      sigma = if (family == "gaussian") u$phi else NULL,
      ranefSD = u$sigb,
      ranefCov = NULL,
      dispersion = if (family %in% c("nbinom2", "Gamma")) u$phi else NULL,
      dispersionName = switch(family, nbinom2 = "theta (var = mu + mu^2/theta)", Gamma = "shape (var = mu^2/shape)", NULL),
      nobs = length(S$y), ngroups = S$G,
      nrowsCsv = nrow(dat), droppedRows = I(omitted(mf)),
      droppedColumns = I(unname(vapply(names(attr(X, "col.dropped")), ngmm_name, "", dat = dat))),
      singletonGroups = sum(tabulate(S$g) == 1),
      messages = I(trimws(msgs)),
      checks = checks
    ),
    tolerances = modifyList(list(logLik = 1e-6, coef = 1e-4, se = 1e-3, scale = 1e-4), tol)
  )
  write_fixture(fx)
}

# ---------------------------------------------------------------------------------------------
# GLMM with a correlated random intercept and slope, (1 + x | g): the exact likelihood by
# two-dimensional adaptive Gauss–Hermite quadrature per group. Group i's integrand in b = (b0, b1)
# is h_i(b) = sum_j l_j(eta_j + b0 + x_j b1) + log N(b; 0, Sigma); Newton's method (with step
# halving) finds its mode b^ and H = -h''(b^); with C the lower Cholesky factor of H^{-1}, the
# product rule b = b^ + sqrt(2) C x_k, x_k over K x K Gauss–Hermite nodes, gives
# log L_i = log 2 + log det C + log sum_k w_k exp(h_i(b_k) + |x_k|^2) (Liu & Pierce 1994, in two
# dimensions; Pinheiro & Bates 1995, section 3). Sigma is parameterised by its Cholesky factor
# (log l11, l21, log l22), which is unconstrained and smooth.
slope_unpack <- function(S, par) {
  p <- ncol(S$X)
  L <- matrix(c(exp(par[p + 1]), par[p + 2], 0, exp(par[p + 3])), 2, 2)
  list(beta = par[1:p], L = L, Sigma = L %*% t(L))
}
slope_modes <- function(S, eta, Sigma) {
  G <- S$G; g <- S$g; z <- S$z
  P <- solve(Sigma)
  hq <- function(b0, b1) as.vector(rowsum(S$f(S$y, eta + b0[g] + z * b1[g], 1, S$m)$l, g, reorder = TRUE)) -
    0.5 * (P[1, 1] * b0^2 + 2 * P[1, 2] * b0 * b1 + P[2, 2] * b1^2)
  b0 <- numeric(G); b1 <- numeric(G)
  h <- hq(b0, b1)
  hess <- function(b0, b1) {
    D <- S$f(S$y, eta + b0[g] + z * b1[g], 1, S$m)
    list(g0 = as.vector(rowsum(D$d1, g, reorder = TRUE)) - (P[1, 1] * b0 + P[1, 2] * b1),
         g1 = as.vector(rowsum(D$d1 * z, g, reorder = TRUE)) - (P[1, 2] * b0 + P[2, 2] * b1),
         h00 = as.vector(rowsum(D$d2, g, reorder = TRUE)) - P[1, 1],
         h01 = as.vector(rowsum(D$d2 * z, g, reorder = TRUE)) - P[1, 2],
         h11 = as.vector(rowsum(D$d2 * z^2, g, reorder = TRUE)) - P[2, 2])
  }
  for (it in 1:200) {
    d <- hess(b0, b1)
    det <- d$h00 * d$h11 - d$h01^2
    # Newton step -H^{-1} grad, 2 x 2 per group (h'' is negative definite for the log-concave
    # families used here; step halving guards the rest).
    s0 <- -(d$h11 * d$g0 - d$h01 * d$g1) / det
    s1 <- -(-d$h01 * d$g0 + d$h00 * d$g1) / det
    t <- rep(1, G)
    for (k in 1:40) {
      hn <- hq(b0 + t * s0, b1 + t * s1)
      bad <- !(is.finite(hn) & hn >= h - 1e-13 * abs(h))
      if (!any(bad)) break
      t[bad] <- t[bad] / 2
    }
    b0 <- b0 + t * s0; b1 <- b1 + t * s1
    h <- hn
    if (max(abs(c(t * s0, t * s1))) < 1e-11) break
  }
  d <- hess(b0, b1)
  list(b0 = b0, b1 = b1, h00 = d$h00, h01 = d$h01, h11 = d$h11)
}
slope_groups <- function(S, par, K = 25) {
  u <- slope_unpack(S, par)
  eta <- as.vector(S$X %*% u$beta) + S$offset
  md <- slope_modes(S, eta, u$Sigma)
  # H = -h''; H^{-1} = adj / det; lower Cholesky C of H^{-1}.
  a <- -md$h00; bb <- -md$h01; cc <- -md$h11
  dt <- a * cc - bb^2
  i00 <- cc / dt; i01 <- -bb / dt; i11 <- a / dt
  c00 <- sqrt(i00); c10 <- i01 / c00; c11 <- sqrt(i11 - c10^2)
  R <- gh_rule(K)
  P <- solve(u$Sigma)
  ldS <- log(det(u$Sigma))
  M <- matrix(0, S$G, K * K)
  col <- 0
  for (k1 in 1:K) for (k2 in 1:K) {
    col <- col + 1
    x1 <- R$x[k1]; x2 <- R$x[k2]
    b0 <- md$b0 + sqrt(2) * c00 * x1
    b1 <- md$b1 + sqrt(2) * (c10 * x1 + c11 * x2)
    lk <- as.vector(rowsum(S$f(S$y, eta + b0[S$g] + S$z * b1[S$g], 1, S$m)$l, S$g, reorder = TRUE))
    lp <- -0.5 * (P[1, 1] * b0^2 + 2 * P[1, 2] * b0 * b1 + P[2, 2] * b1^2) - log(2 * pi) - 0.5 * ldS
    M[, col] <- lk + lp + log(R$w[k1]) + log(R$w[k2]) + x1^2 + x2^2
  }
  log(2) + log(c00) + log(c11) + logsumexp_rows(M)
}

glmm_slope_case <- function(name, dataset, source, df, formula, family, link, slope, features, tol = list()) {
  if (length(only) && !(name %in% only)) return(invisible())
  d <- write_data(name, df)
  dat <- d$dat
  f <- as.formula(formula)
  rfam <- switch(family, bernoulli = binomial(link), binomial = binomial(link), poisson = poisson(link))
  msgs <- character(0)
  # lme4's Laplace fit (nAGQ > 1 is not available for vector-valued random effects) is the start.
  lap <- withCallingHandlers(glmer(f, data = dat, family = rfam, control = glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))),
    message = function(c) { msgs <<- c(msgs, conditionMessage(c)); invokeRestart("muffleMessage") })
  mf <- model.frame(lap)
  X <- getME(lap, "X")
  resp <- lap@resp
  gfac <- getME(lap, "flist")[[1]]
  S <- list(y = as.numeric(resp$y), X = as.matrix(X), m = as.numeric(resp$weights), offset = as.numeric(resp$offset),
            z = as.numeric(dat[[slope]][as.integer(rownames(mf))]),
            g = as.integer(gfac), G = nlevels(gfac), link = link, f = family_fun(if (family == "bernoulli") "binomial" else family, link))
  Lc <- t(chol(VarCorr(lap)[[1]][1:2, 1:2]))
  p <- ncol(S$X)
  par0 <- c(fixef(lap), log(Lc[1, 1]), Lc[2, 1], log(Lc[2, 2]))
  negll <- function(par) -sum(slope_groups(S, par))
  gr <- function(par) numDeriv::grad(negll, par)
  opt <- optim(par0, negll, gr, method = "BFGS", control = list(reltol = 1e-15, maxit = 2000))
  par <- opt$par
  for (it in 1:5) {
    H <- numDeriv::hessian(negll, par)
    stepn <- solve(H, gr(par))
    if (negll(par - stepn) <= negll(par)) par <- par - stepn
    if (max(abs(stepn)) < 1e-10) break
  }
  H <- numDeriv::hessian(negll, par)
  gfinal <- gr(par)
  V <- solve(H)
  u <- slope_unpack(S, par)
  ll <- -negll(par)
  sds <- sqrt(diag(u$Sigma))
  checks <- list(gradientMaxAbs = max(abs(gfinal)),
                 agq35MinusAgq25 = sum(slope_groups(S, par, K = 35)) - ll,
                 lme4LaplaceLogLik = as.numeric(logLik(lap)))
  beta <- setNames(par[1:p], colnames(S$X))
  se <- setNames(sqrt(diag(V))[1:p], colnames(S$X))
  fx <- list(
    name = name, dataset = dataset, source = source, csv = d$csv, formula = formula,
    family = family, link = link, rFamily = paste0(rfam$family, "(", rfam$link, ")"), weights = NULL, reml = FALSE,
    features = features,
    reference = list(
      method = sprintf("exact ML: own 2-D adaptive Gauss-Hermite (25 x 25 nodes per group) maximised by BFGS + Newton from lme4 %s glmer (Laplace); SEs from the numDeriv Hessian of that log-likelihood", packageVersion("lme4")),
      logLik = ll,
      fixef = named(beta, dat),
      se = named(se, dat),
      sigma = NULL,
      ranefSD = sds[1],
      ranefCov = list(names = I(c("(Intercept)", ngmm_name(slope, dat))), sd = I(sds), corr = I(u$Sigma[1, 2] / prod(sds))),
      dispersion = NULL,
      nobs = length(S$y), ngroups = S$G,
      nrowsCsv = nrow(dat), droppedRows = I(omitted(mf)),
      droppedColumns = I(unname(vapply(names(attr(X, "col.dropped")), ngmm_name, "", dat = dat))),
      singletonGroups = sum(tabulate(S$g) == 1),
      messages = I(trimws(msgs)),
      checks = checks
    ),
    tolerances = modifyList(list(logLik = 1e-6, coef = 1e-4, se = 1e-3, scale = 1e-4), tol)
  )
  write_fixture(fx)
}

# ---------------------------------------------------------------------------------------------
# Data. Deterministic edits only (NA injection, subsampling, derived columns), described in the
# fixture's `dataset` field and in README.md.
every <- function(n, k, from = 1) seq(from, n, by = k)

# ---------------------------------------------------------------------------------------------
# The cases. `features` lists what each exercises (README.md has the coverage table).
ss <- lme4::sleepstudy[, c("Reaction", "Days", "Subject")]
lmm_case("sleepstudy_ml", "lme4::sleepstudy", "lme4", ss, "Reaction ~ Days + (1 | Subject)", FALSE,
         features = c("gaussian", "ML"))
lmm_case("sleepstudy_slopes_reml", "lme4::sleepstudy", "lme4", ss, "Reaction ~ Days + (1 + Days | Subject)", TRUE,
         features = c("gaussian", "REML", "random slopes"))
lmm_case("sleepstudy_slopes_ml", "lme4::sleepstudy", "lme4", ss, "Reaction ~ Days + (1 + Days | Subject)", FALSE,
         features = c("gaussian", "ML", "random slopes"))
lmm_case("dyestuff_reml", "lme4::Dyestuff", "lme4", lme4::Dyestuff, "Yield ~ 1 + (1 | Batch)", TRUE,
         features = c("gaussian", "REML", "intercept only", "text group labels"))
lmm_case("dyestuff2_ml", "lme4::Dyestuff2", "lme4", lme4::Dyestuff2, "Yield ~ 1 + (1 | Batch)", FALSE,
         features = c("gaussian", "ML", "singular fit (sigma_b = 0)"), tol = list(ranefSDAbs = 1e-6))
orth <- data.frame(distance = nlme::Orthodont$distance, age = nlme::Orthodont$age,
                   Sex = as.character(nlme::Orthodont$Sex), Subject = as.character(nlme::Orthodont$Subject))
lmm_case("orthodont_reml", "nlme::Orthodont", "nlme", orth, "distance ~ age + Sex + (1 | Subject)", TRUE,
         features = c("gaussian", "REML", "text factor"))
ox <- mlmRev::Oxboys[, c("height", "age", "Subject")]
lmm_case("oxboys_slopes_ml", "mlmRev::Oxboys", "mlmRev", ox, "height ~ age + I(age^2) + (1 + age | Subject)", FALSE,
         features = c("gaussian", "ML", "random slopes", "I()"))
ex <- mlmRev::Exam[, c("normexam", "standLRT", "sex", "school")]
lmm_case("exam_noint_ml", "mlmRev::Exam", "mlmRev", ex, "normexam ~ 0 + sex + standLRT + (1 | school)", FALSE,
         features = c("gaussian", "ML", "0 +", "text factor"))
lmm_case("exam_slopes_reml", "mlmRev::Exam", "mlmRev", ex, "normexam ~ standLRT + (1 + standLRT | school)", TRUE,
         features = c("gaussian", "REML", "random slopes"))
hsb <- mlmRev::Hsb82[, c("mAch", "meanses", "sector", "cses", "school")]
lmm_case("hsb82_reml", "mlmRev::Hsb82", "mlmRev", hsb, "mAch ~ meanses + sector + cses + cses:sector + (1 | school)", TRUE,
         features = c("gaussian", "REML", "text factor", "interaction"))
sc <- mlmRev::ScotsSec[, c("attain", "verbal", "sex", "primary")]
sc$w <- c(0.5, 1, 2)[seq_len(nrow(sc)) %% 3 + 1]
lmm_case("scotssec_weights_reml", "mlmRev::ScotsSec, with derived prior weights w = 0.5, 1, 2 cycling by row", "mlmRev", sc,
         "attain ~ verbal + sex + (1 | primary)", TRUE, weights = "w", features = c("gaussian", "REML", "weights", "text factor"))
lmm_case("scotssec_weights_ml", "mlmRev::ScotsSec, with derived prior weights w = 0.5, 1, 2 cycling by row", "mlmRev", sc,
         "attain ~ verbal + sex + (1 | primary)", FALSE, weights = "w", features = c("gaussian", "ML", "weights", "text factor"))
ch <- mlmRev::Chem97
ch <- ch[as.integer(as.character(ch$school)) <= 60, c("score", "gcsecnt", "gender", "age", "school")]
lmm_case("chem97_sub_ml", "mlmRev::Chem97, schools 1-60 only", "mlmRev", ch, "score ~ gcsecnt + gender + age + (1 | school)", FALSE,
         features = c("gaussian", "ML", "text factor", "subsample"))
oats <- data.frame(yield = nlme::Oats$yield, nitro = nlme::Oats$nitro, Variety = as.character(nlme::Oats$Variety),
                   Block = as.character(nlme::Oats$Block))
lmm_case("oats_reml", "nlme::Oats", "nlme", oats, "yield ~ nitro + Variety + (1 | Block)", TRUE,
         features = c("gaussian", "REML", "text factor"))
gc <- mlmRev::Gcsemv[, c("written", "gender", "school")]
lmm_case("gcsemv_na_ml", "mlmRev::Gcsemv (202 written scores are NA as shipped)", "mlmRev", gc, "written ~ gender + (1 | school)", FALSE,
         features = c("gaussian", "ML", "NA rows", "text factor"))
ssa <- ss
ssa$hours <- 24L * ssa$Days
lmm_case("sleepstudy_aliased_ml", "lme4::sleepstudy, with hours = 24 * Days added", "lme4", ssa, "Reaction ~ Days + hours + (1 | Subject)", FALSE,
         features = c("gaussian", "ML", "rank deficiency (aliased column)"))
bd <- data.frame(langPOST = mlmRev::bdf$langPOST, IQ.verb = mlmRev::bdf$IQ.verb, sex = as.integer(as.character(mlmRev::bdf$sex)),
                 cohort = 1L, schoolNR = as.character(mlmRev::bdf$schoolNR))
lmm_case("bdf_constant_reml", "mlmRev::bdf, with a constant column cohort = 1 added", "mlmRev", bd,
         "langPOST ~ IQ.verb + sex + cohort + (1 | schoolNR)", TRUE,
         features = c("gaussian", "REML", "rank deficiency (constant column)"))

glmm_case("sleepstudy_gaussian_log", "lme4::sleepstudy", "lme4", ss, "Reaction ~ Days + (1 | Subject)", "gaussian", "log",
          start = "glmmTMB", features = c("gaussian", "log link"))
cb <- lme4::cbpp[, c("incidence", "size", "period", "herd")]
cb$period <- as.integer(as.character(cb$period))
glmm_case("cbpp_cbind", "lme4::cbpp", "lme4", cb, "cbind(incidence, size - incidence) ~ factor(period) + (1 | herd)", "binomial", "logit",
          features = c("binomial", "cbind", "factor()", "single-row group"))
cbw <- data.frame(prop = cb$incidence / cb$size, size = cb$size, period = cb$period, herd = cb$herd)
glmm_case("cbpp_prop_weights", "lme4::cbpp as proportions prop = incidence/size", "lme4", cbw, "prop ~ factor(period) + (1 | herd)", "binomial", "logit",
          weights = "size", features = c("binomial", "proportion with weights = trials", "factor()", "single-row group"))
co <- mlmRev::Contraception[, c("use", "age", "urban", "livch", "district")]
glmm_case("contraception", "mlmRev::Contraception", "mlmRev", co, "use ~ age + I(age^2) + urban + factor(livch) + (1 | district)", "bernoulli", "logit",
          features = c("bernoulli", "text response N/Y", "text factor", "factor()", "I()"))
con <- co[, c("use", "age", "urban", "district")]
con$age[every(nrow(con), 29)] <- NA
con$urban[every(nrow(con), 41, 7)] <- NA
glmm_case("contraception_na", "mlmRev::Contraception, age set NA on every 29th row and urban on every 41st from row 7", "mlmRev", con,
          "use ~ age + urban + (1 | district)", "bernoulli", "logit", features = c("bernoulli", "text response N/Y", "NA rows"))
bac <- MASS::bacteria[, c("y", "trt", "week", "ID")]
glmm_case("bacteria", "MASS::bacteria", "MASS", bac, "y ~ trt + week + (1 | ID)", "bernoulli", "logit",
          features = c("bernoulli", "text response n/y", "text factor (C collation: drug < drug+ < placebo)"))
gi <- mlmRev::guImmun[, c("immun", "kid2p", "mom25p", "ord", "ethn", "pcInd81", "comm")]
glmm_case("guimmun", "mlmRev::guImmun", "mlmRev", gi, "immun ~ kid2p + mom25p + factor(ord) + ethn + pcInd81 + (1 | comm)", "bernoulli", "logit",
          features = c("bernoulli", "text response N/Y", "text factors", "factor() of text"))
gt <- lme4::grouseticks[, c("TICKS", "YEAR", "cHEIGHT", "BROOD")]
gt$YEAR <- as.integer(as.character(gt$YEAR))
glmm_case("grouseticks_poisson", "lme4::grouseticks", "lme4", gt, "TICKS ~ factor(YEAR) + cHEIGHT + (1 | BROOD)", "poisson", "log",
          features = c("poisson", "factor()", "single-row groups (18)"))
glmm_case("grouseticks_sqrt", "lme4::grouseticks", "lme4", gt, "TICKS ~ factor(YEAR) + cHEIGHT + (1 | BROOD)", "poisson", "sqrt",
          features = c("poisson", "sqrt link", "single-row groups (18)"))
ep <- MASS::epil[, c("y", "trt", "lbase", "lage", "V4", "subject")]
glmm_case("epil_poisson", "MASS::epil", "MASS", ep, "y ~ trt + lbase + lage + V4 + (1 | subject)", "poisson", "log",
          features = c("poisson", "text factor"))
glmm_case("epil_sqrt", "MASS::epil", "MASS", ep, "y ~ trt + lbase + (1 | subject)", "poisson", "sqrt",
          features = c("poisson", "sqrt link", "text factor"))
mm <- mlmRev::Mmmec[, c("deaths", "expected", "uvb", "region")]
glmm_case("mmmec_offset", "mlmRev::Mmmec", "mlmRev", mm, "deaths ~ uvb + offset(log(expected)) + (1 | region)", "poisson", "log",
          features = c("poisson", "offset"))
sal <- data.frame(count = glmmTMB::Salamanders$count, spp = as.character(glmmTMB::Salamanders$spp),
                  mined = as.character(glmmTMB::Salamanders$mined), site = as.character(glmmTMB::Salamanders$site))
glmm_case("salamanders_nb", "glmmTMB::Salamanders", "glmmTMB", sal, "count ~ spp + mined + (1 | site)", "nbinom2", "log",
          start = "glmmTMB", features = c("negative binomial (nbinom2)", "text factors"))
ow <- glmmTMB::Owls[, c("SiblingNegotiation", "FoodTreatment", "ArrivalTime", "SexParent", "BroodSize", "Nest")]
glmm_case("owls_nb_offset", "glmmTMB::Owls", "glmmTMB", ow,
          "SiblingNegotiation ~ FoodTreatment + ArrivalTime + SexParent + offset(log(BroodSize)) + (1 | Nest)", "nbinom2", "log",
          start = "glmmTMB", features = c("negative binomial (nbinom2)", "offset", "text factors"))
glmm_case("sleepstudy_gamma", "lme4::sleepstudy", "lme4", ss, "Reaction ~ Days + (1 | Subject)", "Gamma", "log",
          start = "glmmTMB", features = c("Gamma", "log link"))
glmm_case("orthodont_gamma", "nlme::Orthodont", "nlme", orth, "distance ~ age + Sex + (1 | Subject)", "Gamma", "log",
          start = "glmmTMB", features = c("Gamma", "log link", "text factor"))
# factor() of a numeric column: R orders the levels numerically (-6 < -5 < … < 5, reference -6),
# not as text ("-1" < "-2" < …).
cha <- ch[, c("score", "gcsecnt", "age", "school")]
lmm_case("chem97_factor_age_ml", "mlmRev::Chem97, schools 1-60 only", "mlmRev", cha, "score ~ gcsecnt + factor(age) + (1 | school)", FALSE,
         features = c("gaussian", "ML", "factor() of a numeric column (numeric level order)", "subsample"))
# Random intercept and slope in a GLMM: visit number 1-4 (epil's period as a number), 59 subjects.
epv <- data.frame(y = MASS::epil$y, trt = as.character(MASS::epil$trt), lbase = MASS::epil$lbase,
                  visit = as.integer(MASS::epil$period), subject = MASS::epil$subject)
glmm_slope_case("epil_slopes", "MASS::epil, with visit = period as a number", "MASS", epv,
                "y ~ trt + lbase + visit + (1 + visit | subject)", "poisson", "log", slope = "visit",
                features = c("poisson", "random slopes in a GLMM", "text factor"))
