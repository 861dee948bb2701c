/** `anvil list`: certificates, newest first, filtered and paged. */
import { Command, Option } from 'commander';
import type { CertificatePage as Page } from '@anvil/server';
import { contextOf, type CertificateView } from '../context.ts';
import { CliError } from '../errors.ts';
import { progress, table, truncate } from '../output.ts';

export function listCommand(): Command {
  return new Command('list')
    .description('list certificates, newest first')
    .addOption(new Option('--status <status>', 'only this status').choices(['active', 'revoked']))
    .option('--profile <name>', 'only this profile')
    .option('--issuer <name>', 'only this issuer')
    .option('--q <text>', 'substring of CN, SAN or serial')
    .option('--limit <n>', 'rows to show (with --all: page size)', (v) => Number(v))
    .option('--all', 'follow the pages to the end')
    .option('--json', 'print JSON (an array of certificates) instead of a table')
    .action(async (opts: ListOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 1 || opts.limit > 500)) {
        throw new CliError('--limit is a whole number from 1 to 500');
      }
      const query = { status: opts.status, profile: opts.profile, issuer: opts.issuer, q: opts.q };
      const items: CertificateView[] = [];
      if (!opts.all) {
        const page = await ctx.client.json<Page>('GET', '/api/v1/certificates', { query: { ...query, limit: opts.limit ?? 50 } });
        items.push(...page.items);
        print(ctx, items, opts.json);
        if (page.nextCursor && !opts.json) process.stderr.write(`(more: --all to fetch every page, or --limit up to 500)\n`);
        return;
      }
      const limit = opts.limit ?? 500;
      // The API does not count matches ahead of time: the bar's total grows while pages remain.
      const bar = progress('fetching', limit);
      let cursor: string | undefined;
      let pages = 0;
      try {
        do {
          const page: Page = await ctx.client.json<Page>('GET', '/api/v1/certificates', { query: { ...query, limit, cursor } });
          items.push(...page.items);
          pages++;
          cursor = page.nextCursor ?? undefined;
          bar.update(items.length, items.length + (cursor ? limit : 0), `page ${pages}`);
        } while (cursor);
      } finally {
        bar.stop();
      }
      print(ctx, items, opts.json);
    });
}

function print(ctx: { out: (t: string) => void }, items: CertificateView[], json?: boolean) {
  if (json) {
    ctx.out(
      JSON.stringify(
        items.map(({ certificate: _c, chain: _ch, fullchain: _f, ...rest }) => rest),
        null,
        2,
      ),
    );
    return;
  }
  if (items.length === 0) {
    ctx.out('no certificates match');
    return;
  }
  const rows = items.map((c) => [
    c.id,
    c.profile,
    c.status + (c.revocationReason ? ` (${c.revocationReason})` : ''),
    c.notAfter.replace(/\.\d+Z$/, 'Z'),
    truncate(c.subject || sanSummary(c), 40),
    c.serial,
  ]);
  ctx.out(table(['ID', 'PROFILE', 'STATUS', 'NOT AFTER', 'SUBJECT', 'SERIAL'], rows));
  ctx.out(`${items.length} certificate${items.length === 1 ? '' : 's'}`);
}

function sanSummary(c: CertificateView): string {
  const first = c.sans.dns[0] ?? c.sans.uri[0] ?? c.sans.ip[0] ?? c.sans.email[0];
  return first ? `(SAN ${first})` : '';
}

interface ListOptions {
  status?: string;
  profile?: string;
  issuer?: string;
  q?: string;
  limit?: number;
  all?: boolean;
  json?: boolean;
}
