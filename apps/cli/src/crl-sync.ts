/** One `anvil crl sync` run: fetch the CRL of every CA in the issuers' paths, verify it, replace the gateway's files atomically, reload. */
// Everything is fetched and checked before anything is written: a stale, forged or rolled-back
// CRL refuses the whole run and leaves the files in place, because a gateway reading a half-new
// set (or an expired CRL) refuses every client. A CRL is verified with a CA certificate that was
// itself verified up to the trust bundle, so the server's word alone is never enough.
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { certificateFacts, CrlParseError, parseCrl, parsePemBlocks, pemToDerList, toPem } from '@anvil/pki';
import { replaceFilesAtomically, type Replacement } from './atomic-files.ts';
import type { ApiClient } from './client.ts';
import { ApiError, CliError } from './errors.ts';

/** The exit statuses `anvil crl sync` documents (its --help and the README). */
export const CRL_SYNC_EXIT = { ok: 0, usage: 1, refused: 2, network: 3, reload: 4 } as const;

/** What nginx `ssl_crl` and HAProxy `crl-file` read: every CA's CRL, concatenated. */
export const BUNDLE_FILE = 'crls.pem';
/**
 * Written with the CRLs and removed once the reload command succeeds: a run that wrote files
 * but could not reload (or crashed) reloads on the next run even when nothing changed again.
 */
export const RELOAD_PENDING_FILE = '.crl-sync-reload-pending';

export interface SyncParams {
  client: ApiClient;
  dir: string;
  issuers: string[];
  /** PEM roots; fetched from /pki/trust-bundle.pem when absent. */
  trustPem?: string;
  reload?: string;
  now?: Date;
}

export interface CaOutcome {
  name: string;
  number: bigint;
  /** The number in the file before this run; null when there was no readable file. */
  previous: bigint | null;
  nextUpdate: Date | null;
  changed: boolean;
}

export interface SyncResult {
  cas: CaOutcome[];
  written: string[];
  /** The reload command ran (and succeeded). */
  reloaded: boolean;
}

interface PathCa {
  name: string;
  cert: X509Certificate;
}

const NAME = /^[a-z0-9][a-z0-9-]*$/;

export async function syncCrls(p: SyncParams): Promise<SyncResult> {
  for (const name of p.issuers) {
    if (!NAME.test(name))
      throw new CliError(`--issuer "${name}" is not an issuer name (lowercase letters, digits, -)`, CRL_SYNC_EXIT.usage);
  }
  const roots = certificates(p.trustPem ?? (await fetchText(p.client, '/pki/trust-bundle.pem', 'the trust bundle')), 'the trust bundle');
  if (roots.length === 0) throw new CliError('the trust bundle holds no certificate', CRL_SYNC_EXIT.usage);

  // Every CA in every issuer's path, leaf-most first, each once.
  const cas = new Map<string, PathCa>();
  for (const issuer of p.issuers) for (const ca of await pathOf(p.client, issuer, roots)) if (!cas.has(ca.name)) cas.set(ca.name, ca);

  const problems: string[] = [];
  const fresh: Array<{ ca: PathCa; number: bigint; nextUpdate: Date | null; pem: string; current: Current }> = [];
  for (const ca of cas.values()) {
    const der = await fetchBytes(p.client, `/pki/crl/${ca.name}.crl`, `the CRL of ${ca.name}`);
    // The clock is read after the fetch: a CRL signed on demand is newer than this run's start.
    const checked = checkCrl(der, ca, p.now ?? new Date());
    if (typeof checked === 'string') {
      problems.push(`${ca.name}: ${checked}`);
      continue;
    }
    const current = currentFile(join(p.dir, fileOf(ca.name)), certificateFacts(new Uint8Array(ca.cert.raw)).spki);
    if (current.number !== null && checked.number < current.number) {
      problems.push(
        `${ca.name}: CRL number ${checked.number} is lower than the ${current.number} already in ${fileOf(ca.name)}: refused as a rollback`,
      );
      continue;
    }
    fresh.push({ ca, ...checked, pem: toPem(der, 'X509 CRL'), current });
  }
  if (problems.length) {
    throw new CliError(
      [
        `${problems.length === 1 ? 'a CRL was' : `${problems.length} CRLs were`} refused; no file was changed`,
        ...problems.map((l) => `  ${l}`),
      ].join('\n'),
      CRL_SYNC_EXIT.refused,
    );
  }

  // Equal numbers: the same CRL (numbers strictly increase per CA), so the file stays as it is.
  const outcomes: CaOutcome[] = [];
  const files: Replacement[] = [];
  const bundle: string[] = [];
  for (const f of fresh) {
    const changed = f.current.number === null || f.number > f.current.number;
    outcomes.push({ name: f.ca.name, number: f.number, previous: f.current.number, nextUpdate: f.nextUpdate, changed });
    if (changed) files.push({ path: join(p.dir, fileOf(f.ca.name)), content: f.pem, mode: 0o644 });
    bundle.push(changed ? f.pem : f.current.text!);
  }
  const bundlePath = join(p.dir, BUNDLE_FILE);
  const bundleText = bundle.join('');
  if (readOrNull(bundlePath) !== bundleText) files.push({ path: bundlePath, content: bundleText, mode: 0o644 });

  const pendingPath = join(p.dir, RELOAD_PENDING_FILE);
  if (files.length) {
    const written = files.map((f) => f.path);
    if (p.reload)
      files.push({ path: pendingPath, content: `files written ${new Date().toISOString()}; reload not yet run\n`, mode: 0o644 });
    try {
      mkdirSync(p.dir, { recursive: true });
      replaceFilesAtomically(files);
    } catch (err) {
      throw new CliError(`cannot write in ${p.dir}: ${(err as Error).message}`, CRL_SYNC_EXIT.usage);
    }
    return { cas: outcomes, written, reloaded: p.reload ? await reload(p.reload, pendingPath) : false };
  }
  // Nothing changed, but an earlier run wrote files its reload never took in.
  const reloaded = p.reload && existsSync(pendingPath) ? await reload(p.reload, pendingPath) : false;
  return { cas: outcomes, written: [], reloaded };
}

export const fileOf = (caName: string) => `${caName}.crl.pem`;

/** The CA certificates from `issuer` up to its root, each verified by the next and the top by a trust-bundle root. */
async function pathOf(client: ApiClient, issuer: string, roots: X509Certificate[]): Promise<PathCa[]> {
  const own = certificates(await fetchText(client, `/pki/issuers/${issuer}.pem`, `issuer "${issuer}"`), `/pki/issuers/${issuer}.pem`);
  const chain = certificates(await fetchText(client, `/pki/issuers/${issuer}/chain.pem`, `the chain of ${issuer}`), 'the chain');
  if (own.length !== 1) throw new CliError(`/pki/issuers/${issuer}.pem holds ${own.length} certificates, not one`, CRL_SYNC_EXIT.usage);
  // chain.pem starts with the issuer itself (empty for a root): the issuer's own PEM leads either way.
  const certs = [own[0], ...chain.filter((c) => !c.raw.equals(own[0].raw))];
  const path: PathCa[] = [{ name: issuer, cert: certs[0] }];
  for (let i = 1; i < certs.length; i++) path.push({ name: parentName(certs[i - 1], issuer), cert: certs[i] });
  const top = path[path.length - 1].cert;
  const selfSigned = top.checkIssued(top) && top.verify(top.publicKey);
  if (selfSigned) {
    if (!roots.some((r) => r.raw.equals(top.raw))) throw notTrusted(issuer, `its root ${top.subject} is not in the trust bundle`);
  } else {
    const root = roots.find((r) => top.checkIssued(r) && top.verify(r.publicKey));
    if (!root) throw notTrusted(issuer, `${top.subject} is not issued by a root of the trust bundle`);
    path.push({ name: parentName(top, issuer), cert: root });
  }
  for (let i = 0; i + 1 < path.length; i++) {
    const child = path[i].cert;
    const parent = path[i + 1].cert;
    if (!(child.checkIssued(parent) && child.verify(parent.publicKey))) {
      throw notTrusted(issuer, `${child.subject} is not signed by ${parent.subject}`);
    }
  }
  for (const ca of path) if (!ca.cert.ca) throw notTrusted(issuer, `${ca.cert.subject} is not a CA certificate`);
  return path;
}

function notTrusted(issuer: string, why: string): CliError {
  return new CliError(`the path of ${issuer} does not verify against the trust bundle: ${why}; no file was changed`, CRL_SYNC_EXIT.refused);
}

/** The parent's name, from the URLs Anvil writes into a CA it signs: caIssuers …/pki/issuers/<name>.crt, else the CDP …/pki/crl/<name>.crl. */
function parentName(cert: X509Certificate, issuer: string): string {
  const aia = /CA Issuers - URI:\S*\/pki\/issuers\/([a-z0-9-]+)\.(?:crt|pem|der|cer)\b/.exec(cert.infoAccess ?? '')?.[1];
  const cdp = certificateFacts(new Uint8Array(cert.raw))
    .crlUrls.map((u) => /\/pki\/crl\/([a-z0-9-]+)\.(?:crl|pem)$/.exec(u)?.[1])
    .find(Boolean);
  const name = aia ?? cdp;
  if (!name) throw new CliError(`cannot tell which Anvil CA issued ${cert.subject} (in the path of ${issuer}): it names no Anvil URL`);
  return name;
}

/** The checks a gateway would make, plus the signature: a string says why the CRL is refused. */
function checkCrl(der: Uint8Array, ca: PathCa, now: Date): { number: bigint; nextUpdate: Date | null } | string {
  const facts = certificateFacts(new Uint8Array(ca.cert.raw));
  let crl: ReturnType<typeof parseCrl>;
  try {
    crl = parseCrl(der, { issuerSpkiDer: facts.spki });
  } catch (err) {
    if (err instanceof CrlParseError) return `not a CRL Anvil can read: ${err.message}`;
    throw err;
  }
  if (Buffer.from(crl.issuerNameDer).toString('hex') !== facts.subjectNameHex) return `the CRL's issuer is not ${ca.cert.subject}`;
  if (!crl.signatureValid) return `the signature does not verify with the key of ${ca.cert.subject}`;
  if (crl.number === undefined) return 'the CRL has no CRL number, so a rollback could not be told from an update';
  if (crl.nextUpdate && crl.nextUpdate <= now) {
    return `stale: its next update was ${crl.nextUpdate.toISOString()} (CRL number ${crl.number}); the server is not re-signing it`;
  }
  if (crl.thisUpdate > now) return `not valid yet: this update is ${crl.thisUpdate.toISOString()} (is this machine's clock behind?)`;
  return { number: crl.number, nextUpdate: crl.nextUpdate ?? null };
}

interface Current {
  number: bigint | null;
  text: string | null;
}

/**
 * The CRL number of the file in place. An unreadable file, or one another key signed (the CA was
 * re-created, and numbers start again), counts as none and is replaced: only the same CA's own
 * earlier number can make a new CRL a rollback.
 */
function currentFile(path: string, caSpki: Uint8Array): Current {
  const text = readOrNull(path);
  if (text === null) return { number: null, text: null };
  try {
    const crl = parseCrl(pemToDerList(text, ['X509 CRL'])[0], { issuerSpkiDer: caSpki });
    return { number: crl.signatureValid ? (crl.number ?? null) : null, text };
  } catch {
    return { number: null, text };
  }
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function certificates(text: string, source: string): X509Certificate[] {
  try {
    return parsePemBlocks(text)
      .filter((b) => b.label === 'CERTIFICATE')
      .map((b) => new X509Certificate(Buffer.from(b.der)));
  } catch (err) {
    throw new CliError(`${source}: ${(err as Error).message}`, CRL_SYNC_EXIT.usage);
  }
}

/** `sh -c CMD`, output passed through; a failure leaves the pending marker for the next run. */
async function reload(command: string, pendingPath: string): Promise<boolean> {
  const status = await new Promise<string | number>((resolve) => {
    const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 300_000 });
    child.on('error', (err) => resolve(err.message));
    child.on('exit', (code, signal) => resolve(code ?? `killed by ${signal}`));
  });
  if (status !== 0) {
    throw new CliError(
      `the CRL files were replaced, but the reload command failed (${typeof status === 'number' ? `exit ${status}` : status}): ${command}`,
      CRL_SYNC_EXIT.reload,
      'the next run reloads again, even if nothing changes',
    );
  }
  rmSync(pendingPath, { force: true });
  return true;
}

async function fetchText(client: ApiClient, path: string, what: string): Promise<string> {
  return Buffer.from(await fetchBytes(client, path, what)).toString('utf8');
}

/** A public file of the server: no answer or a 5xx is a network error (3), another HTTP error one of configuration (1). */
async function fetchBytes(client: ApiClient, path: string, what: string): Promise<Uint8Array> {
  try {
    return await client.bytes(path, { auth: false, timeoutMs: 30_000 });
  } catch (err) {
    if (err instanceof ApiError) {
      const where = `GET ${client.connection.url}${path} answered ${err.status}`;
      if (err.status >= 500) throw new CliError(`${where}: ${err.detail}`, CRL_SYNC_EXIT.network);
      if (err.status === 404 && err.code === 'unknown_issuer') throw new CliError(`${err.detail} at ${client.connection.url}`);
      throw new CliError(`${where} (${what}): ${err.detail}`, CRL_SYNC_EXIT.usage, 'check --url / ANVIL_URL');
    }
    if (err instanceof CliError) throw new CliError(err.message, CRL_SYNC_EXIT.network, err.hint);
    throw err;
  }
}
