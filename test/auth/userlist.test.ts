import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseUserlist } from '../../src/auth/index.js';
import { assertPgsealError } from './helpers.js';

const scram = 'SCRAM-SHA-256$4096:QQ==$AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=';

test('parses roles and secrets, keeping secrets as written', () => {
  const text = [
    '; PgBouncer style comment',
    '# shell style comment',
    '',
    '   ',
    `"alice" "${scram}"`,
    '\t"bob"\t"md5c1b3b1bdc5ba0d6b4ec2ee4e2d2b1e2f"',
    '"carol" "plain text password"',
  ].join('\n');
  const users = parseUserlist(text);
  assert.deepEqual([...users.keys()], ['alice', 'bob', 'carol']);
  assert.equal(users.get('alice'), scram);
  assert.equal(users.get('bob'), 'md5c1b3b1bdc5ba0d6b4ec2ee4e2d2b1e2f');
  assert.equal(users.get('carol'), 'plain text password');
});

test('doubled quotes are literal quotes; CRLF, BOM and trailing fields are handled', () => {
  const users = parseUserlist('\uFEFF"we""ird" "pa""ss"""\r\n"x" "" ""\r\n"y" "s"   # ignored, as in PgBouncer\n');
  assert.equal(users.get('we"ird'), 'pa"ss"');
  assert.equal(users.get('x'), '');
  assert.equal(users.get('y'), 's');
  assert.equal(users.size, 3);
});

test('an empty file is an empty map', () => {
  assert.equal(parseUserlist('').size, 0);
  assert.equal(parseUserlist('\n; only comments\n\n').size, 0);
});

test('malformed lines name their line number and never the secret', () => {
  const cases: Array<[string, number, RegExp]> = [
    ['alice "secret-1"', 1, /double-quoted role/],
    ['; c\n"alice" secret-1', 2, /double-quoted secret/],
    ['\n\n"alice" "secret-1', 3, /double-quoted secret/],
    ['"alice', 1, /double-quoted role/],
    ['"alice"', 1, /white space/],
    ['"alice""secret-1"', 1, /white space/],
    ['"" "secret-1"', 1, /empty role/],
    ['"alice" "secret-1"x', 1, /right after the closing quote/],
    ['"a" "s"\n"alice" "secret-1""', 2, /double-quoted secret|closing quote/],
  ];
  for (const [text, line, re] of cases) {
    const err = assertPgsealError(() => parseUserlist(text), 'config_invalid', re);
    assert.match(err.message, new RegExp(`^line ${line}: `));
    assert.ok(!err.message.includes('secret-1'), err.message);
  }
});

test('duplicate roles are refused at the second occurrence', () => {
  assertPgsealError(() => parseUserlist('"a" "1"\n"b" "2"\n"a" "3"'), 'config_invalid', /^line 3: duplicate role "a"$/);
  // Roles are case-sensitive, as in PostgreSQL.
  assert.equal(parseUserlist('"a" "1"\n"A" "2"').size, 2);
});
