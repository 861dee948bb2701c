/** `anvil audit export` (JSON lines on stdout) and `anvil audit verify` (the hash chain; exit 0 only when intact). */
import { Command, Option } from 'commander';
import type { AuditChainReport } from '@anvil/server';
import { contextOf } from '../context.ts';
import { CliError } from '../errors.ts';

/** Exit status of `audit verify` when the chain is broken (1 stays for errors reaching the server). */
export const CHAIN_BROKEN_EXIT = 3;

export function auditCommand(): Command {
  const audit = new Command('audit').description('the audit trail: export it, verify its hash chain');
  audit
    .command('export')
    .description('write the audit entries matching the filters to stdout as JSON lines, oldest first')
    .option('--actor <text>', 'substring of the actor (case-insensitive)')
    .option('--action <action>', 'exact action, or a prefix ending in "." (certificate.)')
    .option('--target <id>', 'the target (e.g. a certificate id)')
    .addOption(new Option('--outcome <outcome>', 'only this outcome').choices(['success', 'failure']))
    .option('--from <time>', 'entries at or after this ISO 8601 time')
    .option('--to <time>', 'entries before this ISO 8601 time')
    .action(async (opts: ExportOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      const res = await ctx.client.request('GET', '/api/v1/audit/export', {
        query: { actor: opts.actor, action: opts.action, target: opts.target, outcome: opts.outcome, from: opts.from, to: opts.to },
        headers: { accept: 'application/x-ndjson, application/problem+json' },
        timeoutMs: 3_600_000,
      });
      if (!res.body) return;
      // Streamed through: a large trail never sits in memory here either.
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
      }
    });
  audit
    .command('verify')
    .description(`walk the audit trail's hash chain on the server; exit 0 when intact, ${CHAIN_BROKEN_EXIT} at the first bad row`)
    .option('--json', 'print the report as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const report = await ctx.client.json<AuditChainReport>('GET', '/api/v1/audit/verify', { timeoutMs: 3_600_000 });
      if (opts.json) ctx.out(JSON.stringify(report, null, 2));
      if (report.ok) {
        if (!opts.json)
          ctx.out(`audit chain intact: ${report.rows} rows${report.head ? `, head seq ${report.head.seq} ${report.head.hash}` : ''}`);
        return;
      }
      const bad = report.firstBad!;
      throw new CliError(
        `audit chain broken at seq ${bad.seq} (id ${bad.id}): ${bad.problem}: ${bad.detail} (${report.rows} rows read)`,
        CHAIN_BROKEN_EXIT,
      );
    });
  return audit;
}

interface ExportOptions {
  actor?: string;
  action?: string;
  target?: string;
  outcome?: string;
  from?: string;
  to?: string;
}
