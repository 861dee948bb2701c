/** `anvil acme eab create|list|revoke`: ACME External Account Binding credentials (admin); the HMAC key is printed once. */
import type { CreatedEab, CreateEabRequest, EabView } from '@anvil/server';
import { Command } from 'commander';
import { collect, contextOf } from '../context.ts';
import { CliError } from '../errors.ts';
import { table, truncate } from '../output.ts';
import { parseSubject, stamp } from './token.ts';

export function acmeCommand(): Command {
  const acme = new Command('acme').description('the ACME server: External Account Binding credentials');
  const eab = new Command('eab').description('EAB credentials (key id + HMAC key) bound to profiles and SAN patterns (admin token needed)');
  acme.addCommand(eab);
  eab
    .command('create')
    .description('create an EAB credential and print its key id and HMAC key: the key is shown this once')
    .requiredOption('--name <name>', 'what the credential is for (1 to 100 printable ASCII characters)')
    .option('--profile <name>', 'a profile its ACME account may issue under (repeatable; at least one)', collect, [])
    .option('--san-pattern <pattern>', 'names it may get: "*.domain" or an exact name (repeatable)', collect, [])
    .option('--subject <attr=value>', 'a subject attribute every certificate carries, e.g. "O=Team A" (repeatable)', collect, [])
    .option('--expires <time>', 'until when it may be bound, an RFC 3339 date or date-time in the future')
    .option('--json', 'print {"keyId", "hmacKey"} as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  anvil acme eab create --name team-a --profile server --san-pattern "*.team-a.internal"\n  certbot ... --eab-kid <keyId> --eab-hmac-key <hmacKey>\n  lego --eab --kid <keyId> --hmac <hmacKey> ...',
    )
    .action(async (opts: CreateOptions, cmd: Command) => {
      if (opts.profile.length === 0) throw new CliError('name at least one --profile');
      const body: CreateEabRequest = { name: opts.name, profiles: opts.profile };
      if (opts.sanPattern.length) body.sanPatterns = opts.sanPattern;
      if (opts.subject.length) body.subject = parseSubject(opts.subject);
      if (opts.expires !== undefined) body.expiresAt = opts.expires;
      const ctx = contextOf(cmd);
      const created = await ctx.client.json<CreatedEab>('POST', '/api/v1/acme/eab', { body });
      if (opts.json) ctx.out(JSON.stringify(created, null, 2));
      else ctx.out(`key id:   ${created.keyId}\nhmac key: ${created.hmacKey}`);
      ctx.warn('the HMAC key is shown this once: hand it to the ACME client now (Anvil keeps it only encrypted)');
    });
  eab
    .command('list')
    .description('list EAB credentials (never the HMAC keys)')
    .option('--json', 'print JSON (an array of credentials) instead of a table')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { items } = await ctx.client.json<{ items: EabView[] }>('GET', '/api/v1/acme/eab');
      if (opts.json) {
        ctx.out(JSON.stringify(items, null, 2));
        return;
      }
      if (items.length === 0) {
        ctx.out('no EAB credentials');
        return;
      }
      const rows = items.map((c) => [
        c.keyId,
        truncate(c.name, 30),
        truncate(c.profiles.join(','), 30),
        truncate((c.sanPatterns ?? ['any']).join(','), 40),
        c.status,
        c.expiresAt ? stamp(c.expiresAt) : 'never',
      ]);
      ctx.out(table(['KEY ID', 'NAME', 'PROFILES', 'SAN PATTERNS', 'STATUS', 'EXPIRES'], rows));
      ctx.out(`${items.length} credential${items.length === 1 ? '' : 's'}`);
    });
  eab
    .command('revoke')
    .description('revoke an EAB credential: no new ACME account can bind it')
    .argument('<keyId>', 'key id (from anvil acme eab list)')
    .action(async (keyId: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const c = await ctx.client.json<EabView>('POST', `/api/v1/acme/eab/${encodeURIComponent(keyId)}/revoke`);
      ctx.out(`revoked EAB credential ${c.keyId} (${c.name}) at ${c.revokedAt ? stamp(c.revokedAt) : 'now'}`);
    });
  return acme;
}

interface CreateOptions {
  name: string;
  profile: string[];
  sanPattern: string[];
  subject: string[];
  expires?: string;
  json?: boolean;
}
