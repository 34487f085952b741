# Writes test/fixtures/reterms/: the data of a few models with several random-effect terms as
# CSV files, and for each model lme4's random-effect terms built from that CSV (mkReTrms, via
# lFormula), for test/ngmm/reTerms.test.ts, which reads them and never needs R.
#
# Each JSON holds the formula and, per term in lme4's order (mkReTrms sorts the terms by
# decreasing number of levels): its name, its levels (all, as text), the 0-based level of each
# row, its column names (cnms) and its n × q design (lme4's mmList, row-major), and the
# dimensions of Zt. The CSV is read back as ngmm reads it (text columns are factors with
# levels in the C locale's order, numeric columns stay numbers) so the fixture describes lme4
# on exactly the file the test reads. For the a:b case, which has no fixture in
# test/fixtures/lmm-multi, the ML logLik of lmer is stored too.
#
# Usage (from the repository root):  Rscript scripts/reterms-fixtures.R [outDir]
# Needs r-cran-lme4 (Penicillin, Pastes and sleepstudy are lme4's, GPL).

scriptDir <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
source(file.path(scriptDir, "lmm-common.R"))
invisible(Sys.setlocale("LC_COLLATE", "C"))

outDir <- fixtureDir(file.path("test", "fixtures", "reterms"))

fixture <- function(name, formula, data, storeLogLik = FALSE) {
  csv <- file.path(outDir, paste0(name, ".csv"))
  write.csv(data, csv, row.names = FALSE, quote = FALSE)
  d <- read.csv(csv, stringsAsFactors = TRUE)
  rt <- lFormula(formula, data = d)$reTrms
  flist <- rt$flist
  asgn <- attr(flist, "assign")
  mm <- lapply(rt$Ztlist, function(z) NULL)
  cnms <- rt$cnms
  Gp <- rt$Gp
  terms <- lapply(seq_along(cnms), function(i) {
    f <- flist[[asgn[i]]]
    q <- length(cnms[[i]])
    # Rows Gp[i]+1 … Gp[i+1] of Zt, group by group with the q components of a group together:
    # the design value of row j for component a is Zt[Gp[i] + g q + a, j], g its level.
    Zt <- as.matrix(rt$Zt[(Gp[i] + 1):Gp[i + 1], , drop = FALSE])
    g <- as.integer(f) - 1L
    Z <- t(vapply(seq_along(g), function(j) Zt[g[j] * q + seq_len(q), j], numeric(q)))
    if (q == 1) Z <- t(Z)
    list(name = names(cnms)[i], nlevels = nlevels(f),
         levels = structure(levels(f), array = TRUE),
         group = arr(g), cnms = structure(cnms[[i]], array = TRUE), q = q, Z = rowMajor(Z))
  })
  out <- list(
    name = name,
    formula = paste(deparse(formula), collapse = " "),
    lme4 = as.character(packageVersion("lme4")),
    n = nrow(d),
    Zt = arr(dim(rt$Zt)),
    terms = structure(json(terms), class = "rawjson")
  )
  if (storeLogLik) {
    fit <- lmer(formula, data = d, REML = FALSE, control = ctrl)
    out$logLikML <- as.numeric(logLik(fit))
    out$theta <- arr(getME(fit, "theta"))
  }
  writeLines(json(out), file.path(outDir, paste0(name, ".json")))
  cat(sprintf("%-12s %s\n", name, paste(names(cnms), vapply(terms, `[[`, 0, "nlevels"), collapse = ", ")))
}

fixture("penicillin", diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)
fixture("pastes", strength ~ 1 + (1 | batch/cask), Pastes[, c("strength", "batch", "cask")])
fixture("sleepstudy", Reaction ~ Days + (Days || Subject), sleepstudy)

# An interaction of a numeric code (its levels sort as numbers: 2 before 10) and a text column,
# with combinations that never occur (lme4 drops them), crossed with a third factor so the
# terms are reordered by their number of levels.
set.seed(13)
block <- rep(1:12, each = 10)
site <- rep(c("north", "east", "south", "west"), 30)
keep <- !(block %% 3 == 0 & site == "west")
ab <- data.frame(block = block, site = site, day = rep(letters[1:5], 24))[keep, ]
ab$y <- round(rnorm(nrow(ab)) + 0.8 * rnorm(12)[ab$block] + 0.5 * rnorm(48)[as.integer(factor(paste(ab$block, ab$site)))] + 0.3 * rnorm(5)[as.integer(factor(ab$day))], 4)
fixture("interaction", y ~ 1 + (1 | day) + (1 | block:site), ab, storeLogLik = TRUE)
