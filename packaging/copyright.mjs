// Writes /usr/share/doc/pgseal/copyright (machine-readable, DEP-5) for the staged tree:
// pgseal itself, the bundled Node.js runtime (its LICENSE covers Node and everything Node
// bundles) and every production npm package with the text of its own licence file.
//
//   node packaging/copyright.mjs APP_DIR NODE_LICENSE_FILE OUTPUT
//
// Prints the rpm License tag (an SPDX expression over every licence found) on stdout.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [appDir, nodeLicense, output] = process.argv.slice(2);
if (!appDir || !nodeLicense || !output) {
  process.stderr.write('usage: node copyright.mjs APP_DIR NODE_LICENSE_FILE OUTPUT\n');
  process.exit(2);
}

/** body formats free text as a DEP-5 continuation: one leading space, blank lines as " .". */
const body = (text) =>
  text
    .replace(/\r\n?/g, '\n')
    .replace(/\t/g, '    ')
    .trimEnd()
    .split('\n')
    .map((l) => (l.trim() === '' ? ' .' : ` ${l.trimEnd()}`))
    .join('\n');

const apacheRef =
  ' On Debian systems the full text of the Apache License 2.0 is in\n' +
  ' /usr/share/common-licenses/Apache-2.0; it is also at\n' +
  ' https://www.apache.org/licenses/LICENSE-2.0.';

const out = [];
out.push(
  [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
    'Upstream-Name: pgseal',
    'Comment: pgseal bundles the Node.js runtime (usr/lib/pgseal/runtime) and its',
    ' production npm dependencies (usr/lib/pgseal/app/node_modules); their licences follow.',
  ].join('\n'),
);
out.push(['Files: *', 'Copyright: The pgseal authors', 'License: Apache-2.0'].join('\n'));
out.push(
  [
    'Files: usr/lib/pgseal/runtime/*',
    'Copyright: Node.js contributors and the authors of the components Node.js bundles',
    'License: Node.js',
    body(readFileSync(nodeLicense, 'utf8')),
  ].join('\n'),
);

/** packageDirs lists every installed package under dir/node_modules, nested ones included. */
function packageDirs(dir) {
  const nm = join(dir, 'node_modules');
  if (!existsSync(nm)) return [];
  const found = [];
  for (const entry of readdirSync(nm).sort()) {
    if (entry.startsWith('.')) continue;
    const subs = entry.startsWith('@') ? readdirSync(join(nm, entry)).sort().map((s) => join(entry, s)) : [entry];
    for (const sub of subs) {
      const rel = join('node_modules', sub);
      if (!existsSync(join(dir, rel, 'package.json'))) continue;
      found.push(rel, ...packageDirs(join(dir, rel)).map((r) => join(rel, r)));
    }
  }
  return found;
}
const names = packageDirs(appDir);
const missing = [];
const spdxSeen = new Set(['Apache-2.0', 'MIT']); // pgseal; Node.js itself
for (const key of names) {
  const dir = join(appDir, key);
  if (!existsSync(join(dir, 'package.json'))) continue;
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const spdx = typeof pkg.license === 'string' ? pkg.license : 'UNKNOWN';
  spdxSeen.add(/\s(OR|AND)\s/.test(spdx) && !/^\(.*\)$/.test(spdx) ? `(${spdx})` : spdx);
  const licenseFile = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f));
  if (!licenseFile) missing.push(key);
  const text = licenseFile ? readFileSync(join(dir, licenseFile), 'utf8') : '';
  const holders = [...new Set(text.split('\n').filter((l) => /^\s*(\(c\)|copyright\b)/i.test(l) && /\d{4}|\(c\)|©/i.test(l)).map((l) => l.trim()))];
  const author = typeof pkg.author === 'string' ? pkg.author : pkg.author?.name;
  const copyright = holders.length ? holders.join('\n ') : author ? author : `the ${pkg.name} authors`;
  const name = spdx.replace(/[()]/g, '').replace(/\s+OR\s+/g, ' or ').replace(/\s+AND\s+/g, ' and ');
  const licenseText = spdx === 'Apache-2.0' ? apacheRef : text ? body(text) : ` See ${pkg.name}'s package.json.`;
  out.push(
    [`Files: usr/lib/pgseal/app/${key}/*`, `Copyright: ${copyright}`, `License: ${name}`, `Comment: ${pkg.name} ${pkg.version}`, licenseText].join('\n'),
  );
}
out.push(['License: Apache-2.0', apacheRef].join('\n'));
writeFileSync(output, out.join('\n\n') + '\n');
if (missing.length) process.stderr.write(`copyright.mjs: no licence file in ${missing.join(', ')}\n`);
process.stdout.write([...spdxSeen].join(' AND ') + '\n');
