import { PgsealError } from '../errors.js';

/** IdentRule maps certificate identities to a role, in the spirit of pg_ident.conf. */
export type IdentRule = { line: number; identity: string | RegExp; role: string };

/**
 * parseIdentMap parses a mapping file: one `IDENTITY ROLE` pair per line, `#` comments,
 * double quotes around values with spaces. An IDENTITY starting with `/` is a regular
 * expression (anchor it yourself); `\1` in ROLE is replaced by its first capture group.
 */
export function parseIdentMap(text: string): IdentRule[] {
  const rules: IdentRule[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    const fields = splitFields(line, i + 1);
    if (fields.length === 0) return;
    if (fields.length !== 2) throw new PgsealError('config_invalid', `mapping line ${i + 1}: expected "IDENTITY ROLE"`);
    const [identity, role] = fields as [string, string];
    if (identity.startsWith('/')) {
      let re: RegExp;
      try {
        re = new RegExp(identity.slice(1), 'u');
      } catch (err) {
        throw new PgsealError('config_invalid', `mapping line ${i + 1}: invalid regular expression: ${(err as Error).message}`);
      }
      rules.push({ line: i + 1, identity: re, role });
    } else {
      if (role.includes('\\1')) throw new PgsealError('config_invalid', `mapping line ${i + 1}: \\1 needs a regular expression identity`);
      rules.push({ line: i + 1, identity, role });
    }
  });
  return rules;
}

function splitFields(line: string, lineNo: number): string[] {
  const fields: string[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === '#') break;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '"') {
      const end = line.indexOf('"', i + 1);
      if (end < 0) throw new PgsealError('config_invalid', `mapping line ${lineNo}: unterminated quote`);
      fields.push(line.slice(i + 1, end));
      i = end + 1;
    } else {
      let end = i;
      while (end < line.length && !' \t#'.includes(line[end]!)) end++;
      fields.push(line.slice(i, end));
      i = end;
    }
  }
  return fields;
}

/** rolesForIdentity returns every role the rules allow an identity to use. */
export function rolesForIdentity(rules: readonly IdentRule[], identity: string): Set<string> {
  const roles = new Set<string>();
  for (const r of rules) {
    if (typeof r.identity === 'string') {
      if (r.identity === identity) roles.add(r.role);
    } else {
      const m = r.identity.exec(identity);
      if (m) roles.add(r.role.replace('\\1', m[1] ?? ''));
    }
  }
  return roles;
}
