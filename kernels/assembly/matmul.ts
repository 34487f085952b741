// Dense f64 matrix products in the three forms reverse mode needs, row-major throughout.
//
//   matmul_f64     C[M×N] = A[M×K] · B[K×N]        forward of a linear layer
//   matmul_tn_f64  C[M×N] = Aᵀ · B,  A stored K×M   weight gradient  Xᵀ·G
//   matmul_nt_f64  C[M×N] = A · Bᵀ,  B stored N×K   input gradient   G·Wᵀ
//
// Preconditions: all pointers are byte offsets of f64 arrays (8-byte aligned; 16 is better),
// C does not alias A or B, C is overwritten (no accumulate). Any M, N, K ≥ 0, including odd.
//
// Register blocking. V8 gives us 15 usable xmm registers, so the SIMD tile is 4 rows × 4 columns
// of C held in 8 f64x2 accumulators; with two B vectors and one splatted A value that is 11
// live registers, no spills. Per k the tile does 8 mul + 8 add (32 flop) for 2 vector loads
// and 4 splat loads. A·Bᵀ instead runs dot products along k (both operands contiguous there):
// a 2×4 tile of 8 accumulators, reduced horizontally at the end.

// C = A·B with A(i,k) at a + 8·(i·rsA + k·csA) and B(k,j) at b + 8·(k·N + j).
// NN uses (rsA, csA) = (K, 1); TN uses (1, M).
//
// Aᵀ·B for a weight gradient has K = the batch (long) and M, N = layer widths. Two things keep
// it near A·B's speed (measured side by side, bench/RESULTS.md):
// - K is cut into blocks so the B panel a block touches (kc rows of N doubles, ≈16 KiB)
//   stays in L1 while every row tile of C sweeps it; unblocked, each 4-row tile streamed all
//   of B from L2. The first block overwrites C and later ones accumulate, so the summation
//   order over k, hence the result, is exactly the unblocked one.
// - For wide A (M ≥ PACK_M) the tile's four A values per k sit one long stride apart, the
//   same cache sets over and over; they are first packed into `work`, contiguous.
// A·B needs neither at MLP shapes (K is a layer width) and measured slower with blocking.
const PACK_M: i32 = 128;

@inline
function kBlock(N: i32): i32 {
  return max(16, min(256, 2048 / max(N, 1)));
}

// One K-block: C (=|+=) A[:, block]·B[block, :]. `acc` selects accumulate.
@inline
function gemmBlock(M: i32, N: i32, K: i32, a: usize, rsA: i32, csA: i32, b: usize, c: usize, acc: bool): void {
  const ldb = <usize>N << 3;
  const ka = <usize>csA << 3;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= M; i += 4) {
      const a0 = a + ((<usize>i * rsA) << 3);
      const ra = <usize>rsA << 3;
      let j = 0;
      for (; j + 4 <= N; j += 4) {
        const pc = c + ((<usize>i * N + j) << 3);
        const ldc = ldb;
        let c00 = f64x2.splat(0), c01 = f64x2.splat(0);
        let c10 = f64x2.splat(0), c11 = f64x2.splat(0);
        let c20 = f64x2.splat(0), c21 = f64x2.splat(0);
        let c30 = f64x2.splat(0), c31 = f64x2.splat(0);
        if (acc) {
          c00 = v128.load(pc); c01 = v128.load(pc, 16);
          c10 = v128.load(pc + ldc); c11 = v128.load(pc + ldc, 16);
          c20 = v128.load(pc + 2 * ldc); c21 = v128.load(pc + 2 * ldc, 16);
          c30 = v128.load(pc + 3 * ldc); c31 = v128.load(pc + 3 * ldc, 16);
        }
        let pa = a0;
        let pb = b + (<usize>j << 3);
        for (let k = 0; k < K; k++) {
          const b0 = v128.load(pb);
          const b1 = v128.load(pb, 16);
          let av = v128.load64_splat(pa);
          c00 = f64x2.add(c00, f64x2.mul(av, b0));
          c01 = f64x2.add(c01, f64x2.mul(av, b1));
          av = v128.load64_splat(pa + ra);
          c10 = f64x2.add(c10, f64x2.mul(av, b0));
          c11 = f64x2.add(c11, f64x2.mul(av, b1));
          av = v128.load64_splat(pa + 2 * ra);
          c20 = f64x2.add(c20, f64x2.mul(av, b0));
          c21 = f64x2.add(c21, f64x2.mul(av, b1));
          av = v128.load64_splat(pa + 3 * ra);
          c30 = f64x2.add(c30, f64x2.mul(av, b0));
          c31 = f64x2.add(c31, f64x2.mul(av, b1));
          pa += ka;
          pb += ldb;
        }
        v128.store(pc, c00); v128.store(pc, c01, 16);
        v128.store(pc + ldc, c10); v128.store(pc + ldc, c11, 16);
        v128.store(pc + 2 * ldc, c20); v128.store(pc + 2 * ldc, c21, 16);
        v128.store(pc + 3 * ldc, c30); v128.store(pc + 3 * ldc, c31, 16);
      }
      for (; j + 2 <= N; j += 2) {
        const pc = c + ((<usize>i * N + j) << 3);
        let c0 = f64x2.splat(0), c1 = f64x2.splat(0), c2 = f64x2.splat(0), c3 = f64x2.splat(0);
        if (acc) {
          c0 = v128.load(pc); c1 = v128.load(pc + ldb);
          c2 = v128.load(pc + 2 * ldb); c3 = v128.load(pc + 3 * ldb);
        }
        let pa = a0;
        let pb = b + (<usize>j << 3);
        for (let k = 0; k < K; k++) {
          const b0 = v128.load(pb);
          c0 = f64x2.add(c0, f64x2.mul(v128.load64_splat(pa), b0));
          c1 = f64x2.add(c1, f64x2.mul(v128.load64_splat(pa + ra), b0));
          c2 = f64x2.add(c2, f64x2.mul(v128.load64_splat(pa + 2 * ra), b0));
          c3 = f64x2.add(c3, f64x2.mul(v128.load64_splat(pa + 3 * ra), b0));
          pa += ka;
          pb += ldb;
        }
        v128.store(pc, c0);
        v128.store(pc + ldb, c1);
        v128.store(pc + 2 * ldb, c2);
        v128.store(pc + 3 * ldb, c3);
      }
      if (j < N) {
        const pc = c + ((<usize>i * N + j) << 3);
        let s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
        if (acc) {
          s0 = load<f64>(pc); s1 = load<f64>(pc + ldb);
          s2 = load<f64>(pc + 2 * ldb); s3 = load<f64>(pc + 3 * ldb);
        }
        let pa = a0;
        let pb = b + (<usize>j << 3);
        for (let k = 0; k < K; k++) {
          const bv = load<f64>(pb);
          s0 += load<f64>(pa) * bv;
          s1 += load<f64>(pa + ra) * bv;
          s2 += load<f64>(pa + 2 * ra) * bv;
          s3 += load<f64>(pa + 3 * ra) * bv;
          pa += ka;
          pb += ldb;
        }
        store<f64>(pc, s0);
        store<f64>(pc + ldb, s1);
        store<f64>(pc + 2 * ldb, s2);
        store<f64>(pc + 3 * ldb, s3);
      }
    }
    // Remaining rows one at a time, 4 columns per pass.
    for (; i < M; i++) {
      const a0 = a + ((<usize>i * rsA) << 3);
      let j = 0;
      for (; j + 4 <= N; j += 4) {
        const pc = c + ((<usize>i * N + j) << 3);
        let c0 = f64x2.splat(0), c1 = f64x2.splat(0);
        if (acc) {
          c0 = v128.load(pc);
          c1 = v128.load(pc, 16);
        }
        let pa = a0;
        let pb = b + (<usize>j << 3);
        for (let k = 0; k < K; k++) {
          const av = v128.load64_splat(pa);
          c0 = f64x2.add(c0, f64x2.mul(av, v128.load(pb)));
          c1 = f64x2.add(c1, f64x2.mul(av, v128.load(pb, 16)));
          pa += ka;
          pb += ldb;
        }
        v128.store(pc, c0);
        v128.store(pc, c1, 16);
      }
      for (; j < N; j++) {
        const pc = c + ((<usize>i * N + j) << 3);
        let s = acc ? load<f64>(pc) : 0.0;
        let pa = a0;
        let pb = b + (<usize>j << 3);
        for (let k = 0; k < K; k++) {
          s += load<f64>(pa) * load<f64>(pb);
          pa += ka;
          pb += ldb;
        }
        store<f64>(pc, s);
      }
    }
  } else {
    // Scalar build: one row × four columns of scalar accumulators.
    for (; i < M; i++) {
      const a0 = a + ((<usize>i * rsA) << 3);
      let j = 0;
      for (; j + 4 <= N; j += 4) {
        const pc = c + ((<usize>i * N + j) << 3);
        let s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
        if (acc) {
          s0 = load<f64>(pc); s1 = load<f64>(pc, 8); s2 = load<f64>(pc, 16); s3 = load<f64>(pc, 24);
        }
        let pa = a0;
        let pb = b + (<usize>j << 3);
        for (let k = 0; k < K; k++) {
          const av = load<f64>(pa);
          s0 += av * load<f64>(pb);
          s1 += av * load<f64>(pb, 8);
          s2 += av * load<f64>(pb, 16);
          s3 += av * load<f64>(pb, 24);
          pa += ka;
          pb += ldb;
        }
        store<f64>(pc, s0);
        store<f64>(pc, s1, 8);
        store<f64>(pc, s2, 16);
        store<f64>(pc, s3, 24);
      }
      for (; j < N; j++) {
        const pc = c + ((<usize>i * N + j) << 3);
        let s = acc ? load<f64>(pc) : 0.0;
        let pa = a0;
        let pb = b + (<usize>j << 3);
        for (let k = 0; k < K; k++) {
          s += load<f64>(pa) * load<f64>(pb);
          pa += ka;
          pb += ldb;
        }
        store<f64>(pc, s);
      }
    }
  }
}

/** C[M×N] = A[M×K]·B[K×N]. */
export function matmul_f64(M: i32, N: i32, K: i32, a: usize, b: usize, c: usize): void {
  gemmBlock(M, N, K, a, K, 1, b, c, false);
}

/**
 * C[M×N] = Aᵀ·B with A stored K×M and B stored K×N. `work` is scratch for the packed A panel:
 * at least 8 KiB (32 bytes × the K-block, which is at most 256), not aliasing anything.
 */
export function matmul_tn_f64(M: i32, N: i32, K: i32, a: usize, b: usize, c: usize, work: usize): void {
  if (K == 0) {
    memory.fill(c, 0, (<usize>M * N) << 3);
    return;
  }
  const KC = kBlock(N);
  const lda = <usize>M << 3;
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kc = min(KC, K - k0);
    const acc = k0 > 0;
    const ak = a + <usize>k0 * lda;
    const bk = b + ((<usize>k0 * N) << 3);
    let i = 0;
    if (M >= PACK_M) {
      for (; i + 4 <= M; i += 4) {
        let src = ak + (<usize>i << 3);
        let dst = work;
        for (let k = 0; k < kc; k++) {
          memory.copy(dst, src, 32);
          src += lda;
          dst += 32;
        }
        gemmBlock(4, N, kc, work, 1, 4, bk, c + ((<usize>i * N) << 3), acc);
      }
    }
    if (i < M) gemmBlock(M - i, N, kc, ak + (<usize>i << 3), 1, M, bk, c + ((<usize>i * N) << 3), acc);
  }
}

/** C[M×N] = A·Bᵀ with A stored M×K and B stored N×K. */
export function matmul_nt_f64(M: i32, N: i32, K: i32, a: usize, b: usize, c: usize): void {
  const lda = <usize>K << 3;
  const ldc = <usize>N << 3;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const K2 = K & ~1;
    for (; i + 2 <= M; i += 2) {
      const pa0 = a + <usize>i * lda;
      const pa1 = pa0 + lda;
      let j = 0;
      for (; j + 4 <= N; j += 4) {
        const pb0 = b + <usize>j * lda;
        let c00 = f64x2.splat(0), c01 = f64x2.splat(0), c02 = f64x2.splat(0), c03 = f64x2.splat(0);
        let c10 = f64x2.splat(0), c11 = f64x2.splat(0), c12 = f64x2.splat(0), c13 = f64x2.splat(0);
        for (let k = 0; k < K2; k += 2) {
          const o = <usize>k << 3;
          const a0 = v128.load(pa0 + o);
          const a1 = v128.load(pa1 + o);
          let bv = v128.load(pb0 + o);
          c00 = f64x2.add(c00, f64x2.mul(a0, bv));
          c10 = f64x2.add(c10, f64x2.mul(a1, bv));
          bv = v128.load(pb0 + lda + o);
          c01 = f64x2.add(c01, f64x2.mul(a0, bv));
          c11 = f64x2.add(c11, f64x2.mul(a1, bv));
          bv = v128.load(pb0 + 2 * lda + o);
          c02 = f64x2.add(c02, f64x2.mul(a0, bv));
          c12 = f64x2.add(c12, f64x2.mul(a1, bv));
          bv = v128.load(pb0 + 3 * lda + o);
          c03 = f64x2.add(c03, f64x2.mul(a0, bv));
          c13 = f64x2.add(c13, f64x2.mul(a1, bv));
        }
        let s00 = hsum(c00), s01 = hsum(c01), s02 = hsum(c02), s03 = hsum(c03);
        let s10 = hsum(c10), s11 = hsum(c11), s12 = hsum(c12), s13 = hsum(c13);
        if (K2 < K) {
          const o = <usize>K2 << 3;
          const x0 = load<f64>(pa0 + o), x1 = load<f64>(pa1 + o);
          const y0 = load<f64>(pb0 + o), y1 = load<f64>(pb0 + lda + o);
          const y2 = load<f64>(pb0 + 2 * lda + o), y3 = load<f64>(pb0 + 3 * lda + o);
          s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
          s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
        }
        const pc = c + ((<usize>i * N + j) << 3);
        store<f64>(pc, s00); store<f64>(pc, s01, 8); store<f64>(pc, s02, 16); store<f64>(pc, s03, 24);
        store<f64>(pc + ldc, s10); store<f64>(pc + ldc, s11, 8);
        store<f64>(pc + ldc, s12, 16); store<f64>(pc + ldc, s13, 24);
      }
      for (; j < N; j++) {
        const pb0 = b + <usize>j * lda;
        store<f64>(c + ((<usize>i * N + j) << 3), dotSimd(K, pa0, pb0));
        store<f64>(c + ((<usize>(i + 1) * N + j) << 3), dotSimd(K, pa1, pb0));
      }
    }
    for (; i < M; i++) {
      const pa0 = a + <usize>i * lda;
      for (let j = 0; j < N; j++) {
        store<f64>(c + ((<usize>i * N + j) << 3), dotSimd(K, pa0, b + <usize>j * lda));
      }
    }
  } else {
    for (; i < M; i++) {
      const pa0 = a + <usize>i * lda;
      for (let j = 0; j < N; j++) {
        const pb0 = b + <usize>j * lda;
        let s0 = 0.0, s1 = 0.0;
        let k = 0;
        for (; k + 2 <= K; k += 2) {
          const o = <usize>k << 3;
          s0 += load<f64>(pa0 + o) * load<f64>(pb0 + o);
          s1 += load<f64>(pa0 + o, 8) * load<f64>(pb0 + o, 8);
        }
        let s = s0 + s1;
        if (k < K) s += load<f64>(pa0 + (<usize>k << 3)) * load<f64>(pb0 + (<usize>k << 3));
        store<f64>(c + ((<usize>i * N + j) << 3), s);
      }
    }
  }
}

@inline
function hsum(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

// Σ_k x[k]·y[k], two lanes then the odd tail; the SIMD build only.
@inline
function dotSimd(K: i32, x: usize, y: usize): f64 {
  let acc = f64x2.splat(0);
  let k = 0;
  for (; k + 2 <= K; k += 2) {
    const o = <usize>k << 3;
    acc = f64x2.add(acc, f64x2.mul(v128.load(x + o), v128.load(y + o)));
  }
  let s = hsum(acc);
  if (k < K) s += load<f64>(x + (<usize>k << 3)) * load<f64>(y + (<usize>k << 3));
  return s;
}
