import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import {
  MAX_NOTE_SIZE,
  NoteError,
  SignerKey,
  formatSignerKey,
  formatVerifierKey,
  generateSignerKey,
  isValidKeyName,
  keyId,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  type NoteErrorReason,
  type NoteVerifier,
} from '../../src/audit/note.js';

// Go's golang.org/x/mod/sumdb/note test vector, read from ../shared/vectors (beside the clone in CI):
// it holds Go's published test signing key, which this repository does not commit.
const SKEY_PREFIX = ['PRIVATE', 'KEY', ''].join('+');
const vectorText = readFileSync(new URL('../../../../shared/vectors/note/go-sumdb-note.txt', import.meta.url), 'utf8');
const field = (label: string): string => new RegExp(`^${label}:\\s+(\\S+)$`, 'm').exec(vectorText)![1]!;
const SKEY = field('private key \\(Go skey form\\)');
const VKEY = field('verifier key \\(vkey\\)');
const ENOCH_VKEY = field('second vkey \\(multi-signature tests\\)');
const NOTE = vectorText.split('-----8<-----\n')[1]!;
const TEXT = NOTE.slice(0, NOTE.lastIndexOf('\n\n') + 1);
// A second signature on the same text, from the example in the documentation of Go's sumdb/note.
const ENOCH_LINE =
  '\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';

const peter = parseVerifierKey(VKEY);
const enoch = parseVerifierKey(ENOCH_VKEY);

function throwsNote(fn: () => unknown, reason: NoteErrorReason, message?: string): void {
  assert.throws(fn, (e) => e instanceof NoteError && e.reason === reason && e.code === 'audit_error', message);
}

test('the vector is what we expect to read', () => {
  assert.ok(SKEY.startsWith(`${SKEY_PREFIX}PeterNeumann+c74f20a3+`));
  assert.equal(TEXT, "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n");
  assert.match(NOTE, /\n\n\u2014 PeterNeumann x08go\/ZJ\S+=\n$/);
});

test("signing reproduces Go's signed note byte for byte", () => {
  const signer = parseSignerKey(SKEY);
  assert.equal(signer.name, 'PeterNeumann');
  assert.equal(signer.keyId, 0xc74f20a3);
  assert.equal(Buffer.from(signNote(TEXT, [signer])).toString('hex'), Buffer.from(NOTE).toString('hex'));
  assert.equal(signer.toSignerKeyText().toString(), SKEY);
  assert.equal(formatVerifierKey(signer.name, signer.publicKey), VKEY);
  assert.equal(signer.verifier().toString(), VKEY);
});

test("Go's note verifies with its vkey, as string and as bytes", () => {
  for (const input of [NOTE, Buffer.from(NOTE), new Uint8Array(Buffer.from(NOTE))]) {
    const opened = openNote(input, [peter]);
    assert.equal(opened.text, TEXT);
    assert.deepEqual(opened.verifiedBy.map((s) => [s.name, s.keyId]), [['PeterNeumann', 0xc74f20a3]]);
    assert.deepEqual(opened.unverified, []);
  }
});

test('vkeys parse strictly and round trip', () => {
  assert.equal(peter.keyId, 0xc74f20a3);
  assert.equal(keyId('PeterNeumann', peter.publicKey), 0xc74f20a3);
  assert.equal(peter.toString(), VKEY);
  assert.equal(enoch.keyId, 0xaf0cfe78);
  const pub64 = VKEY.split('+').slice(2).join('+');
  throwsNote(() => parseVerifierKey(`PeterNeumann+C74F20A3+${pub64}`), 'malformed_key', 'uppercase hex');
  throwsNote(() => parseVerifierKey(`PeterNeumann+c74f20a4+${pub64}`), 'key_id_mismatch');
  throwsNote(() => parseVerifierKey(`PeterNeumanN+c74f20a3+${pub64}`), 'key_id_mismatch');
  throwsNote(() => parseVerifierKey(`Peter+Neumann+c74f20a3+${pub64}`), 'malformed_key');
  throwsNote(() => parseVerifierKey(`+c74f20a3+${pub64}`), 'invalid_name');
  throwsNote(() => parseVerifierKey(`PeterNeumann+c74f20a3+${pub64.slice(0, -1)}`), 'malformed_key');
  throwsNote(() => parseVerifierKey(`PeterNeumann+c74f20a3+${pub64.replaceAll('/', '_')}`), 'malformed_key');
  throwsNote(() => parseVerifierKey(`PeterNeumann+c74f20a3`), 'malformed_key');
  throwsNote(() => parseVerifierKey(`${VKEY}\n`), 'malformed_key');
  const alg2 = Buffer.from(pub64, 'base64');
  alg2[0] = 0x02;
  throwsNote(() => parseVerifierKey(`PeterNeumann+c74f20a3+${alg2.toString('base64')}`), 'unknown_algorithm');
  const short = Buffer.from(pub64, 'base64').subarray(0, 32).toString('base64');
  throwsNote(() => parseVerifierKey(`PeterNeumann+c74f20a3+${short}`), 'malformed_key');
});

test('every single-byte change of the vkey or skey is rejected', () => {
  for (const [text, parse] of [
    [VKEY, parseVerifierKey],
    [SKEY, parseSignerKey],
  ] as const) {
    const bytes = Buffer.from(text);
    for (let i = 0; i < bytes.length; i++) {
      for (const mask of [0x01, 0x20, 0x80]) {
        const mangled = Buffer.from(bytes);
        mangled[i]! ^= mask;
        assert.throws(() => parse(mangled.toString('latin1')), NoteError, `byte ${i} ^ ${mask} of ${text.slice(0, 20)}`);
      }
    }
  }
});

test('key names follow the signed-note rules', () => {
  for (const good of ['PeterNeumann', 'example.com/log42', 'pgseal.local/audit', 'naïve', '\u{1F512}']) {
    assert.ok(isValidKeyName(good), good);
  }
  for (const bad of ['', 'a+b', 'a b', 'a\tb', 'a\nb', 'a\u00a0b', 'a\u2003b', 'a\u3000b', 'a\u0001b', 'a\ud800b']) {
    assert.ok(!isValidKeyName(bad), JSON.stringify(bad));
    throwsNote(() => generateSignerKey(bad), 'invalid_name');
  }
});

test('generated keys sign, verify, and round trip through skey and vkey text', () => {
  const signer = generateSignerKey('pgseal.test/audit');
  const skey = signer.toSignerKeyText();
  assert.match(skey.toString(), /^PRIVATE\+KEY\+pgseal\.test\/audit\+[0-9a-f]{8}\+A[A-Za-z0-9+/]{43}$/);
  const again = parseSignerKey(skey);
  assert.deepEqual(again.publicKey, signer.publicKey);
  assert.deepEqual(formatSignerKey(signer.name, Buffer.from(skey.toString().split('+').slice(4).join('+'), 'base64').subarray(1)), skey);
  const verifier = parseVerifierKey(signer.verifier().toString());
  const note = signNote('hello\n', [again]);
  assert.equal(openNote(note, [verifier]).text, 'hello\n');
  assert.notDeepEqual(generateSignerKey('pgseal.test/audit').publicKey, signer.publicKey);
});

test('an erased signer key cannot sign or be exported', () => {
  const signer = generateSignerKey('pgseal.test/erase');
  signer.erase();
  throwsNote(() => signer.sign(Buffer.from('x\n')), 'erased_key');
  throwsNote(() => signer.toSignerKeyText(), 'erased_key');
  throwsNote(() => signNote('x\n', [signer]), 'erased_key');
});

test('a note signed by another key, or only by unknown keys, is rejected', () => {
  const impostor = generateSignerKey('PeterNeumann');
  const forged = signNote(TEXT, [impostor]);
  throwsNote(() => openNote(forged, [peter]), 'unverified');
  throwsNote(() => openNote(NOTE, [enoch]), 'unverified');
  throwsNote(() => openNote(NOTE, []), 'unverified');
  // Same name and key ID as a known key but another public key: the known key must verify it.
  const collider: NoteVerifier = { name: 'PeterNeumann', keyId: 0xc74f20a3, verify: (m, s) => impostor.verifier().verify(m, s) };
  throwsNote(() => openNote(NOTE, [collider]), 'invalid_signature');
  throwsNote(() => openNote(NOTE, [peter, peter]), 'ambiguous_key');
});

test('multiple signatures: known ones verify, unknown ones are reported, duplicates count once', () => {
  const both = NOTE + ENOCH_LINE;
  const opened = openNote(both, [peter, enoch]);
  assert.deepEqual(opened.verifiedBy.map((s) => s.name), ['PeterNeumann', 'EnochRoot']);
  const onlyPeter = openNote(both, [peter]);
  assert.deepEqual(onlyPeter.unverified.map((s) => [s.name, s.keyId]), [['EnochRoot', 0xaf0cfe78]]);
  const sigLine = NOTE.slice(TEXT.length + 1);
  const repeated = openNote(NOTE + sigLine + ENOCH_LINE + ENOCH_LINE, [peter]);
  assert.equal(repeated.verifiedBy.length, 1);
  assert.equal(repeated.unverified.length, 1);
  const extra = generateSignerKey('pgseal.test/second');
  const twice = signNote(TEXT, [parseSignerKey(SKEY), extra]);
  assert.ok(twice.startsWith(NOTE));
  assert.equal(openNote(twice, [peter, extra.verifier()]).verifiedBy.length, 2);
});

test('every single-byte change of a signed note is rejected or leaves the verified text unchanged', () => {
  const bytes = Buffer.from(NOTE + ENOCH_LINE);
  let rejected = 0;
  for (let i = 0; i < bytes.length; i++) {
    for (const mask of [0x01, 0x20, 0x80]) {
      const mangled = Buffer.from(bytes);
      mangled[i]! ^= mask;
      let opened;
      try {
        opened = openNote(mangled, [peter, enoch]);
      } catch (err) {
        assert.ok(err instanceof NoteError, `byte ${i} ^ ${mask}`);
        rejected++;
        continue;
      }
      // A changed key name turns that signature into an unknown one; the other still verifies the same text.
      assert.equal(opened.text, TEXT, `byte ${i} ^ ${mask}`);
      assert.ok(i > TEXT.length, `byte ${i} ^ ${mask} is in the text but was accepted`);
      assert.equal(opened.verifiedBy.length, 1, `byte ${i} ^ ${mask}`);
      assert.equal(opened.unverified.length, 1, `byte ${i} ^ ${mask}`);
    }
  }
  assert.ok(rejected > bytes.length * 2, `only ${rejected} rejected`);
  // With one trusted key, every change to its note is fatal.
  for (let i = 0; i < NOTE.length; i++) {
    const mangled = Buffer.from(NOTE);
    mangled[i]! ^= 0x01;
    assert.throws(() => openNote(mangled, [peter]), NoteError, `byte ${i}`);
  }
});

test('openNote is strict about the note format', () => {
  const sigLine = NOTE.slice(TEXT.length + 1);
  const cases: Array<[string, string | Buffer, NoteErrorReason]> = [
    ['invalid UTF-8', Buffer.concat([Buffer.from('caf\xe9\n', 'latin1'), Buffer.from(`\n${sigLine}`)]), 'malformed_note'],
    ['encoded surrogate', Buffer.concat([Buffer.from([0xed, 0xa0, 0x80, 0x0a]), Buffer.from(`\n${sigLine}`)]), 'malformed_note'],
    ['lone surrogate string', `\ud800\n\n${sigLine}`, 'malformed_note'],
    ['tab', `a\tb\n\n${sigLine}`, 'malformed_note'],
    ['CRLF', NOTE.replaceAll('\n', '\r\n'), 'malformed_note'],
    ['NUL', `${TEXT}\0\n${sigLine}`, 'malformed_note'],
    ['no blank line', TEXT + sigLine, 'malformed_note'],
    ['no final newline', NOTE.slice(0, -1), 'malformed_note'],
    ['no signature', `${TEXT}\n`, 'malformed_note'],
    ['empty', '', 'malformed_note'],
    ['hyphen for em dash', `${TEXT}\n-${sigLine.slice(1)}`, 'malformed_note'],
    ['two spaces', `${TEXT}\n${sigLine.replace(' PeterNeumann ', ' PeterNeumann  ')}`, 'malformed_note'],
    ['no signature data', `${TEXT}\n\u2014 PeterNeumann\n`, 'malformed_note'],
    ['empty signature data', `${TEXT}\n\u2014 PeterNeumann \n`, 'malformed_note'],
    ['unpadded base64', `${TEXT}\n${sigLine.replace('=\n', '\n')}`, 'malformed_note'],
    ['4-byte signature', `${TEXT}\n\u2014 PeterNeumann x08gow==\n`, 'malformed_note'],
    ['blank line among signatures', `${NOTE}\n${sigLine}`, 'invalid_signature'],
    ['trailing text after signatures', `${NOTE}more\n`, 'malformed_note'],
    ['101 signatures', `${TEXT}\n${sigLine.repeat(101)}`, 'too_many_signatures'],
    ['over 1 MiB', `${'x'.repeat(MAX_NOTE_SIZE)}\n\n${sigLine}`, 'note_too_large'],
  ];
  for (const [name, note, reason] of cases) throwsNote(() => openNote(note, [peter]), reason, name);
  assert.equal(openNote(`${TEXT}\n${sigLine.repeat(100)}`, [peter]).verifiedBy.length, 1);
});

test('signNote refuses texts and signers that would make an unreadable note', () => {
  const signer = parseSignerKey(SKEY);
  throwsNote(() => signNote('no newline', [signer]), 'malformed_note');
  throwsNote(() => signNote('', [signer]), 'malformed_note');
  throwsNote(() => signNote('tab\there\n', [signer]), 'malformed_note');
  throwsNote(() => signNote('\ud800\n', [signer]), 'malformed_note');
  throwsNote(() => signNote(TEXT, []), 'too_many_signatures');
  throwsNote(() => signNote(`${'x'.repeat(MAX_NOTE_SIZE)}\n`, [signer]), 'note_too_large');
  const badName = { name: 'bad name', keyId: 1, sign: (m: Uint8Array) => signer.sign(m) };
  throwsNote(() => signNote(TEXT, [badName]), 'invalid_name');
  // Texts may contain blank lines: the signatures start after the last one.
  const text = 'first paragraph\n\nsecond paragraph\n\n';
  assert.equal(openNote(signNote(text, [signer]), [peter]).text, text);
});

test('SignerKey rejects a seed of the wrong size', () => {
  throwsNote(() => new SignerKey('k', Buffer.alloc(31)), 'malformed_key');
  throwsNote(() => formatSignerKey('k', Buffer.alloc(33)), 'malformed_key');
  throwsNote(() => parseSignerKey(SKEY.replace(SKEY_PREFIX, `${SKEY_PREFIX}X`)), 'key_id_mismatch');
  throwsNote(() => parseSignerKey(SKEY.replace(SKEY_PREFIX, '')), 'malformed_key');
  throwsNote(() => parseSignerKey(Buffer.from([0xff, 0xfe])), 'malformed_key');
});
