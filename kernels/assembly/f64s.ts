// Element i of an f64 array at byte pointer p: the kernels' one spelling of it.

// @ts-ignore: decorator
@inline
export function ld(p: usize, i: i32): f64 {
  return load<f64>(p + (<usize>i << 3));
}

// @ts-ignore: decorator
@inline
export function st(p: usize, i: i32, v: f64): void {
  store<f64>(p + (<usize>i << 3), v);
}
