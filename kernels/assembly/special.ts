// Special functions in f64: erf, erfc, log Φ (log_ndtr), log|Γ| (lgamma) and log(1+eˣ).
//
// kernels/reference/special.ts is the same code in plain TypeScript, operation for operation
// (same constants, same branch points, same evaluation order), so the two agree to rounding
// of the elementary functions (exp/log/log1p/sin/cos differ by at most an ulp between V8 and
// AssemblyScript's NativeMath). Change both files together.
//
// erf/erfc use the classic fdlibm rational approximations (Sun, 1993; coefficients as
// published there), with one change: in the tail erfc(t) = exp(-t²)·exp(g(t))/t, where
// g(t) = -0.5625 + R(1/t²)/S(1/t²), the square -t² is split exactly as th² + (t-th)(t+th) with a
// 26-bit th (Veltkamp split) so exp sees an exact argument. The same split lets log_ndtr use
// the exact -x²/2 of the caller's x rather than -t² of a rounded t = x/√2, which would cost
// relative accuracy ~ x²·2⁻⁵³ in Φ(-x) (≈ 2e-13 at x = 38).
//
// lgamma follows the structure of fdlibm's __ieee754_lgamma_r (rational/polynomial pieces on
// [0.23, 2] around 1, the minimum 1.4616… and 2, reduction to [2, 3) up to 8, a Stirling-type
// series beyond); near its zeros at 1 and 2 every piece is y·(…) in y = x-1 or 2-x (exact by
// Sterbenz), so the result keeps relative accuracy even there.
//
// No allocation, no state. Array kernels take (n, x, out) with x and out byte offsets of f64
// arrays; out may alias x.
//
// The erf/erfc and lgamma coefficients and branch structure come from fdlibm, whose notice
// asks to be preserved:
//   Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
//   Developed at SunSoft, a Sun Microsystems, Inc. business.
//   Permission to use, copy, modify, and distribute this software is freely granted,
//   provided that this notice is preserved.

// ---------------------------------------------------------------------------------------------
// erf / erfc

const ERX: f64 = 8.45062911510467529297e-01; // erf(1) rounded to 24 bits: 1 - ERX is exact
const EFX: f64 = 1.28379167095512586316e-01; // 2/√π - 1
const EFX8: f64 = 1.02703333676410069053e+00; // 8·EFX
// |x| < 0.84375: erf(x) = x + x·P(x²)/Q(x²)
const PP0: f64 = 1.28379167095512558561e-01;
const PP1: f64 = -3.25042107247001499370e-01;
const PP2: f64 = -2.84817495755985104766e-02;
const PP3: f64 = -5.77027029648944159157e-03;
const PP4: f64 = -2.37630166566501626084e-05;
const QQ1: f64 = 3.97917223959155352819e-01;
const QQ2: f64 = 6.50222499887672944485e-02;
const QQ3: f64 = 5.08130628187576562776e-03;
const QQ4: f64 = 1.32494738004321644526e-04;
const QQ5: f64 = -3.96022827877536812320e-06;
// 0.84375 ≤ |x| < 1.25: erf(1+s) = ERX + P(s)/Q(s)
const PA0: f64 = -2.36211856075265944077e-03;
const PA1: f64 = 4.14856118683748331666e-01;
const PA2: f64 = -3.72207876035701323847e-01;
const PA3: f64 = 3.18346619901161753674e-01;
const PA4: f64 = -1.10894694282396677476e-01;
const PA5: f64 = 3.54783043256182359371e-02;
const PA6: f64 = -2.16637559486879084300e-03;
const QA1: f64 = 1.06420880400844228286e-01;
const QA2: f64 = 5.40397917702171048937e-01;
const QA3: f64 = 7.18286544141962662868e-02;
const QA4: f64 = 1.26171219808761642112e-01;
const QA5: f64 = 1.36370839120290507362e-02;
const QA6: f64 = 1.19844998467991074170e-02;
// 1.25 ≤ t < 2.857: log(t·erfc(t)) + t² = -0.5625 + R(1/t²)/S(1/t²)
const RA0: f64 = -9.86494403484714822705e-03;
const RA1: f64 = -6.93858572707181764372e-01;
const RA2: f64 = -1.05586262253232909814e+01;
const RA3: f64 = -6.23753324503260060396e+01;
const RA4: f64 = -1.62396669462573470355e+02;
const RA5: f64 = -1.84605092906711035994e+02;
const RA6: f64 = -8.12874355063065934246e+01;
const RA7: f64 = -9.81432934416914548592e+00;
const SA1: f64 = 1.96512716674392571292e+01;
const SA2: f64 = 1.37657754143519042600e+02;
const SA3: f64 = 4.34565877475229228821e+02;
const SA4: f64 = 6.45387271733267880336e+02;
const SA5: f64 = 4.29008140027567833386e+02;
const SA6: f64 = 1.08635005541779435134e+02;
const SA7: f64 = 6.57024977031928170135e+00;
const SA8: f64 = -6.04244152148580987438e-02;
// 2.857 ≤ t < 28: same form
const RB0: f64 = -9.86494292470009928597e-03;
const RB1: f64 = -7.99283237680523006574e-01;
const RB2: f64 = -1.77579549177547519889e+01;
const RB3: f64 = -1.60636384855821916062e+02;
const RB4: f64 = -6.37566443368389627722e+02;
const RB5: f64 = -1.02509513161107724954e+03;
const RB6: f64 = -4.83519191608651397019e+02;
const SB1: f64 = 3.03380607434824582924e+01;
const SB2: f64 = 3.25792512996573918826e+02;
const SB3: f64 = 1.53672958608443695994e+03;
const SB4: f64 = 3.19985821950859553908e+03;
const SB5: f64 = 2.55305040643316442583e+03;
const SB6: f64 = 4.74528541206955367215e+02;
const SB7: f64 = -2.24409524465858183362e+01;
const ERFC_RB_FROM: f64 = 2.8571414947509766; // ≈ 1/0.35, fdlibm's switch point

const SPLITTER: f64 = 134217729.0; // 2^27 + 1
const SQRT1_2: f64 = 0.7071067811865476;
const LN2: f64 = 0.6931471805599453;
const LOG_SQRT_2PI: f64 = 0.9189385332046728; // log √(2π)

/** High 26 bits of x (Veltkamp): hi·hi is exact and x - hi is exact. |x| < 2^996. */
// @ts-ignore: decorator
@inline
function splitHi(x: f64): f64 {
  const c = SPLITTER * x;
  return c - (c - x);
}

/** g(t) = log(t·erfc(t)) + t², for 1.25 ≤ t < 28 (fdlibm's -0.5625 + R/S). */
function erfcTailLogCorr(t: f64): f64 {
  const s = 1.0 / (t * t);
  let r: f64, q: f64;
  if (t < ERFC_RB_FROM) {
    r = RA0 + s * (RA1 + s * (RA2 + s * (RA3 + s * (RA4 + s * (RA5 + s * (RA6 + s * RA7))))));
    q = 1.0 + s * (SA1 + s * (SA2 + s * (SA3 + s * (SA4 + s * (SA5 + s * (SA6 + s * (SA7 + s * SA8)))))));
  } else {
    r = RB0 + s * (RB1 + s * (RB2 + s * (RB3 + s * (RB4 + s * (RB5 + s * RB6)))));
    q = 1.0 + s * (SB1 + s * (SB2 + s * (SB3 + s * (SB4 + s * (SB5 + s * (SB6 + s * SB7))))));
  }
  return r / q - 0.5625;
}

/** erfc(t) for 1.25 ≤ t < 28, relative error a few ulp (until the result is subnormal). */
function erfcTail(t: f64): f64 {
  const th = splitHi(t);
  // -t² = -th² + (th - t)(th + t); the first term is exact
  const e = Math.exp((th - t) * (th + t) + erfcTailLogCorr(t)) / t;
  return Math.exp(-(th * th)) * e;
}

/** P(x²)/Q(x²) for |x| < 0.84375: erf(x) = x + x·y. */
// @ts-ignore: decorator
@inline
function erfSmallRatio(x: f64): f64 {
  const z = x * x;
  const r = PP0 + z * (PP1 + z * (PP2 + z * (PP3 + z * PP4)));
  const s = 1.0 + z * (QQ1 + z * (QQ2 + z * (QQ3 + z * (QQ4 + z * QQ5))));
  return r / s;
}

/** P(s)/Q(s), s = |x| - 1, for 0.84375 ≤ |x| < 1.25: erf(|x|) = ERX + P/Q. */
// @ts-ignore: decorator
@inline
function erfMidRatio(s: f64): f64 {
  const p = PA0 + s * (PA1 + s * (PA2 + s * (PA3 + s * (PA4 + s * (PA5 + s * PA6)))));
  const q = 1.0 + s * (QA1 + s * (QA2 + s * (QA3 + s * (QA4 + s * (QA5 + s * QA6)))));
  return p / q;
}

export function erf(x: f64): f64 {
  if (x != x) return x;
  const ax = Math.abs(x);
  if (ax < 0.84375) {
    if (ax < 3.725290298461914e-9) {
      // |x| < 2^-28: erf(x) = (2/√π)·x to within x³/3 ≪ ulp
      if (ax < 2.2250738585072014e-300) return 0.125 * (8.0 * x + EFX8 * x); // no underflow in EFX·x
      return x + EFX * x;
    }
    return x + x * erfSmallRatio(x);
  }
  if (ax < 1.25) {
    const pq = erfMidRatio(ax - 1.0);
    return x >= 0.0 ? ERX + pq : -ERX - pq;
  }
  if (ax >= 6.0) return x > 0.0 ? 1.0 : -1.0; // erfc(6) ≈ 2e-17 < ulp(1)/2
  const r = 1.0 - erfcTail(ax);
  return x > 0.0 ? r : -r;
}

export function erfc(x: f64): f64 {
  if (x != x) return x;
  const ax = Math.abs(x);
  if (ax < 0.84375) {
    if (ax < 1.3877787807814457e-17) return 1.0 - x; // |x| < 2^-56
    const y = erfSmallRatio(x);
    if (x < 0.25) return 1.0 - (x + x * y);
    return 0.5 - ((x - 0.5) + x * y);
  }
  if (ax < 1.25) {
    const pq = erfMidRatio(ax - 1.0);
    return x >= 0.0 ? (1.0 - ERX) - pq : 1.0 + (ERX + pq);
  }
  if (ax < 28.0) {
    const e = erfcTail(ax);
    return x > 0.0 ? e : 2.0 - e;
  }
  return x > 0.0 ? 0.0 : 2.0; // erfc(28) ≈ 6e-343 underflows
}

// ---------------------------------------------------------------------------------------------
// log Φ(x), Φ the standard normal CDF

// Asymptotic series for x ≤ -20: Φ(x) = φ(x)/|x| · (1 + Σ_{k≥1} (-1)^k (2k-1)!! / x^{2k}).
// The series is alternating with terms decreasing while 2k+1 < x², so the truncation error is
// below the first omitted term; with 12 terms and x² ≥ 400 that is 25!!/400^13 ≈ 1.2e-21, far
// below 2^-53. (At x = -20 the last kept term is 23!!/400^12 ≈ 1.9e-20.)
const LNDTR_ASYM_BELOW: f64 = -20.0;
const DF1: f64 = 1.0;
const DF2: f64 = 3.0;
const DF3: f64 = 15.0;
const DF4: f64 = 105.0;
const DF5: f64 = 945.0;
const DF6: f64 = 10395.0;
const DF7: f64 = 135135.0;
const DF8: f64 = 2027025.0;
const DF9: f64 = 34459425.0;
const DF10: f64 = 654729075.0;
const DF11: f64 = 13749310575.0;
const DF12: f64 = 316234143225.0;

export function log_ndtr(x: f64): f64 {
  if (x != x) return x;
  if (x < LNDTR_ASYM_BELOW) {
    if (x < -1e100) return -0.5 * x * x - Math.log(-x) - LOG_SQRT_2PI; // series term < 1e-200
    const xh = splitHi(x);
    const aHi = -0.5 * (xh * xh); // exact
    const aLo = -0.5 * ((x - xh) * (x + xh)); // aHi + aLo = -x²/2 to ~2^-106 relative
    const w = 1.0 / (x * x);
    const s = w * (-DF1 + w * (DF2 + w * (-DF3 + w * (DF4 + w * (-DF5 + w * (DF6 + w * (-DF7 + w * (DF8 +
      w * (-DF9 + w * (DF10 + w * (-DF11 + w * DF12)))))))))));
    return aHi + (((aLo - LOG_SQRT_2PI) - Math.log(-x)) + Math.log1p(s));
  }
  const t = x * SQRT1_2;
  if (x < 0.0) {
    const u = -t;
    if (u < 1.25) return Math.log(0.5 * erfc(u)); // Φ(x) ∈ (0.039, 0.5]
    // log Φ(x) = log(erfc(u)/2) = -x²/2 + g(u) - log u - log 2, all terms negative
    const xh = splitHi(x);
    const aHi = -0.5 * (xh * xh);
    const aLo = -0.5 * ((x - xh) * (x + xh));
    return aHi + (((aLo + erfcTailLogCorr(u)) - Math.log(u)) - LN2);
  }
  // x ≥ 0: log Φ(x) = log1p(-Φ(-x)) with Φ(-x) = erfc(t)/2 to full relative accuracy
  if (t < 1.25) return Math.log1p(-0.5 * erfc(t));
  if (x > 40.0) return -0.0; // Φ(-x) < 2^-1075 from x ≈ 38.5 on
  const xh = splitHi(x);
  const aHi = -0.5 * (xh * xh);
  const aLo = -0.5 * ((x - xh) * (x + xh));
  const q = Math.exp(aHi) * (0.5 * Math.exp(aLo + erfcTailLogCorr(t)) / t);
  return Math.log1p(-q);
}

// ---------------------------------------------------------------------------------------------
// log |Γ(x)|

// lgamma(x) for x in [0.7316, 0.9] and [1.7316, 2]: y = 1-x resp. 2-x, lgamma(2-y) = p - y/2
const A0: f64 = 7.72156649015328655494e-02;
const A1: f64 = 3.22467033424113591611e-01;
const A2: f64 = 6.73523010531292681824e-02;
const A3: f64 = 2.05808084325167332806e-02;
const A4: f64 = 7.38555086081402883957e-03;
const A5: f64 = 2.89051383673415629091e-03;
const A6: f64 = 1.19270763183362067845e-03;
const A7: f64 = 5.10069792153511336608e-04;
const A8: f64 = 2.20862790713908385557e-04;
const A9: f64 = 1.08011567247583939954e-04;
const A10: f64 = 2.52144565451257326939e-05;
const A11: f64 = 4.48640949618915160150e-05;
// around the minimum TC: lgamma(TC + y) = TF + y²·T(y) (TT = -(tail of TF))
const TC: f64 = 1.46163214496836224576e+00;
const TF: f64 = -1.21486290535849611461e-01;
const TT: f64 = -3.63867699703950536541e-18;
const T0: f64 = 4.83836122723810047042e-01;
const T1: f64 = -1.47587722994593911752e-01;
const T2: f64 = 6.46249402391333854778e-02;
const T3: f64 = -3.27885410759859649565e-02;
const T4: f64 = 1.79706750811820387126e-02;
const T5: f64 = -1.03142241298341437450e-02;
const T6: f64 = 6.10053870246291332635e-03;
const T7: f64 = -3.68452016781138256760e-03;
const T8: f64 = 2.25964780900612472250e-03;
const T9: f64 = -1.40346469989232843813e-03;
const T10: f64 = 8.81081882437654011382e-04;
const T11: f64 = -5.38595305356740546715e-04;
const T12: f64 = 3.15632070903625950361e-04;
const T13: f64 = -3.12754168375120860518e-04;
const T14: f64 = 3.35529192635519073543e-04;
// lgamma(1+y) = -y/2 + y·U(y)/V(y), y in [-0.1, 0.2316]
const U0: f64 = -7.72156649015328655494e-02;
const U1: f64 = 6.32827064025093366517e-01;
const U2: f64 = 1.45492250137234768737e+00;
const U3: f64 = 9.77717527963372745603e-01;
const U4: f64 = 2.28963728064692451092e-01;
const U5: f64 = 1.33810918536787660377e-02;
const V1: f64 = 2.45597793713041134822e+00;
const V2: f64 = 2.12848976379893395361e+00;
const V3: f64 = 7.69285150456672783825e-01;
const V4: f64 = 1.04222645593369134254e-01;
const V5: f64 = 3.21709242282423911810e-03;
// lgamma(2+y) = y/2 + y·S(y)/R(y), y in [0, 1)
const S0: f64 = -7.72156649015328655494e-02;
const S1: f64 = 2.14982415960608852501e-01;
const S2: f64 = 3.25778796408930981787e-01;
const S3: f64 = 1.46350472652464452805e-01;
const S4: f64 = 2.66422703033638609560e-02;
const S5: f64 = 1.84028451407337715652e-03;
const S6: f64 = 3.19475326584100867617e-05;
const R1: f64 = 1.39200533467621045958e+00;
const R2: f64 = 7.21935547567138069525e-01;
const R3: f64 = 1.71933865632803078993e-01;
const R4: f64 = 1.86459191715652901344e-02;
const R5: f64 = 7.77942496381893596434e-04;
const R6: f64 = 7.32668430744625636189e-06;
// x ≥ 8: lgamma(x) = (x - 1/2)(log x - 1) + W(1/x), W ≈ ½log(2π) - ½ + 1/(12x) - 1/(360x³) + …
const W0: f64 = 4.18938533204672725052e-01;
const W1: f64 = 8.33333333333329678849e-02;
const W2: f64 = -2.77777777728775536470e-03;
const W3: f64 = 7.93650558643019558500e-04;
const W4: f64 = -5.95187557450339963135e-04;
const W5: f64 = 8.36339918996282139126e-04;
const W6: f64 = -1.63092934096575273989e-03;

const LG_TINY: f64 = 8.470329472543003e-22; // 2^-70: lgamma(x) = -log x - γx, γx ≪ ulp
const LG_BIG: f64 = 2.8823037615171174e+17; // 2^58: W(1/x) - (log x - 1)/2 ≪ ulp
const TWO52: f64 = 4503599627370496.0;

/** lgamma(x) for x > 0 (x finite or +Infinity). */
function lgammaPos(x: f64): f64 {
  if (x < LG_TINY) return -Math.log(x);
  if (x == 1.0 || x == 2.0) return 0.0;
  if (x < 2.0) {
    let r: f64 = 0.0;
    let y: f64;
    let kind: i32;
    if (x < 0.9000000953674316) {
      // lgamma(x) = lgamma(x+1) - log x
      r = -Math.log(x);
      if (x >= 0.7315998077392578) { y = 1.0 - x; kind = 0; }
      else if (x >= 0.23163998126983643) { y = x - (TC - 1.0); kind = 1; }
      else { y = x; kind = 2; }
    } else {
      if (x >= 1.7316312789916992) { y = 2.0 - x; kind = 0; }
      else if (x >= 1.2316322326660156) { y = x - TC; kind = 1; }
      else { y = x - 1.0; kind = 2; }
    }
    if (kind == 0) {
      const z = y * y;
      const p1 = A0 + z * (A2 + z * (A4 + z * (A6 + z * (A8 + z * A10))));
      const p2 = z * (A1 + z * (A3 + z * (A5 + z * (A7 + z * (A9 + z * A11)))));
      const p = y * p1 + p2;
      r += p - 0.5 * y;
    } else if (kind == 1) {
      const z = y * y;
      const w = z * y;
      const p1 = T0 + w * (T3 + w * (T6 + w * (T9 + w * T12)));
      const p2 = T1 + w * (T4 + w * (T7 + w * (T10 + w * T13)));
      const p3 = T2 + w * (T5 + w * (T8 + w * (T11 + w * T14)));
      const p = z * p1 - (TT - w * (p2 + y * p3));
      r += TF + p;
    } else {
      const p1 = y * (U0 + y * (U1 + y * (U2 + y * (U3 + y * (U4 + y * U5)))));
      const p2 = 1.0 + y * (V1 + y * (V2 + y * (V3 + y * (V4 + y * V5))));
      r += -0.5 * y + p1 / p2;
    }
    return r;
  }
  if (x < 8.0) {
    // lgamma(i + y) = lgamma(2 + y) + log((2+y)(3+y)…(i-1+y))
    const i = <i32>x;
    const y = x - <f64>i;
    const p = y * (S0 + y * (S1 + y * (S2 + y * (S3 + y * (S4 + y * (S5 + y * S6))))));
    const q = 1.0 + y * (R1 + y * (R2 + y * (R3 + y * (R4 + y * (R5 + y * R6)))));
    let r = 0.5 * y + p / q;
    if (i >= 3) {
      let z: f64 = 1.0;
      for (let k = i - 1; k >= 2; k--) z *= y + <f64>k;
      r += Math.log(z);
    }
    return r;
  }
  if (x < LG_BIG) {
    const t = Math.log(x);
    const z = 1.0 / x;
    const y = z * z;
    const w = W0 + z * (W1 + y * (W2 + y * (W3 + y * (W4 + y * (W5 + y * W6)))));
    return (x - 0.5) * (t - 1.0) + w;
  }
  return x * (Math.log(x) - 1.0);
}

/** sin(πy) for finite y ≥ 0, reduced exactly so integers give exactly 0. */
function sinPi(y: f64): f64 {
  const r = y - 2.0 * Math.floor(0.5 * y); // y mod 2, exact
  const n = <i32>Math.floor(4.0 * r);
  switch (n) {
    case 0: return Math.sin(Math.PI * r);
    case 1:
    case 2: return Math.cos(Math.PI * (0.5 - r));
    case 3:
    case 4: return Math.sin(Math.PI * (1.0 - r));
    case 5:
    case 6: return -Math.cos(Math.PI * (r - 1.5));
    default: return Math.sin(Math.PI * (r - 2.0));
  }
}

/** log|Γ(x)|. Poles (0, negative integers) and ±Infinity give +Infinity; NaN propagates. */
export function lgamma(x: f64): f64 {
  if (x != x) return x;
  if (x > 0.0) return lgammaPos(x);
  if (x == 0.0) return Infinity;
  if (x > -LG_TINY) return -Math.log(-x);
  if (x <= -TWO52) return Infinity; // every such double is an integer (and -Infinity)
  // reflection: |Γ(x)| = π / (|x sin(πx)| Γ(-x)) for x < 0
  const t = sinPi(-x);
  if (t == 0.0) return Infinity;
  return Math.log(Math.PI / Math.abs(t * x)) - lgammaPos(-x);
}

// ---------------------------------------------------------------------------------------------
// digamma ψ(x), log x − ψ(x) and Stirling's error, x > 0 (the WASM twin of the reference's; the negative binomial's and the
// Gamma's dispersion derivatives and the Gamma log-density).

// ψ(x) − log x + 1/(2x) = −Σ B₂ₖ/(2k·x²ᵏ) for x ≥ 10, seven terms (Abramowitz & Stegun 6.3.18):
// the next, 3617/(8160·x¹⁶), is below 3e−19 there, under an ulp of log 10.
function digammaTail(x: f64): f64 {
  const z = 1.0 / (x * x);
  return z * (1.0 / 12.0 - z * (1.0 / 120.0 - z * (1.0 / 252.0 - z * (1.0 / 240.0 - z * (1.0 / 132.0 - z * (691.0 / 32760.0 - z / 12.0))))));
}

/** ψ(x) = Γ'(x)/Γ(x) for x > 0 (NaN otherwise): ψ(x) = ψ(x + k) − Σ 1/(x + i) up to x ≥ 10, then the asymptotic series. */
export function digamma(x: f64): f64 {
  if (!(x > 0.0)) return NaN;
  let r: f64 = 0.0;
  while (x < 10.0) {
    r -= 1.0 / x;
    x += 1.0;
  }
  return r + Math.log(x) - 0.5 / x - digammaTail(x);
}

/**
 * log x − ψ(x) for x > 0: ≈ 1/(2x) for large x, where the difference of the two would keep
 * only log x/(1/(2x)) fewer digits; from the series directly for x ≥ 10.
 */
export function logMinusDigamma(x: f64): f64 {
  if (!(x > 0.0)) return NaN;
  if (x >= 10.0) return 0.5 / x + digammaTail(x);
  return Math.log(x) - digamma(x);
}

/**
 * Stirling's error lgamma(x) − (x − ½)·log x + x − ½·log 2π for x > 0. For x ≥ 8 it is lgamma's
 * own tail W(1/x) − W₀ (above: lgamma = (x − ½)(log x − 1) + W), so no terms of size x·log x
 * cancel; below, the difference directly (its terms are ≤ 12 there).
 */
export function stirlerr(x: f64): f64 {
  if (!(x > 0.0)) return NaN;
  if (x >= 8.0) {
    if (x >= LG_BIG) return 0.0;
    const z = 1.0 / x;
    const y = z * z;
    return z * (W1 + y * (W2 + y * (W3 + y * (W4 + y * (W5 + y * W6)))));
  }
  return lgammaPos(x) - (x - 0.5) * Math.log(x) + x - HALF_LN_2PI_S;
}

const HALF_LN_2PI_S: f64 = 0.9189385332046728;

// ---------------------------------------------------------------------------------------------
// log(1 + eˣ) (softplus)

/** log(1 + eˣ) without overflow: x + log1p(e⁻ˣ) for x > 0; equals eˣ (to rounding) for x < -37. */
export function log1pexp(x: f64): f64 {
  if (x <= 0.0) return Math.log1p(Math.exp(x));
  return x + Math.log1p(Math.exp(-x));
}

// ---------------------------------------------------------------------------------------------
// array kernels: out[i] = f(x[i]), i < n

export function erf_f64(n: i32, x: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, erf(load<f64>(x + o)));
  }
}

export function erfc_f64(n: i32, x: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, erfc(load<f64>(x + o)));
  }
}

export function log_ndtr_f64(n: i32, x: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, log_ndtr(load<f64>(x + o)));
  }
}

export function lgamma_f64(n: i32, x: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, lgamma(load<f64>(x + o)));
  }
}

export function log1pexp_f64(n: i32, x: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, log1pexp(load<f64>(x + o)));
  }
}
