/** `anvil revoke`: revoke certificates by id, with a reason; the CRL and OCSP show it before it returns. */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { REVOKE_REASONS as REASONS } from '@anvil/pki';
import type { RevokeRequest } from '@anvil/server';
import { contextOf, type CertificateView } from '../context.ts';
import { ApiError, CliError, describeError } from '../errors.ts';
import { progress } from '../output.ts';

const CONCURRENCY = 4;

export function revokeCommand(): Command {
  return new Command('revoke')
    .description('revoke certificates by id; the CRL and OCSP show it before this returns')
    .argument('[ids...]', 'certificate ids')
    .option('--reason <name>', `RFC 5280 reason: ${REASONS.join(', ')}`, 'unspecified')
    .option('--file <path>', 'read ids from a file, one per line ("-" for stdin; blank lines and # comments skipped)')
    .addHelpText(
      'after',
      '\nExamples:\n  anvil revoke 3f1c…-… --reason keyCompromise\n  anvil revoke --file ids.txt --reason cessationOfOperation',
    )
    .action(async (ids: string[], opts: { reason: string; file?: string }, cmd: Command) => {
      const all = [...ids, ...(opts.file ? readIds(opts.file) : [])];
      if (all.length === 0) throw new CliError('name at least one certificate id, or --file');
      const ctx = contextOf(cmd);
      const revoke = (id: string) =>
        ctx.client.json<CertificateView>('POST', `/api/v1/certificates/${encodeURIComponent(id)}/revoke`, {
          body: { reason: opts.reason } satisfies RevokeRequest,
        });

      if (all.length === 1) {
        const r = await revoke(all[0]);
        ctx.out(`revoked ${r.id} (serial ${r.serial}, reason ${r.revocationReason ?? opts.reason}, at ${r.revokedAt ?? 'now'})`);
        return;
      }

      const bar = progress('revoking', all.length);
      const failures: Array<{ id: string; error: unknown }> = [];
      let done = 0;
      let next = 0;
      const worker = async () => {
        while (next < all.length) {
          const id = all[next++];
          try {
            await revoke(id);
            done++;
          } catch (error) {
            // A bad token or an unreachable server fails every id alike: stop rather than repeat it.
            if (!(error instanceof ApiError) || error.status === 401 || error.status === 403) throw error;
            failures.push({ id, error });
          }
          bar.tick(failures.length ? `${failures.length} failed` : '');
        }
      };
      try {
        await Promise.all(Array.from({ length: Math.min(CONCURRENCY, all.length) }, worker));
      } finally {
        bar.stop();
      }
      ctx.out(`revoked ${done} of ${all.length} certificates (reason ${opts.reason})`);
      if (failures.length) {
        for (const f of failures) process.stderr.write(`${f.id}: ${describeError(f.error).replace(/^error: /, '')}\n`);
        throw new CliError(`${failures.length} of ${all.length} revocations failed (listed above)`);
      }
    });
}

function readIds(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`);
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}
