// A throughput probe, not a kernel: twelve independent f64x2 chains, six multiplies and six
// adds, so neither latency nor loads limit it. Its flop rate is this machine's WASM SIMD128
// ceiling for mul+add code, the yardstick the matmul benchmark reports against.
// Each iteration does 12 vector ops × 2 lanes = 24 flop. Returns a checksum so nothing is dead.
export function peak_probe_f64(iters: i32): f64 {
  if (!ASC_FEATURE_SIMD) return peakScalar(iters);
  const a = f64x2.splat(1.0000001);
  const d = f64x2.splat(1e-9);
  let m0 = f64x2.splat(1.0), m1 = f64x2.splat(1.1), m2 = f64x2.splat(1.2);
  let m3 = f64x2.splat(1.3), m4 = f64x2.splat(1.4), m5 = f64x2.splat(1.5);
  let s0 = f64x2.splat(0.0), s1 = f64x2.splat(0.1), s2 = f64x2.splat(0.2);
  let s3 = f64x2.splat(0.3), s4 = f64x2.splat(0.4), s5 = f64x2.splat(0.5);
  for (let i = 0; i < iters; i++) {
    m0 = f64x2.mul(m0, a); m1 = f64x2.mul(m1, a); m2 = f64x2.mul(m2, a);
    m3 = f64x2.mul(m3, a); m4 = f64x2.mul(m4, a); m5 = f64x2.mul(m5, a);
    s0 = f64x2.add(s0, d); s1 = f64x2.add(s1, d); s2 = f64x2.add(s2, d);
    s3 = f64x2.add(s3, d); s4 = f64x2.add(s4, d); s5 = f64x2.add(s5, d);
  }
  const m = f64x2.add(f64x2.add(f64x2.add(m0, m1), f64x2.add(m2, m3)), f64x2.add(m4, m5));
  const s = f64x2.add(f64x2.add(f64x2.add(s0, s1), f64x2.add(s2, s3)), f64x2.add(s4, s5));
  const t = f64x2.add(m, s);
  return f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
}

// The scalar build's counterpart: the same twelve chains on one lane (12 flop per iteration).
function peakScalar(iters: i32): f64 {
  const a = 1.0000001;
  const d = 1e-9;
  let m0 = 1.0, m1 = 1.1, m2 = 1.2, m3 = 1.3, m4 = 1.4, m5 = 1.5;
  let s0 = 0.0, s1 = 0.1, s2 = 0.2, s3 = 0.3, s4 = 0.4, s5 = 0.5;
  for (let i = 0; i < iters; i++) {
    m0 *= a; m1 *= a; m2 *= a; m3 *= a; m4 *= a; m5 *= a;
    s0 += d; s1 += d; s2 += d; s3 += d; s4 += d; s5 += d;
  }
  return m0 + m1 + m2 + m3 + m4 + m5 + s0 + s1 + s2 + s3 + s4 + s5;
}
