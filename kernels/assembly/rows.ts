// Row gather and scatter-add for grouping: idx is a byte pointer to i32 row indices.
// Preconditions: every idx[r] is in range (the caller checks); out of scatter is pre-filled.
import { add_f64 } from './elementwise';

/** out[r,:] = x[idx[r],:] for r < R, rows of N. */
export function gather_rows_f64(R: i32, N: i32, x: usize, idx: usize, out: usize): void {
  if (N == 1) {
    // One value per row (a per-group quantity spread to its observations): a load and a
    // store, not a memory.copy call per row (57 → 5 µs on 5000 rows here).
    for (let r = 0; r < R; r++) store<f64>(out + (<usize>r << 3), load<f64>(x + (<usize>load<i32>(idx + (<usize>r << 2)) << 3)));
    return;
  }
  const ld = <usize>N << 3;
  for (let r = 0; r < R; r++) {
    const src = <usize>load<i32>(idx + (<usize>r << 2));
    memory.copy(out + <usize>r * ld, x + src * ld, ld);
  }
}

/** out[idx[r],:] += g[r,:] for r < R, in order of r. */
export function scatter_add_rows_f64(R: i32, N: i32, g: usize, idx: usize, out: usize): void {
  if (N == 1) {
    // One value per row (observations summed into their group): the running sum stays in a
    // register while consecutive rows share a destination (grouped data), the same additions
    // in the same order. 21 → 7 µs on 5000 rows in 100 groups.
    if (R == 0) return;
    let cur = load<i32>(idx);
    let acc = load<f64>(out + (<usize>cur << 3));
    for (let r = 0; r < R; r++) {
      const i = load<i32>(idx + (<usize>r << 2));
      if (i != cur) {
        store<f64>(out + (<usize>cur << 3), acc);
        cur = i;
        acc = load<f64>(out + (<usize>cur << 3));
      }
      acc += load<f64>(g + (<usize>r << 3));
    }
    store<f64>(out + (<usize>cur << 3), acc);
    return;
  }
  const ld = <usize>N << 3;
  for (let r = 0; r < R; r++) {
    const dst = out + <usize>load<i32>(idx + (<usize>r << 2)) * ld;
    add_f64(N, dst, g + <usize>r * ld, dst);
  }
}
