import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { openCheckpoint } from '../../src/audit/checkpoint.js';
import { formatTimestamp } from '../../src/audit/clock.js';
import type { AuditEvent, AuditParam } from '../../src/audit/events.js';
import { rootFromLeaves } from '../../src/audit/merkle.js';
import { SignerKey, generateSignerKey } from '../../src/audit/note.js';
import { MAX_LINE_BYTES, TimestampFormatter } from '../../src/audit/record.js';
import type { PgsealError } from '../../src/errors.js';
import { sqlstateOf } from '../../src/proxy/client-errors.js';
import { SealedLog } from '../../src/audit/store.js';
import { FakeClock, ORIGIN, checkLog, queryEvent, readLog, segmentNames, tempDir, waitFor } from './store-helpers.js';

const key = generateSignerKey('pgseal.test');
const verifiers = [key.verifier()];
const QUIET = { checkpointMs: 3_600_000 }; // no timer checkpoints unless a test wants them

test('records are JSON.stringify lines with the contract key order, whatever the event key order', (t) => {
  const dir = tempDir(t);
  const clock = new FakeClock();
  const log = SealedLog.open({ dir, origin: ORIGIN, signer: key, clock, ...QUIET });
  const client = { port: 5432, address: '10.0.0.1' } as { address: string; port: number };
  const events = [
    { upstream: 'db:5432', type: 'session.start', session: 'a', client, tls: { cipher: 'C', version: 'TLSv1.3', direct: false, alpn: null },
      certificate: { identity: 'i', serial: '01', subject: 'CN=x', fingerprint: 'ff' }, user: 'u', database: 'd', application_name: 'psql',
      auth_method: 'scram-sha-256' },
    { type: 'session.reject', reason: 'r', sqlstate: '28000', database: null, user: null, certificate: null, client, session: 'b' },
    { type: 'auth.failure', certificate: { fingerprint: 'ee', identity: 'j', subject: 'CN=y', serial: '02' }, session: 'c', client, user: 'u',
      database: 'd', sqlstate: '28P01', reason: 'bad' },
    queryEvent(1),
    { sql: 'SELECT 1', protocol: 'simple', query: 2, session: 'a', type: 'query' },
    { type: 'result', duration_us: 9, message: 'm', sqlstate: '42P01', rows: 0, tags: [], status: 'error', query: 2, session: 'a' },
    { type: 'result', session: 'a', query: 1, status: 'ok', tags: ['SELECT 1'], rows: 1, duration_us: 5, extra: 'dropped' },
    { messages: 3, bytes: 10, direction: 'in', query: 3, session: 'a', type: 'copy' },
    { matched: true, client, session: null, type: 'cancel' },
    { type: 'session.end', duration_us: 1, bytes_from_server: 2, bytes_from_client: 3, errors: 4, queries: 5, reason: 'terminate', session: 'a' },
  ] as AuditEvent[];
  for (const e of events) log.append(e);
  log.flush();
  const ts = formatTimestamp(clock.micros);
  const c = { address: '10.0.0.1', port: 5432 };
  const expected = [
    { seq: 0, ts, type: 'segment.start', segment: 0, origin: ORIGIN, tree_size: 0, frontier: [], reason: 'start' },
    { seq: 1, ts, type: 'session.start', session: 'a', client: c, tls: { version: 'TLSv1.3', cipher: 'C', alpn: null, direct: false },
      certificate: { subject: 'CN=x', serial: '01', fingerprint: 'ff', identity: 'i' }, user: 'u', database: 'd', application_name: 'psql',
      auth_method: 'scram-sha-256', upstream: 'db:5432' },
    { seq: 2, ts, type: 'session.reject', session: 'b', client: c, certificate: null, user: null, database: null, sqlstate: '28000', reason: 'r' },
    { seq: 3, ts, type: 'auth.failure', session: 'c', client: c, certificate: { subject: 'CN=y', serial: '02', fingerprint: 'ee', identity: 'j' },
      user: 'u', database: 'd', sqlstate: '28P01', reason: 'bad' },
    { seq: 4, ts, type: 'query', session: 's1', query: 1, protocol: 'extended', sql: 'SELECT 1',
      params: [{ format: 'text', value: 'v1' }, { format: 'null' }] },
    { seq: 5, ts, type: 'query', session: 'a', query: 2, protocol: 'simple', sql: 'SELECT 1' },
    { seq: 6, ts, type: 'result', session: 'a', query: 2, status: 'error', tags: [], rows: 0, sqlstate: '42P01', message: 'm', duration_us: 9 },
    { seq: 7, ts, type: 'result', session: 'a', query: 1, status: 'ok', tags: ['SELECT 1'], rows: 1, duration_us: 5 },
    { seq: 8, ts, type: 'copy', session: 'a', query: 3, direction: 'in', bytes: 10, messages: 3 },
    { seq: 9, ts, type: 'cancel', session: null, client: c, matched: true },
    { seq: 10, ts, type: 'session.end', session: 'a', reason: 'terminate', queries: 5, errors: 4, bytes_from_client: 3,
      bytes_from_server: 2, duration_us: 1 },
  ];
  assert.deepEqual(readLog(dir).map((l) => l.text), expected.map((e) => JSON.stringify(e)));
  log.close();
});

test('TimestampFormatter agrees with formatTimestamp across second boundaries', () => {
  const f = new TimestampFormatter();
  const base = Date.UTC(2026, 10, 26, 23, 59, 58) * 1000;
  for (const micros of [base, base + 1, base + 999_999, base + 1_000_000, base + 1_000_001, base + 2_500_000, base + 123, 0, 1]) {
    assert.equal(f.format(micros), formatTimestamp(micros), String(micros));
  }
});

test('the tree recomputed from the files matches every checkpoint, segment.start, root() and checkpoint.latest', (t) => {
  const dir = tempDir(t);
  const seen: Array<[string, number]> = [];
  const log = SealedLog.open({ dir, origin: ORIGIN, signer: key, checkpointEvery: 7, onCheckpoint: (n, s) => seen.push([n, s]), ...QUIET });
  let explicit = '';
  for (let i = 0; i < 50; i++) {
    log.append(queryEvent(i));
    if (i % 3 === 0) log.flush();
    if (i === 20) explicit = log.checkpoint();
  }
  log.flush();
  const { lines, leaves } = checkLog(dir, verifiers);
  assert.equal(log.size, lines.length);
  assert.deepEqual(log.root(), rootFromLeaves(leaves));
  log.close();
  const { checkpoints } = checkLog(dir, verifiers);
  assert.ok(checkpoints.length >= 6, `${checkpoints.length} checkpoints`);
  // Count-driven checkpoints are published at most once per checkpointMs; an explicit one and
  // the last one (at close) are published at once. What is published is always a logged checkpoint.
  const logged = checkpoints.map((c) => [c.record.note, c.record.tree_size]);
  assert.ok(seen.length < logged.length, `${seen.length} of ${logged.length} published`);
  let from = 0;
  for (const s of seen) {
    const at = logged.findIndex((l, i) => i >= from && l[0] === s[0] && l[1] === s[1]);
    assert.ok(at >= 0, 'published checkpoints are logged checkpoints, in order');
    from = at + 1;
  }
  assert.ok(seen.some(([n]) => n === explicit), 'an explicit checkpoint is published at once');
  assert.deepEqual(seen.at(-1), logged.at(-1));
  assert.equal(readFileSync(join(dir, 'checkpoint.latest'), 'utf8'), checkpoints.at(-1)!.record.note);
});

test('checkpoint cadence by count: one checkpoint per checkpointEvery records, checked after each flush', (t) => {
  const dir = tempDir(t);
  const log = SealedLog.open({ dir, origin: ORIGIN, signer: key, checkpointEvery: 10, ...QUIET });
  for (let i = 0; i < 35; i++) {
    log.append(queryEvent(i));
    log.flush();
  }
  const seqs = () => checkLog(dir, verifiers).checkpoints.map((c) => c.record.seq);
  // seq 0 is segment.start; each checkpoint covers the 10 records after the previous one.
  assert.deepEqual(seqs(), [10, 21, 32]);
  for (let i = 0; i < 25; i++) log.append(queryEvent(i)); // one flush: one checkpoint after it
  log.flush();
  assert.deepEqual(seqs(), [10, 21, 32, 64]);
  log.close();
});

test('checkpoint cadence by time: the timer seals new records within checkpointMs', async (t) => {
  const dir = tempDir(t);
  const seen: number[] = [];
  const onCheckpoint = (_note: string, size: number) => seen.push(size);
  const log = SealedLog.open({ dir, origin: ORIGIN, signer: key, checkpointMs: 20, checkpointEvery: 1_000_000, onCheckpoint });
  for (let i = 0; i < 3; i++) log.append(queryEvent(i));
  log.flush();
  const latest = join(dir, 'checkpoint.latest');
  await waitFor(() => existsSync(latest), 'checkpoint.latest');
  const note = readFileSync(latest, 'utf8');
  assert.equal(openCheckpoint(note, verifiers, ORIGIN).checkpoint.size, 4);
  assert.equal(seen[0], 4);
  assert.deepEqual(checkLog(dir, verifiers).checkpoints[0]!.record.note, note);
  log.close();
});

test('checkpoint cadence by time: no timer checkpoint unless records were added since the last one', (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const dir = tempDir(t);
  const seen: number[] = [];
  const log = SealedLog.open({ dir, origin: ORIGIN, signer: key, checkpointMs: 20, onCheckpoint: (_n, s) => seen.push(s) });
  t.mock.timers.tick(20);
  assert.deepEqual(seen, [1]); // segment.start sealed
  t.mock.timers.tick(100);
  assert.deepEqual(seen, [1]); // the checkpoint record alone is not worth another
  log.append(queryEvent(1));
  log.flush();
  t.mock.timers.tick(19);
  assert.deepEqual(seen, [1]);
  t.mock.timers.tick(1);
  assert.deepEqual(seen, [1, 3]);
  log.close();
  assert.deepEqual(checkLog(dir, verifiers).checkpoints.map((c) => c.record.seq), [1, 3]);
});

test('segments rotate by size; each segment.start carries the recomputed frontier', (t) => {
  const dir = tempDir(t);
  const log = SealedLog.open({ dir, origin: ORIGIN, signer: key, segmentMaxBytes: 1500, checkpointEvery: 6, ...QUIET });
  for (let i = 0; i < 40; i++) {
    log.append(queryEvent(i));
    log.flush();
  }
  log.close();
  const { lines } = checkLog(dir, verifiers); // frontier and tree_size of every segment.start
  const names = segmentNames(dir);
  assert.ok(names.length >= 4, `${names.length} segments`);
  const starts = lines.filter((l) => l.record.type === 'segment.start');
  assert.deepEqual(starts.map((l) => l.record.reason), ['start', ...names.slice(1).map(() => 'rotate')]);
  for (const name of names.slice(0, -1)) assert.ok(statSync(join(dir, name)).size >= 1500, name);
});

test('segments rotate by age after the write that found them old', (t) => {
  const dir = tempDir(t);
  const clock = new FakeClock();
  const log = SealedLog.open({ dir, origin: ORIGIN, signer: key, clock, segmentMaxMs: 60_000, ...QUIET });
  log.append(queryEvent(1));
  log.flush();
  clock.advance(59_000);
  log.append(queryEvent(2));
  log.flush();
  assert.equal(segmentNames(dir).length, 1);
  clock.advance(2_000);
  log.append(queryEvent(3));
  log.flush();
  assert.deepEqual(segmentNames(dir), ['seg-00000000000000000000.jsonl', 'seg-00000000000000000004.jsonl']);
  log.close();
  const { lines } = checkLog(dir, verifiers);
  assert.equal(lines[3]!.record.sql, 'SELECT 3');
  assert.equal(lines[3]!.segment, 'seg-00000000000000000000.jsonl');
  assert.equal(lines[4]!.record.reason, 'rotate');
});

test('the log directory is 0700, segments 0600 and checkpoint.latest 0644', (t) => {
  const dir = tempDir(t);
  const log = SealedLog.open({ dir, origin: ORIGIN, signer: key, ...QUIET });
  log.close();
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, segmentNames(dir)[0]!)).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'checkpoint.latest')).mode & 0o777, 0o644);
});

test('close writes a final checkpoint as the last record, once; the closed log refuses records', (t) => {
  const dir = tempDir(t);
  const log = SealedLog.open({ dir, origin: ORIGIN, signer: key, ...QUIET });
  log.append(queryEvent(1));
  log.close();
  log.close();
  const { lines, checkpoints } = checkLog(dir, verifiers);
  assert.equal(lines.length, 3);
  assert.equal(lines[2]!.record.type, 'checkpoint');
  assert.equal(checkpoints.length, 1);
  assert.throws(() => log.append(queryEvent(2)), { code: 'audit_error', message: /closed/ });
  assert.throws(() => log.checkpoint(), { code: 'audit_error' });
  assert.equal(readLog(dir).length, 3);
});

test('rotateKey: key.rotate, then a checkpoint signed by both keys, then the new key only; the old key is erased', (t) => {
  const dir = tempDir(t);
  const oldKey = generateSignerKey('pgseal.test');
  const newKey = generateSignerKey('pgseal.test');
  const [oldV, newV] = [oldKey.verifier(), newKey.verifier()];
  const log = SealedLog.open({ dir, origin: ORIGIN, signer: oldKey, ...QUIET });
  log.append(queryEvent(1));
  log.checkpoint();
  log.append(queryEvent(2));
  log.rotateKey(newKey);
  log.append(queryEvent(3));
  log.close();
  const { lines, checkpoints } = checkLog(dir, [oldV, newV]);
  const rotate = lines.find((l) => l.record.type === 'key.rotate')!;
  assert.deepEqual(Object.keys(rotate.record), ['seq', 'ts', 'type', 'new_key', 'old_key_id']);
  assert.equal(rotate.record.new_key, newV.toString());
  assert.equal(rotate.record.old_key_id, oldKey.keyId.toString(16).padStart(8, '0'));
  const [before, dual, after] = checkpoints.map((c) => c.record.note as string);
  assert.equal(checkpoints.length, 3);
  assert.equal(checkpoints[1]!.record.seq, (rotate.record.seq as number) + 1);
  assert.throws(() => openCheckpoint(before!, [newV]), { reason: 'unverified' });
  assert.equal(openCheckpoint(dual!, [oldV, newV]).verifiedBy.length, 2);
  assert.throws(() => openCheckpoint(after!, [oldV]), { reason: 'unverified' });
  assert.equal(openCheckpoint(after!, [newV]).verifiedBy.length, 1);
  assert.throws(() => oldKey.sign(Buffer.from('x')), { reason: 'erased_key' });
});

test('a record longer than the 16 MiB line limit is refused with 54000 and leaves no trace; the log reopens and stays whole', (t) => {
  const dir = tempDir(t);
  const log = SealedLog.open({ dir, origin: ORIGIN, signer: key, ...QUIET });
  log.append(queryEvent(1));
  // 3 MiB of control characters escape to 18 MiB of \u00XX in the line.
  const huge = { type: 'query', session: 's1', query: 2, protocol: 'simple', sql: '\u0001'.repeat(3 << 20) } as AuditEvent;
  assert.throws(() => log.append(huge), (err: PgsealError) => err.code === 'audit_record_too_large' && sqlstateOf(err) === '54000' && /16 MiB/.test(err.message));
  // Bind values that escape past the limit are refused from their text alone, before the line
  // (here about 24 MB) is built.
  const value = '\u0001'.repeat(200_000);
  const params = Array.from({ length: 20 }, () => ({ format: 'text' as const, value }));
  const manyParams = { type: 'query', session: 's1', query: 2, protocol: 'extended', sql: 'SELECT $1', statement: '', portal: '', params } as AuditEvent;
  assert.throws(() => log.append(manyParams), (err: PgsealError) => err.code === 'audit_record_too_large' && /at least 2\d{7} bytes/.test(err.message));
  log.append(queryEvent(3));
  // Just under the limit is still recorded.
  const fits = { type: 'query', session: 's1', query: 4, protocol: 'simple', sql: 'x'.repeat(MAX_LINE_BYTES - 200) } as AuditEvent;
  log.append(fits);
  log.close();
  const { lines } = checkLog(dir, verifiers);
  assert.deepEqual(lines.filter((l) => l.record.type === 'query').map((l) => l.record.query), [1, 3, 4]);
  const reopened = SealedLog.open({ dir, origin: ORIGIN, signer: key, ...QUIET });
  reopened.append(queryEvent(5));
  reopened.close();
  checkLog(dir, verifiers);
});

test('a result with omitted tags is written with tags_omitted after tags', (t) => {
  const dir = tempDir(t);
  const log = SealedLog.open({ dir, origin: ORIGIN, signer: key, ...QUIET });
  log.append({ duration_us: 1, rows: 3, tags_omitted: 2, tags: ['SELECT 1'], status: 'ok', query: 1, session: 's', type: 'result' });
  log.close();
  const r = readLog(dir).find((l) => l.record.type === 'result')!;
  assert.deepEqual(Object.keys(r.record), ['seq', 'ts', 'type', 'session', 'query', 'status', 'tags', 'tags_omitted', 'rows', 'duration_us']);
});

test('a truncated SQL text is written with sql_length and sql_sha256 after sql', (t) => {
  const dir = tempDir(t);
  const log = SealedLog.open({ dir, origin: ORIGIN, signer: key, ...QUIET });
  log.append({ sql_sha256: 'ab', sql_length: 5000, sql: 'SELECT', protocol: 'simple', query: 1, session: 's', type: 'query' });
  log.close();
  const q = readLog(dir).find((l) => l.record.type === 'query')!;
  assert.deepEqual(Object.keys(q.record), ['seq', 'ts', 'type', 'session', 'query', 'protocol', 'sql', 'sql_length', 'sql_sha256']);
});

test('appendQuery, appendExtendedQuery and appendOkResult write the lines append writes for the same events, fallbacks included', (t) => {
  const seed = Buffer.alloc(32, 9);
  const write = (fast: boolean): string => {
    const dir = tempDir(t);
    const log = SealedLog.open({ dir, origin: ORIGIN, signer: new SignerKey('pgseal.test', seed), clock: new FakeClock(), ...QUIET });
    const base = Date.UTC(2026, 10, 26, 13, 24, 59) * 1000;
    // ASCII (the addon), non-ASCII and escapes (JavaScript), a long text, odd numbers (JavaScript).
    const cases: Array<[string, string, number, number]> = [
      ['s1', 'SELECT 1', 1, 5], ['s2', "SELECT 'é'", 1, 0], ['s1', 'SELECT "x"\n\t', 0, 7], ['s3', 'x'.repeat(5000), 2, 1], ['s\u0001', 'SELECT 2', -1, 3],
    ];
    cases.forEach(([session, sql, rows, duration], i) => {
      const at = base + i * 999_999;
      const params: AuditParam[] = [{ format: 'text', value: sql.slice(0, 40) }, { format: 'null' }, { format: 'binary', value: 'ab', length: 9000, truncated: true, sha256: 'cd' }];
      const statement = i % 2 === 0 ? '' : `S_${session}`;
      if (fast) {
        log.appendQuery(session, i, sql, at);
        log.appendOkResult(session, i, `SELECT ${rows}`, rows, duration, at + 1);
        log.appendExtendedQuery(session, 100 + i, sql, statement, `P${i}`, params, at + 2);
      } else {
        log.append({ type: 'query', session, query: i, protocol: 'simple', sql }, at);
        log.append({ type: 'result', session, query: i, status: 'ok', tags: [`SELECT ${rows}`], rows, duration_us: duration }, at + 1);
        log.append({ type: 'query', session, query: 100 + i, protocol: 'extended', sql, statement, portal: `P${i}`, params }, at + 2);
      }
    });
    log.close();
    return segmentNames(dir).map((n) => readFileSync(join(dir, n), 'utf8')).join('');
  };
  const fast = write(true);
  assert.equal(fast, write(false));
  assert.equal(fast.split('\n').filter((l) => l.includes('"type":"query"')).length, 10);
  assert.equal(fast.split('\n').filter((l) => l.includes('"protocol":"extended"')).length, 5);
});

test('with durability os on a mapped segment, appendQuery, appendExtendedQuery and appendOkResult write their lines at once, behind anything buffered, and seal by count', (t) => {
  const dir = tempDir(t);
  const log = SealedLog.open({ dir, origin: ORIGIN, signer: key, checkpointEvery: 10, ...QUIET });
  if (!log.mapped) return t.skip('segments are not mapped here (no addon, or a file system pgseal does not map)');
  const file = () => readFileSync(join(dir, segmentNames(dir)[0]!), 'utf8');
  const sizeBefore = log.size;
  log.appendQuery('s1', 1, 'SELECT 1', 1_000);
  assert.ok(file().includes('"query":1,"protocol":"simple","sql":"SELECT 1"}\n'), 'in the file before any commit');
  log.appendOkResult('s1', 1, 'SELECT 1', 1, 5, 1_001);
  assert.ok(file().includes('"query":1,"status":"ok"'), 'the result too');
  log.appendExtendedQuery('s1', 100, 'SELECT $1', 'S1', '', [{ format: 'text', value: '7' }], 1_001);
  assert.ok(file().includes('"query":100,"protocol":"extended","sql":"SELECT $1","statement":"S1","portal":"","params":[{"format":"text","value":"7"}]}\n'), 'an Execute too');
  assert.equal(log.size, sizeBefore + 3);
  // A record buffered by append goes first: the next fast record waits behind it for the commit.
  log.append({ type: 'query', session: 's1', query: 2, protocol: 'simple', sql: "SELECT 'é'" }, 1_002);
  log.appendQuery('s1', 3, 'SELECT 3', 1_003);
  assert.ok(!file().includes('"query":3,'), 'buffered behind the record before it');
  let answered: Error | null | undefined;
  log.commit((err) => (answered = err));
  assert.equal(answered, null);
  const text = file();
  assert.ok(text.indexOf('"query":2,') < text.indexOf('"query":3,'), 'in order');
  for (let i = 4; i < 20; i++) log.appendQuery('s1', i, `SELECT ${i}`, 1_000 + i);
  assert.ok(file().includes('"type":"checkpoint"'), 'a checkpoint came by count without a commit');
  log.close();
  const { lines, leaves, checkpoints } = checkLog(dir, verifiers);
  assert.ok(checkpoints.length >= 2);
  assert.deepEqual(log.root(), rootFromLeaves(leaves));
  assert.equal(lines.filter((l) => l.record.type === 'query').length, 20);
});
