/** `anvil enroll <url>`: use an invitation — make the key here, send only a CSR, write the key and the full chain. */
// Needs no token: the invitation URL is the credential. The exit statuses are those of `anvil renew`
// (0 enrolled, 1 usage or files, 2 the server refused: used, expired, withdrawn, outside the
// invitation's names; 3 network or the server unavailable). Nothing is written unless issued.
import { existsSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { Command } from 'commander';
import { replaceFilesAtomically, type Replacement } from '../atomic-files.ts';
import { collect } from '../context.ts';
import { KEY_ALGORITHMS, keyAndCsr, parseSans, type KeyAlgorithm } from '../csr.ts';
import { CliError } from '../errors.ts';
import { RENEW_EXIT } from './renew.ts';

/** What GET <url> with Accept: application/json says of the invitation. */
interface InvitationFacts {
  name: string;
  profile: string;
  subject: Record<string, string>;
  sans: { dns: string[]; ip: string[]; uri: string[]; email: string[] } | null;
  sanPatterns: string[];
}

export function enrollCommand(): Command {
  return new Command('enroll')
    .description('use an enrollment invitation: make a key here, send only a CSR, write the key and the full chain')
    .argument('<url>', 'the invitation URL (https://…/enroll/anvil_inv_…)')
    .requiredOption('--key <file>', 'where to write the new private key (PEM, mode 0600)')
    .requiredOption('--cert <file>', 'where to write the certificate with its intermediates (full chain, PEM)')
    .option('--chain <file>', 'also write the intermediates alone here')
    .option('--key-algorithm <alg>', `the key to make: ${KEY_ALGORITHMS.join(', ')}`, 'EC-P256')
    .option('--cn <name>', 'the common name, when the invitation fixes none (default: its first DNS name)')
    .option(
      '--san <name>',
      'a name for an invitation that takes the CSR’s names: dns:NAME, uri:URI, ip:ADDR, email:ADDR (repeatable)',
      collect,
      [],
    )
    .option('--force', 'replace --key and --cert if they exist')
    .option('--quiet', 'print nothing unless something fails')
    .addHelpText(
      'after',
      '\nExit status: 0 enrolled, 1 usage or the files, 2 the server refused (used, expired, withdrawn, names outside the\ninvitation: the problem code is printed), 3 network or the server unavailable. Renew later with anvil renew.',
    )
    .action(async (url: string, opts: EnrollOptions) => enroll(url, opts));
}

interface EnrollOptions {
  key: string;
  cert: string;
  chain?: string;
  keyAlgorithm: string;
  cn?: string;
  san: string[];
  force?: boolean;
  quiet?: boolean;
}

async function enroll(urlText: string, opts: EnrollOptions): Promise<void> {
  const say = (text: string) => {
    if (!opts.quiet) process.stdout.write(`${text}\n`);
  };
  let url: URL;
  try {
    url = new URL(urlText);
  } catch {
    throw new CliError(`"${urlText.slice(0, 40)}…" is not a URL: paste the invitation link whole`, RENEW_EXIT.usage);
  }
  if (!/^https?:$/.test(url.protocol) || !/\/enroll\/[^/]+$/.test(url.pathname)) {
    throw new CliError('this is not an invitation URL (expected …/enroll/anvil_inv_…)', RENEW_EXIT.usage);
  }
  if (!(KEY_ALGORITHMS as readonly string[]).includes(opts.keyAlgorithm)) {
    throw new CliError(`--key-algorithm ${opts.keyAlgorithm}: expected one of ${KEY_ALGORITHMS.join(', ')}`, RENEW_EXIT.usage);
  }
  for (const path of [opts.key, opts.cert]) {
    if (existsSync(path) && !opts.force)
      throw new CliError(`${path} exists: choose another file, or pass --force to replace it`, RENEW_EXIT.usage);
  }
  const sans = opts.san.length ? parseSans(opts.san) : undefined;

  const facts = (await call(url, { headers: { accept: 'application/json' } }, 200)) as InvitationFacts;
  if (!facts.sans && !sans) {
    throw new CliError(
      `this invitation takes the names of your CSR: give them with --san, each matching ${facts.sanPatterns.join(' or ')}`,
      RENEW_EXIT.usage,
    );
  }
  const commonName = facts.subject.CN ?? opts.cn ?? facts.sans?.dns[0] ?? sans?.dns[0];
  // With fixed names the server writes its own; the CSR carries them anyway, so it reads as what is asked.
  const { keyPem, csrPem } = await keyAndCsr({
    keyAlgorithm: opts.keyAlgorithm as KeyAlgorithm,
    commonName,
    sans: facts.sans ?? sans!,
  });
  const issued = (await call(
    url,
    { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ csr: csrPem }) },
    201,
  )) as { id: string; serial: string; notAfter: string; chain: string; fullchain: string; certificate: string };
  if (!new X509Certificate(issued.certificate).checkPrivateKey(createPrivateKey(keyPem))) {
    throw new CliError('the server answered a certificate for another key; nothing was written', RENEW_EXIT.refused);
  }
  const files: Replacement[] = [
    { path: opts.key, content: keyPem, mode: 0o600 },
    { path: opts.cert, content: issued.fullchain, mode: 0o644 },
  ];
  if (opts.chain) files.push({ path: opts.chain, content: issued.chain, mode: 0o644 });
  try {
    replaceFilesAtomically(files);
  } catch (err) {
    process.stderr.write(`the certificate (public) follows, to save by hand:\n${issued.fullchain}`);
    throw new CliError(
      `issued ${issued.id}, but the files could not be written: ${(err as Error).message}`,
      RENEW_EXIT.usage,
      'the key is gone: ask for a new invitation',
    );
  }
  say(`enrolled as ${issued.id} (${facts.profile} certificate for ${facts.name})`);
  say(`  serial    ${issued.serial}`);
  say(`  valid to  ${issued.notAfter}`);
  say(`  wrote     ${files.map((f) => f.path).join(', ')} (key 0600)`);
  say(`  renew     anvil renew --cert ${opts.cert} --key ${opts.key}`);
}

/** One request to the enrollment URL; a problem answer is exit 2 with its code, no answer exit 3. */
async function call(url: URL, init: RequestInit, expected: number): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    throw new CliError(`cannot reach ${url.origin}: ${(err as Error).message}`, RENEW_EXIT.network);
  }
  const text = await res.text();
  let body: { code?: unknown; detail?: string } | null;
  try {
    body = JSON.parse(text);
  } catch {
    throw new CliError(`${url.origin} answered ${res.status} with something that is not JSON; is it Anvil?`, RENEW_EXIT.network);
  }
  if (res.status === expected) return body;
  const problem = typeof body?.code === 'string' ? `${body.detail} (code ${body.code}, HTTP ${res.status})` : `HTTP ${res.status}`;
  throw new CliError(`the invitation was refused: ${problem}`, res.status >= 500 ? RENEW_EXIT.network : RENEW_EXIT.refused);
}
