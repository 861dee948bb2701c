/**
 * The arrows of ARCHITECTURE.md, enforced: apps -> ca -> pki, db implements what ca declares.
 * pki imports nothing of ours; ca imports no db and no server code; the CLI is a client of the
 * API (it may use the engine and the server's types, never the authority or the database);
 * views import no store. Every import of every module is read (static, dynamic and re-exports).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(ROOT, dir))) {
    const path = join(dir, entry);
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...sources(path));
    else if (/\.tsx?$/.test(entry)) out.push(path);
  }
  return out;
}

/** Every module specifier in a file, with relative ones resolved to a path from the repository root. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [
    ...text.matchAll(
      /(?:^|\s)(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm,
    ),
  ].map((m) => m[1] ?? m[2] ?? m[3]);
  return specs.map((s) => (s.startsWith('.') ? relative(ROOT, resolve(dirname(join(ROOT, file)), s)) : s));
}

interface Rule {
  from: string;
  forbidden: RegExp;
  why: string;
}

const RULES: Rule[] = [
  { from: 'packages/pki/src', forbidden: /^@anvil\/|^(?!packages\/pki\/)(apps|packages|db)\//, why: 'pki imports nothing of ours' },
  { from: 'packages/ca/src', forbidden: /^@anvil\/(db|server|cli)$|^(apps|db)\//, why: 'ca imports no db and no server code' },
  { from: 'apps/cli/src', forbidden: /^@anvil\/(ca|db)$|^(packages\/ca|db)\//, why: 'the CLI is a client of the API only' },
  { from: 'apps/server/src/views', forbidden: /^@anvil\/db$|^db\/|store(\.ts)?$/, why: 'views import no store' },
  { from: 'db/src', forbidden: /^@anvil\/(server|cli)$|^apps\//, why: 'db implements ca, it knows no app' },
];

describe('imports follow the arrows', () => {
  for (const rule of RULES) {
    it(`${rule.from}: ${rule.why}`, () => {
      const files = sources(rule.from);
      expect(files.length).toBeGreaterThan(0);
      const offences = files.flatMap((f) =>
        importsOf(f)
          .filter((s) => rule.forbidden.test(s))
          .map((s) => `${f} imports ${s}`),
      );
      expect(offences).toEqual([]);
    });
  }

  it('the rules can fail: a forbidden import is seen', () => {
    expect(RULES[0].forbidden.test('@anvil/ca')).toBe(true);
    expect(RULES[1].forbidden.test('@anvil/db')).toBe(true);
    expect(RULES[1].forbidden.test('apps/server/src/app.ts')).toBe(true);
    expect(RULES[2].forbidden.test('@anvil/ca')).toBe(true);
    expect(RULES[3].forbidden.test('packages/ca/src/store.ts')).toBe(true);
    // and the parser reads the forms we write
    expect(importsOf('apps/cli/src/commands/revoke.ts').some((s) => s.startsWith('@anvil/'))).toBe(true);
  });
});
