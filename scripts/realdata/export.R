# Exports the real-data comparison's six data sets (issue 14; bench/realdata/README.md) from
# Debian's R packages to CSV: one row per observation, the grouping factor as `group`, the
# response as `y`, then numeric covariates. Factors become 0/1 indicator columns (treatment
# contrasts, the first level the reference), because the protocol (the paper's Appendix 15.2)
# keeps numeric covariates only and these data sets carry much of their information in factors.
# Usage: Rscript scripts/realdata/export.R OUTDIR
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 1) args[1] else "bench/realdata/data"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
suppressPackageStartupMessages({
  library(mlmRev); library(lme4); library(MASS); library(AER)
})

ind <- function(f, level) as.integer(f == level)

write <- function(name, df) {
  stopifnot(!is.null(df$group), !is.null(df$y))
  df <- df[, c("group", "y", setdiff(names(df), c("group", "y")))]
  write.csv(df, file.path(out, paste0(name, ".csv")), row.names = FALSE, quote = FALSE)
  cat(sprintf("%-12s %6d rows, %5d groups, %2d covariates\n", name, nrow(df), length(unique(df$group)), ncol(df) - 2))
}

# Gaussian 1. A-level chemistry scores of 31,022 English students in 2,410 schools (mlmRev).
d <- Chem97
write("chem97", data.frame(group = d$school, y = d$score, gcsescore = d$gcsescore, age = d$age,
                           female = ind(d$gender, "F")))

# Gaussian 2. Wages of 595 US workers over 7 years (AER's PSID7682; Cornwell & Rupert 1988);
# the response is log wage, as the paper takes the log of a price.
data("PSID7682", package = "AER")
d <- PSID7682
write("psid", data.frame(group = d$id, y = d$wage, experience = d$experience, weeks = d$weeks,
                         education = d$education, year = as.integer(as.character(d$year)),
                         blue = ind(d$occupation, "blue"), industry = ind(d$industry, "yes"),
                         south = ind(d$south, "yes"), smsa = ind(d$smsa, "yes"),
                         married = ind(d$married, "yes"), female = ind(d$gender, "female"),
                         union = ind(d$union, "yes"), afam = ind(d$ethnicity, "afam")))

# Poisson 1. Ticks on 403 red grouse chicks in 118 broods (lme4's grouseticks; Elston et al. 2001).
d <- grouseticks
write("grouseticks", data.frame(group = d$BROOD, y = d$TICKS, height = d$HEIGHT,
                                year96 = ind(d$YEAR, "96"), year97 = ind(d$YEAR, "97")))

# Poisson 2. Seizure counts of 59 epilepsy patients over four two-week periods (MASS's epil;
# Thall & Vail 1990).
d <- epil
write("epil", data.frame(group = d$subject, y = d$y, progabide = ind(d$trt, "progabide"),
                         base = d$base, age = d$age, period = d$period))

# Bernoulli 1. 316 respondents' verbally aggressive reactions to 24 situations (lme4's VerbAgg;
# De Boeck & Wilson 2004): "yes" or "perhaps" (r2 = Y) against "no".
d <- VerbAgg
write("verbagg", data.frame(group = d$id, y = ind(d$r2, "Y"), anger = d$Anger, male = ind(d$Gender, "M"),
                            scold = ind(d$btype, "scold"), shout = ind(d$btype, "shout"),
                            self = ind(d$situ, "self"), do = ind(d$mode, "do")))

# Bernoulli 2. Complete immunisation of 2,159 Guatemalan children in 161 communities (mlmRev's
# guImmun; Rodríguez & Goldman 2001).
d <- guImmun
write("guimmun", data.frame(group = d$comm, y = ind(d$immun, "Y"), kid2p = ind(d$kid2p, "Y"),
                            mom25p = ind(d$mom25p, "Y"), ord23 = ind(d$ord, "23"), ord46 = ind(d$ord, "46"),
                            ord7p = ind(d$ord, "7p"), ethnN = ind(d$ethn, "N"), ethnS = ind(d$ethn, "S"),
                            momEdP = ind(d$momEd, "P"), momEdS = ind(d$momEd, "S"), husEdP = ind(d$husEd, "P"),
                            husEdS = ind(d$husEd, "S"), husEdU = ind(d$husEd, "U"), momWork = ind(d$momWork, "Y"),
                            rural = ind(d$rural, "Y"), pcInd81 = d$pcInd81))

versions <- sapply(c("mlmRev", "lme4", "MASS", "AER"), function(p) as.character(packageVersion(p)))
writeLines(sprintf("%s %s", names(versions), versions), file.path(out, "VERSIONS"))
