/** `anvil crl sync`: keep a gateway's CRL files fresh, once (cron, systemd timer) or in a loop (`--every`). */
// A subcommand of `anvil crl`, which still takes ISSUER|FILE|URL: commander dispatches the word
// `sync` here and anything else to `crl`'s own action (an issuer named "sync" is read as ./sync).
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { ApiClient } from '../client.ts';
import { resolveConnection } from '../config.ts';
import { BUNDLE_FILE, CRL_SYNC_EXIT, fileOf, syncCrls, type SyncResult } from '../crl-sync.ts';
import { CliError, describeError } from '../errors.ts';
import { relative } from '../output.ts';
import { parseDuration } from './renew.ts';

interface SyncOptions {
  dir: string;
  issuer: string[];
  reload?: string;
  every?: string;
  caFile?: string;
  quiet?: boolean;
}

export function crlSyncCommand(): Command {
  return new Command('sync')
    .description("fetch, verify and write the CRL of every CA in the issuers' paths; reload the gateway when one changed")
    .requiredOption(
      '--dir <dir>',
      `where to write <ca>.crl.pem for each CA and ${BUNDLE_FILE} (all of them, for nginx ssl_crl / HAProxy crl-file)`,
    )
    .requiredOption(
      '--issuer <name...>',
      'the issuing CA(s) whose clients the gateway accepts; the CAs above them up to the root come along',
    )
    .option('--reload <command>', 'run with sh -c after a file changed (e.g. "systemctl reload nginx"); its failure exits 4')
    .option('--every <duration>', 'keep running, syncing every so often (1h, 30m, 3600); failures are reported and the loop goes on')
    .option('--ca-file <file>', 'the roots to verify the CAs and CRLs against (default: GET /pki/trust-bundle.pem of --url / ANVIL_URL)')
    .option('--quiet', 'print nothing unless something fails')
    .addHelpText(
      'after',
      [
        '',
        'Every CRL is checked before any file is written: its signature against the CA certificate (itself',
        'verified up to the trust bundle), its issuer, its next update (a stale CRL is refused) and its CRL',
        'number (equal: unchanged, no reload; lower than the file in place: refused as a rollback). Files are',
        'replaced atomically (0644); on any failure none is touched.',
        '',
        'Exit status: 0 written or unchanged, 1 usage or configuration (bad flag, unknown issuer, unwritable --dir),',
        '2 a CRL or CA was refused (stale, signature, rollback, not under the trust bundle), 3 network or server',
        'unavailable (try again later), 4 files written but the --reload command failed (the next run reloads again).',
        'With --every: each failure is printed and the loop goes on; SIGTERM or SIGINT ends it with 0.',
        '',
        'Example (cron, hourly):',
        '  anvil crl sync --dir /etc/nginx/anvil-crl --issuer issuing-ca --ca-file /etc/nginx/anvil-ca.pem \\',
        '    --reload "systemctl reload nginx" --quiet',
      ].join('\n'),
    )
    .action(async (opts: SyncOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals() as { url?: string };
      const everyMs = opts.every === undefined ? undefined : parseDuration(opts.every, '--every');
      if (everyMs !== undefined && everyMs < 1000) throw new CliError('--every must be at least a second', CRL_SYNC_EXIT.usage);
      let trustPem: string | undefined;
      if (opts.caFile) {
        try {
          trustPem = readFileSync(opts.caFile, 'utf8');
        } catch (err) {
          throw new CliError(`cannot read --ca-file: ${(err as Error).message}`, CRL_SYNC_EXIT.usage);
        }
      }
      const connection = resolveConnection({ url: globals.url });
      if (!opts.quiet) for (const w of connection.warnings) process.stderr.write(`warning: ${w}\n`);
      const client = new ApiClient(connection);
      const once = async () => {
        const result = await syncCrls({ client, dir: opts.dir, issuers: opts.issuer, trustPem, reload: opts.reload });
        if (!opts.quiet) process.stdout.write(`${report(result, opts)}\n`);
      };
      if (everyMs === undefined) return once();
      await loop(everyMs, once);
    });
}

function report(r: SyncResult, opts: SyncOptions): string {
  const width = Math.max(...r.cas.map((c) => c.name.length));
  const lines = r.cas.map((c) => {
    const state = c.changed ? (c.previous === null ? 'written' : `updated (was ${c.previous})`) : 'unchanged';
    const next = c.nextUpdate ? `next update ${c.nextUpdate.toISOString()} (${relative(c.nextUpdate)})` : 'no next update';
    return `${c.name.padEnd(width)}  CRL ${String(c.number).padEnd(6)} ${state.padEnd(18)} ${next}`;
  });
  if (r.written.length) lines.push(`wrote ${r.written.join(', ')}`);
  else lines.push(`nothing changed in ${opts.dir} (${r.cas.map((c) => fileOf(c.name)).join(', ')}, ${BUNDLE_FILE})`);
  if (r.reloaded) lines.push(`reloaded: ${opts.reload}`);
  return lines.join('\n');
}

/** Runs `once` every `everyMs` until SIGTERM or SIGINT; a run's failure is reported, not fatal. */
async function loop(everyMs: number, once: () => Promise<void>): Promise<void> {
  let stopping = false;
  let wake = () => {};
  const stop = () => {
    stopping = true;
    wake();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  try {
    while (!stopping) {
      try {
        await once();
      } catch (err) {
        // Timestamped: under cron-less supervision this stream is the only record of a missed sync.
        process.stderr.write(`${new Date().toISOString()} ${describeError(err)}\n`);
      }
      if (stopping) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, everyMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}
