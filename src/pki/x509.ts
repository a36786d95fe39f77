// @peculiar/x509 needs reflect-metadata loaded before it (TRAPS, Libraries), and a
// WebCrypto provider; every pki module imports the library through this file.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** x509 is @peculiar/x509, initialised with Node's WebCrypto. */
export { x509, webcrypto };

/** CryptoKey is WebCrypto's key type, as Node's types name it. */
export type CryptoKey = webcrypto.CryptoKey;
