/** `anvil download`: a certificate in the format a stack wants (PEM, DER, PKCS#7, PKCS#12, a Kubernetes Secret). */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { contextOf } from '../context.ts';
import { CliError } from '../errors.ts';
import { writeOut } from '../output.ts';

/** Format name -> API file and whether it is binary. */
const FORMATS = {
  pem: { file: 'cert.pem', binary: false, about: 'the certificate, PEM' },
  chain: { file: 'chain.pem', binary: false, about: 'the intermediates, PEM' },
  fullchain: { file: 'fullchain.pem', binary: false, about: 'certificate + intermediates, PEM' },
  der: { file: 'cert.der', binary: true, about: 'the certificate, DER' },
  p7b: { file: 'bundle.p7b', binary: true, about: 'PKCS#7 certs-only (certificate + intermediates), DER' },
  'p7b-pem': { file: 'bundle.p7b.pem', binary: false, about: 'the same PKCS#7, PEM' },
  k8s: { file: 'secret.yaml', binary: false, about: 'Kubernetes TLS Secret; add the key with --key' },
} as const;
type Format = keyof typeof FORMATS;

export function downloadCommand(): Command {
  return new Command('download')
    .description('download a certificate in the format your stack wants')
    .argument('<id>', 'certificate id')
    .addOption(new Option('--format <format>', 'what to download').choices(Object.keys(FORMATS)).default('pem'))
    .option('--out <file>', 'write here instead of standard output')
    .option('--key <file>', 'k8s: put this private key (PEM) into the Secret as tls.key; it is checked against the certificate')
    .option('--name <name>', 'k8s: metadata.name (default: from the CN)')
    .option('--namespace <ns>', 'k8s: metadata.namespace')
    .option('--force', 'replace --out if it exists')
    .addHelpText(
      'after',
      `\nFormats:\n${Object.entries(FORMATS)
        .map(([k, v]) => `  ${k.padEnd(10)} ${v.about}`)
        .join('\n')}`,
    )
    .action(async (id: string, opts: DownloadOptions, cmd: Command) => {
      const format = FORMATS[opts.format];
      if (opts.format !== 'k8s' && (opts.key || opts.name || opts.namespace)) {
        throw new CliError('--key, --name and --namespace apply to --format k8s only');
      }
      if (format.binary && !opts.out && process.stdout.isTTY) {
        throw new CliError(`--format ${opts.format} is binary: pass --out FILE or redirect standard output`);
      }
      const ctx = contextOf(cmd);
      const query = opts.format === 'k8s' ? { name: opts.name, namespace: opts.namespace } : undefined;
      let body: string | Uint8Array = await ctx.client.bytes(`/api/v1/certificates/${encodeURIComponent(id)}/${format.file}`, { query });
      let secret = false;
      if (opts.format === 'k8s' && opts.key) {
        body = withTlsKey(Buffer.from(body).toString('utf8'), readKey(opts.key), opts.key);
        secret = true;
      }
      if (!opts.out) {
        process.stdout.write(body);
        return;
      }
      writeOut(opts.out, body, { mode: secret ? 0o600 : 0o644, force: opts.force });
      process.stderr.write(`wrote ${opts.out}${secret ? ' (0600: it holds the private key)' : ''}\n`);
    });
}

function readKey(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the key: ${(err as Error).message}`);
  }
}

/**
 * Adds tls.key to the Secret Anvil served (which has none: keys are never stored), after
 * checking that the key belongs to the certificate in tls.crt.
 */
export function withTlsKey(yaml: string, keyPem: string, keyPath: string): string {
  const lines = yaml.split('\n');
  const crtIndex = lines.findIndex((l) => l.startsWith('  tls.crt: '));
  if (crtIndex < 0) throw new CliError('the Secret from the server has no tls.crt line');
  const certPem = Buffer.from(lines[crtIndex].slice('  tls.crt: '.length).trim(), 'base64').toString('utf8');
  let matches: boolean;
  let keyObject;
  try {
    keyObject = createPrivateKey(keyPem);
  } catch {
    throw new CliError(`${keyPath} is not a PEM private key (an encrypted key must be decrypted first)`);
  }
  try {
    const certKey = new X509Certificate(certPem).publicKey.export({ format: 'der', type: 'spki' });
    matches = createPublicKey(keyObject).export({ format: 'der', type: 'spki' }).equals(certKey);
  } catch (err) {
    throw new CliError(`cannot compare the key with the certificate: ${(err as Error).message}`);
  }
  if (!matches) throw new CliError(`${keyPath} is not the key of this certificate`);
  const pkcs8 = keyObject.export({ format: 'pem', type: 'pkcs8' }).toString();
  // Drop the server's "tls.key is absent" comment block: every comment line after the first two.
  const firstNonComment = lines.findIndex((l) => !l.startsWith('#'));
  const header = lines.slice(0, Math.min(2, firstNonComment));
  const rest = lines.slice(firstNonComment);
  const crt = rest.findIndex((l) => l.startsWith('  tls.crt: '));
  rest.splice(crt + 1, 0, `  tls.key: ${Buffer.from(pkcs8).toString('base64')}`);
  return [...header, `# tls.key was added locally by the anvil CLI from ${keyPath.split('/').pop()}; keep this file secret.`, ...rest].join(
    '\n',
  );
}

interface DownloadOptions {
  format: Format;
  out?: string;
  key?: string;
  name?: string;
  namespace?: string;
  force?: boolean;
}
