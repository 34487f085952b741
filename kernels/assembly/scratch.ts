// Static scratch, per instance. Some kernels keep small working arrays (Newton state, solver
// lanes, node products) at fixed addresses in the module's static data. Every instance on one
// shared memory (worker threads, ngmm/threads) would share those addresses and overwrite each
// other's work, so the addresses are globals — globals belong to an instance — and a worker's
// instance moves them into a block of its own with `set_scratch` (called once at address 0 to
// learn the size, then at the block). The first instance keeps the static ones.
import { relocate_quadrature } from './quadrature';
import { relocate_integrand } from './marginal/integrand';
import { relocate_lanes } from './marginal/lanes';
import { relocate_solve } from './marginal/solve';

// @ts-ignore: decorator
@inline
export function aligned(bytes: i32): usize {
  return <usize>((bytes + 15) & ~15);
}

/** Moves this instance's scratch to [p, p + scratch_bytes()), 16-byte aligned; returns the bytes used. */
export function set_scratch(p: usize): usize {
  const p0 = p;
  p += relocate_quadrature(p);
  p += relocate_integrand(p);
  p += relocate_lanes(p);
  p += relocate_solve(p);
  return p - p0;
}
