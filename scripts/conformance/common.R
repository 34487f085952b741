# Shared by conformance.R (one grouping factor) and multi.R (several random-effect terms), which
# source() it: the packages, the C collation, the arguments (<fixture directory> [case name …]),
# Gauss–Hermite rules, the per-observation log densities, the conditional modes of scalar random
# effects, adaptive Gauss–Hermite per group, ngmm's coefficient names and the CSV/JSON writers.

suppressMessages({
  library(lme4)
  library(glmmTMB)
  library(jsonlite)
  library(numDeriv)
  library(MASS)
  library(nlme, exclude = c("lmList", "collapse"))
  library(mlmRev)
})
invisible(Sys.setlocale("LC_COLLATE", "C"))
options(warn = 1)

# default_outdir is set by the sourcing script.
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else default_outdir
only <- if (length(args) >= 2) args[-1] else character(0)
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)

# ---------------------------------------------------------------------------------------------
# Gauss–Hermite nodes and weights (weight function exp(-x^2)) by Golub–Welsch.
gh_rule <- function(K) {
  J <- matrix(0, K, K)
  for (i in seq_len(K - 1)) J[i, i + 1] <- J[i + 1, i] <- sqrt(i / 2)
  e <- eigen(J, symmetric = TRUE)
  o <- order(e$values)
  list(x = e$values[o], w = sqrt(pi) * e$vectors[1, o]^2)
}
GH <- gh_rule(25)

logsumexp_rows <- function(M) {
  m <- apply(M, 1, max)
  m + log(rowSums(exp(M - m)))
}

# Per-observation log density, and its first and second derivatives in eta, for each family.
# phi: the dispersion (gaussian sigma, NB theta, Gamma shape); m: binomial trials.
family_fun <- function(fam, link) {
  inv <- switch(link,
    logit = function(e) list(mu = plogis(e), d1 = plogis(e) * (1 - plogis(e)), d2 = plogis(e) * (1 - plogis(e)) * (1 - 2 * plogis(e))),
    log = function(e) list(mu = exp(e), d1 = exp(e), d2 = exp(e)),
    sqrt = function(e) list(mu = e^2, d1 = 2 * e, d2 = rep(2, length(e))),
    identity = function(e) list(mu = e, d1 = rep(1, length(e)), d2 = rep(0, length(e))))
  # l(mu), dl/dmu, d2l/dmu2
  dens <- switch(fam,
    binomial = function(y, mu, phi, m) {
      k <- round(y * m)
      list(l = lchoose(m, k) + ifelse(k > 0, k * log(mu), 0) + ifelse(m - k > 0, (m - k) * log1p(-mu), 0),
           d1 = k / mu - (m - k) / (1 - mu), d2 = -k / mu^2 - (m - k) / (1 - mu)^2)
    },
    poisson = function(y, mu, phi, m) {
      list(l = dpois(y, mu, log = TRUE), d1 = y / mu - 1, d2 = -y / mu^2)
    },
    gaussian = function(y, mu, phi, m) {
      list(l = dnorm(y, mu, phi, log = TRUE), d1 = (y - mu) / phi^2, d2 = rep(-1 / phi^2, length(y)))
    },
    nbinom2 = function(y, mu, phi, m) {
      list(l = dnbinom(y, size = phi, mu = mu, log = TRUE),
           d1 = y / mu - (y + phi) / (phi + mu), d2 = -y / mu^2 + (y + phi) / (phi + mu)^2)
    },
    Gamma = function(y, mu, phi, m) {
      list(l = dgamma(y, shape = phi, rate = phi / mu, log = TRUE),
           d1 = phi * y / mu^2 - phi / mu, d2 = -2 * phi * y / mu^3 + phi / mu^2)
    })
  function(y, eta, phi, m) {
    L <- inv(eta)
    D <- dens(y, L$mu, phi, m)
    list(l = D$l, d1 = D$d1 * L$d1, d2 = D$d2 * L$d1^2 + D$d1 * L$d2)
  }
}

# The conditional mode of each group's random effect b (h(b) = sum_j l_j(eta_j + b) + log N(b; 0,
# sigb^2)) by Newton's method with step halving, all groups at once; and h'' there.
group_modes <- function(S, eta, sigb, phi) {
  G <- S$G; g <- S$g
  h_of <- function(b) as.vector(rowsum(S$f(S$y, eta + b[g], phi, S$m)$l, g, reorder = TRUE)) - b^2 / (2 * sigb^2)
  b <- numeric(G)
  h <- h_of(b)
  for (it in 1:200) {
    D <- S$f(S$y, eta + b[g], phi, S$m)
    h1 <- as.vector(rowsum(D$d1, g, reorder = TRUE)) - b / sigb^2
    h2 <- as.vector(rowsum(D$d2, g, reorder = TRUE)) - 1 / sigb^2
    step <- -h1 / pmin(h2, -1 / sigb^2)
    t <- rep(1, G)
    for (k in 1:40) {
      hn <- h_of(b + t * step)
      bad <- !(is.finite(hn) & hn >= h - 1e-13 * abs(h))
      if (!any(bad)) break
      t[bad] <- t[bad] / 2
    }
    b <- b + t * step
    h <- hn
    if (max(abs(t * step)) < 1e-11 * max(1, sigb)) break
  }
  D <- S$f(S$y, eta + b[g], phi, S$m)
  h2 <- as.vector(rowsum(D$d2, g, reorder = TRUE)) - 1 / sigb^2
  list(b = b, h2 = ifelse(h2 < 0, h2, -1 / sigb^2))
}


# log of each group's integral of prod_j f(y_j | eta_j + b) N(b; 0, sigb^2) db by adaptive
# Gauss–Hermite with K nodes (Liu & Pierce 1994): centred at the mode, scaled by the curvature.
agq_at <- function(S, eta, sigb, phi, K = 25) {
  R <- if (K == length(GH$x)) GH else gh_rule(K)
  md <- group_modes(S, eta, sigb, phi)
  s <- 1 / sqrt(-md$h2)
  M <- matrix(0, S$G, K)
  for (k in 1:K) {
    bk <- md$b + sqrt(2) * s * R$x[k]
    lk <- as.vector(rowsum(S$f(S$y, eta + bk[S$g], phi, S$m)$l, S$g, reorder = TRUE))
    M[, k] <- lk + dnorm(bk, 0, sigb, log = TRUE) + log(R$w[k]) + R$x[k]^2
  }
  log(sqrt(2) * s) + logsumexp_rows(M)
}

# ---------------------------------------------------------------------------------------------
# ngmm's coefficient names from R's model-matrix column names: a factor column `fLevel` is
# `f=Level` (factor(x)Level is factor(x)=Level, as ngmm keeps the call in the name), I(expr)
# is expr, interactions join with ':'.
ngmm_name <- function(col, dat) {
  if (col == "(Intercept)") return(col)
  parts <- strsplit(col, ":", fixed = TRUE)[[1]]
  fac <- names(dat)[vapply(dat, is.factor, TRUE)]
  conv <- function(piece) {
    m <- regmatches(piece, regexec("^factor\\(([^)]*)\\)(.*)$", piece))[[1]]
    if (length(m) == 3) return(paste0("factor(", m[2], ")=", m[3]))
    for (f in fac[order(-nchar(fac))]) {
      if (startsWith(piece, f) && substring(piece, nchar(f) + 1) %in% levels(dat[[f]])) {
        return(paste0(f, "=", substring(piece, nchar(f) + 1)))
      }
    }
    m <- regmatches(piece, regexec("^I\\((.*)\\)$", piece))[[1]]
    if (length(m) == 2) return(gsub("\\s+", "", m[2]))
    piece
  }
  paste(vapply(parts, conv, ""), collapse = ":")
}
named <- function(v, dat) {
  out <- as.list(unname(v))
  names(out) <- vapply(names(v), ngmm_name, "", dat = dat)
  out
}

write_data <- function(name, df) {
  csv <- paste0(name, ".csv")
  write.csv(df, file.path(outdir, csv), row.names = FALSE, na = "NA")
  dat <- read.csv(file.path(outdir, csv), stringsAsFactors = TRUE)
  list(csv = csv, dat = dat)
}

write_fixture <- function(fx) {
  writeLines(toJSON(fx, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null", na = "null"),
             file.path(outdir, paste0(fx$name, ".json")))
  cat(sprintf("%-24s logLik %.10g\n", fx$name, fx$reference$logLik))
}

# The rows na.omit drops (1-based, in the CSV's data rows) and the columns lme4 drops.
omitted <- function(mf) {
  a <- attr(mf, "na.action")
  if (is.null(a)) integer(0) else as.integer(a)
}
