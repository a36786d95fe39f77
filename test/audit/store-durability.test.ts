import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';

import { mappedSegmentsAvailable } from '../../src/audit/mapped-segment.js';
import { rootFromLeaves } from '../../src/audit/merkle.js';
import { generateSignerKey } from '../../src/audit/note.js';
import { SealedLog, segmentFileForTest } from '../../src/audit/store.js';
import { ORIGIN, checkLog, queryEvent, readLog, segmentNames, tempDir } from './store-helpers.js';

const key = generateSignerKey('pgseal.test');
const verifiers = [key.verifier()];

function openLog(t: TestContext, durability: 'os' | 'fsync'): { dir: string; log: SealedLog } {
  const dir = tempDir(t);
  return { dir, log: SealedLog.open({ dir, origin: ORIGIN, signer: key, durability, checkpointMs: 3_600_000 }) };
}

// Points the open segment at /dev/full (every write fails with ENOSPC); returns a function that undoes it.
function diskFull(log: SealedLog): () => void {
  const segment = segmentFileForTest(log);
  const real = segment.fd;
  const full = openSync('/dev/full', 'w');
  segment.fd = full;
  return () => {
    segment.fd = real;
    closeSync(full);
  };
}

test('a failed write throws audit_error, marks the log unhealthy and leaves tree and file unchanged; a later write recovers', async (t) => {
  const { dir, log } = openLog(t, 'os');
  for (let i = 0; i < 3; i++) log.append(queryEvent(i));
  log.flush();
  const [size, root] = [log.size, log.root()];
  const restore = diskFull(log);
  const segment = join(dir, segmentNames(dir)[0]!);
  const length = statSync(segment).size;
  log.append(queryEvent(3));
  log.append(queryEvent(4));
  assert.throws(() => log.flush(), { code: 'audit_error', message: /write failed: ENOSPC/ });
  assert.equal(log.healthy, false);
  assert.equal(log.size, size);
  assert.deepEqual(log.root(), root);
  assert.throws(() => log.checkpoint(), { code: 'audit_error' });
  const committed = await new Promise<Error | null>((resolve) => log.commit(resolve));
  assert.equal((committed as { code?: string } | null)?.code, 'audit_error');
  assert.equal(statSync(segment).size, length);
  restore();
  log.flush();
  assert.equal(log.healthy, true);
  assert.equal(log.size, size + 2);
  log.close();
  const { lines, leaves } = checkLog(dir, verifiers);
  assert.deepEqual(lines.filter((l) => l.record.type === 'query').map((l) => l.record.query), [0, 1, 2, 3, 4]);
  assert.deepEqual(rootFromLeaves(leaves.slice(0, size)), root);
});

test('commit with durability fsync: one fdatasync serves every commit queued in the turn, each callback once', async (t) => {
  const { dir, log } = openLog(t, 'fsync');
  const segment = segmentFileForTest(log);
  let syncs = 0;
  const syncAsync = segment.syncAsync.bind(segment);
  segment.syncAsync = (cb) => {
    syncs++;
    syncAsync(cb);
  };
  const batch = async (from: number, n: number): Promise<Array<Error | null>> => {
    const results = Array.from({ length: n }, (_, i) =>
      new Promise<Error | null>((resolve) => {
        log.append(queryEvent(from + i));
        log.commit((err) => {
          // the record is in the file by the time its commit is answered
          assert.ok(readLog(dir).some((l) => l.record.type === 'query' && l.record.query === from + i));
          resolve(err);
        });
      }),
    );
    return Promise.all(results);
  };
  assert.deepEqual(await batch(0, 5), [null, null, null, null, null]);
  assert.equal(syncs, 1);
  assert.deepEqual(await batch(5, 3), [null, null, null]);
  assert.equal(syncs, 2);
  log.close();
  assert.equal(checkLog(dir, verifiers).lines.length, 10); // segment.start, 8 queries, final checkpoint
});

test('commit with durability fsync reports a failed write to every waiting callback', async (t) => {
  const { log } = openLog(t, 'fsync');
  const restore = diskFull(log);
  const commit = () => new Promise<Error | null>((resolve) => log.commit(resolve));
  log.append(queryEvent(1));
  const results = await Promise.all([commit(), commit()]);
  for (const err of results) assert.equal((err as { code?: string } | null)?.code, 'audit_error');
  assert.equal(log.healthy, false);
  restore();
  assert.equal(await commit(), null);
  assert.equal(log.healthy, true);
  log.close();
});

test('commit with durability os answers at once on a mapped segment, at the end of the turn with one write(2) for all otherwise; close answers commits still waiting for fsync', async (t) => {
  const { dir: mappedDir, log: mapped } = openLog(t, 'os');
  const mappedAnswers: Array<Error | null> = [];
  mapped.append(queryEvent(1));
  mapped.commit((err) => mappedAnswers.push(err));
  if (mappedSegmentsAvailable) {
    assert.deepEqual(mappedAnswers, [null], 'answered within the call');
    assert.ok(readFileSync(join(mappedDir, segmentNames(mappedDir)[0]!), 'utf8').includes('"query":1,'), 'after the record was written');
  }
  mapped.close();

  const { dir: osDir, log: os } = openLog(t, 'os');
  segmentFileForTest(os); // write(2) from here on
  const osAnswers: Array<Error | null> = [];
  os.append(queryEvent(1));
  os.commit((err) => osAnswers.push(err));
  os.append(queryEvent(11));
  os.commit((err) => osAnswers.push(err));
  assert.deepEqual(osAnswers, [], 'not answered within the turn');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(osAnswers, [null, null], 'both answered by the end-of-turn write');
  const text = readFileSync(join(osDir, segmentNames(osDir)[0]!), 'utf8');
  assert.ok(text.includes('"query":1,') && text.includes('"query":11,'), 'both records were written before the answers');
  os.close();

  const { dir, log } = openLog(t, 'fsync');
  const answers: Array<Error | null> = [];
  log.append(queryEvent(2));
  log.commit((err) => answers.push(err));
  log.commit((err) => answers.push(err));
  log.close();
  assert.deepEqual(answers, [null, null]);
  assert.ok(readFileSync(join(dir, segmentNames(dir)[0]!), 'utf8').includes('"query":2'));
});

test('records no commit waits for are written by the lazy timer within milliseconds, in one write, after a commit wrote the earlier ones', async (t) => {
  const { dir, log } = openLog(t, 'os');
  const segment = segmentFileForTest(log);
  let writes = 0;
  const write = segment.write.bind(segment);
  segment.write = (b: Buffer) => {
    writes++;
    write(b);
  };
  log.append(queryEvent(1)); // arms the lazy timer
  await new Promise<void>((resolve) => log.commit(() => resolve()));
  assert.equal(writes, 1, 'the commit wrote the query');
  log.append(queryEvent(2)); // a result, say: no commit waits for it
  log.append(queryEvent(3));
  const text = () => readFileSync(join(dir, segmentNames(dir)[0]!), 'utf8');
  assert.ok(!text().includes('"query":2,'), 'not written at once');
  const deadline = Date.now() + 2_000;
  while (!text().includes('"query":3,') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  assert.ok(text().includes('"query":2,') && text().includes('"query":3,'), 'written without a commit');
  assert.equal(writes, 2, 'both in one write of their own');
  log.close();
});
