/** `anvil token create|list|revoke`: scoped API tokens (admin); the token itself is printed once, at creation. */
import type { CreatedToken, CreateTokenRequest, TokenView } from '@anvil/server';
import { Command } from 'commander';
import { collect, contextOf } from '../context.ts';
import { CliError } from '../errors.ts';
import { table, truncate } from '../output.ts';

export function tokenCommand(): Command {
  const token = new Command('token').description('scoped API tokens: create (shown once), list, revoke (admin token needed)');
  token
    .command('create')
    .description('create a scoped API token and print it: it is shown this once')
    .requiredOption('--name <name>', 'what the token is for (1 to 100 printable ASCII characters)')
    .option(
      '--scope <scope>',
      'a scope (repeatable): certificates:issue, certificates:read, certificates:revoke, judge, audit, admin',
      collect,
      [],
    )
    .option('--profile <name>', 'a profile the token may issue under (repeatable)', collect, [])
    .option(
      '--san-pattern <pattern>',
      'SANs it may issue: "*.domain", "scheme://authority/path/*" or an exact name (repeatable)',
      collect,
      [],
    )
    .option(
      '--subject <attr=value>',
      'a subject attribute every certificate of the token carries, e.g. "O=Partner B" (repeatable)',
      collect,
      [],
    )
    .option('--expires <time>', 'expiry, an RFC 3339 date or date-time in the future (2027-01-01)')
    .option('--rate-limit <n>', "certificates per minute it may issue, 1 to 100000 (default: the server's; admin tokens: unlimited)")
    .option('--json', 'print {"id", "token"} as JSON')
    .option('--quiet', 'print only the token (for TOKEN=$(anvil token create … --quiet))')
    .addHelpText(
      'after',
      '\nExamples:\n  anvil token create --name partner-b --scope certificates:issue --scope certificates:read \\\n    --profile client --san-pattern "*.b.partner.test" --subject "O=Partner B" --expires 2027-01-01\n  TOKEN=$(anvil token create --name ci --scope certificates:read --quiet)',
    )
    .action(async (opts: CreateOptions, cmd: Command) => {
      if (opts.scope.length === 0) throw new CliError('name at least one --scope');
      const body: CreateTokenRequest = { name: opts.name, scopes: opts.scope };
      if (opts.profile.length) body.profiles = opts.profile;
      if (opts.sanPattern.length) body.sanPatterns = opts.sanPattern;
      if (opts.subject.length) body.subject = parseSubject(opts.subject);
      if (opts.expires !== undefined) body.expiresAt = opts.expires;
      if (opts.rateLimit !== undefined) {
        if (!/^\d+$/.test(opts.rateLimit)) throw new CliError(`--rate-limit ${JSON.stringify(opts.rateLimit)} is not a whole number`);
        body.rateLimit = Number(opts.rateLimit); // the range is the server's 422
      }
      const ctx = contextOf(cmd);
      const created = await ctx.client.json<CreatedToken>('POST', '/api/v1/tokens', { body });
      if (opts.json) ctx.out(JSON.stringify(created, null, 2));
      else if (opts.quiet) ctx.out(created.token);
      else ctx.out(`created token ${created.id}\n${created.token}`);
      ctx.warn('the token is shown this once: store it now (Anvil keeps only its hash)');
    });
  token
    .command('list')
    .description('list API tokens (never the tokens themselves)')
    .option('--json', 'print JSON (an array of tokens) instead of a table')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { items } = await ctx.client.json<{ items: TokenView[] }>('GET', '/api/v1/tokens');
      if (opts.json) {
        ctx.out(JSON.stringify(items, null, 2));
        return;
      }
      if (items.length === 0) {
        ctx.out('no tokens');
        return;
      }
      const rows = items.map((t) => [
        t.id,
        truncate(t.name, 30),
        truncate(t.scopes.join(','), 50),
        t.status,
        t.expiresAt ? stamp(t.expiresAt) : 'never',
        t.lastUsedAt ? stamp(t.lastUsedAt) : 'never',
      ]);
      ctx.out(table(['ID', 'NAME', 'SCOPES', 'STATUS', 'EXPIRES', 'LAST USED'], rows));
      ctx.out(`${items.length} token${items.length === 1 ? '' : 's'}`);
    });
  token
    .command('revoke')
    .description('revoke an API token; every server process refuses it within 5 s')
    .argument('<id>', 'token id (from anvil token list)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const t = await ctx.client.json<TokenView>('POST', `/api/v1/tokens/${encodeURIComponent(id)}/revoke`);
      ctx.out(`revoked token ${t.id} (${t.name}) at ${t.revokedAt ? stamp(t.revokedAt) : 'now'}`);
    });
  return token;
}

/** `ATTR=value` flags as a subject object (shared with `anvil invite`). */
export function parseSubject(pairs: string[]): Record<string, string> {
  const subject: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CliError(`--subject ${JSON.stringify(pair)} is not ATTR=value (e.g. "O=Partner B")`);
    subject[pair.slice(0, eq).trim()] = pair.slice(eq + 1);
  }
  return subject;
}

export const stamp = (iso: string) => iso.replace(/\.\d+Z$/, 'Z');

interface CreateOptions {
  name: string;
  scope: string[];
  profile: string[];
  sanPattern: string[];
  subject: string[];
  expires?: string;
  rateLimit?: string;
  json?: boolean;
  quiet?: boolean;
}
