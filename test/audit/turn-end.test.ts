import assert from 'node:assert/strict';
import { test } from 'node:test';

import { atTurnEnd, claimTurnEndCarrier, runTurnEndNow, setCarrierSource } from '../../src/audit/turn-end.js';

const nextTurn = () => new Promise((r) => setImmediate(r));

test('atTurnEnd runs its work once, after the current callback, in order', async () => {
  const seen: string[] = [];
  atTurnEnd(() => seen.push('a'));
  atTurnEnd(() => seen.push('b'));
  seen.push('sync');
  assert.deepEqual(seen, ['sync']);
  await nextTurn();
  await nextTurn();
  assert.deepEqual(seen, ['sync', 'a', 'b']);
});

test('runTurnEndNow runs the pending work at once and the immediate never repeats it; work added meanwhile waits a turn', async (t) => {
  if (process.env['PGSEAL_TURN_HOOK'] === '0') return t.skip('PGSEAL_TURN_HOOK=0');
  const seen: string[] = [];
  atTurnEnd(() => {
    seen.push('first');
    atTurnEnd(() => seen.push('later'));
  });
  runTurnEndNow();
  assert.deepEqual(seen, ['first']);
  runTurnEndNow(); // runs 'later' now: it is pending again
  assert.deepEqual(seen, ['first', 'later']);
  await nextTurn();
  await nextTurn();
  assert.deepEqual(seen, ['first', 'later'], 'nothing runs twice');
  runTurnEndNow(); // nothing pending: a no-op
  assert.deepEqual(seen, ['first', 'later']);
});

test('an exception in one piece of end-of-turn work does not drop the others; it is rethrown after them', (t) => {
  if (process.env['PGSEAL_TURN_HOOK'] === '0') return t.skip('PGSEAL_TURN_HOOK=0');
  const seen: string[] = [];
  atTurnEnd(() => {
    throw new Error('boom');
  });
  atTurnEnd(() => seen.push('after'));
  assert.throws(() => runTurnEndNow(), /boom/);
  assert.deepEqual(seen, ['after']);
});

test('one write carries the scheduled work: one already in flight when the source arms it, else the first write after', async (t) => {
  if (process.env['PGSEAL_TURN_HOOK'] === '0') return t.skip('PGSEAL_TURN_HOOK=0');
  let offered = 0;
  setCarrierSource(() => {
    offered++;
    return offered === 1; // the first time a write in flight is armed; later there is none
  });
  let ran = 0;
  atTurnEnd(() => ran++);
  assert.equal(offered, 1);
  assert.equal(claimTurnEndCarrier(), false, 'the write in flight carries it: no other is asked');
  runTurnEndNow(); // that write's completion
  assert.equal(ran, 1);
  atTurnEnd(() => ran++);
  atTurnEnd(() => ran++); // the same pending turn-end: the source is not asked again
  assert.equal(offered, 2);
  assert.equal(claimTurnEndCarrier(), true, 'no write in flight: the next write is asked');
  assert.equal(claimTurnEndCarrier(), false, 'only one');
  await new Promise((r) => setImmediate(r)); // its completion may never come: the immediate still runs the work
  assert.equal(ran, 3);
  setCarrierSource(() => false);
});
