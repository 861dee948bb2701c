/** `anvil issue`: issue a certificate with a key generated here (it never leaves this machine), and write the files. */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import type { IssueRequest } from '@anvil/server';
import { collect, contextOf, type CertificateView } from '../context.ts';
import { KEY_ALGORITHMS, keyAndCsr, parseSans, type KeyAlgorithm } from '../csr.ts';
import { CliError } from '../errors.ts';
import { writeOut } from '../output.ts';

const FILES = ['key.pem', 'cert.pem', 'chain.pem', 'fullchain.pem'] as const;

export function issueCommand(): Command {
  return new Command('issue')
    .description('issue a certificate; the private key is generated here and never leaves this machine')
    .requiredOption('--profile <name>', 'certificate profile: client, server, peer or one of your own')
    .option('--cn <name>', 'subject common name (the client profile requires one)')
    .option('--san <type:value>', 'subject alternative name as dns:NAME, ip:ADDR, uri:URI or email:ADDR (repeatable)', collect, [])
    .addOption(new Option('--key-algorithm <alg>', 'key to generate').choices(KEY_ALGORITHMS).default('EC-P256'))
    .option('--csr <file>', 'send this PKCS#10 request (PEM) instead of generating a key; no key.pem is written')
    .option('--ttl <duration>', "lifetime such as 30d, 720h or seconds (default: the profile's)")
    .option('--issuer <name>', "issuing CA (default: the profile's, else the server's default)")
    .requiredOption('--out <dir>', 'directory for key.pem (mode 0600), cert.pem, chain.pem and fullchain.pem')
    .option('--force', 'replace files that already exist in --out')
    .option('--json', 'also print the API response (it never holds the key: that stays local)')
    .addHelpText(
      'after',
      '\nExample:\n  anvil issue --profile client --cn partner-a --san dns:a.partner.test \\\n    --san uri:spiffe://prod.example/partner-a --ttl 30d --out ./partner-a',
    )
    .action(async (opts: IssueOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      const sans = parseSans(opts.san);
      const out = opts.out;
      const written = opts.csr ? FILES.filter((f) => f !== 'key.pem') : [...FILES];
      if (!opts.force) {
        const clash = written.filter((f) => existsSync(join(out, f)));
        if (clash.length) {
          throw new CliError(
            `${clash.map((f) => join(out, f)).join(', ')} already exist${clash.length === 1 ? 's' : ''}; pass --force to replace`,
          );
        }
      }

      const body: IssueRequest = { profile: opts.profile };
      if (opts.ttl) body.ttl = /^\d+$/.test(opts.ttl) ? Number(opts.ttl) : opts.ttl;
      if (opts.issuer) body.issuer = opts.issuer;
      let keyPem: string | undefined;
      if (opts.csr) {
        let csr: string;
        try {
          csr = readFileSync(opts.csr, 'utf8');
        } catch (err) {
          throw new CliError(`cannot read the CSR: ${(err as Error).message}`);
        }
        body.csr = csr;
        // Names given here take precedence over the CSR's, as the API defines.
        if (opts.cn) body.subject = { CN: opts.cn };
        if (opts.san.length) body.sans = sans;
      } else {
        if (!opts.cn && opts.san.length === 0) throw new CliError('give at least a --san (and a --cn for client certificates)');
        const made = await keyAndCsr({ keyAlgorithm: opts.keyAlgorithm, commonName: opts.cn, sans });
        keyPem = made.keyPem;
        body.csr = made.csrPem;
      }

      const issued = await ctx.client.json<CertificateView>('POST', '/api/v1/certificates', { body });

      mkdirSync(out, { recursive: true, mode: 0o700 });
      const force = Boolean(opts.force);
      if (keyPem) writeOut(join(out, 'key.pem'), keyPem, { mode: 0o600, force });
      writeOut(join(out, 'cert.pem'), issued.certificate, { force });
      writeOut(join(out, 'chain.pem'), issued.chain, { force });
      writeOut(join(out, 'fullchain.pem'), issued.fullchain, { force });

      if (opts.json) {
        ctx.out(JSON.stringify(issued, null, 2));
        return;
      }
      ctx.out(`issued ${issued.id}`);
      ctx.out(`  subject   ${issued.subject || '(empty; names in the SAN)'}`);
      ctx.out(`  serial    ${issued.serial}`);
      ctx.out(`  profile   ${issued.profile}, issuer ${issued.issuer}, key ${issued.keyAlgorithm}`);
      ctx.out(`  valid     ${issued.notBefore} .. ${issued.notAfter}`);
      ctx.out(`  wrote     ${written.map((f) => join(out, f) + (f === 'key.pem' ? ' (0600)' : '')).join(', ')}`);
    });
}

interface IssueOptions {
  profile: string;
  cn?: string;
  san: string[];
  keyAlgorithm: KeyAlgorithm;
  csr?: string;
  ttl?: string;
  issuer?: string;
  out: string;
  force?: boolean;
  json?: boolean;
}
