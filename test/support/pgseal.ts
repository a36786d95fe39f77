import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { freePort, runCommand, type PgServer } from './postgres.js';

/** CLI is the compiled pgseal entry point. */
export const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

/** Pgseal is a running `pgseal serve` child process and its files. */
export interface Pgseal {
  port: number;
  dir: string;
  configFile: string;
  caFile: string;
  proc: ChildProcess;
  /** log holds the operational log lines seen so far. */
  log: string[];
  /** auditRecords reads every audit record written so far. */
  auditRecords(): Promise<Array<Record<string, unknown>>>;
  /** stop sends SIGTERM and waits for exit (SIGKILL after 10 s); resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** pgsealCli runs the CLI with arguments and returns its result. */
export function pgsealCli(args: string[], timeoutMs = 60_000) {
  return runCommand(process.execPath, [CLI, ...args], { timeoutMs });
}

/** StartPgsealOptions configures startPgseal. */
export interface StartPgsealOptions {
  /** roles whose SCRAM verifiers go into the auth file. */
  roles?: string[];
  /** extra YAML appended to the generated config (top-level keys not already present). */
  extraYaml?: string;
  /** transform applied to the generated YAML text. */
  editYaml?: (yaml: string) => string;
  initArgs?: string[];
}

/** startPgseal runs `pgseal init` against a real PostgreSQL and starts `pgseal serve`. */
export async function startPgseal(pg: PgServer, opts: StartPgsealOptions = {}): Promise<Pgseal> {
  const dir = await mkdtemp(join(tmpdir(), 'pgseal-'));
  const port = await freePort();
  const authFile = join(dir, 'userlist.txt');
  const lines: string[] = [];
  for (const role of opts.roles ?? []) lines.push(`"${role}" "${await pg.scramVerifier(role)}"`);
  await writeFile(authFile, lines.join('\n') + '\n', { mode: 0o600 });
  const home = join(dir, 'home');
  const init = await pgsealCli([
    'init', '--dir', home, '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${pg.port}`,
    '--upstream-ca', pg.caFile, '--upstream-server-name', 'localhost', '--auth-file', authFile, ...(opts.initArgs ?? []),
  ]);
  if (init.code !== 0) throw new Error(`pgseal init failed: ${init.stderr}`);
  const configFile = join(home, 'pgseal.yaml');
  let yaml = await readFile(configFile, 'utf8');
  if (opts.editYaml) yaml = opts.editYaml(yaml);
  if (opts.extraYaml) yaml += `\n${opts.extraYaml}\n`;
  await writeFile(configFile, yaml);
  return launch(dir, home, configFile, port);
}

async function launch(dir: string, home: string, configFile: string, port: number): Promise<Pgseal> {
  // PGSEAL_NODE_ARGS: extra node flags for profiling a benchmark run (e.g. --cpu-prof --cpu-prof-dir=D).
  const nodeArgs = (process.env['PGSEAL_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, CLI, 'serve', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  let stderr = '';
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  await new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`pgseal did not start: ${stderr}`)), 20_000);
    let partial = '';
    proc.stdout!.on('data', (d: Buffer) => {
      partial += d.toString();
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const line of parts) {
        log.push(line);
        if (line.includes('"pgseal listening"')) {
          clearTimeout(timer);
          resolveReady();
        }
      }
    });
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`pgseal exited with ${code}: ${stderr}`));
    });
  });
  const stop = async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    }
    return proc.exitCode;
  };
  process.once('exit', () => proc.kill('SIGKILL'));
  const cfg = parse(await readFile(configFile, 'utf8')) as { audit: { dir: string } };
  const auditDir = resolve(home, cfg.audit.dir);
  return {
    port,
    dir,
    configFile,
    caFile: join(home, 'pki', 'ca.crt'),
    proc,
    log,
    stop,
    auditRecords: () => readAudit(auditDir),
  };
}

async function readAudit(dir: string): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for (const f of (await readdir(dir)).filter((n) => n.endsWith('.jsonl')).sort()) {
    // pgseal may be appending while this reads: what follows the last newline is a line still
    // being written, not yet a record.
    const lines = (await readFile(join(dir, f), 'utf8')).split('\n');
    lines.pop();
    for (const line of lines) if (line) out.push(JSON.parse(line));
  }
  return out;
}

/** restartPgseal starts `pgseal serve` again on the same configuration (after a stop or a kill). */
export function restartPgseal(p: Pgseal): Promise<Pgseal> {
  return launch(p.dir, dirname(p.configFile), p.configFile, p.port);
}

/** removePgseal stops pgseal and removes its directory. */
export async function removePgseal(p: Pgseal): Promise<void> {
  await p.stop();
  await rm(p.dir, { recursive: true, force: true });
}

/** waitFor polls cond every 20 ms until it holds or timeoutMs passes. */
export async function waitFor(cond: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

export { appendFile };
