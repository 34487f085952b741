# Shared by scripts/lmm-fixtures.R and scripts/lmm-multi-fixtures.R (which source() it): the
# packages, the output directory, a JSON writer that keeps every double exact, and lmer's
# tightened optimiser control.

suppressPackageStartupMessages({
  library(lme4)
  library(mlmRev)
})

# The fixture directory: the script's first argument if given, else `default` (relative to the
# working directory, the repository root in normal use).
fixtureDir <- function(default) {
  args <- commandArgs(trailingOnly = TRUE)
  dir <- if (length(args) >= 1) args[1] else default
  dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  dir
}

# jsonlite prints 15 significant digits at most; 17 round-trip every double exactly (15 are
# kept where they already do, so the data stay readable).
num <- function(x) {
  s <- sprintf("%.15g", x)
  long <- !is.na(x) & as.numeric(s) != x
  s[long] <- sprintf("%.17g", x[long])
  s[is.na(x)] <- "null"
  s
}
# A named list is an object, an unnamed one an array; a value with attribute `array` is always
# an array (even of length 1); class "rawjson" is JSON text written as it is.
json <- function(x) {
  if (inherits(x, "rawjson")) return(as.character(unclass(x)))
  if (is.list(x)) {
    if (is.null(names(x))) return(paste0("[", paste(vapply(x, json, ""), collapse = ",\n"), "]"))
    keys <- names(x)
    parts <- vapply(seq_along(x), function(i) paste0("\"", keys[i], "\": ", json(x[[i]])), "")
    return(paste0("{\n", paste(parts, collapse = ",\n"), "\n}"))
  }
  if (is.character(x)) {
    if (length(x) == 0) return("[]")
    if (length(x) == 1 && is.null(attr(x, "array"))) return(paste0("\"", x, "\""))
    return(paste0("[", paste0("\"", x, "\"", collapse = ","), "]"))
  }
  if (is.logical(x) && length(x) == 1) return(if (x) "true" else "false")
  if (length(x) == 1 && is.null(attr(x, "array"))) return(num(x))
  paste0("[", paste(num(as.numeric(x)), collapse = ","), "]")
}
arr <- function(x) structure(as.numeric(x), array = TRUE)
rowMajor <- function(m) arr(t(as.matrix(m)))

# lmer's default optimiser stops at ftol_abs = 1e-8 on the deviance; BOBYQA's tolerances
# tightened make the stored θ lme4's optimum rather than a point within 1e-8 of it.
ctrl <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(ftol_abs = 1e-15, xtol_abs = 1e-12, ftol_rel = 0, xtol_rel = 0, maxeval = 1e5),
  check.conv.singular = "ignore"
)

# lme4's own profiled deviance function at the given θ, as a JSON array of {theta, value}.
devianceAt <- function(fit, thetas) {
  dev <- as.function(fit)
  probes <- lapply(thetas, function(th) list(theta = arr(th), value = dev(th)))
  structure(json(probes), class = "rawjson")
}

# The estimates both fixture kinds store, in their order: the default fit's logLik, then the
# tightened fit's β, their SEs and covariance, σ and θ.
estimates <- function(fit, defaultFit) {
  list(
    defaultLogLik = as.numeric(logLik(defaultFit)),
    beta = arr(fixef(fit)),
    se = arr(sqrt(diag(as.matrix(vcov(fit))))),
    vcov = rowMajor(as.matrix(vcov(fit))),
    sigma = sigma(fit),
    theta = arr(getME(fit, "theta"))
  )
}
