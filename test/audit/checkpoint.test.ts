import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  CheckpointError,
  formatCheckpoint,
  openCheckpoint,
  parseCheckpoint,
  signCheckpoint,
} from '../../src/audit/checkpoint.js';
import { MerkleFrontier, leafHash } from '../../src/audit/merkle.js';
import { NoteError, generateSignerKey, signNote } from '../../src/audit/note.js';

// The example body of c2sp.org/tlog-checkpoint.
const SPEC_BODY = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const SPEC_ROOT = Buffer.from('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', 'base64');
const ROOT64 = SPEC_ROOT.toString('base64');

test('formatCheckpoint writes the tlog-checkpoint body', () => {
  assert.equal(formatCheckpoint({ origin: 'example.com/behind-the-sofa', size: 20852163, root: SPEC_ROOT }), SPEC_BODY);
  assert.equal(
    formatCheckpoint({ origin: 'o', size: 0, root: SPEC_ROOT, extensions: ['ext one', 'ext-two'] }),
    `o\n0\n${ROOT64}\next one\next-two\n`,
  );
});

test('parseCheckpoint reads what formatCheckpoint writes', () => {
  assert.deepEqual(parseCheckpoint(SPEC_BODY), {
    origin: 'example.com/behind-the-sofa',
    size: 20852163,
    root: SPEC_ROOT,
    extensions: [],
  });
  const input = { origin: 'pgseal.test/log', size: Number.MAX_SAFE_INTEGER, root: SPEC_ROOT, extensions: ['a', 'b c'] };
  assert.deepEqual(parseCheckpoint(formatCheckpoint(input)), input);
});

test('parseCheckpoint is strict', () => {
  const bad: Array<[string, string]> = [
    ['empty', ''],
    ['no final newline', SPEC_BODY.slice(0, -1)],
    ['two lines', 'o\n1\n'],
    ['empty origin', `\n1\n${ROOT64}\n`],
    ['leading zero', `o\n01\n${ROOT64}\n`],
    ['empty size', `o\n\n${ROOT64}\n`],
    ['negative size', `o\n-1\n${ROOT64}\n`],
    ['plus sign', `o\n+1\n${ROOT64}\n`],
    ['exponent', `o\n1e3\n${ROOT64}\n`],
    ['hex size', `o\n0x10\n${ROOT64}\n`],
    ['space in size', `o\n 1\n${ROOT64}\n`],
    ['size beyond 2^53', `o\n9007199254740992\n${ROOT64}\n`],
    ['short root', `o\n1\n${SPEC_ROOT.subarray(1).toString('base64')}\n`],
    ['long root', `o\n1\n${Buffer.concat([SPEC_ROOT, Buffer.alloc(1)]).toString('base64')}\n`],
    ['unpadded root', `o\n1\n${ROOT64.replace(/=$/, '')}\n`],
    ['base64url root', `o\n1\n${SPEC_ROOT.toString('base64url')}=\n`],
    ['empty extension line', `o\n1\n${ROOT64}\n\n`],
    ['empty extension among others', `o\n1\n${ROOT64}\na\n\nb\n`],
    ['CR in origin', `o\r\n1\n${ROOT64}\n`],
    ['tab in extension', `o\n1\n${ROOT64}\na\tb\n`],
  ];
  for (const [name, text] of bad) assert.throws(() => parseCheckpoint(text), CheckpointError, name);
});

test('formatCheckpoint refuses what parseCheckpoint would reject', () => {
  const ok = { origin: 'o', size: 1, root: SPEC_ROOT };
  const bad: Array<[string, Parameters<typeof formatCheckpoint>[0]]> = [
    ['empty origin', { ...ok, origin: '' }],
    ['newline in origin', { ...ok, origin: 'a\nb' }],
    ['negative size', { ...ok, size: -1 }],
    ['fractional size', { ...ok, size: 1.5 }],
    ['unsafe size', { ...ok, size: 2 ** 53 }],
    ['short root', { ...ok, root: SPEC_ROOT.subarray(1) }],
    ['empty extension', { ...ok, extensions: [''] }],
    ['newline in extension', { ...ok, extensions: ['a\n'] }],
  ];
  for (const [name, input] of bad) assert.throws(() => formatCheckpoint(input), CheckpointError, name);
});

test('a signed checkpoint opens to the same tree head', () => {
  const frontier = new MerkleFrontier();
  for (let i = 0; i < 10; i++) frontier.append(leafHash(Buffer.from(`record ${i}`)));
  const key = generateSignerKey('pgseal.test/log');
  const head = { origin: 'pgseal.test/log', size: frontier.size, root: frontier.root() };
  const note = signCheckpoint(head, [key]);
  assert.ok(note.startsWith(`pgseal.test/log\n10\n${head.root.toString('base64')}\n\n\u2014 pgseal.test/log `));
  const opened = openCheckpoint(note, [key.verifier()], 'pgseal.test/log');
  assert.deepEqual(opened.checkpoint, { ...head, extensions: [] });
  assert.deepEqual(opened.verifiedBy.map((s) => s.keyId), [key.keyId]);
  assert.equal(signCheckpoint(formatCheckpoint(head), [key]), note);
});

test('openCheckpoint rejects wrong keys, altered heads, other origins and malformed bodies', () => {
  const key = generateSignerKey('pgseal.test/log');
  const other = generateSignerKey('pgseal.test/log');
  const note = signCheckpoint({ origin: 'pgseal.test/log', size: 5, root: SPEC_ROOT }, [key]);
  assert.throws(() => openCheckpoint(note, [other.verifier()]), NoteError);
  assert.throws(() => openCheckpoint(note.replace('\n5\n', '\n6\n'), [key.verifier()]), NoteError);
  assert.throws(() => openCheckpoint(note, [key.verifier()], 'pgseal.test/other'), CheckpointError);
  assert.throws(() => signCheckpoint(`o\n01\n${ROOT64}\n`, [key]), CheckpointError);
  // A correctly signed note whose text is not a checkpoint is still refused.
  assert.throws(() => openCheckpoint(signNote('hello\n', [key]), [key.verifier()]), CheckpointError);
  assert.throws(() => openCheckpoint(signNote(`o\n1\n${ROOT64}\n\n`, [key]), [key.verifier()]), CheckpointError);
});
