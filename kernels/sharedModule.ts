// The kernel modules import their memory as `(memory 1 65536)`. Worker threads (ngmm/threads)
// need every thread's instance on ONE memory, which the Web platform only shares when it is a
// shared memory (`WebAssembly.Memory({ shared: true })`, backed by a SharedArrayBuffer), and a
// module may import a shared memory only if its import says `shared`. Rather than embed a second
// copy of each module (the bundle is at its size budget), the shared variant is the same bytes
// with one flag changed: the memory import's limits byte goes from 0x01 (min and max) to 0x03
// (min, max, shared) — WebAssembly threads proposal, binary format "limits". The code needs no
// change: plain loads and stores are valid on a shared memory, and the kernels use no atomics
// (each thread writes only memory it was given).

function leb(bytes: Uint8Array, at: number): [value: number, next: number] {
  let v = 0, shift = 0, i = at;
  for (;;) {
    const b = bytes[i++];
    v += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [v, i];
    shift += 7;
  }
}

/** A copy of a module's bytes whose imported memory is declared shared; throws if it has none with a maximum. */
export function sharedVariant(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  let i = 8; // magic and version
  while (i < out.length) {
    const id = out[i];
    const [size, body] = leb(out, i + 1);
    if (id === 2) {
      let [count, j] = leb(out, body);
      while (count-- > 0) {
        for (let s = 0; s < 2; s++) {
          const [len, str] = leb(out, j); // module name, then field name
          j = str + len;
        }
        const kind = out[j++];
        if (kind === 0x02) {
          if (out[j] !== 0x01) throw new Error(`sharedVariant: the memory import has limits flag ${out[j]}, expected 0x01 (min and max)`);
          out[j] = 0x03;
          return out;
        }
        // Skip the other import kinds' descriptions: function (type index), table (reftype,
        // limits), global (valtype, mutability).
        if (kind === 0x00) j = leb(out, j)[1];
        else if (kind === 0x01) {
          const flag = out[j + 1];
          j = leb(out, j + 2)[1];
          if (flag & 1) j = leb(out, j)[1];
        } else if (kind === 0x03) j += 2;
        else throw new Error(`sharedVariant: unknown import kind ${kind}`);
      }
    }
    i = body + size;
  }
  throw new Error('sharedVariant: the module imports no memory');
}
