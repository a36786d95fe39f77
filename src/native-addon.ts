// pgseal's optional native addon (native/*.c, built by scripts/build-native.sh into
// dist/native/pgseal_native.node). Every user has a JavaScript fallback; PGSEAL_NATIVE=0 forces
// them all.
import { createRequire } from 'node:module';

/** nativeAddon is the loaded addon's exports, or null (not built, failed to load, or PGSEAL_NATIVE=0). */
export const nativeAddon: Readonly<Record<string, unknown>> | null = load();

function load(): Record<string, unknown> | null {
  if (process.env['PGSEAL_NATIVE'] === '0') return null;
  try {
    return createRequire(import.meta.url)('../native/pgseal_native.node') as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** nativeFunctions returns the named functions of the addon, or null unless every one is there. */
export function nativeFunctions<T extends Record<string, (...args: never[]) => unknown>>(names: ReadonlyArray<keyof T & string>): T | null {
  const a = nativeAddon;
  if (a === null || !names.every((n) => typeof a[n] === 'function')) return null;
  return a as unknown as T;
}
