// `log show` (src/audit/log-reader-show.ts): joining queries with results, filters, and
// escaping attacker-controlled text before it reaches a terminal.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { encodeRecord } from '../../src/audit/record.js';
import type { LogRecord } from '../../src/audit/record.js';
import type { SegmentSource } from '../../src/audit/log-reader.js';
import { clean, showLog, type ShowOptions } from '../../src/audit/log-reader-show.js';

function source(records: LogRecord[], extra = ''): SegmentSource[] {
  const text = records.map((r, i) => encodeRecord(i, `2026-11-26T13:00:0${Math.min(i, 9)}.000000Z`, r)).join('\n') + `\n${extra}`;
  return [{ name: 'seg-00000000000000000000.jsonl', label: 'mem', open: async function* () { yield Buffer.from(text); } }];
}

async function show(records: LogRecord[], o: ShowOptions = {}, extra = ''): Promise<{ out: string[]; warn: string[] }> {
  const out: string[] = [];
  const warn: string[] = [];
  await showLog((async function* () { yield* source(records, extra); })(), o, (l) => out.push(l), (l) => warn.push(l));
  return { out, warn };
}

const start = (session: string, user: string): LogRecord => ({
  type: 'session.start', session, client: { address: '10.0.0.1', port: 5000 }, tls: null, certificate: null, user,
  database: 'db', application_name: 'app', auth_method: 'scram', upstream: 'pg',
});

test('queries are joined with their results, pipelined or not; a query without result says so', async () => {
  const { out } = await show([
    start('s1', 'alice'),
    { type: 'query', session: 's1', query: 1, protocol: 'extended', sql: 'SELECT\n  1' },
    { type: 'query', session: 's1', query: 2, protocol: 'extended', sql: 'SELECT 2' },
    { type: 'result', session: 's1', query: 2, status: 'error', tags: [], rows: 0, sqlstate: '42P01', message: 'no', duration_us: 2500 },
    { type: 'result', session: 's1', query: 1, status: 'ok', tags: ['SELECT 1'], rows: 1, duration_us: 10 },
    { type: 'query', session: 's1', query: 3, protocol: 'simple', sql: 'SELECT pg_sleep(100)' },
    { type: 'session.end', session: 's1', reason: 'client closed', queries: 3, errors: 1, bytes_from_client: 1, bytes_from_server: 2, duration_us: 9000 },
  ]);
  assert.deepEqual(out.map((l) => l.slice(28)), [
    's1 alice session.start from 10.0.0.1:5000 db=db app=app auth=scram tls=none',
    's1 alice #2 extended error/42P01 rows=0 2.500ms SELECT 2',
    's1 alice #1 extended ok rows=1 0.010ms SELECT 1',
    's1 alice #3 simple no-result SELECT pg_sleep(100)',
    's1 alice session.end client closed queries=3 errors=1 9.000ms',
  ]);
});

test('filters by session, user and time; --json carries the full record', async () => {
  const recs: LogRecord[] = [
    start('s1', 'alice'), start('s2', 'bob'),
    { type: 'query', session: 's2', query: 1, protocol: 'simple', sql: 'x'.repeat(300) },
    { type: 'result', session: 's2', query: 1, status: 'ok', tags: ['SELECT 0'], rows: 0, duration_us: 1 },
    { type: 'auth.failure', session: 's3', client: { address: '10.0.0.2', port: 1 }, certificate: null, user: 'mallory', database: 'db', sqlstate: '28P01', reason: 'bad proof' },
  ];
  assert.equal((await show(recs, { user: 'bob' })).out.length, 2);
  assert.equal((await show(recs, { session: 's1' })).out.length, 1);
  assert.equal((await show(recs, { user: 'mallory' })).out[0]!.slice(28), 's3 mallory auth.failure 28P01 bad proof');
  assert.equal((await show(recs, { since: '2026-11-26T13:00:02Z' })).out.length, 2, 'records at 00:02 and later');
  const text = (await show(recs, { user: 'bob' })).out[1]!;
  assert.ok(text.endsWith(`${'x'.repeat(200)}…`));
  const json = JSON.parse((await show(recs, { user: 'bob', json: true })).out[1]!) as Record<string, unknown>;
  assert.equal(json.sql, 'x'.repeat(300));
  assert.equal(json.user, 'bob');
  assert.equal(json.rows, 0);
});

test('control and bidi characters in SQL and names are escaped; unreadable lines are warned about', async () => {
  const { out, warn } = await show(
    [start('s1', 'eve\u001b[2J'), { type: 'query', session: 's1', query: 1, protocol: 'simple', sql: 'SELECT 1 -- \u202egnp.exe\u0007' }, { type: 'result', session: 's1', query: 1, status: 'ok', tags: [], rows: 0, duration_us: 0 }],
    {},
    'not json\n{"torn":',
  );
  assert.ok(out.every((l) => !/[\u0000-\u001f\u007f-\u009f\u202e]/.test(l)), out.join('\n'));
  assert.match(out[1]!, /eve\\u\{1b\}\[2J .*SELECT 1 -- \\u\{202e\}gnp\.exe\\u\{7\}$/);
  assert.deepEqual(warn, ['seg-00000000000000000000.jsonl line 4: unreadable record skipped (run pgseal verify)', 'seg-00000000000000000000.jsonl: unterminated final line skipped']);
  assert.equal(clean('ok'), 'ok');
});

test('a query whose SQL was cut shows its whole length and SHA-256, and --json keeps both fields', async () => {
  const sha = 'ab'.repeat(32);
  const recs: LogRecord[] = [
    start('s1', 'alice'),
    { type: 'query', session: 's1', query: 1, protocol: 'simple', sql: 'INSERT INTO t VALUES (1),', sql_length: 5_000_000, sql_sha256: sha },
    { type: 'result', session: 's1', query: 1, status: 'ok', tags: ['INSERT 0 500000'], rows: 500000, duration_us: 10 },
  ];
  const { out } = await show(recs);
  assert.equal(out[1]!.slice(28), `s1 alice #1 simple ok rows=500000 0.010ms INSERT INTO t VALUES (1), [sql cut: 5000000 bytes in all, sha256 ${sha}]`);
  const json = JSON.parse((await show(recs, { json: true })).out[1]!) as Record<string, unknown>;
  assert.deepEqual([json.sql_length, json.sql_sha256], [5_000_000, sha]);
});
