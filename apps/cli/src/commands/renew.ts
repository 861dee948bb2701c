/** `anvil renew`: renew a certificate over the mTLS listener with its own key, and replace its files in place, atomically. */
// Made for cron and systemd timers: `--if-expires-within` exits 0 without contacting anyone while
// there is time left, and the exit status says what happened (0 renewed or nothing to do, 1 usage
// or configuration, 2 the server refused, 3 network, TLS or the server unavailable).
import { accessSync, constants as fsConstants, existsSync, readFileSync, realpathSync } from 'node:fs';
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { Command } from 'commander';
import { buildCsr, emptySans, generateKey, parsePemBlocks, privateKeyPem, publicKeyFacts, toPem, type KeyAlgorithm } from '@anvil/pki';
import { replaceFilesAtomically, type Replacement } from '../atomic-files.ts';
import { ApiClient } from '../client.ts';
import { resolveConnection, type Connection } from '../config.ts';
import type { CertificateView } from '../context.ts';
import { ApiError, CliError } from '../errors.ts';
import { MtlsNetworkError, mtlsRequest } from '../mtls-client.ts';
import { relative } from '../output.ts';

/** The exit statuses `anvil renew` documents (README, "Renewal from cron or systemd"). */
export const RENEW_EXIT = { ok: 0, usage: 1, refused: 2, network: 3 } as const;

const DEFAULT_MTLS_PORT = 8443;

export function renewCommand(): Command {
  return new Command('renew')
    .description('renew a certificate over the mTLS listener, authenticating with it, and replace the files in place')
    .requiredOption('--cert <file>', 'the certificate to renew, PEM: the leaf alone, or leaf + intermediates (then written back so)')
    .requiredOption('--key <file>', 'its private key, PEM (replaced only with --new-key; never sent)')
    .option('--new-key', 'generate a fresh key of the same algorithm here and replace --key with it (mode 0600)')
    .option('--chain <file>', 'intermediates: presented with a leaf-only --cert when the file exists, and rewritten with the new chain')
    .option('--fullchain <file>', 'also write certificate + intermediates here')
    .option('--if-expires-within <duration>', 'renew only if the certificate expires within this long (30d, 12h, 90m, 3600); else exit 0')
    .option(
      '--mtls-url <url>',
      `the mTLS listener (env ANVIL_MTLS_URL; default: the host of --url / ANVIL_URL on port ${DEFAULT_MTLS_PORT})`,
    )
    .option('--ca-file <file>', "trust for the listener's own certificate (default: GET /pki/trust-bundle.pem from --url / ANVIL_URL)")
    .option('--quiet', 'print nothing unless something fails')
    .addHelpText(
      'after',
      [
        '',
        'Without a chain in --cert or --chain, the intermediates are fetched from /pki/issuers/<issuer>/chain.pem',
        "of --url / ANVIL_URL (the issuer named by the certificate's AIA caIssuers URL).",
        '',
        'Exit status: 0 renewed or nothing to do, 1 usage or configuration error (nothing contacted),',
        '2 the server refused (revoked, expired, superseded: the problem code is printed),',
        '3 network or TLS error, or the server unavailable (try again later). Files change only on 0.',
        '',
        'Example (cron):',
        '  anvil renew --cert /etc/partner/fullchain.pem --key /etc/partner/key.pem --if-expires-within 10d --quiet',
      ].join('\n'),
    )
    .action(async (opts: RenewOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals() as { url?: string };
      await renew(opts, globals.url);
    });
}

interface RenewOptions {
  cert: string;
  key: string;
  newKey?: boolean;
  chain?: string;
  fullchain?: string;
  ifExpiresWithin?: string;
  mtlsUrl?: string;
  caFile?: string;
  quiet?: boolean;
}

async function renew(opts: RenewOptions, urlFlag: string | undefined): Promise<void> {
  const say = (text: string) => {
    if (!opts.quiet) process.stdout.write(`${text}\n`);
  };
  const windowMs = opts.ifExpiresWithin === undefined ? undefined : parseDuration(opts.ifExpiresWithin, '--if-expires-within');

  let conn: Connection | undefined;
  function connection(): Connection {
    if (!conn) {
      conn = resolveConnection({ url: urlFlag });
      if (!opts.quiet) for (const w of conn.warnings) process.stderr.write(`warning: ${w}\n`);
    }
    return conn;
  }
  const api = () => new ApiClient(connection());

  // Everything local first: a usage or configuration error contacts no one and changes nothing.
  const certText = readText(opts.cert, 'certificate');
  const certBlocks = certificateBlocks(certText, opts.cert);
  const leaf = new X509Certificate(certBlocks[0]);
  const heldFullChain = certBlocks.length > 1;
  const key = readKey(opts.key);
  if (!leaf.checkPrivateKey(key)) {
    throw new CliError(`the key in ${opts.key} does not belong to the certificate in ${opts.cert}`, RENEW_EXIT.usage);
  }
  const algorithm = keyAlgorithmOf(leaf);
  checkOutputs(opts);
  const chainFile = opts.chain && existsSync(opts.chain) ? certificateBlocks(readText(opts.chain, 'chain'), opts.chain) : undefined;
  const mtlsUrl = resolveMtlsUrl(opts.mtlsUrl, () => connection().url);
  const caPem = opts.caFile ? readText(opts.caFile, 'CA file') : undefined;

  const notAfter = new Date(leaf.validTo);
  if (windowMs !== undefined && notAfter.getTime() - Date.now() > windowMs) {
    say(`${opts.cert} expires ${relative(notAfter)} (${notAfter.toISOString()}), later than ${opts.ifExpiresWithin}: nothing to do`);
    return;
  }

  const trust = caPem ?? (await fetchPem(api(), '/pki/trust-bundle.pem'));
  const intermediates = heldFullChain
    ? certBlocks.slice(1)
    : chainFile
      ? chainFile
      : certificateBlocks(
          await fetchPem(api(), `/pki/issuers/${encodeURIComponent(issuerNameOf(leaf, opts.cert))}/chain.pem`),
          'the chain',
        );
  const presented = [leaf.raw, ...intermediates.map((p) => new X509Certificate(p).raw)].map((der) => toPem(der, 'CERTIFICATE')).join('');

  // The CSR: for the same key (made here from key.pem), or for a fresh one that never leaves this machine.
  const fresh = opts.newKey ? await generateKey(algorithm) : undefined;
  const pkcs8 = fresh ? fresh.pkcs8Der : new Uint8Array(key.export({ format: 'der', type: 'pkcs8' }));
  // Subject and names come from the certificate's database row; the CSR proves possession of the key.
  const csr = toPem(buildCsr({ keyAlgorithm: algorithm, privateKeyPkcs8: pkcs8, subject: {}, sans: emptySans() }), 'CERTIFICATE REQUEST');

  const renewUrl = new URL('/api/v1/renew', mtlsUrl);
  let answer: Awaited<ReturnType<typeof mtlsRequest>>;
  try {
    answer = await mtlsRequest(renewUrl, {
      method: 'POST',
      cert: presented,
      key: privateKeyPem(new Uint8Array(key.export({ format: 'der', type: 'pkcs8' }))),
      ca: trust,
      body: csr,
      contentType: 'application/pkcs10',
    });
  } catch (err) {
    if (err instanceof MtlsNetworkError) {
      throw new CliError(
        err.message,
        RENEW_EXIT.network,
        err.tls
          ? "the listener's certificate must verify against the trust bundle (--ca-file, or /pki/trust-bundle.pem of ANVIL_URL)"
          : 'check --mtls-url / ANVIL_MTLS_URL and that the mTLS listener runs (ANVIL_MTLS_PORT, 8443 by default)',
      );
    }
    throw err;
  }
  if (answer.status !== 201) throw refusal(answer, renewUrl);

  let issued: CertificateView & { renewedFrom?: string };
  try {
    issued = JSON.parse(answer.body);
  } catch {
    throw new CliError(`${renewUrl.origin} answered 201 with something that is not JSON; is it Anvil's mTLS listener?`, RENEW_EXIT.network);
  }
  const renewed = new X509Certificate(issued.certificate);
  const newKey = fresh ? createPrivateKey({ key: Buffer.from(fresh.pkcs8Der), format: 'der', type: 'pkcs8' }) : key;
  if (!renewed.checkPrivateKey(newKey)) {
    throw new CliError('the server answered a certificate for another key; nothing was written', RENEW_EXIT.refused);
  }

  const files: Replacement[] = [];
  if (fresh) files.push({ path: opts.key, content: privateKeyPem(fresh.pkcs8Der), mode: 0o600 });
  files.push({ path: opts.cert, content: heldFullChain ? issued.fullchain : issued.certificate, mode: 0o644 });
  if (opts.chain) files.push({ path: opts.chain, content: issued.chain, mode: 0o644 });
  if (opts.fullchain) files.push({ path: opts.fullchain, content: issued.fullchain, mode: 0o644 });
  try {
    replaceFilesAtomically(files);
  } catch (err) {
    // The server has renewed (the old certificate is now superseded): hand over what can be saved.
    process.stderr.write(`the renewed certificate (public) follows, to save by hand:\n${issued.fullchain}`);
    throw new CliError(
      `renewed as ${issued.id}, but the files could not be written: ${(err as Error).message}`,
      RENEW_EXIT.usage,
      fresh ? 'the new key was not saved and is gone: issue a new certificate' : 'save the certificate above as the --cert file',
    );
  }

  say(`renewed ${opts.cert}: ${issued.id}${issued.renewedFrom ? ` (was ${issued.renewedFrom})` : ''}`);
  say(`  subject   ${issued.subject || '(empty; names in the SAN)'}`);
  say(`  serial    ${issued.serial}`);
  say(`  valid     ${issued.notBefore} .. ${issued.notAfter}`);
  say(`  key       ${fresh ? `new ${algorithm} key written to ${opts.key} (0600)` : `unchanged (${opts.key})`}`);
  say(`  wrote     ${files.map((f) => f.path).join(', ')}`);
}

/** 30d, 12h, 90m, 45s, 2w or plain seconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^\s*(\d+)\s*([smhdw]?)\s*$/i.exec(text);
  if (!m) throw new CliError(`${flag} ${text}: expected a duration such as 30d, 12h, 90m or seconds`, RENEW_EXIT.usage);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[m[2].toLowerCase() as '' | 's' | 'm' | 'h' | 'd' | 'w'];
  return Number(m[1]) * unit * 1000;
}

/** --mtls-url, else ANVIL_MTLS_URL, else https on the host of the API URL, port 8443. */
function resolveMtlsUrl(flag: string | undefined, apiUrl: () => string): URL {
  const given = flag ?? (process.env.ANVIL_MTLS_URL || undefined);
  let url: URL;
  if (given) {
    try {
      url = new URL(given);
    } catch {
      throw new CliError(`the mTLS URL "${given}" is not a URL (expected https://host:${DEFAULT_MTLS_PORT})`, RENEW_EXIT.usage);
    }
    if (url.protocol !== 'https:') throw new CliError('the mTLS listener speaks TLS: use an https:// URL', RENEW_EXIT.usage);
    return url;
  }
  url = new URL(apiUrl());
  url.protocol = 'https:';
  url.port = String(DEFAULT_MTLS_PORT);
  url.pathname = '/';
  url.search = '';
  return url;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the ${what}: ${(err as Error).message}`, RENEW_EXIT.usage);
  }
}

/** The CERTIFICATE blocks of a PEM text, each as PEM, in order. */
function certificateBlocks(text: string, source: string): string[] {
  let blocks: ReturnType<typeof parsePemBlocks>;
  try {
    blocks = parsePemBlocks(text).filter((b) => b.label === 'CERTIFICATE');
  } catch (err) {
    throw new CliError(`${source}: ${(err as Error).message}`, RENEW_EXIT.usage);
  }
  if (blocks.length === 0) throw new CliError(`${source} holds no PEM certificate`, RENEW_EXIT.usage);
  return blocks.map((b) => {
    const pem = toPem(b.der, 'CERTIFICATE');
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new CliError(`${source}: a certificate does not parse: ${(err as Error).message}`, RENEW_EXIT.usage);
    }
    return pem;
  });
}

function readKey(path: string): KeyObject {
  const text = readText(path, 'key');
  try {
    return createPrivateKey({ key: text, format: 'pem' });
  } catch {
    // The message never quotes the file: it holds a private key.
    throw new CliError(`${path} holds no private key this CLI can read (PEM, unencrypted)`, RENEW_EXIT.usage);
  }
}

function keyAlgorithmOf(cert: X509Certificate): KeyAlgorithm {
  const facts = publicKeyFacts(cert.publicKey);
  if (!facts.algorithm) {
    throw new CliError(
      `the certificate's key (${facts.family} ${facts.curve ?? facts.bits}) is not one Anvil issues for`,
      RENEW_EXIT.usage,
    );
  }
  return facts.algorithm;
}

/** The issuer's name, from the AIA caIssuers URL Anvil writes (…/pki/issuers/<name>.crt). */
function issuerNameOf(cert: X509Certificate, source: string): string {
  const m = /CA Issuers - URI:(\S+)/.exec(cert.infoAccess ?? '');
  const name = m ? /\/pki\/issuers\/([a-z0-9-]+)\.(?:crt|pem|der|cer)$/.exec(m[1])?.[1] : undefined;
  if (!name) {
    throw new CliError(
      `${source} holds only the leaf and no Anvil caIssuers URL names its issuer`,
      RENEW_EXIT.usage,
      'pass --chain with the intermediates, or use the fullchain.pem file as --cert',
    );
  }
  return name;
}

/** A PEM file from the HTTP API: no answer is a network error (3), an HTTP error one of configuration (1). */
async function fetchPem(client: ApiClient, path: string): Promise<string> {
  try {
    return Buffer.from(await client.bytes(path, { auth: false, timeoutMs: 30_000 })).toString('utf8');
  } catch (err) {
    if (err instanceof ApiError) {
      throw new CliError(
        `GET ${client.connection.url}${path} answered ${err.status}: ${err.detail}`,
        RENEW_EXIT.usage,
        'check --url / ANVIL_URL',
      );
    }
    if (err instanceof CliError) throw new CliError(err.message, RENEW_EXIT.network, err.hint);
    throw err;
  }
}

/** The server's answer as the error to print: problem code, detail and reason; 2 for a refusal, 3 for 5xx. */
function refusal(answer: { status: number; contentType: string; body: string }, url: URL): CliError {
  let code = `http_${answer.status}`;
  let detail = answer.body.replace(/\s+/g, ' ').trim().slice(0, 200) || 'no detail';
  let reason: string | undefined;
  if (/json/.test(answer.contentType)) {
    try {
      const p = JSON.parse(answer.body) as { code?: string; detail?: string; reason?: string; verdict?: { reason?: string } };
      code = p.code ?? code;
      detail = p.detail ?? detail;
      reason = p.reason ?? p.verdict?.reason ?? undefined;
    } catch {
      // keep the plain-text form
    }
  }
  const lines = [`the server refused the renewal: ${detail}`, `  code: ${code} (HTTP ${answer.status})`];
  if (reason) lines.push(`  reason: ${reason}`);
  if (answer.status >= 500) {
    return new CliError(`${url.origin} could not renew now: ${detail}\n  code: ${code} (HTTP ${answer.status})`, RENEW_EXIT.network);
  }
  return new CliError(lines.join('\n'), RENEW_EXIT.refused);
}

/** Every file the command will replace, checked before anything is sent: distinct, in writable directories. */
function checkOutputs(opts: RenewOptions): void {
  const paths = [opts.cert, ...(opts.newKey ? [opts.key] : []), opts.chain, opts.fullchain].filter((p): p is string => Boolean(p));
  const real = paths.map((p) => (existsSync(p) ? realpathSync(p) : resolve(p)));
  const all = [...real, ...(opts.newKey ? [] : [existsSync(opts.key) ? realpathSync(opts.key) : resolve(opts.key)])];
  if (new Set(all).size !== all.length)
    throw new CliError('--cert, --key, --chain and --fullchain must be different files', RENEW_EXIT.usage);
  for (const p of real) {
    try {
      accessSync(dirname(p), fsConstants.W_OK);
    } catch {
      throw new CliError(`cannot write in ${dirname(p)} (for ${p}): the files are replaced by a rename there`, RENEW_EXIT.usage);
    }
  }
}
