/** `anvil crl`: an issuer's CRL (or a CRL file or URL), its signature checked: number, dates, revoked serials. */
import { existsSync, readFileSync } from 'node:fs';
import { Command } from 'commander';
import { contextOf } from '../context.ts';
import { parseCrl, type CrlInfo } from '../crl.ts';
import { CliError } from '../errors.ts';
import { relative, table } from '../output.ts';
import { crlSyncCommand } from './crl-sync.ts';

export function crlCommand(): Command {
  return new Command('crl')
    .description("show an issuer's CRL: number, this/next update and the revoked serials")
    .argument('<issuer>', 'issuer name (fetches /pki/crl/NAME.crl and checks its signature), or a CRL file or URL')
    .option('--json', 'print JSON')
    .addCommand(crlSyncCommand())
    .action(async (target: string, opts: { json?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      let bytes: Uint8Array;
      let issuerCert: Uint8Array | undefined;
      let source: string;
      if (/^https?:\/\//.test(target)) {
        source = target;
        bytes = await fetchBytes(target);
      } else if (existsSync(target)) {
        source = target;
        bytes = new Uint8Array(readFileSync(target));
      } else {
        if (!/^[a-z0-9][a-z0-9-]*$/.test(target)) throw new CliError(`"${target}" is neither an issuer name, a file nor a URL`);
        source = ctx.client.url(`/pki/crl/${target}.crl`);
        bytes = await ctx.client.bytes(`/pki/crl/${target}.crl`, { auth: false });
        issuerCert = await ctx.client.bytes(`/pki/issuers/${target}.crt`, { auth: false }).catch(() => undefined);
      }
      const info = parseCrl(bytes, issuerCert);
      if (opts.json) {
        ctx.out(JSON.stringify({ source, ...info, entries: info.entries }, null, 2));
        return;
      }
      ctx.out(formatCrl(info, source));
    });
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    throw new CliError(`cannot fetch ${url}: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`);
  }
  if (!res.ok) throw new CliError(`${url} answered HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

export function formatCrl(info: CrlInfo, source: string, now = new Date()): string {
  const row = (k: string, v: string) => `${k.padEnd(13)}${v}`;
  const next = info.nextUpdate
    ? `${info.nextUpdate.toISOString()} (${relative(info.nextUpdate, now)})${info.nextUpdate < now ? '  STALE: relying parties refuse an expired CRL' : ''}`
    : '(none)';
  const out = [
    row('source', source),
    row('issuer', info.issuer),
    row('number', info.number ?? '(none)'),
    row('this update', `${info.thisUpdate.toISOString()} (${relative(info.thisUpdate, now)})`),
    row('next update', next),
  ];
  if (info.signatureValid !== undefined) {
    out.push(
      row(
        'signature',
        info.signatureValid ? "valid (checked with the issuer's certificate)" : "INVALID: does not verify with the issuer's key",
      ),
    );
  }
  out.push(row('entries', String(info.entries.length)));
  if (info.entries.length) {
    out.push(
      table(
        ['  SERIAL', 'REVOKED AT', 'REASON'],
        info.entries.map((e) => [`  ${e.serial}`, e.revocationDate.toISOString(), e.reason ?? '(none)']),
      ),
    );
  }
  return out.join('\n');
}
