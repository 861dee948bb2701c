/**
 * `anvil issuer import|csr|certificate`: bring an existing CA into Anvil, or have an external root
 * sign an intermediate whose key Anvil holds (issue 14, items 2 and 3). Files are read here and
 * sent to the API; DER files go as base64. A key's passphrase comes from a file or
 * ANVIL_KEY_PASSPHRASE, never a flag (flags show in ps).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { ImportIssuerRequest, IssuerCertificateRequest, PendingIssuerRequest, PendingIssuerView } from '@anvil/server';
import { Command } from 'commander';
import { contextOf } from '../context.ts';
import { CliError } from '../errors.ts';

interface IssuerAnswer {
  name: string;
  kind: string;
  parent: string | null;
  subject: string;
  notAfter: string;
}

/** A PEM file as text, a DER file as base64 (what the API takes for "PEM or DER"). */
export function readPemOrDer(path: string, what: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new CliError(`cannot read the ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  const text = bytes.toString('latin1');
  return text.includes('-----BEGIN ') ? bytes.toString('utf8') : bytes.toString('base64');
}

function passphraseOf(opts: { passphraseFile?: string }): string | undefined {
  if (opts.passphraseFile) {
    try {
      return readFileSync(opts.passphraseFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new CliError(`cannot read the passphrase file ${opts.passphraseFile}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
  }
  return process.env.ANVIL_KEY_PASSPHRASE || undefined;
}

function describe(i: IssuerAnswer): string {
  return `issuer ${i.name}: ${i.kind}${i.parent ? ` under ${i.parent}` : ''}, ${i.subject}, valid until ${i.notAfter}`;
}

export function issuerCommand(): Command {
  const issuer = new Command('issuer').description(
    'bring CAs in: import an existing CA, or an intermediate signed by an external root (admin token)',
  );
  issuer
    .command('import')
    .description(
      'import an existing CA certificate and its PKCS#8 key, or with its key on the PKCS#11 token (a self-signed one becomes a root)',
    )
    .requiredOption('--name <name>', 'the issuer name in Anvil (lower-case letters, digits, hyphens)')
    .requiredOption('--cert <file>', 'the CA certificate, PEM or DER')
    .option('--key <file>', 'its PKCS#8 private key: PEM, encrypted PEM, or DER (leave out when the key is on the PKCS#11 token)')
    .option(
      '--key-ref <uri>',
      "the key on Anvil's PKCS#11 token (pkcs11:token=…;object=…;id=…); by default the token key matching the certificate",
    )
    .option('--chain <file>', 'PEM certificates above it, up to the root (not needed when Anvil has them)')
    .option('--passphrase-file <file>', "the encrypted key's passphrase (or ANVIL_KEY_PASSPHRASE)")
    .option('--json', 'print the issuer as JSON')
    .action(
      async (
        opts: { name: string; cert: string; key?: string; keyRef?: string; chain?: string; passphraseFile?: string; json?: boolean },
        cmd: Command,
      ) => {
        const body: ImportIssuerRequest = { name: opts.name, certificate: readPemOrDer(opts.cert, 'certificate') };
        if (opts.key) body.privateKey = readPemOrDer(opts.key, 'key');
        if (opts.keyRef) body.keyRef = opts.keyRef;
        const passphrase = passphraseOf(opts);
        if (passphrase) body.passphrase = passphrase;
        if (opts.chain) body.chain = readPemOrDer(opts.chain, 'chain');
        const ctx = contextOf(cmd);
        const imported = await ctx.client.json<IssuerAnswer>('POST', '/api/v1/issuers/import', { body });
        ctx.out(opts.json ? JSON.stringify(imported, null, 2) : `imported ${describe(imported)}`);
      },
    );
  issuer
    .command('csr')
    .description(
      'create an intermediate whose key Anvil holds and write its CSR for an external root to sign; it issues nothing until `anvil issuer certificate`',
    )
    .requiredOption('--name <name>', 'the issuer name in Anvil')
    .option('--key-algorithm <alg>', 'EC-P256 (default), EC-P384, RSA-2048, RSA-3072, RSA-4096, Ed25519')
    .option('--common-name <cn>', 'the CN of its subject')
    .option('--out <file>', 'write the CSR here (default: standard output)')
    .action(async (opts: { name: string; keyAlgorithm?: string; commonName?: string; out?: string }, cmd: Command) => {
      const body = { name: opts.name } as PendingIssuerRequest;
      if (opts.keyAlgorithm) body.keyAlgorithm = opts.keyAlgorithm as PendingIssuerRequest['keyAlgorithm']; // the server's 422 judges it
      if (opts.commonName) body.commonName = opts.commonName;
      const ctx = contextOf(cmd);
      const pending = await ctx.client.json<PendingIssuerView>('POST', '/api/v1/issuers/csr', { body });
      if (opts.out) {
        writeFileSync(opts.out, pending.csr);
        ctx.out(`issuer ${pending.name} is pending; its CSR is in ${opts.out}`);
      } else {
        ctx.out(pending.csr.trimEnd());
      }
    });
  issuer
    .command('certificate')
    .description('activate a pending intermediate with the certificate the external root signed, and that root as a trust anchor')
    .requiredOption('--name <name>', 'the pending issuer')
    .requiredOption('--cert <file>', 'its certificate signed by the external root, PEM or DER')
    .requiredOption('--chain <file>', 'the external root (and any CA between), PEM')
    .option('--json', 'print the issuer as JSON')
    .action(async (opts: { name: string; cert: string; chain: string; json?: boolean }, cmd: Command) => {
      const body: IssuerCertificateRequest = {
        certificate: readPemOrDer(opts.cert, 'certificate'),
        chain: readPemOrDer(opts.chain, 'chain'),
      };
      const ctx = contextOf(cmd);
      const done = await ctx.client.json<IssuerAnswer>('POST', `/api/v1/issuers/${encodeURIComponent(opts.name)}/certificate`, { body });
      ctx.out(opts.json ? JSON.stringify(done, null, 2) : `activated ${describe(done)}`);
    });
  return issuer;
}
