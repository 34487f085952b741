// Dense f32 matrix products in the three forms reverse mode needs, row-major throughout: the
// float32 twins of matmul.ts, for the network layers of the mixed-precision MLP.
//
//   matmul_f32     C[M×N] = A[M×K] · B[K×N]        forward of a linear layer
//   matmul_tn_f32  C[M×N] = Aᵀ · B,  A stored K×M   weight gradient  Xᵀ·G
//   matmul_nt_f32  C[M×N] = A · Bᵀ,  B stored N×K   input gradient   G·Wᵀ
//
// Preconditions: pointers are byte offsets of f32 arrays (4-byte aligned; 16 is better),
// C does not alias A or B, C is overwritten. Any M, N, K ≥ 0, including odd.
//
// The same source builds three times: scalar (plain loops), SIMD (f32x4 multiply then add) and
// relaxed SIMD (kernels/assembly/relaxed.ts: `f32x4.relaxed_madd`, one fused multiply-add
// where the hardware has FMA). `madd` is the only difference, chosen at compile time.
//
// Register blocking, re-derived from matmul.ts for four lanes. V8 gives 15 usable xmm
// registers. The A·B tile is 4 rows × 8 columns of C: 8 f32x4 accumulators, two B vectors,
// one splatted A value and one temporary for the product (the unfused mul needs it; the FMA
// does not) — 12 live registers, no spills. 6 × 8 would need 12 accumulators + 4 = 16 and
// spills; 4 × 12 likewise. Per k the tile does 8 mul + 8 add of 4 lanes (64 flop, twice the
// f64 tile's 32) for 2 vector loads and 4 splat loads. A·Bᵀ runs dot products along k (both
// operands contiguous there): a 2 × 4 tile of 8 accumulators, each 4 k-lanes wide, reduced
// horizontally at the end.
//
// Summation order. In A·B and Aᵀ·B each C element is summed over k sequentially, one
// accumulator per element, in every build (the K-blocks of Aᵀ·B resume the same accumulator):
// so the scalar and SIMD builds agree bit for bit with a sequential f32 reference. A·Bᵀ's SIMD
// build keeps four k-lanes per element (k ≡ 0, 1, 2, 3 mod 4) summed at the end, and the
// relaxed build rounds once per multiply-add: both change rounding, not the error bound
// |ΔC(i,j)| ≤ γ_K Σ_k |A(i,k) B(k,j)|, γ_K = K·u/(1 − K·u), u = 2⁻²⁴ (Higham 2002, §3.1).

// Aᵀ·B blocking (see matmul.ts): the B panel a K-block touches, kc rows of N floats, is kept
// near 16 KiB so it stays in L1 — twice the f64 rows for the same bytes. The four A values a
// row tile needs per k sit M·4 bytes apart; packing pays once that stride is as long as
// matmul.ts's threshold (128 f64 = 1 KiB), i.e. M ≥ 256 floats. The packed panel is 16 bytes
// per k, so the largest block (512) needs 8 KiB of `work`: MATMUL_TN_WORK, shared with f64.
// The copy is one v128 per k in the SIMD builds: a 16-byte memory.copy per k made packing a
// net loss (≈ 21 against ≈ 35 GFLOP/s at M = 128–512, K = 2000). With that copy, packing at
// M ≥ 128 or 256 and not packing measured within the noise of the shared machine (±30 %
// between identical runs); the threshold follows the f64 kernel's reasoning.
const PACK_M: i32 = 256;

// @ts-ignore: decorator
@inline
function kBlock(N: i32): i32 {
  return max(16, min(512, 4096 / max(N, 1)));
}

// c + a·b lane-wise: fused (one rounding) in the relaxed build where the hardware has FMA,
// else a rounded product then a rounded sum.
// @ts-ignore: decorator
@inline
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

// One K-block: C (=|+=) A[:, block]·B[block, :], A(i,k) at a + 4·(i·rsA + k·csA), B(k,j) at
// b + 4·(k·N + j). NN uses (rsA, csA) = (K, 1); TN uses (1, M). `acc` selects accumulate.
// Not inlined: one copy serves all three call sites (a call per K-block costs nothing next
// to the block, and the module stays small — it ships inside the size-budgeted bundle).
function gemmBlock(M: i32, N: i32, K: i32, a: usize, rsA: i32, csA: i32, b: usize, c: usize, acc: bool): void {
  const ldb = <usize>N << 2;
  const ka = <usize>csA << 2;
  const ra = <usize>rsA << 2;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= M; i += 4) {
      const a0 = a + <usize>i * ra;
      let j = 0;
      for (; j + 8 <= N; j += 8) {
        const pc = c + ((<usize>i * N + j) << 2);
        let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
        let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
        let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
        let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
        if (acc) {
          c00 = v128.load(pc); c01 = v128.load(pc, 16);
          c10 = v128.load(pc + ldb); c11 = v128.load(pc + ldb, 16);
          c20 = v128.load(pc + 2 * ldb); c21 = v128.load(pc + 2 * ldb, 16);
          c30 = v128.load(pc + 3 * ldb); c31 = v128.load(pc + 3 * ldb, 16);
        }
        let pa = a0;
        let pb = b + (<usize>j << 2);
        for (let k = 0; k < K; k++) {
          const b0 = v128.load(pb);
          const b1 = v128.load(pb, 16);
          let av = v128.load32_splat(pa);
          c00 = madd(av, b0, c00);
          c01 = madd(av, b1, c01);
          av = v128.load32_splat(pa + ra);
          c10 = madd(av, b0, c10);
          c11 = madd(av, b1, c11);
          av = v128.load32_splat(pa + 2 * ra);
          c20 = madd(av, b0, c20);
          c21 = madd(av, b1, c21);
          av = v128.load32_splat(pa + 3 * ra);
          c30 = madd(av, b0, c30);
          c31 = madd(av, b1, c31);
          pa += ka;
          pb += ldb;
        }
        v128.store(pc, c00); v128.store(pc, c01, 16);
        v128.store(pc + ldb, c10); v128.store(pc + ldb, c11, 16);
        v128.store(pc + 2 * ldb, c20); v128.store(pc + 2 * ldb, c21, 16);
        v128.store(pc + 3 * ldb, c30); v128.store(pc + 3 * ldb, c31, 16);
      }
      for (; j + 4 <= N; j += 4) {
        const pc = c + ((<usize>i * N + j) << 2);
        let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
        if (acc) {
          c0 = v128.load(pc); c1 = v128.load(pc + ldb);
          c2 = v128.load(pc + 2 * ldb); c3 = v128.load(pc + 3 * ldb);
        }
        let pa = a0;
        let pb = b + (<usize>j << 2);
        for (let k = 0; k < K; k++) {
          const b0 = v128.load(pb);
          c0 = madd(v128.load32_splat(pa), b0, c0);
          c1 = madd(v128.load32_splat(pa + ra), b0, c1);
          c2 = madd(v128.load32_splat(pa + 2 * ra), b0, c2);
          c3 = madd(v128.load32_splat(pa + 3 * ra), b0, c3);
          pa += ka;
          pb += ldb;
        }
        v128.store(pc, c0);
        v128.store(pc + ldb, c1);
        v128.store(pc + 2 * ldb, c2);
        v128.store(pc + 3 * ldb, c3);
      }
      // Up to three columns left: four rows of scalar accumulators each.
      for (; j < N; j++) {
        const pc = c + ((<usize>i * N + j) << 2);
        let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
        if (acc) {
          s0 = load<f32>(pc); s1 = load<f32>(pc + ldb);
          s2 = load<f32>(pc + 2 * ldb); s3 = load<f32>(pc + 3 * ldb);
        }
        let pa = a0;
        let pb = b + (<usize>j << 2);
        for (let k = 0; k < K; k++) {
          const bv = load<f32>(pb);
          s0 += load<f32>(pa) * bv;
          s1 += load<f32>(pa + ra) * bv;
          s2 += load<f32>(pa + 2 * ra) * bv;
          s3 += load<f32>(pa + 3 * ra) * bv;
          pa += ka;
          pb += ldb;
        }
        store<f32>(pc, s0);
        store<f32>(pc + ldb, s1);
        store<f32>(pc + 2 * ldb, s2);
        store<f32>(pc + 3 * ldb, s3);
      }
    }
    // Up to three rows left, one at a time, 8 then 4 columns per pass.
    for (; i < M; i++) {
      const a0 = a + <usize>i * ra;
      let j = 0;
      for (; j + 8 <= N; j += 8) {
        const pc = c + ((<usize>i * N + j) << 2);
        let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
        if (acc) {
          c0 = v128.load(pc);
          c1 = v128.load(pc, 16);
        }
        let pa = a0;
        let pb = b + (<usize>j << 2);
        for (let k = 0; k < K; k++) {
          const av = v128.load32_splat(pa);
          c0 = madd(av, v128.load(pb), c0);
          c1 = madd(av, v128.load(pb, 16), c1);
          pa += ka;
          pb += ldb;
        }
        v128.store(pc, c0);
        v128.store(pc, c1, 16);
      }
      for (; j + 4 <= N; j += 4) {
        const pc = c + ((<usize>i * N + j) << 2);
        let c0 = acc ? v128.load(pc) : f32x4.splat(0);
        let pa = a0;
        let pb = b + (<usize>j << 2);
        for (let k = 0; k < K; k++) {
          c0 = madd(v128.load32_splat(pa), v128.load(pb), c0);
          pa += ka;
          pb += ldb;
        }
        v128.store(pc, c0);
      }
      for (; j < N; j++) {
        const pc = c + ((<usize>i * N + j) << 2);
        let s: f32 = acc ? load<f32>(pc) : 0;
        let pa = a0;
        let pb = b + (<usize>j << 2);
        for (let k = 0; k < K; k++) {
          s += load<f32>(pa) * load<f32>(pb);
          pa += ka;
          pb += ldb;
        }
        store<f32>(pc, s);
      }
    }
  } else {
    // Scalar build: one row × four columns of scalar accumulators.
    for (; i < M; i++) {
      const a0 = a + <usize>i * ra;
      let j = 0;
      for (; j + 4 <= N; j += 4) {
        const pc = c + ((<usize>i * N + j) << 2);
        let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
        if (acc) {
          s0 = load<f32>(pc); s1 = load<f32>(pc, 4); s2 = load<f32>(pc, 8); s3 = load<f32>(pc, 12);
        }
        let pa = a0;
        let pb = b + (<usize>j << 2);
        for (let k = 0; k < K; k++) {
          const av = load<f32>(pa);
          s0 += av * load<f32>(pb);
          s1 += av * load<f32>(pb, 4);
          s2 += av * load<f32>(pb, 8);
          s3 += av * load<f32>(pb, 12);
          pa += ka;
          pb += ldb;
        }
        store<f32>(pc, s0);
        store<f32>(pc, s1, 4);
        store<f32>(pc, s2, 8);
        store<f32>(pc, s3, 12);
      }
      for (; j < N; j++) {
        const pc = c + ((<usize>i * N + j) << 2);
        let s: f32 = acc ? load<f32>(pc) : 0;
        let pa = a0;
        let pb = b + (<usize>j << 2);
        for (let k = 0; k < K; k++) {
          s += load<f32>(pa) * load<f32>(pb);
          pa += ka;
          pb += ldb;
        }
        store<f32>(pc, s);
      }
    }
  }
}

/** C[M×N] = A[M×K]·B[K×N], f32. */
export function matmul_f32(M: i32, N: i32, K: i32, a: usize, b: usize, c: usize): void {
  gemmBlock(M, N, K, a, K, 1, b, c, false);
}

/**
 * C[M×N] = Aᵀ·B, f32, with A stored K×M and B stored K×N. `work`: scratch for the packed A
 * panel, at least MATMUL_TN_WORK = 8 KiB (16 bytes × the largest K-block, 512), aliasing nothing.
 */
export function matmul_tn_f32(M: i32, N: i32, K: i32, a: usize, b: usize, c: usize, work: usize): void {
  if (K == 0) {
    memory.fill(c, 0, (<usize>M * N) << 2);
    return;
  }
  const KC = kBlock(N);
  const lda = <usize>M << 2;
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kc = min(KC, K - k0);
    const acc = k0 > 0;
    const ak = a + <usize>k0 * lda;
    const bk = b + ((<usize>k0 * N) << 2);
    let i = 0;
    if (M >= PACK_M) {
      for (; i + 4 <= M; i += 4) {
        let src = ak + (<usize>i << 2);
        let dst = work;
        for (let k = 0; k < kc; k++) {
          if (ASC_FEATURE_SIMD) v128.store(dst, v128.load(src));
          else memory.copy(dst, src, 16);
          src += lda;
          dst += 16;
        }
        gemmBlock(4, N, kc, work, 1, 4, bk, c + ((<usize>i * N) << 2), acc);
      }
    }
    if (i < M) gemmBlock(M - i, N, kc, ak + (<usize>i << 2), 1, M, bk, c + ((<usize>i * N) << 2), acc);
  }
}

/** C[M×N] = A·Bᵀ, f32, with A stored M×K and B stored N×K. */
export function matmul_nt_f32(M: i32, N: i32, K: i32, a: usize, b: usize, c: usize): void {
  // K = 1 (the input gradient of a layer with one output): B stored N×1 is also B stored 1×N,
  // so this is the outer product A·B, which A·B's 4×8 tiles do at full width; the dot-product
  // tiles would spend a horizontal sum on every single product (measured 4× slower at 800×16).
  if (K == 1) {
    gemmBlock(M, N, 1, a, 1, 1, b, c, false);
    return;
  }
  const lda = <usize>K << 2;
  const ldc = <usize>N << 2;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const K4 = K & ~3;
    for (; i + 2 <= M; i += 2) {
      const pa0 = a + <usize>i * lda;
      const pa1 = pa0 + lda;
      let j = 0;
      for (; j + 4 <= N; j += 4) {
        const pb0 = b + <usize>j * lda;
        let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
        let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
        for (let k = 0; k < K4; k += 4) {
          const o = <usize>k << 2;
          const a0 = v128.load(pa0 + o);
          const a1 = v128.load(pa1 + o);
          let bv = v128.load(pb0 + o);
          c00 = madd(a0, bv, c00);
          c10 = madd(a1, bv, c10);
          bv = v128.load(pb0 + lda + o);
          c01 = madd(a0, bv, c01);
          c11 = madd(a1, bv, c11);
          bv = v128.load(pb0 + 2 * lda + o);
          c02 = madd(a0, bv, c02);
          c12 = madd(a1, bv, c12);
          bv = v128.load(pb0 + 3 * lda + o);
          c03 = madd(a0, bv, c03);
          c13 = madd(a1, bv, c13);
        }
        let s00 = hsum(c00), s01 = hsum(c01), s02 = hsum(c02), s03 = hsum(c03);
        let s10 = hsum(c10), s11 = hsum(c11), s12 = hsum(c12), s13 = hsum(c13);
        for (let k = K4; k < K; k++) {
          const o = <usize>k << 2;
          const x0 = load<f32>(pa0 + o), x1 = load<f32>(pa1 + o);
          const y0 = load<f32>(pb0 + o), y1 = load<f32>(pb0 + lda + o);
          const y2 = load<f32>(pb0 + 2 * lda + o), y3 = load<f32>(pb0 + 3 * lda + o);
          s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
          s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
        }
        const pc = c + ((<usize>i * N + j) << 2);
        store<f32>(pc, s00); store<f32>(pc, s01, 4); store<f32>(pc, s02, 8); store<f32>(pc, s03, 12);
        store<f32>(pc + ldc, s10); store<f32>(pc + ldc, s11, 4);
        store<f32>(pc + ldc, s12, 8); store<f32>(pc + ldc, s13, 12);
      }
      for (; j < N; j++) {
        const pb0 = b + <usize>j * lda;
        store<f32>(c + ((<usize>i * N + j) << 2), dotSimd(K, pa0, pb0));
        store<f32>(c + ((<usize>(i + 1) * N + j) << 2), dotSimd(K, pa1, pb0));
      }
    }
    for (; i < M; i++) {
      const pa0 = a + <usize>i * lda;
      for (let j = 0; j < N; j++) {
        store<f32>(c + ((<usize>i * N + j) << 2), dotSimd(K, pa0, b + <usize>j * lda));
      }
    }
  } else {
    // Scalar build: sequential dot products (the reference's order).
    for (; i < M; i++) {
      const pa0 = a + <usize>i * lda;
      for (let j = 0; j < N; j++) {
        const pb0 = b + <usize>j * lda;
        let s: f32 = 0;
        for (let k = 0; k < K; k++) {
          const o = <usize>k << 2;
          s += load<f32>(pa0 + o) * load<f32>(pb0 + o);
        }
        store<f32>(c + ((<usize>i * N + j) << 2), s);
      }
    }
  }
}

// (l0 + l1) + (l2 + l3): the k-lanes' partial sums.
// @ts-ignore: decorator
@inline
function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

// Σ_k x[k]·y[k], four k-lanes then the tail; the SIMD builds only.
// @ts-ignore: decorator
@inline
function dotSimd(K: i32, x: usize, y: usize): f32 {
  let acc = f32x4.splat(0);
  let k = 0;
  for (; k + 4 <= K; k += 4) {
    const o = <usize>k << 2;
    acc = madd(v128.load(x + o), v128.load(y + o), acc);
  }
  let s = hsum(acc);
  for (; k < K; k++) s += load<f32>(x + (<usize>k << 2)) * load<f32>(y + (<usize>k << 2));
  return s;
}
