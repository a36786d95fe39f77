import { randomBytes } from 'node:crypto';
import { readHexFile, storePaths, writeFileAtomic } from './store.js';

// Serial numbers are 16 random bytes with the top bit cleared (positive, RFC 5280
// §4.1.2.2 allows up to 20 octets) and the next bit set, so every serial is exactly
// 32 hex digits without a leading zero octet. DIR/serial holds the *next* serial,
// as OpenSSL's `serial` file does; it is drawn when the previous one is used.

/** randomSerial returns a fresh 128-bit positive serial as 32 uppercase hex digits. */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex').toUpperCase();
}

/** writeNextSerial stores a fresh serial in DIR/serial, avoiding the ones already used. */
export async function writeNextSerial(dir: string, used: ReadonlySet<string>): Promise<void> {
  let next = randomSerial();
  while (used.has(next)) next = randomSerial();
  await writeFileAtomic(storePaths(dir).serial, `${next}\n`);
}

/** takeSerial returns the serial in DIR/serial (unless already used) and stores the next one. */
export async function takeSerial(dir: string, used: ReadonlySet<string>): Promise<string> {
  let serial = await readHexFile(storePaths(dir).serial);
  if (serial.length % 2) serial = `0${serial}`;
  if (used.has(serial) || /^0+$/.test(serial)) serial = randomSerial();
  while (used.has(serial)) serial = randomSerial();
  await writeNextSerial(dir, new Set([...used, serial]));
  return serial;
}
