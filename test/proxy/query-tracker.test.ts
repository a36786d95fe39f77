import { test } from 'node:test';
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import type { AuditEvent, AuditSink } from '../../src/audit/events.js';
import { MessageWriter } from '../../src/protocol/index.js';
import { QueryTracker } from '../../src/proxy/query-tracker.js';

class MemorySink implements AuditSink {
  readonly events: AuditEvent[] = [];
  readonly healthy = true;
  append(e: AuditEvent): void {
    this.events.push(e);
  }
  flush(): void {}
  commit(done: (err: Error | null) => void): void {
    done(null);
  }
}

let now = 0;
const clock = { nowMicros: () => (now += 10) };

function tracker() {
  const sink = new MemorySink();
  return { sink, t: new QueryTracker('s1', sink, clock, { maxBytes: 4, redact: false }) };
}

const body = (w: MessageWriter) => w.finish().subarray(5);
const fe = (t: QueryTracker, code: string, w?: MessageWriter) => {
  const b = w ? body(w) : Buffer.alloc(0);
  t.frontend(code.charCodeAt(0), b, b.length);
};
const be = (t: QueryTracker, code: string, w?: MessageWriter) => {
  const b = w ? body(w) : Buffer.alloc(0);
  t.backend(code.charCodeAt(0), b, b.length);
};
const parse = (name: string, sql: string) => new MessageWriter('P').cstring(name).cstring(sql).int16(0);
const bind = (portal: string, stmt: string, values: string[]) => {
  const w = new MessageWriter('B').cstring(portal).cstring(stmt).int16(0).int16(values.length);
  for (const v of values) w.int32(Buffer.byteLength(v)).bytes(Buffer.from(v));
  return w.int16(0);
};
const execute = (portal: string) => new MessageWriter('E').cstring(portal).int32(0);
const complete = (tag: string) => new MessageWriter('C').cstring(tag);
const error = (code: string, msg: string) => new MessageWriter('E').byte(0x53).cstring('ERROR').byte(0x43).cstring(code).byte(0x4d).cstring(msg).byte(0);
const ready = () => new MessageWriter('Z').byte(0x49);

test('a Parse error skips the rest of the batch until Sync; the next batch is attributed correctly', () => {
  const { sink, t } = tracker();
  fe(t, 'P', parse('', 'SELEC 1'));
  fe(t, 'B', bind('', '', []));
  fe(t, 'E', execute(''));
  fe(t, 'S');
  fe(t, 'P', parse('s2', 'SELECT $1'));
  fe(t, 'B', bind('', 's2', ['hello']));
  fe(t, 'E', execute(''));
  fe(t, 'S');
  be(t, 'E', error('42601', 'syntax error'));
  be(t, 'Z', ready());
  be(t, '1');
  be(t, '2');
  be(t, 'D');
  be(t, 'C', complete('SELECT 1'));
  be(t, 'Z', ready());
  const results = sink.events.filter((e) => e.type === 'result');
  assert.equal(results.length, 2);
  assert.deepEqual(results.map((r) => r.type === 'result' && [r.query, r.status, r.sqlstate ?? null, r.tags]), [
    [1, 'error', '42601', []],
    [2, 'ok', null, ['SELECT 1']],
  ]);
  const q2 = sink.events.find((e) => e.type === 'query' && e.query === 2);
  assert.ok(q2 && q2.type === 'query');
  assert.equal(q2.sql, 'SELECT $1');
  assert.equal(q2.statement, 's2');
  assert.deepEqual(q2.params, [{ format: 'text', value: 'hell', length: 5, truncated: true, sha256: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824' }]);
});

test('an Execute error skips later Executes of the same batch as skipped', () => {
  const { sink, t } = tracker();
  fe(t, 'P', parse('', 'SELECT 1/0'));
  fe(t, 'B', bind('', '', []));
  fe(t, 'E', execute(''));
  fe(t, 'B', bind('', '', []));
  fe(t, 'E', execute(''));
  fe(t, 'S');
  be(t, '1');
  be(t, '2');
  be(t, 'E', error('22012', 'division by zero'));
  be(t, 'Z', ready());
  const results = sink.events.filter((e) => e.type === 'result').map((r) => r.type === 'result' && r.status);
  assert.deepEqual(results, ['error', 'skipped']);
});

test('a simple Query with several statements ends at ReadyForQuery with every tag', () => {
  const { sink, t } = tracker();
  fe(t, 'Q', new MessageWriter('Q').cstring('BEGIN; SELECT 1; COMMIT'));
  be(t, 'C', complete('BEGIN'));
  be(t, 'T');
  be(t, 'D');
  be(t, 'C', complete('SELECT 1'));
  assert.equal(sink.events.filter((e) => e.type === 'result').length, 0, 'not finished before Z');
  be(t, 'C', complete('COMMIT'));
  be(t, 'Z', ready());
  const r = sink.events.find((e) => e.type === 'result');
  assert.ok(r && r.type === 'result');
  assert.deepEqual(r.tags, ['BEGIN', 'SELECT 1', 'COMMIT']);
  assert.equal(r.rows, 1);
  assert.ok(r.duration_us > 0);
});

test('PortalSuspended reports the rows sent so far; abandon closes open queries', () => {
  const { sink, t } = tracker();
  fe(t, 'P', parse('', 'SELECT generate_series(1,10)'));
  fe(t, 'B', bind('c', '', []));
  fe(t, 'E', new MessageWriter('E').cstring('c').int32(3));
  fe(t, 'S');
  be(t, '1');
  be(t, '2');
  be(t, 'D');
  be(t, 'D');
  be(t, 'D');
  be(t, 's');
  be(t, 'Z', ready());
  fe(t, 'Q', new MessageWriter('Q').cstring('SELECT pg_sleep(10)'));
  t.abandon('session ended');
  const results = sink.events.filter((e) => e.type === 'result');
  assert.deepEqual(results.map((r) => r.type === 'result' && [r.status, r.rows]), [['suspended', 3], ['error', 0]]);
  assert.equal(t.queries, 2);
  assert.equal(t.errors, 1);
});

test('Close and DISCARD ALL forget statements, so a stale name is not attributed', () => {
  const { sink, t } = tracker();
  fe(t, 'P', parse('a', 'SELECT 1'));
  fe(t, 'C', new MessageWriter('C').byte(0x53).cstring('a'));
  fe(t, 'B', bind('', 'a', []));
  fe(t, 'E', execute(''));
  const q = sink.events.find((e) => e.type === 'query');
  assert.ok(q && q.type === 'query');
  assert.equal(q.sql, '', 'closed statement has no SQL to attribute');
});

test('an SQL text over max_sql_bytes is recorded cut at a character boundary, with its whole length and SHA-256', () => {
  const sink = new MemorySink();
  const t = new QueryTracker('s1', sink, clock, { maxBytes: 4, redact: false }, 1024);
  const long = `SELECT 'x${'é'.repeat(1000)}'`; // 2010 bytes; byte 1024 falls inside an 'é'
  fe(t, 'Q', new MessageWriter('Q').cstring(long));
  fe(t, 'P', parse('big', long));
  fe(t, 'B', bind('', 'big', []));
  fe(t, 'E', execute(''));
  fe(t, 'Q', new MessageWriter('Q').cstring('SELECT 1'));
  const queries = sink.events.filter((e) => e.type === 'query');
  assert.equal(queries.length, 3);
  const whole = Buffer.from(long);
  for (const q of queries.slice(0, 2)) {
    assert.ok(q.type === 'query');
    assert.equal(q.sql_length, whole.length);
    assert.equal(q.sql_sha256, createHash('sha256').update(whole).digest('hex'));
    assert.equal(Buffer.byteLength(q.sql), 1023, 'cut before the character that straddles byte 1024');
    assert.ok(long.startsWith(q.sql));
  }
  const short = queries[2]!;
  assert.ok(short.type === 'query');
  assert.deepEqual([short.sql, short.sql_length, short.sql_sha256], ['SELECT 1', undefined, undefined]);
});

test('a server error message over max_sql_bytes is recorded cut', () => {
  const sink = new MemorySink();
  const t = new QueryTracker('s1', sink, clock, { maxBytes: 4, redact: false }, 1024);
  fe(t, 'Q', new MessageWriter('Q').cstring('DO $$ BEGIN RAISE EXCEPTION \'...\'; END $$'));
  be(t, 'E', error('P0001', 'x'.repeat(5000)));
  be(t, 'Z', ready());
  const r = sink.events.find((e) => e.type === 'result');
  assert.ok(r && r.type === 'result');
  assert.equal(r.message, 'x'.repeat(1024));
});

test('a query that completes thousands of commands lists the first 1000 tags and counts the rest; rows sums them all', () => {
  const { sink, t } = tracker();
  fe(t, 'Q', new MessageWriter('Q').cstring('SELECT 1;'.repeat(1500)));
  for (let i = 0; i < 1500; i++) be(t, 'C', complete('SELECT 1'));
  be(t, 'Z', ready());
  const r = sink.events.find((e) => e.type === 'result');
  assert.ok(r && r.type === 'result');
  assert.equal(r.tags.length, 1000);
  assert.equal(r.tags_omitted, 500);
  assert.equal(r.rows, 1500);
});

test('command tags decoded from a reused buffer stay right: repeats, more distinct tags than the cache holds, a tag of the same length', () => {
  const { sink, t } = tracker();
  const tags = ['SELECT 1', 'UPDATE 1', 'UPDATE 7', 'INSERT 0 1', 'BEGIN', 'COMMIT', 'SELECT 12', 'DELETE 3', 'COPY 5', 'FETCH 2', 'MOVE 0', 'SELECT 1'];
  const shared = Buffer.alloc(64); // as a relay read buffer: every body is a view of the same bytes
  const expected: Array<{ tags: string[]; rows: number }> = [];
  for (let round = 0; round < 3; round++) {
    for (const tag of tags) {
      fe(t, 'Q', new MessageWriter('Q').cstring('SELECT 1'));
      const b = body(complete(tag));
      b.copy(shared);
      t.backend(0x43, shared.subarray(0, b.length), b.length);
      be(t, 'Z', ready());
      const n = Number(tag.slice(tag.lastIndexOf(' ') + 1));
      expected.push({ tags: [tag], rows: Number.isSafeInteger(n) && tag.includes(' ') ? n : 0 });
    }
  }
  const results = sink.events.filter((e) => e.type === 'result') as Array<Extract<AuditEvent, { type: 'result' }>>;
  assert.deepEqual(results.map((r) => ({ tags: r.tags, rows: r.rows })), expected);
  assert.throws(() => t.backend(0x43, Buffer.from('SELECT 1'), 8), /NUL/); // no terminator: refused, not a cached tag
});
