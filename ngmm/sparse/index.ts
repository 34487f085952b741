// A sparse Cholesky factorisation P A P' = L L' of a symmetric positive definite matrix, for the
// random-effect systems of linear mixed models (docs/sparse.md). The work is split as CHOLMOD
// and CSparse split it: an ordering and a symbolic analysis (elimination tree, the pattern of
// L) done once for a pattern, then numeric factorisations of new values on that pattern.
//
// Storage is compressed sparse column (CSC), 0-based. The input is the lower triangle of A
// (diagonal included); the factor is lower triangular with each column's diagonal first and
// its rows ascending. The numeric factorisation is the up-looking algorithm (Davis 2006,
// "Direct Methods for Sparse Linear Systems", SIAM, §4.7): row k of L comes from a sparse
// triangular solve whose pattern is the set of nodes reached from A's row k in the
// elimination tree (§4.1–4.3).

/** A symmetric matrix's lower triangle (diagonal included) in CSC form. */
export interface SymmetricPattern {
  n: number;
  /** n + 1 column pointers. */
  colPtr: Int32Array;
  /** Row index of each stored entry; every row index ≥ its column. */
  rowIdx: Int32Array;
}

export class SparseError extends Error {
  override name = 'SparseError';
}

/**
 * The lower-triangle pattern of a symmetric matrix from the rows present in each column (each
 * list holds row indices ≥ its column, repeats allowed), with `find(r, c)`: the position of
 * entry (r, c), r ≥ c, in rowIdx (a binary search within the column; an absent entry is an
 * internal error naming `what`).
 */
export function lowerPattern(rowsOf: readonly Iterable<number>[], what: string): SymmetricPattern & { find(r: number, c: number): number } {
  const n = rowsOf.length;
  const colPtr = new Int32Array(n + 1);
  const sorted = rowsOf.map((r) => Int32Array.from(new Set(r)).sort());
  for (let c = 0; c < n; c++) colPtr[c + 1] = colPtr[c] + sorted[c].length;
  const rowIdx = new Int32Array(colPtr[n]);
  for (let c = 0; c < n; c++) rowIdx.set(sorted[c], colPtr[c]);
  const find = (r: number, c: number): number => {
    let lo = colPtr[c], hi = colPtr[c + 1] - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (rowIdx[mid] === r) return mid;
      if (rowIdx[mid] < r) lo = mid + 1; else hi = mid - 1;
    }
    throw new Error(`internal: an entry of ${what} is missing from its pattern`);
  };
  return { n, colPtr, rowIdx, find };
}

/** The elimination graph of minimumDegree: current degrees, and the elimination of a node. */
interface EliminationGraph {
  degree(v: number): number;
  /** Removes v and joins its neighbours into a clique; returns the neighbours. */
  eliminate(v: number): ArrayLike<number>;
}

/** Adjacency sets: memory in proportion to the edges, a hash lookup per pair joined. */
function setGraph(pat: SymmetricPattern): EliminationGraph {
  const { n, colPtr, rowIdx } = pat;
  const adj: Set<number>[] = Array.from({ length: n }, () => new Set<number>());
  for (let j = 0; j < n; j++) {
    for (let p = colPtr[j]; p < colPtr[j + 1]; p++) {
      const i = rowIdx[p];
      if (i !== j) { adj[i].add(j); adj[j].add(i); }
    }
  }
  return {
    degree: (v) => adj[v].size,
    eliminate(v) {
      const nb = Array.from(adj[v]);
      for (const a of nb) adj[a].delete(v);
      for (let x = 0; x < nb.length; x++) {
        const sa = adj[nb[x]];
        for (let y = x + 1; y < nb.length; y++) {
          if (!sa.has(nb[y])) { sa.add(nb[y]); adj[nb[y]].add(nb[x]); }
        }
      }
      adj[v].clear();
      return nb;
    },
  };
}

/**
 * Adjacency bit rows (n²/8 bytes): joining v's neighbours into a clique is one word-wise OR of
 * v's row into each neighbour's row, over the words that v's row occupies. Where elimination
 * makes a dense block (crossed factors: every pair of levels of the second factor that share a
 * level of the first), the set version's cost, a hash lookup per pair of neighbours per
 * elimination, dominates the fit (InstEval: seconds); this is the same graph and the same
 * degrees, hence the same ordering.
 */
function bitGraph(pat: SymmetricPattern): EliminationGraph {
  const { n, colPtr, rowIdx } = pat;
  const W = (n + 31) >>> 5;
  const bits = new Uint32Array(n * W);
  const deg = new Int32Array(n);
  const set = (i: number, j: number): void => {
    const w = i * W + (j >>> 5), m = 1 << (j & 31);
    if (!(bits[w] & m)) { bits[w] |= m; deg[i]++; }
  };
  for (let j = 0; j < n; j++) {
    for (let p = colPtr[j]; p < colPtr[j + 1]; p++) {
      const i = rowIdx[p];
      if (i !== j) { set(i, j); set(j, i); }
    }
  }
  const popcount = (x: number): number => {
    x -= (x >>> 1) & 0x55555555;
    x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
    return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
  };
  const nb = new Int32Array(n);
  return {
    degree: (v) => deg[v],
    eliminate(v) {
      const rv = v * W;
      let cnt = 0, lo = W, hi = -1;
      for (let w = 0; w < W; w++) {
        let x = bits[rv + w];
        if (x === 0) continue;
        if (w < lo) lo = w;
        hi = w;
        while (x !== 0) {
          const b = 31 - Math.clz32(x & -x);
          nb[cnt++] = (w << 5) | b;
          x &= x - 1;
        }
      }
      const vw = v >>> 5, vm = ~(1 << (v & 31));
      for (let k = 0; k < cnt; k++) {
        const a = nb[k], ra = a * W;
        let added = 0;
        for (let w = lo; w <= hi; w++) {
          const old = bits[ra + w], nw = old | bits[rv + w];
          if (nw !== old) { added += popcount(nw ^ old); bits[ra + w] = nw; }
        }
        // a's own bit came in with v's row, and v goes.
        bits[ra + (a >>> 5)] &= ~(1 << (a & 31));
        bits[ra + vw] &= vm;
        deg[a] += added - 2;
      }
      bits.fill(0, rv, rv + W);
      deg[v] = 0;
      return nb.subarray(0, cnt);
    },
  };
}

/** Bit rows up to this many nodes (32 MiB); adjacency sets beyond. */
const BIT_GRAPH_MAX = 16384;

/**
 * A fill-reducing ordering by minimum degree on the explicit elimination graph (Tinney &
 * Walker 1967; George & Liu 1989): repeatedly eliminate a node of least current degree and
 * join its neighbours into a clique. Ties go to the smaller `priority` (then the smaller
 * index), which lets a caller put the nodes it knows should go first — for an LMM, the
 * random-effect blocks of the factor with more levels — ahead.
 *
 * This is exact minimum degree, not AMD's approximate degrees with quotient graphs: its cost is
 * of the order of the symbolic factorisation (Σ deg² over eliminated nodes, the same order as
 * one numeric factorisation's flops), which is paid once per pattern. `graph` chooses the
 * graph's storage (both give the same ordering); by default bit rows up to 16,384 nodes.
 *
 * Returns perm with perm[new] = old.
 */
export function minimumDegree(pat: SymmetricPattern, priority?: ArrayLike<number>, graph?: 'bits' | 'sets'): Int32Array {
  const { n } = pat;
  const g = (graph ?? (n <= BIT_GRAPH_MAX ? 'bits' : 'sets')) === 'bits' ? bitGraph(pat) : setGraph(pat);
  const pri = (v: number): number => (priority ? priority[v] : 0);
  // Binary heap of (degree, priority, index) with lazy deletion: a popped entry is used only
  // when its degree is the node's current one and the node is not yet eliminated.
  const heapDeg: number[] = [], heapNode: number[] = [];
  const less = (a: number, b: number): boolean => {
    if (heapDeg[a] !== heapDeg[b]) return heapDeg[a] < heapDeg[b];
    const pa = pri(heapNode[a]), pb = pri(heapNode[b]);
    if (pa !== pb) return pa < pb;
    return heapNode[a] < heapNode[b];
  };
  const swap = (a: number, b: number): void => {
    [heapDeg[a], heapDeg[b]] = [heapDeg[b], heapDeg[a]];
    [heapNode[a], heapNode[b]] = [heapNode[b], heapNode[a]];
  };
  const push = (d: number, v: number): void => {
    heapDeg.push(d); heapNode.push(v);
    let c = heapDeg.length - 1;
    while (c > 0) {
      const par = (c - 1) >> 1;
      if (!less(c, par)) break;
      swap(c, par); c = par;
    }
  };
  const pop = (): void => {
    const last = heapDeg.length - 1;
    swap(0, last);
    heapDeg.pop(); heapNode.pop();
    let c = 0;
    for (;;) {
      const l = 2 * c + 1, r = l + 1;
      let m = c;
      if (l < heapDeg.length && less(l, m)) m = l;
      if (r < heapDeg.length && less(r, m)) m = r;
      if (m === c) break;
      swap(c, m); c = m;
    }
  };
  for (let v = 0; v < n; v++) push(g.degree(v), v);
  const done = new Uint8Array(n);
  const perm = new Int32Array(n);
  let k = 0;
  while (k < n) {
    const d = heapDeg[0], v = heapNode[0];
    pop();
    if (done[v] || d !== g.degree(v)) continue;
    done[v] = 1;
    perm[k++] = v;
    const nb = g.eliminate(v);
    for (let x = 0; x < nb.length; x++) push(g.degree(nb[x]), nb[x]);
  }
  return perm;
}

/**
 * The pattern of I + Σ_j v_j v_jᵀ, where row j touches the s columns cols[j·s … j·s + s) (one per
 * random-effect slot: Z'Z of a random-effect design, or its weighted H). Returns the lower
 * triangle, the position of each diagonal entry, and for each row the positions of its s(s+1)/2
 * pairs (a, b ≤ a) in rowIdx — so that each numeric assembly is a scatter without searching.
 */
export function rowPairPattern(cols: Int32Array, n: number, s: number, Q: number, what: string): { pattern: SymmetricPattern; diagPos: Int32Array; pairPos: Int32Array } {
  const rowsOf: number[][] = Array.from({ length: Q }, (_, c) => [c]);
  for (let j = 0; j < n; j++) {
    for (let a = 0; a < s; a++) {
      for (let b = 0; b < a; b++) {
        const x = cols[j * s + a], y = cols[j * s + b];
        rowsOf[Math.min(x, y)].push(Math.max(x, y));
      }
    }
  }
  const { find, ...pattern } = lowerPattern(rowsOf, what);
  const diagPos = new Int32Array(Q);
  for (let c = 0; c < Q; c++) diagPos[c] = find(c, c);
  const np = (s * (s + 1)) / 2;
  const pairPos = new Int32Array(n * np);
  for (let j = 0; j < n; j++) {
    let k = 0;
    for (let a = 0; a < s; a++) {
      for (let b = 0; b <= a; b++, k++) {
        const x = cols[j * s + a], y = cols[j * s + b];
        pairPos[j * np + k] = find(Math.max(x, y), Math.min(x, y));
      }
    }
  }
  return { pattern, diagPos, pairPos };
}

/** The same rows' pairs as positions in L's pattern (where the selected inverse is kept). */
export function rowPairEntries(chol: SparseCholesky, cols: Int32Array, n: number, s: number): Int32Array {
  const np = (s * (s + 1)) / 2, out = new Int32Array(n * np);
  for (let j = 0; j < n; j++) {
    let k = 0;
    for (let a = 0; a < s; a++) for (let b = 0; b <= a; b++, k++) out[j * np + k] = chol.entryIndex(cols[j * s + a], cols[j * s + b]);
  }
  return out;
}

/**
 * The symbolic analysis of a pattern (ordering, elimination tree, pattern of L) and numeric
 * factorisations of values on it.
 */
export class SparseCholesky {
  readonly n: number;
  /** perm[new] = old: row/column `new` of P A P' is row/column perm[new] of A. */
  readonly perm: Int32Array;
  /** Elimination tree of P A P' (parent of each column, −1 at a root). */
  readonly parent: Int32Array;
  /** L's column pointers (n + 1), row indices and values; values hold the last factorisation. */
  readonly Lp: Int32Array;
  readonly Li: Int32Array;
  readonly Lx: Float64Array;
  // P A P' by columns, upper triangle (rows ≤ column), as positions into A's value array.
  private readonly Cp: Int32Array;
  private readonly Ci: Int32Array;
  private readonly Csrc: Int32Array;
  private readonly x: Float64Array;      // dense work vector of the numeric factorisation
  private readonly next: Int32Array;     // next free slot per column of L while filling it
  private readonly stack: Int32Array;
  private readonly flag: Int32Array;
  private factored = false;
  /**
   * First column of the dense tail: columns tailStart..n−1 of L are factored (and inverted) as
   * one dense block, m = n − tailStart square, rather than column by column; n when there is
   * none. Where elimination fills a block (the levels of the smaller crossed factor, once the
   * larger one's are eliminated: InstEval's 1,128 lecturers), dense loops over contiguous rows
   * beat the sparse ones' indirect indexing several times. The factor and the inverse are the
   * same up to rounding: an entry outside L's pattern comes out exactly 0 in the dense
   * factorisation (each of its products has a zero factor) and is not copied back.
   */
  readonly tailStart: number;
  /** The tail's m × m row-major work: the Schur complement, then its factor. */
  private readonly D: Float64Array;
  /** The selected inverse's work on the tail (m × m each), made at its first use. */
  private tailLc: Float64Array | null = null;
  private tailZ: Float64Array | null = null;

  /**
   * @param pat lower triangle of A (diagonal included), CSC; every diagonal entry must be stored.
   * @param perm an ordering (perm[new] = old); default: minimumDegree(pat, priority).
   * @param denseTail when L's trailing columns are dense enough (see tailStart); the defaults
   *   are a block of at least 64 and at most 2,048 columns with at least 90% of its entries
   *   (denser tails gain more per flop than they add in structural zeros; InstEval: 888
   *   columns, factorisation about 1.8 times and selected inverse about 1.3 times faster).
   */
  constructor(pat: SymmetricPattern, opts: {
    perm?: Int32Array; priority?: ArrayLike<number>;
    denseTail?: { minSize?: number; maxSize?: number; minDensity?: number } | false;
  } = {}) {
    const { n, colPtr, rowIdx } = pat;
    if (colPtr.length !== n + 1) throw new SparseError(`colPtr has ${colPtr.length} entries; n = ${n} needs ${n + 1}`);
    const nnz = colPtr[n];
    const hasDiag = new Uint8Array(n);
    for (let j = 0; j < n; j++) {
      for (let p = colPtr[j]; p < colPtr[j + 1]; p++) {
        const i = rowIdx[p];
        if (!(i >= j && i < n)) throw new SparseError(`entry ${p} of column ${j} has row ${i}, outside the lower triangle`);
        if (i === j) hasDiag[j] = 1;
      }
    }
    for (let j = 0; j < n; j++) if (!hasDiag[j]) throw new SparseError(`column ${j} has no stored diagonal entry`);
    const perm = opts.perm ?? minimumDegree(pat, opts.priority);
    if (perm.length !== n) throw new SparseError(`the ordering has ${perm.length} entries for n = ${n}`);
    const inv = new Int32Array(n).fill(-1);
    for (let k = 0; k < n; k++) {
      if (!(perm[k] >= 0 && perm[k] < n) || inv[perm[k]] >= 0) throw new SparseError('the ordering is not a permutation');
      inv[perm[k]] = k;
    }
    this.n = n; this.perm = perm;

    // C = P A P', upper triangle by columns: A's entry (i, j) goes to (min, max) of its new
    // indices. Csrc remembers where its value comes from.
    const Cp = new Int32Array(n + 1);
    for (let j = 0; j < n; j++) {
      for (let p = colPtr[j]; p < colPtr[j + 1]; p++) Cp[Math.max(inv[rowIdx[p]], inv[j]) + 1]++;
    }
    for (let k = 0; k < n; k++) Cp[k + 1] += Cp[k];
    const Ci = new Int32Array(nnz), Csrc = new Int32Array(nnz);
    const fill = Cp.slice(0, n);
    for (let j = 0; j < n; j++) {
      for (let p = colPtr[j]; p < colPtr[j + 1]; p++) {
        const a = inv[rowIdx[p]], b = inv[j];
        const c = Math.max(a, b), q = fill[c]++;
        Ci[q] = Math.min(a, b); Csrc[q] = p;
      }
    }
    this.Cp = Cp; this.Ci = Ci; this.Csrc = Csrc;

    // Elimination tree with path compression through `ancestor` (Liu 1986; Davis §4.1).
    const parent = new Int32Array(n).fill(-1), ancestor = new Int32Array(n).fill(-1);
    for (let k = 0; k < n; k++) {
      for (let p = Cp[k]; p < Cp[k + 1]; p++) {
        let i = Ci[p];
        while (i !== -1 && i < k) {
          const up = ancestor[i];
          ancestor[i] = k;
          if (up === -1) { parent[i] = k; break; }
          i = up;
        }
      }
    }
    this.parent = parent;
    this.flag = new Int32Array(n).fill(-1);
    this.stack = new Int32Array(n);

    // Column counts of L from the row patterns (each row's pattern is an elimination-tree
    // reach, so this costs O(nnz(L)), paid once).
    const counts = new Int32Array(n).fill(1);
    for (let k = 0; k < n; k++) {
      const top = this.reach(k);
      for (let t = top; t < n; t++) counts[this.stack[t]]++;
    }
    const Lp = new Int32Array(n + 1);
    for (let k = 0; k < n; k++) Lp[k + 1] = Lp[k] + counts[k];
    this.Lp = Lp;
    this.Li = new Int32Array(Lp[n]);
    this.Lx = new Float64Array(Lp[n]);
    this.x = new Float64Array(n);
    this.next = new Int32Array(n);
    this.fillPattern();
    // The dense tail: the first column t such that columns t..n−1 hold at least minDensity of
    // the (n−t)(n−t+1)/2 entries of their lower triangle (all their entries lie there).
    let t0 = n;
    if (opts.denseTail !== false) {
      const minSize = opts.denseTail?.minSize ?? 64, maxSize = opts.denseTail?.maxSize ?? 2048;
      const minDensity = opts.denseTail?.minDensity ?? 0.9;
      for (let t = n - 1; t >= Math.max(0, n - maxSize); t--) {
        const m = n - t;
        if (m >= minSize && Lp[n] - Lp[t] >= minDensity * (m * (m + 1)) / 2) t0 = t;
      }
    }
    this.tailStart = t0;
    const m = n - t0;
    this.D = new Float64Array(m * m);
  }

  /** Number of stored entries of L (diagonal included). */
  get nnzL(): number {
    return this.Lp[this.n];
  }

  /**
   * Pattern of row k of L (without the diagonal) into stack[top..n−1], in an order where every
   * node comes before its elimination-tree ancestors; returns top.
   */
  private reach(k: number): number {
    const { n, Cp, Ci, parent, flag, stack } = this;
    let top = n;
    flag[k] = k;
    for (let p = Cp[k]; p < Cp[k + 1]; p++) {
      let i = Ci[p];
      if (i >= k) continue;
      let len = 0;
      // Walk up to the first flagged node; the path, pushed in reverse, keeps the order.
      while (flag[i] !== k) {
        stack[len++] = i;
        flag[i] = k;
        i = parent[i];
      }
      while (len > 0) stack[--top] = stack[--len];
    }
    return top;
  }

  /**
   * Numeric factorisation of the matrix whose lower-triangle values (in the pattern's order)
   * are `values`. Returns −1, or the original index of the first column whose pivot is not
   * positive and finite (the matrix is not numerically positive definite).
   */
  factor(values: Float64Array): number {
    const { n, Cp, Ci, Csrc, Lp, Li, Lx, x, next, stack, tailStart: t0, D } = this;
    const m = n - t0;
    this.factored = false;
    this.flag.fill(-1);
    for (let k = 0; k < n; k++) next[k] = Lp[k];
    for (let k = 0; k < n; k++) {
      const top = this.reach(k);
      x[k] = 0;
      for (let p = Cp[k]; p < Cp[k + 1]; p++) x[Ci[p]] += values[Csrc[p]];
      let d = x[k];
      x[k] = 0;
      for (let t = top; t < n; t++) {
        const i = stack[t];
        // A tail row takes only the head's columns here (topological order keeps every head
        // node before its ancestors, so skipping tail nodes leaves the head's solve intact).
        if (i >= t0) continue;
        const lki = x[i] / Lx[Lp[i]];
        x[i] = 0;
        for (let p = Lp[i] + 1; p < next[i]; p++) x[Li[p]] -= Lx[p] * lki;
        d -= lki * lki;
        const p = next[i]++;
        Li[p] = k; Lx[p] = lki;
      }
      if (k >= t0) {
        // What is left is row k of the Schur complement S = A₂₂ − L₂₁L₂₁'.
        const row = (k - t0) * m;
        for (let r = t0; r < k; r++) { D[row + r - t0] = x[r]; x[r] = 0; }
        D[row + k - t0] = d;
        continue;
      }
      if (!(d > 0) || !Number.isFinite(d)) {
        x.fill(0);
        return this.perm[k];
      }
      const p = next[k]++;
      Li[p] = k; Lx[p] = Math.sqrt(d);
    }
    if (m > 0) {
      const bad = denseCholesky(D, m);
      if (bad >= 0) return this.perm[t0 + bad];
      for (let c = 0; c < m; c++) {
        for (let p = Lp[t0 + c]; p < Lp[t0 + c + 1]; p++) Lx[p] = D[(Li[p] - t0) * m + c];
      }
    }
    this.factored = true;
    return -1;
  }

  private check(): void {
    if (!this.factored) throw new SparseError('no successful numeric factorisation to use');
  }

  /** log det A = 2 Σ log L_kk. */
  logDet(): number {
    this.check();
    let s = 0;
    for (let k = 0; k < this.n; k++) s += Math.log(this.Lx[this.Lp[k]]);
    return 2 * s;
  }

  /**
   * Index into L's pattern (Li/Lx, or a selected inverse) of the entry (i, j) of P A P', given
   * by A's original indices; −1 when that entry is structurally zero in L.
   */
  entryIndex(i: number, j: number): number {
    const inv = this.invPerm();
    const a = inv[i], b = inv[j];
    const r = Math.max(a, b), c = Math.min(a, b);
    let lo = this.Lp[c], hi = this.Lp[c + 1] - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.Li[mid];
      if (v === r) return mid;
      if (v < r) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
  }

  private inverse: Int32Array | null = null;
  private invPerm(): Int32Array {
    if (!this.inverse) {
      this.inverse = new Int32Array(this.n);
      for (let k = 0; k < this.n; k++) this.inverse[this.perm[k]] = k;
    }
    return this.inverse;
  }

  /** Fills Li (the pattern of L) without values, so that lookups work before a factorisation. */
  private fillPattern(): void {
    const { n, Lp, Li, next, stack } = this;
    this.flag.fill(-1);
    for (let k = 0; k < n; k++) next[k] = Lp[k];
    for (let k = 0; k < n; k++) {
      const top = this.reach(k);
      for (let t = top; t < n; t++) Li[next[stack[t]]++] = k;
      Li[next[k]++] = k;
    }
  }

  /**
   * The entries of (P A P')⁻¹ on the pattern of L (lower triangle, aligned with Li), by
   * Takahashi's recurrences (Takahashi, Fagan & Chin 1973; Erisman & Tinney 1975): from
   * L' Z = L⁻¹, for j from n − 1 down and i ∈ pattern(L_{:,j}), i > j,
   *   Z_ij = −(1/L_jj) Σ_{k ∈ pattern(L_{:,j}), k > j} L_kj Z_ik,
   *   Z_jj = 1/L_jj² − (1/L_jj) Σ_{k > j} L_kj Z_kj.
   * Every Z_ik needed lies in L's pattern (the pattern of a Cholesky factor is chordal), in a
   * column after j, so it is already known.
   *
   * The sums are formed column by column of Z rather than entry by entry: for each k in
   * pattern(L_{:,j}), one pass down Z's stored column k (rows r ≥ k) meets every Z_rk = Z_kr
   * with r also in pattern(L_{:,j}) — found through a scatter map of column j's rows — and adds
   * L_kj Z_rk to the sum of Z_rj and, for r > k, L_rj Z_rk to the sum of Z_kj (Davis's
   * sparseinv organises the same sums by columns; Amestoy, Duff, L'Excellent & Rouet 2012).
   * Cost: Σ_j Σ_{k ∈ pattern(L_{:,j})} |L_{:,k}| multiply–adds, with no searches.
   */
  selectedInverse(out?: Float64Array): Float64Array {
    this.check();
    const { n, Lp, Li, Lx } = this;
    const Z = out ?? new Float64Array(Lp[n]);
    const map = this.flag;  // row → position in column j's storage, −1 elsewhere
    map.fill(-1);
    const acc = this.x;     // sums for column j, at the rows' positions relative to Lp[j]
    const t0 = this.tailStart;
    if (t0 < n) this.tailInverse(Z);
    for (let j = t0 - 1; j >= 0; j--) {
      const d = Lx[Lp[j]], p0 = Lp[j], p1 = Lp[j + 1];
      for (let t = p0 + 1; t < p1; t++) { map[Li[t]] = t; acc[t - p0] = 0; }
      for (let t = p0 + 1; t < p1; t++) {
        const k = Li[t], lkj = Lx[t];
        const q0 = Lp[k], q1 = Lp[k + 1];
        let own = lkj * Z[q0];
        for (let q = q0 + 1; q < q1; q++) {
          const at = map[Li[q]];
          if (at < 0) continue;
          const zrk = Z[q];
          acc[at - p0] += lkj * zrk;
          own += Lx[at] * zrk;
        }
        acc[t - p0] += own;
      }
      let diag = 0;
      for (let t = p0 + 1; t < p1; t++) {
        const z = -acc[t - p0] / d;
        Z[t] = z;
        diag += Lx[t] * z;
        map[Li[t]] = -1;
      }
      Z[p0] = 1 / (d * d) - diag / d;
    }
    acc.fill(0);
    return Z;
  }

  /**
   * Takahashi's recurrences on the dense tail (selectedInverse): Z₂₂ = (L₂₂L₂₂')⁻¹ on L's
   * pattern, into Z's entries of the tail's columns. Z is kept full (both triangles) so that
   * each sum is a dot product of two contiguous rows; entries outside the pattern stay 0 and
   * only ever meet L_kj = 0.
   */
  private tailInverse(Z: Float64Array): void {
    const { n, Lp, Li, tailStart: t0, D } = this;
    const m = n - t0;
    // Lc: L₂₂ by columns (row c of Lc is column c of L₂₂); Zd: the full inverse's entries.
    const Lc = (this.tailLc ??= new Float64Array(m * m)), Zd = (this.tailZ ??= new Float64Array(m * m));
    Zd.fill(0);
    for (let i = 0; i < m; i++) for (let c = 0; c <= i; c++) Lc[c * m + i] = D[i * m + c];
    for (let j = m - 1; j >= 0; j--) {
      const d = Lc[j * m + j], lj = j * m;
      const p0 = Lp[t0 + j], p1 = Lp[t0 + j + 1];
      for (let p = p1 - 1; p > p0; p--) {
        const i = Li[p] - t0, zi = i * m;
        const z = -dot(Lc, lj + j + 1, Zd, zi + j + 1, m - j - 1) / d;
        Zd[zi + j] = z; Zd[lj + i] = z;
        Z[p] = z;
      }
      const z = 1 / (d * d) - dot(Lc, lj + j + 1, Zd, lj + j + 1, m - j - 1) / d;
      Zd[lj + j] = z;
      Z[p0] = z;
    }
  }

  /** b ← L⁻¹ b, for b in the permuted order (in place). */
  solveL(b: Float64Array, off = 0): void {
    this.check();
    const { n, Lp, Li, Lx } = this;
    for (let j = 0; j < n; j++) {
      const v = (b[off + j] /= Lx[Lp[j]]);
      for (let p = Lp[j] + 1; p < Lp[j + 1]; p++) b[off + Li[p]] -= Lx[p] * v;
    }
  }

  /** b ← L'⁻¹ b, for b in the permuted order (in place). */
  solveLt(b: Float64Array, off = 0): void {
    this.check();
    const { n, Lp, Li, Lx } = this;
    for (let j = n - 1; j >= 0; j--) {
      let s = b[off + j];
      for (let p = Lp[j] + 1; p < Lp[j + 1]; p++) s -= Lx[p] * b[off + Li[p]];
      b[off + j] = s / Lx[Lp[j]];
    }
  }

  /** out ← P b (out[new] = b[perm[new]]). */
  permute(b: ArrayLike<number>, out: Float64Array): void {
    for (let k = 0; k < this.n; k++) out[k] = b[this.perm[k]];
  }

  /** out ← P' b (out[perm[new]] = b[new]). */
  unpermute(b: ArrayLike<number>, out: Float64Array): void {
    for (let k = 0; k < this.n; k++) out[this.perm[k]] = b[k];
  }

  /** A⁻¹ b in the original order; returns a new array. */
  solve(b: ArrayLike<number>): Float64Array {
    const w = new Float64Array(this.n), out = new Float64Array(this.n);
    this.permute(b, w);
    this.solveL(w);
    this.solveLt(w);
    this.unpermute(w, out);
    return out;
  }
}

/**
 * In-place Cholesky of the m × m row-major lower triangle of D (row-oriented: each entry is
 * one dot product of two contiguous rows). Returns −1, or the first row whose pivot is not
 * positive and finite.
 */
function denseCholesky(D: Float64Array, m: number): number {
  for (let i = 0; i < m; i++) {
    const ri = i * m;
    for (let j = 0; j < i; j++) {
      const rj = j * m;
      D[ri + j] = (D[ri + j] - dot(D, ri, D, rj, j)) / D[rj + j];
    }
    const d = D[ri + i] - dot(D, ri, D, ri, i);
    if (!(d > 0) || !Number.isFinite(d)) return i;
    D[ri + i] = Math.sqrt(d);
  }
  return -1;
}

/** Σ_k a[ia + k]·b[ib + k], k < len, in four interleaved partial sums (independent additions). */
function dot(a: Float64Array, ia: number, b: Float64Array, ib: number, len: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, k = 0;
  for (; k + 3 < len; k += 4) {
    s0 += a[ia + k] * b[ib + k];
    s1 += a[ia + k + 1] * b[ib + k + 1];
    s2 += a[ia + k + 2] * b[ib + k + 2];
    s3 += a[ia + k + 3] * b[ib + k + 3];
  }
  for (; k < len; k++) s0 += a[ia + k] * b[ib + k];
  return (s0 + s1) + (s2 + s3);
}
