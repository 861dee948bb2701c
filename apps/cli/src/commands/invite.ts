/** `anvil invite create|list|revoke`: enrollment invitations (admin); the URL with its secret is printed once, at creation. */
import type { CreatedInvitation, CreateInvitationRequest, InvitationView } from '@anvil/server';
import { Command } from 'commander';
import { collect, contextOf } from '../context.ts';
import { parseSans } from '../csr.ts';
import { CliError } from '../errors.ts';
import { table, truncate } from '../output.ts';
import { parseSubject, stamp } from './token.ts';

export function inviteCommand(): Command {
  const invite = new Command('invite').description(
    'enrollment invitations: a one-use URL a partner opens to get one certificate, without an account (admin token needed)',
  );
  invite
    .command('create')
    .description('create an invitation and print its URL: it is shown this once')
    .requiredOption('--name <name>', 'who it is for, shown to them (1 to 100 printable ASCII characters)')
    .requiredOption('--profile <name>', 'the profile of the certificate (e.g. client)')
    .option('--subject <attr=value>', 'a fixed subject attribute, e.g. "O=Partner B" (repeatable)', collect, [])
    .option('--san <name>', 'an exact name of the certificate: dns:NAME, ip:ADDR, uri:URI, email:ADDR (repeatable)', collect, [])
    .option(
      '--san-pattern <pattern>',
      'or a pattern the CSR’s names must match: "*.domain", "scheme://authority/path/*" (repeatable)',
      collect,
      [],
    )
    .option('--ttl <duration>', 'lifetime of the certificate (30d, 720h; default: the profile’s)')
    .option('--expires <time>', 'when the invitation stops working, RFC 3339 (default: in 7 days; at most 30)')
    .option('--json', 'print the invitation with its url as JSON')
    .option('--quiet', 'print only the URL')
    .addHelpText(
      'after',
      '\nExample:\n  anvil invite create --name "Partner B payments" --profile client --subject "O=Partner B" \\\n    --san dns:pay.partner-b.test --san uri:spiffe://prod.example/partner-b/pay --ttl 90d',
    )
    .action(async (opts: CreateOptions, cmd: Command) => {
      if (opts.san.length === 0 && opts.sanPattern.length === 0)
        throw new CliError('give the certificate’s names (--san) or the patterns they must match (--san-pattern)');
      const body: CreateInvitationRequest = { name: opts.name, profile: opts.profile };
      if (opts.subject.length) body.subject = parseSubject(opts.subject);
      if (opts.san.length) body.sans = parseSans(opts.san);
      if (opts.sanPattern.length) body.sanPatterns = opts.sanPattern;
      if (opts.ttl !== undefined) body.ttl = opts.ttl;
      if (opts.expires !== undefined) body.expiresAt = opts.expires;
      const ctx = contextOf(cmd);
      const created = await ctx.client.json<CreatedInvitation>('POST', '/api/v1/invitations', { body });
      if (opts.json) ctx.out(JSON.stringify(created, null, 2));
      else if (opts.quiet) ctx.out(created.url);
      else ctx.out(`created invitation ${created.id} for ${created.name}, valid until ${stamp(created.expiresAt)}\n${created.url}`);
      ctx.warn(
        'the URL is shown this once and works once: give it to the partner by a safe channel (Anvil keeps only a hash of its secret)',
      );
    });
  invite
    .command('list')
    .description('list invitations (never their URLs)')
    .option('--json', 'print JSON (an array of invitations) instead of a table')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { items } = await ctx.client.json<{ items: InvitationView[] }>('GET', '/api/v1/invitations');
      if (opts.json) {
        ctx.out(JSON.stringify(items, null, 2));
        return;
      }
      if (items.length === 0) {
        ctx.out('no invitations');
        return;
      }
      const rows = items.map((i) => [i.id, truncate(i.name, 30), i.profile, i.status, stamp(i.expiresAt), i.certificateId ?? '-']);
      ctx.out(table(['ID', 'NAME', 'PROFILE', 'STATUS', 'EXPIRES', 'CERTIFICATE'], rows));
      ctx.out(`${items.length} invitation${items.length === 1 ? '' : 's'}`);
    });
  invite
    .command('revoke')
    .description('withdraw an unused invitation (a used one: revoke its certificate instead)')
    .argument('<id>', 'invitation id (from anvil invite list)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const i = await ctx.client.json<InvitationView>('POST', `/api/v1/invitations/${encodeURIComponent(id)}/revoke`);
      ctx.out(`withdrew invitation ${i.id} (${i.name})`);
    });
  return invite;
}

interface CreateOptions {
  name: string;
  profile: string;
  subject: string[];
  san: string[];
  sanPattern: string[];
  ttl?: string;
  expires?: string;
  json?: boolean;
  quiet?: boolean;
}
