#!/usr/bin/env python3
"""Writes test/fixtures/special.json: reference values of the special functions in
kernels/reference/special.ts and kernels/assembly/special.ts, computed with mpmath at 40
significant digits (more where cancellation needs it).

Every x is a double, and the value is the exact function at that double, rounded to the
nearest double (repr(float(v)), which JSON.parse reads back exactly). Points are chosen at the
branch points of the implementations, deep in the tails, near zeros, and on dense grids.

Usage (from the repository root):  python3 scripts/gen-special-fixture.py
"""
import json
import math
import os
import random

import mpmath
from mpmath import mp, mpf

mp.dps = 40

rng = random.Random(20240611)


def uniq(xs):
    return sorted(set(float(x) for x in xs))


def grid(a, b, step):
    n = int(round((b - a) / step))
    return [a + i * step for i in range(n + 1)]


def rand_uniform(a, b, n):
    return [rng.uniform(a, b) for _ in range(n)]


def rand_log(a, b, n):
    la, lb = math.log(a), math.log(b)
    return [math.exp(rng.uniform(la, lb)) for _ in range(n)]


def around(c, rel=(1e-15, 1e-12, 1e-8)):
    out = [c]
    for r in rel:
        out += [c * (1 - r), c * (1 + r)]
    out += [math.nextafter(c, -math.inf), math.nextafter(c, math.inf)]
    return out


# --- reference functions (x is converted exactly: mpf(float) is the double's value) -----------

def f_erf(x):
    return mp.erf(mpf(x))


def f_erfc(x):
    return mp.erfc(mpf(x))


def f_log_ndtr(x):
    x = mpf(x)
    # log Φ(x) = log(erfc(-x/√2)/2). For x > 0 write it as log1p(-Φ(-x)), Φ(-x) tiny: mpmath
    # keeps relative accuracy of erfc deep in the tail, and log1p of a tiny argument is -q-q²/2…
    with mp.workdps(60):
        if x > 0:
            q = mp.erfc(x / mp.sqrt(2)) / 2
            if q < mpf('1e-30'):
                return -q - q * q / 2
            return mp.log1p(-q)
        return mp.log(mp.erfc(-x / mp.sqrt(2)) / 2)


def f_lgamma(x):
    x = mpf(x)
    # near the zeros at 1 and 2 the value is tiny: work at 80 digits so the 40 we keep are right
    with mp.workdps(80):
        if x > 0:
            return mp.loggamma(x)
        return mp.log(abs(mp.gamma(x)))


def f_log1pexp(x):
    x = mpf(x)
    with mp.workdps(80):
        e = mp.exp(x)
        if e < mpf('1e-30'):
            return e - e * e / 2  # log1p(e) to far beyond double precision
        return mp.log1p(e)


def table(fn, xs):
    rows = []
    for x in uniq(xs):
        v = float(fn(x))
        if math.isinf(v) or math.isnan(v):
            continue
        rows.append([x, v])
    return rows


# --- points ---------------------------------------------------------------------------------

tiny = [1e-300, 1e-200, 1e-100, 1e-30, 2.0 ** -56, 2.0 ** -28, 1e-10, 1e-5]

erf_x = [0.0, 5e-324, 2.2250738585072014e-308]
for t in tiny:
    erf_x += [t, -t, math.nextafter(t, 0), math.nextafter(t, 1)]
for c in [0.25, 0.84375, 1.0, 1.25, 2.8571414947509766, 1 / 0.35, 6.0, 27.0, 27.2, 27.3, 28.0]:
    for v in around(c):
        erf_x += [v, -v]
erf_x += grid(-6.0, 30.0, 0.0625)
erf_x += rand_uniform(-6.0, 6.0, 400) + rand_uniform(0.0, 27.0, 200) + rand_uniform(-1.3, 1.3, 200)
erf_x += [30.0]

ndtr_x = [-200.0, -150.0, -100.0, -75.0, -60.0, -50.0, -45.0, -41.0, -40.0, -39.6, -38.0, -1e3, -1e5, -1e10]
for c in [-20.0, -1.25 * math.sqrt(2), -math.sqrt(2) * 2.8571414947509766, 0.0, 1.25 * math.sqrt(2),
          5.0, 38.0, 38.5]:
    ndtr_x += around(c) if c != 0.0 else [0.0, 1e-300, -1e-300, 1e-10, -1e-10, 1e-5, -1e-5]
ndtr_x += grid(-200.0, -40.0, 2.5)
ndtr_x += grid(-40.0, -1.0, 0.125)
ndtr_x += grid(-1.0, 5.0, 0.0625)
ndtr_x += grid(5.0, 38.0, 0.125)
ndtr_x += [39.0, 40.0]
ndtr_x += rand_uniform(-40.0, -1.0, 300) + rand_uniform(-200.0, -40.0, 60) + rand_uniform(-1.0, 5.0, 100)
ndtr_x += rand_uniform(5.0, 38.0, 200)

lg_x = [1e-300, 1e-200, 1e-100, 1e-30, 2.0 ** -70, math.nextafter(2.0 ** -70, 1), math.nextafter(2.0 ** -70, 0),
        1e-20, 1e-10, 1e-5, 1e-3, 0.1, 0.5, 1.0, 2.0, 3.0, 10.0, 100.5, 171.6, 1e4, 1e5, 1e6,
        2.0 ** 58, 1e20, 1e100, 1e300]
for c in [1.0, 2.0]:
    for d in [1e-15, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2]:
        lg_x += [c - d, c + d]
    lg_x += [math.nextafter(c, 0), math.nextafter(c, 3)]
for c in [0.23163998126983643, 0.7315998077392578, 0.9000000953674316, 1.2316322326660156,
          1.46163214496836224576, 1.7316312789916992, 8.0]:
    lg_x += around(c)
lg_x += list(range(1, 201)) + [float(n) for n in (500, 1000, 10000, 100000, 1000000)]
lg_x += [n + 0.5 for n in range(0, 60)]
lg_x += grid(0.0625, 10.0, 0.0625)
lg_x += rand_uniform(0.0, 2.0, 200) + rand_uniform(2.0, 8.0, 200) + rand_log(8.0, 1e6, 200)
lg_x += rand_log(1e-300, 1.0, 50)
lg_x = [x for x in lg_x if x > 0]

# negative arguments (reflection); poles are tested separately
lg_neg_x = [-1e-300, -1e-10, -0.5, -1.5, -2.5, -3.7, -10.3, -100.25, -170.5, -0.999, -1.001,
            -2.457024738220800537]
lg_neg_x += [-x for x in rand_uniform(0.01, 20.0, 100) if abs(x - round(x)) > 1e-3]

l1pe_x = [-800.0, -745.0, -745.2, -744.0, -709.0, -700.0, -37.5, -37.0, -36.5, -36.0, -34.0, -20.0,
          -1e-10, -1e-300, 0.0, 1e-300, 1e-10, 18.0, 33.3, 36.0, 37.0, 38.0, 100.0, 709.0, 710.0, 800.0]
l1pe_x += grid(-40.0, 40.0, 0.25)
l1pe_x += rand_uniform(-800.0, 800.0, 200) + rand_uniform(-40.0, 40.0, 200) + rand_uniform(-2.0, 2.0, 100)

fixture = {
    "_about": "x, f(x) pairs from mpmath %s at %d digits; f(x) rounded to the nearest double. "
              "Regenerate with python3 scripts/gen-special-fixture.py" % (mpmath.__version__, mp.dps),
    "erf": table(f_erf, erf_x),
    "erfc": table(f_erfc, erf_x),
    "log_ndtr": table(f_log_ndtr, ndtr_x),
    "lgamma": table(f_lgamma, lg_x),
    "lgamma_neg": table(f_lgamma, lg_neg_x),
    "log1pexp": table(f_log1pexp, l1pe_x),
}

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = os.path.join(root, "test", "fixtures", "special.json")
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as f:
    f.write("{\n")
    keys = list(fixture)
    for i, k in enumerate(keys):
        v = fixture[k]
        if isinstance(v, str):
            body = json.dumps(v)
        else:
            body = "[\n" + ",\n".join("  [%r, %r]" % (x, y) for x, y in v) + "\n]"
        f.write("%s: %s%s\n" % (json.dumps(k), body, "," if i < len(keys) - 1 else ""))
    f.write("}\n")
print("wrote %s: %s" % (out, ", ".join("%s %d" % (k, len(v)) for k, v in fixture.items() if k[0] != "_")))
