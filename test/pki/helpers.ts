import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

// Shared by the pki tests; defines no tests itself.

/** tempDir makes a fresh directory under os.tmpdir() that is removed when the test ends. */
export async function tempDir(t: TestContext, prefix = 'pgseal-pki-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** OpensslResult is the outcome of one openssl run. */
export interface OpensslResult {
  status: number | null;
  stdout: string;
  stderr: string;
  output: string;
}

/** openssl runs the openssl binary with args and returns its exit status and output. */
export function openssl(args: string[], env?: NodeJS.ProcessEnv): OpensslResult {
  const r = spawnSync('openssl', args, { encoding: 'utf8', env: env ?? process.env, timeout: 30_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, output: r.stdout + r.stderr };
}
