// Special functions in double precision: erf, erfc, log Φ (logNdtr), log|Γ| (lgamma) and
// log(1+eˣ) (log1pexp). Plain TypeScript, no dependencies.
//
// This is the reference twin of kernels/assembly/special.ts: the same algorithm operation for
// operation (same constants, same branch points, same evaluation order), so the WASM kernels and
// this file agree to the rounding of Math.exp/log/log1p/sin/cos (an ulp apart at most between
// V8 and AssemblyScript's NativeMath). Change both files together. The numerical design notes
// (fdlibm rational approximations, exact splitting of -x²/2, asymptotic series for log Φ) are
// at the top of the AssemblyScript file.
//
// The erf/erfc and lgamma coefficients and branch structure come from fdlibm, whose notice
// asks to be preserved:
//   Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
//   Developed at SunSoft, a Sun Microsystems, Inc. business.
//   Permission to use, copy, modify, and distribute this software is freely granted,
//   provided that this notice is preserved.

// ---------------------------------------------------------------------------------------------
// erf / erfc

const ERX = 8.45062911510467529297e-01; // erf(1) rounded to 24 bits: 1 - ERX is exact
const EFX = 1.28379167095512586316e-01; // 2/√π - 1
const EFX8 = 1.02703333676410069053e+00; // 8·EFX
// |x| < 0.84375: erf(x) = x + x·P(x²)/Q(x²)
const PP0 = 1.28379167095512558561e-01;
const PP1 = -3.25042107247001499370e-01;
const PP2 = -2.84817495755985104766e-02;
const PP3 = -5.77027029648944159157e-03;
const PP4 = -2.37630166566501626084e-05;
const QQ1 = 3.97917223959155352819e-01;
const QQ2 = 6.50222499887672944485e-02;
const QQ3 = 5.08130628187576562776e-03;
const QQ4 = 1.32494738004321644526e-04;
const QQ5 = -3.96022827877536812320e-06;
// 0.84375 ≤ |x| < 1.25: erf(1+s) = ERX + P(s)/Q(s)
const PA0 = -2.36211856075265944077e-03;
const PA1 = 4.14856118683748331666e-01;
const PA2 = -3.72207876035701323847e-01;
const PA3 = 3.18346619901161753674e-01;
const PA4 = -1.10894694282396677476e-01;
const PA5 = 3.54783043256182359371e-02;
const PA6 = -2.16637559486879084300e-03;
const QA1 = 1.06420880400844228286e-01;
const QA2 = 5.40397917702171048937e-01;
const QA3 = 7.18286544141962662868e-02;
const QA4 = 1.26171219808761642112e-01;
const QA5 = 1.36370839120290507362e-02;
const QA6 = 1.19844998467991074170e-02;
// 1.25 ≤ t < 2.857: log(t·erfc(t)) + t² = -0.5625 + R(1/t²)/S(1/t²)
const RA0 = -9.86494403484714822705e-03;
const RA1 = -6.93858572707181764372e-01;
const RA2 = -1.05586262253232909814e+01;
const RA3 = -6.23753324503260060396e+01;
const RA4 = -1.62396669462573470355e+02;
const RA5 = -1.84605092906711035994e+02;
const RA6 = -8.12874355063065934246e+01;
const RA7 = -9.81432934416914548592e+00;
const SA1 = 1.96512716674392571292e+01;
const SA2 = 1.37657754143519042600e+02;
const SA3 = 4.34565877475229228821e+02;
const SA4 = 6.45387271733267880336e+02;
const SA5 = 4.29008140027567833386e+02;
const SA6 = 1.08635005541779435134e+02;
const SA7 = 6.57024977031928170135e+00;
const SA8 = -6.04244152148580987438e-02;
// 2.857 ≤ t < 28: same form
const RB0 = -9.86494292470009928597e-03;
const RB1 = -7.99283237680523006574e-01;
const RB2 = -1.77579549177547519889e+01;
const RB3 = -1.60636384855821916062e+02;
const RB4 = -6.37566443368389627722e+02;
const RB5 = -1.02509513161107724954e+03;
const RB6 = -4.83519191608651397019e+02;
const SB1 = 3.03380607434824582924e+01;
const SB2 = 3.25792512996573918826e+02;
const SB3 = 1.53672958608443695994e+03;
const SB4 = 3.19985821950859553908e+03;
const SB5 = 2.55305040643316442583e+03;
const SB6 = 4.74528541206955367215e+02;
const SB7 = -2.24409524465858183362e+01;
const ERFC_RB_FROM = 2.8571414947509766; // ≈ 1/0.35, fdlibm's switch point

const SPLITTER = 134217729.0; // 2^27 + 1
const SQRT1_2 = 0.7071067811865476;
const LN2 = 0.6931471805599453;
const LOG_SQRT_2PI = 0.9189385332046728; // log √(2π)

/** High 26 bits of x (Veltkamp): hi·hi is exact and x - hi is exact. |x| < 2^996. */
function splitHi(x: number): number {
  const c = SPLITTER * x;
  return c - (c - x);
}

/** g(t) = log(t·erfc(t)) + t², for 1.25 ≤ t < 28 (fdlibm's -0.5625 + R/S). */
function erfcTailLogCorr(t: number): number {
  const s = 1.0 / (t * t);
  let r: number, q: number;
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
function erfcTail(t: number): number {
  const th = splitHi(t);
  // -t² = -th² + (th - t)(th + t); the first term is exact
  const e = Math.exp((th - t) * (th + t) + erfcTailLogCorr(t)) / t;
  return Math.exp(-(th * th)) * e;
}

/** P(x²)/Q(x²) for |x| < 0.84375: erf(x) = x + x·y. */
function erfSmallRatio(x: number): number {
  const z = x * x;
  const r = PP0 + z * (PP1 + z * (PP2 + z * (PP3 + z * PP4)));
  const s = 1.0 + z * (QQ1 + z * (QQ2 + z * (QQ3 + z * (QQ4 + z * QQ5))));
  return r / s;
}

/** P(s)/Q(s), s = |x| - 1, for 0.84375 ≤ |x| < 1.25: erf(|x|) = ERX + P/Q. */
function erfMidRatio(s: number): number {
  const p = PA0 + s * (PA1 + s * (PA2 + s * (PA3 + s * (PA4 + s * (PA5 + s * PA6)))));
  const q = 1.0 + s * (QA1 + s * (QA2 + s * (QA3 + s * (QA4 + s * (QA5 + s * QA6)))));
  return p / q;
}

export function erf(x: number): number {
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

export function erfc(x: number): number {
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
const LNDTR_ASYM_BELOW = -20.0;
const DF1 = 1.0;
const DF2 = 3.0;
const DF3 = 15.0;
const DF4 = 105.0;
const DF5 = 945.0;
const DF6 = 10395.0;
const DF7 = 135135.0;
const DF8 = 2027025.0;
const DF9 = 34459425.0;
const DF10 = 654729075.0;
const DF11 = 13749310575.0;
const DF12 = 316234143225.0;

export function logNdtr(x: number): number {
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
const A0 = 7.72156649015328655494e-02;
const A1 = 3.22467033424113591611e-01;
const A2 = 6.73523010531292681824e-02;
const A3 = 2.05808084325167332806e-02;
const A4 = 7.38555086081402883957e-03;
const A5 = 2.89051383673415629091e-03;
const A6 = 1.19270763183362067845e-03;
const A7 = 5.10069792153511336608e-04;
const A8 = 2.20862790713908385557e-04;
const A9 = 1.08011567247583939954e-04;
const A10 = 2.52144565451257326939e-05;
const A11 = 4.48640949618915160150e-05;
// around the minimum TC: lgamma(TC + y) = TF + y²·T(y) (TT = -(tail of TF))
const TC = 1.46163214496836224576e+00;
const TF = -1.21486290535849611461e-01;
const TT = -3.63867699703950536541e-18;
const T0 = 4.83836122723810047042e-01;
const T1 = -1.47587722994593911752e-01;
const T2 = 6.46249402391333854778e-02;
const T3 = -3.27885410759859649565e-02;
const T4 = 1.79706750811820387126e-02;
const T5 = -1.03142241298341437450e-02;
const T6 = 6.10053870246291332635e-03;
const T7 = -3.68452016781138256760e-03;
const T8 = 2.25964780900612472250e-03;
const T9 = -1.40346469989232843813e-03;
const T10 = 8.81081882437654011382e-04;
const T11 = -5.38595305356740546715e-04;
const T12 = 3.15632070903625950361e-04;
const T13 = -3.12754168375120860518e-04;
const T14 = 3.35529192635519073543e-04;
// lgamma(1+y) = -y/2 + y·U(y)/V(y), y in [-0.1, 0.2316]
const U0 = -7.72156649015328655494e-02;
const U1 = 6.32827064025093366517e-01;
const U2 = 1.45492250137234768737e+00;
const U3 = 9.77717527963372745603e-01;
const U4 = 2.28963728064692451092e-01;
const U5 = 1.33810918536787660377e-02;
const V1 = 2.45597793713041134822e+00;
const V2 = 2.12848976379893395361e+00;
const V3 = 7.69285150456672783825e-01;
const V4 = 1.04222645593369134254e-01;
const V5 = 3.21709242282423911810e-03;
// lgamma(2+y) = y/2 + y·S(y)/R(y), y in [0, 1)
const S0 = -7.72156649015328655494e-02;
const S1 = 2.14982415960608852501e-01;
const S2 = 3.25778796408930981787e-01;
const S3 = 1.46350472652464452805e-01;
const S4 = 2.66422703033638609560e-02;
const S5 = 1.84028451407337715652e-03;
const S6 = 3.19475326584100867617e-05;
const R1 = 1.39200533467621045958e+00;
const R2 = 7.21935547567138069525e-01;
const R3 = 1.71933865632803078993e-01;
const R4 = 1.86459191715652901344e-02;
const R5 = 7.77942496381893596434e-04;
const R6 = 7.32668430744625636189e-06;
// x ≥ 8: lgamma(x) = (x - 1/2)(log x - 1) + W(1/x), W ≈ ½log(2π) - ½ + 1/(12x) - 1/(360x³) + …
const W0 = 4.18938533204672725052e-01;
const W1 = 8.33333333333329678849e-02;
const W2 = -2.77777777728775536470e-03;
const W3 = 7.93650558643019558500e-04;
const W4 = -5.95187557450339963135e-04;
const W5 = 8.36339918996282139126e-04;
const W6 = -1.63092934096575273989e-03;

const LG_TINY = 8.470329472543003e-22; // 2^-70: lgamma(x) = -log x - γx, γx ≪ ulp
const LG_BIG = 2.8823037615171174e+17; // 2^58: W(1/x) - (log x - 1)/2 ≪ ulp
const TWO52 = 4503599627370496.0;

/** lgamma(x) for x > 0 (x finite or +Infinity). */
function lgammaPos(x: number): number {
  if (x < LG_TINY) return -Math.log(x);
  if (x == 1.0 || x == 2.0) return 0.0;
  if (x < 2.0) {
    let r: number = 0.0;
    let y: number;
    let kind: number;
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
    const i = Math.trunc(x);
    const y = x - i;
    const p = y * (S0 + y * (S1 + y * (S2 + y * (S3 + y * (S4 + y * (S5 + y * S6))))));
    const q = 1.0 + y * (R1 + y * (R2 + y * (R3 + y * (R4 + y * (R5 + y * R6)))));
    let r = 0.5 * y + p / q;
    if (i >= 3) {
      let z: number = 1.0;
      for (let k = i - 1; k >= 2; k--) z *= y + k;
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
function sinPi(y: number): number {
  const r = y - 2.0 * Math.floor(0.5 * y); // y mod 2, exact
  const n = Math.floor(4.0 * r);
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
export function lgamma(x: number): number {
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
// digamma ψ(x), log x − ψ(x) and Stirling's error, x > 0 (the negative binomial's and the
// Gamma's dispersion derivatives and the Gamma log-density).

// ψ(x) − log x + 1/(2x) = −Σ B₂ₖ/(2k·x²ᵏ) for x ≥ 10, seven terms (Abramowitz & Stegun 6.3.18):
// the next, 3617/(8160·x¹⁶), is below 3e−19 there, under an ulp of log 10.
function digammaTail(x: number): number {
  const z = 1.0 / (x * x);
  return z * (1.0 / 12 - z * (1.0 / 120 - z * (1.0 / 252 - z * (1.0 / 240 - z * (1.0 / 132 - z * (691.0 / 32760 - z / 12))))));
}

/** ψ(x) = Γ'(x)/Γ(x) for x > 0 (NaN otherwise): ψ(x) = ψ(x + k) − Σ 1/(x + i) up to x ≥ 10, then the asymptotic series. */
export function digamma(x: number): number {
  if (!(x > 0.0)) return NaN;
  let r = 0.0;
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
export function logMinusDigamma(x: number): number {
  if (!(x > 0.0)) return NaN;
  if (x >= 10.0) return 0.5 / x + digammaTail(x);
  return Math.log(x) - digamma(x);
}

/**
 * Stirling's error lgamma(x) − (x − ½)·log x + x − ½·log 2π for x > 0. For x ≥ 8 it is lgamma's
 * own tail W(1/x) − W₀ (above: lgamma = (x − ½)(log x − 1) + W), so no terms of size x·log x
 * cancel; below, the difference directly (its terms are ≤ 12 there).
 */
export function stirlerr(x: number): number {
  if (!(x > 0.0)) return NaN;
  if (x >= 8.0) {
    if (x >= LG_BIG) return 0.0;
    const z = 1.0 / x;
    const y = z * z;
    return z * (W1 + y * (W2 + y * (W3 + y * (W4 + y * (W5 + y * W6)))));
  }
  return lgammaPos(x) - (x - 0.5) * Math.log(x) + x - HALF_LN_2PI_S;
}

const HALF_LN_2PI_S = 0.9189385332046728;

// ---------------------------------------------------------------------------------------------
// log(1 + eˣ) (softplus)

/** log(1 + eˣ) without overflow: x + log1p(e⁻ˣ) for x > 0; equals eˣ (to rounding) for x < -37. */
export function log1pexp(x: number): number {
  if (x <= 0.0) return Math.log1p(Math.exp(x));
  return x + Math.log1p(Math.exp(-x));
}
