// SHA-256 of a one-byte prefix followed by data, the shape of every RFC 9162 tree hash. The
// native addon (native/sha256.c, built by scripts/build-native.sh) does it in a few hundred
// nanoseconds; node:crypto needs about 2 µs per call, almost all of it call overhead, which is a
// large share of what each audited query costs. Both give identical results; PGSEAL_NATIVE=0
// forces node:crypto (tests run both).
import { createHash, hash } from 'node:crypto';

import { nativeFunctions } from '../native-addon.js';

type NativeSha256 = (out: Uint8Array, prefix: number, a: Uint8Array, b?: Uint8Array) => void;
/** NativeAppendLeaves is native/sha256.c's appendLeaves: a whole batch of records into a frontier slab; returns the new count. */
export type NativeAppendLeaves = (slab: Uint8Array, count: number, size: number, data: Uint8Array, ends: Uint32Array, n: number) => number;
type Addon = { sha256: NativeSha256; appendLeaves: NativeAppendLeaves };

const addon: Partial<Addon> = nativeFunctions<Addon>(['sha256', 'appendLeaves']) ?? {};
const native = addon.sha256;

/** nativeAppendLeaves is the addon's batch append, or undefined without the addon. */
export const nativeAppendLeaves: NativeAppendLeaves | undefined = addon.appendLeaves;

/** sha256Backend names the implementation in use, for the operational log and tests. */
export const sha256Backend: 'native' | 'node:crypto' = native ? 'native' : 'node:crypto';

// The fallback copies into a reused input: a one-shot hash() of a copy beats a Hash object per call.
const scratch = Buffer.alloc(1 + 16 * 1024);

/** prefixedSha256 returns SHA-256(prefix ‖ a ‖ b) as a new 32-byte Buffer. */
export function prefixedSha256(prefix: number, a: Uint8Array, b?: Uint8Array): Buffer {
  if (native) {
    const out = Buffer.allocUnsafe(32);
    native(out, prefix, a, b);
    return out;
  }
  return fallback(prefix, a, b);
}

/** prefixedSha256Into writes SHA-256(prefix ‖ a ‖ b) into out (32 bytes), which may overlap a or b. */
export function prefixedSha256Into(out: Uint8Array, prefix: number, a: Uint8Array, b?: Uint8Array): void {
  if (native) native(out, prefix, a, b); // the inputs are hashed before the digest is written
  else out.set(fallback(prefix, a, b));
}

function fallback(prefix: number, a: Uint8Array, b?: Uint8Array): Buffer {
  const total = 1 + a.length + (b?.length ?? 0);
  if (total <= scratch.length) {
    scratch[0] = prefix;
    scratch.set(a, 1);
    if (b) scratch.set(b, 1 + a.length);
    return hash('sha256', scratch.subarray(0, total), 'buffer');
  }
  const h = createHash('sha256').update(Buffer.of(prefix)).update(a);
  if (b) h.update(b);
  return h.digest();
}
