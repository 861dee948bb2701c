/**
 * `anvil gateway KIND --issuer NAME [--out DIR]`: the gateway configuration that verifies an
 * issuer's client certificates (GET /api/v1/issuers/{name}/gateway/{kind}). Printed, or with
 * --out written into DIR with the trust and CRL files it reads, downloaded from the /pki URLs.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import type { GatewayConfig } from '@anvil/server';
import { contextOf } from '../context.ts';
import { ApiError, CliError } from '../errors.ts';
import { writeOut } from '../output.ts';

/** What the server accepts as ?dir= (it lands in configurations and shell lines). */
const SAFE_DIR = /^\/[A-Za-z0-9._/-]{0,200}$/;

export function gatewayCommand(): Command {
  return new Command('gateway')
    .description('print (or write with --out) a gateway configuration that verifies client certificates of an issuer')
    .argument('<kind>', 'nginx, haproxy, envoy, kong, caddy or traefik')
    .requiredOption('--issuer <name>', 'the issuer whose client certificates the gateway accepts')
    .option('--out <dir>', 'write the configuration and download its trust and CRL files into DIR (the paths in it point there)')
    .option('--force', 'replace files that already exist in --out')
    .action(async (kind: string, opts: { issuer: string; out?: string; force?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const dir = opts.out ? resolve(opts.out) : undefined;
      if (dir && !SAFE_DIR.test(dir)) {
        throw new CliError(
          `--out ${dir}: use a directory path of letters, digits, ".", "_", "-" and "/" only (it is written into the configuration)`,
        );
      }
      const path = `/api/v1/issuers/${encodeURIComponent(opts.issuer)}/gateway/${encodeURIComponent(kind)}`;
      let gateway: GatewayConfig;
      try {
        gateway = await ctx.client.json<GatewayConfig>('GET', path, { query: { dir } });
      } catch (err) {
        // An unknown kind or issuer is a typo: one line saying so (the server's detail lists the kinds).
        if (err instanceof ApiError && err.status === 404) throw new CliError(err.detail);
        throw err;
      }
      if (!dir) {
        process.stdout.write(gateway.config);
        printNotes(gateway.notes);
        return;
      }
      mkdirSync(dir, { recursive: true });
      const configPath = join(dir, gateway.configName);
      writeOut(configPath, gateway.config, { force: opts.force });
      const written = [configPath];
      for (const file of gateway.files) {
        if (!file.url) {
          if (!existsSync(file.path)) ctx.warn(`${file.path}: ${file.description}; put it there yourself`);
          continue;
        }
        writeOut(file.path, await fetchBytes(file.url), { force: opts.force });
        written.push(file.path);
      }
      writeOut(join(dir, 'download.sh'), gateway.download, { mode: 0o755, force: opts.force });
      written.push(join(dir, 'download.sh'));
      if (gateway.apply) {
        writeOut(join(dir, 'apply.sh'), gateway.apply, { mode: 0o755, force: opts.force });
        written.push(join(dir, 'apply.sh'));
      }
      ctx.out(written.map((p) => `wrote ${p}`).join('\n'));
      printNotes(gateway.notes);
    });
}

/** Notes go to standard error, so `anvil gateway nginx > site.conf` holds the configuration alone. */
function printNotes(notes: string[]) {
  for (const note of notes) process.stderr.write(`note: ${note}\n`);
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    throw new CliError(`cannot download ${url}: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`);
  }
  if (!res.ok) throw new CliError(`${url} answered HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}
