// A throughput probe, not a kernel: ten independent f64x2 chains, five multiplies and five
// adds, unrolled four times, so neither latency, loop overhead nor loads limit it. Its flop
// rate is this machine's WASM SIMD128 ceiling for mul+add code (no FMA in SIMD128), the
// yardstick the matmul benchmark reports against. Ten chains, not more: V8 has 15 usable xmm
// registers and 12 chains plus two constants already measured slower (spills), fewer than
// ten cannot cover the 3-cycle latency on two ports each for mul and add.
// Per iteration: 4 × 10 vector ops × 2 lanes = 80 flop (scalar build: 40). Returns a checksum.
export function peak_probe_f64(iters: i32): f64 {
  if (!ASC_FEATURE_SIMD) return peakScalar(iters);
  const a = f64x2.splat(1.0000001);
  const d = f64x2.splat(1e-9);
  let m0 = f64x2.splat(1.0), m1 = f64x2.splat(1.1), m2 = f64x2.splat(1.2);
  let m3 = f64x2.splat(1.3), m4 = f64x2.splat(1.4);
  let s0 = f64x2.splat(0.0), s1 = f64x2.splat(0.1), s2 = f64x2.splat(0.2);
  let s3 = f64x2.splat(0.3), s4 = f64x2.splat(0.4);
  for (let i = 0; i < iters; i++) {
    // Unrolled by hand: binaryen keeps a counted inner loop, whose overhead showed.
    m0 = f64x2.mul(m0, a); s0 = f64x2.add(s0, d); m1 = f64x2.mul(m1, a); s1 = f64x2.add(s1, d);
    m2 = f64x2.mul(m2, a); s2 = f64x2.add(s2, d); m3 = f64x2.mul(m3, a); s3 = f64x2.add(s3, d);
    m4 = f64x2.mul(m4, a); s4 = f64x2.add(s4, d);
    m0 = f64x2.mul(m0, a); s0 = f64x2.add(s0, d); m1 = f64x2.mul(m1, a); s1 = f64x2.add(s1, d);
    m2 = f64x2.mul(m2, a); s2 = f64x2.add(s2, d); m3 = f64x2.mul(m3, a); s3 = f64x2.add(s3, d);
    m4 = f64x2.mul(m4, a); s4 = f64x2.add(s4, d);
    m0 = f64x2.mul(m0, a); s0 = f64x2.add(s0, d); m1 = f64x2.mul(m1, a); s1 = f64x2.add(s1, d);
    m2 = f64x2.mul(m2, a); s2 = f64x2.add(s2, d); m3 = f64x2.mul(m3, a); s3 = f64x2.add(s3, d);
    m4 = f64x2.mul(m4, a); s4 = f64x2.add(s4, d);
    m0 = f64x2.mul(m0, a); s0 = f64x2.add(s0, d); m1 = f64x2.mul(m1, a); s1 = f64x2.add(s1, d);
    m2 = f64x2.mul(m2, a); s2 = f64x2.add(s2, d); m3 = f64x2.mul(m3, a); s3 = f64x2.add(s3, d);
    m4 = f64x2.mul(m4, a); s4 = f64x2.add(s4, d);
  }
  const m = f64x2.add(f64x2.add(f64x2.add(m0, m1), f64x2.add(m2, m3)), m4);
  const s = f64x2.add(f64x2.add(f64x2.add(s0, s1), f64x2.add(s2, s3)), s4);
  const t = f64x2.add(m, s);
  return f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
}

/** Flops per iteration of `peak_probe_f64` in each build. */
export function peak_probe_flops(): i32 {
  return ASC_FEATURE_SIMD ? 80 : 40;
}

// The scalar build's counterpart: the same chains on one lane.
function peakScalar(iters: i32): f64 {
  const a = 1.0000001;
  const d = 1e-9;
  let m0 = 1.0, m1 = 1.1, m2 = 1.2, m3 = 1.3, m4 = 1.4;
  let s0 = 0.0, s1 = 0.1, s2 = 0.2, s3 = 0.3, s4 = 0.4;
  for (let i = 0; i < iters; i++) {
    m0 *= a; m1 *= a; m2 *= a; m3 *= a; m4 *= a; s0 += d; s1 += d; s2 += d; s3 += d; s4 += d;
    m0 *= a; m1 *= a; m2 *= a; m3 *= a; m4 *= a; s0 += d; s1 += d; s2 += d; s3 += d; s4 += d;
    m0 *= a; m1 *= a; m2 *= a; m3 *= a; m4 *= a; s0 += d; s1 += d; s2 += d; s3 += d; s4 += d;
    m0 *= a; m1 *= a; m2 *= a; m3 *= a; m4 *= a; s0 += d; s1 += d; s2 += d; s3 += d; s4 += d;
  }
  return m0 + m1 + m2 + m3 + m4 + s0 + s1 + s2 + s3 + s4;
}
