/**
 * EST (RFC 7030) at /.well-known/est/{profile}/: cacerts, csrattrs, simpleenroll,
 * simplereenroll and serverkeygen, for clients such as curl + openssl, libest or a device's
 * EST agent. `{profile}` is an Anvil profile name; every certificate goes through the Authority,
 * so it is under the same profiles, policies and audit trail as the API.
 *
 * Mounted on both listeners. On plain HTTP only cacerts and csrattrs answer (they are public, as
 * /pki is); enrollment needs the mTLS listener, where the client may present its certificate and
 * where a key made by serverkeygen travels only over TLS.
 *
 * Who may enroll:
 * - HTTP Basic whose password (or user name) is an invitation secret (`anvil_inv_…`): the
 *   invitation's one certificate, if the invitation is of this profile (the URL names it);
 * - or a TLS client certificate this Anvil issued under this profile, verified by the judge
 *   (revocation included): a certificate for the new key with the old one's names and profile,
 *   which supersedes it (renewal, issuance.ts). simplereenroll accepts only this.
 *
 * Answers are RFC 7030's: base64 DER bodies (Content-Transfer-Encoding: base64), certs-only
 * PKCS#7 for certificates. Refusals are text/plain saying why, mapped in one place (refusal()).
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import {
  CaError,
  chainOf,
  INVITATION_SECRET,
  type Authority,
  type IssuedCertificate,
  type JudgeService,
  type LoadedIssuer,
  type Profile,
} from '@anvil/ca';
import {
  buildPkcs7CertsOnly,
  encodeCsrAttrs,
  OID,
  parseAndVerifyCsr,
  pemToDerList,
  PkiError,
  type CsrAttr,
  type KeyAlgorithm,
  type ParsedCsr,
} from '@anvil/pki';
import type { AppEnv } from '../../env.ts';
import { observeIssuance, type Metrics } from '../../metrics.ts';
import { countVerdict, type ChainSource } from '../judge/verify.ts';

export interface EstDeps {
  authority: Authority;
  judge: JudgeService;
  /** 'http': the plain listener, where only cacerts and csrattrs answer. */
  channel: 'tls' | 'http';
  /** Where the presented client chain comes from (the mTLS listener's tlsSource). */
  source: ChainSource;
  metrics?: Metrics;
}

type Ctx = Context<AppEnv>;

/** A refusal decided here (not by the authority): its status and the text saying why. */
class EstRefusal extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404,
    message: string,
  ) {
    super(message);
  }
}

const REALM = 'Basic realm="anvil-est", charset="UTF-8"';
/** A PKCS#10 request is a few hundred bytes to a few KiB (RSA-8192 with many names stays far below this). */
const MAX_BODY = 64 * 1024;

const CA_ERROR_STATUS: Record<CaError['kind'], 400 | 401 | 403 | 404 | 409 | 429 | 503> = {
  invalid: 400,
  unauthorized: 401,
  // An invitation used, expired or withdrawn: its secret no longer authenticates anyone.
  gone: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  unavailable: 503,
};

/**
 * The one mapping of a refusal to an EST answer: text/plain saying why (with the authority's
 * stable code), 401 with the Basic challenge. Anything else is not a refusal: rethrown to the
 * app's onError (a database outage is its 503).
 */
function refusal(c: Ctx, err: unknown): Response {
  let status: number;
  let text: string;
  if (err instanceof EstRefusal) {
    status = err.status;
    text = err.message;
  } else if (err instanceof CaError) {
    status = err.code === 'invitation_not_found' ? 401 : CA_ERROR_STATUS[err.kind];
    text = `${err.message} (${err.code})`;
    if (err.kind === 'rate_limited' && typeof err.details?.retryAfter === 'number') c.header('Retry-After', String(err.details.retryAfter));
  } else {
    throw err;
  }
  if (status === 401) c.header('WWW-Authenticate', REALM);
  return c.text(`${text}\n`, status as 400);
}

/** Runs an EST handler, answering its refusals through refusal(). */
function est(handler: (c: Ctx) => Promise<Response>) {
  return async (c: Ctx) => {
    try {
      return await handler(c);
    } catch (err) {
      return refusal(c, err);
    }
  };
}

// ---- encoding -----------------------------------------------------------------------------------

/** Base64 in 64-character lines, as RFC 7030's examples (and `openssl base64`) write it. */
function base64Lines(der: Uint8Array, eol = '\n'): string {
  return `${(
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? []
  ).join(eol)}${eol}`;
}

function base64Answer(c: Ctx, der: Uint8Array, contentType: string): Response {
  return c.body(base64Lines(der), 200, { 'Content-Type': contentType, 'Content-Transfer-Encoding': 'base64' });
}

const CERTS_ONLY = 'application/pkcs7-mime; smime-type=certs-only';

/** The issued leaf followed by its issuer's chain up to (not including) the root. */
function issuedPkcs7(issued: IssuedCertificate): Uint8Array {
  return buildPkcs7CertsOnly([issued.record.der, ...chainOf(issued.issuer).map((i) => i.record.certificateDer)]);
}

// ---- reading the request ------------------------------------------------------------------------

async function profileOf(c: Ctx, authority: Authority): Promise<Profile> {
  try {
    return await authority.profile(c.req.param('profile') ?? '');
  } catch (err) {
    if (err instanceof CaError && err.kind === 'not_found')
      throw new EstRefusal(
        404,
        `there is no profile "${(c.req.param('profile') ?? '').slice(0, 64)}" (the path is /.well-known/est/<profile>/…)`,
      );
    throw err;
  }
}

/** The body: base64 DER PKCS#10 (whitespace and CRLF tolerated), verified (its signature proves the key). */
async function readCsr(c: Ctx): Promise<{ base64: string; csr: ParsedCsr }> {
  const text = (await c.req.text()).replace(/\s+/g, '');
  const bad = (why: string) => new EstRefusal(400, `the body is not a base64 PKCS#10 request: ${why}`);
  if (text === '') throw bad('the body is empty');
  if (text.startsWith('-----BEGIN')) throw bad('it is PEM; send the base64 of the DER (openssl req -outform DER | base64)');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) throw bad('it is not base64');
  try {
    return { base64: text, csr: parseAndVerifyCsr(new Uint8Array(Buffer.from(text, 'base64'))) };
  } catch (err) {
    if (err instanceof PkiError) throw bad(err.message);
    throw err;
  }
}

/** The Basic credential that is an invitation secret (password, else user name); null without Basic. */
function basicSecret(c: Ctx): string | null {
  const header = c.req.header('authorization');
  if (!header) return null;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) throw new EstRefusal(401, 'EST enrollment takes HTTP Basic credentials (curl -u x:anvil_inv_…) or a client certificate');
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const [user, password] = colon === -1 ? [decoded, ''] : [decoded.slice(0, colon), decoded.slice(colon + 1)];
  const secret = [password, user].find((s) => INVITATION_SECRET.test(s));
  if (!secret) throw new EstRefusal(401, 'the Basic credentials hold no Anvil invitation secret (anvil_inv_…)');
  return secret;
}

type Enroller = { kind: 'invitation'; secret: string } | { kind: 'certificate'; issuerId: string; serialHex: string };

/** Who is enrolling: an invitation of this profile, or a verified Anvil certificate (its profile is checked on its row). */
async function enroller(c: Ctx, deps: EstDeps, profile: Profile, allowSecret: boolean): Promise<Enroller> {
  const secret = allowSecret ? basicSecret(c) : null;
  if (secret) {
    const invitation = await deps.authority.invitationBySecret(secret);
    if (invitation.profile !== profile.name)
      throw new EstRefusal(
        403,
        `this invitation is for profile "${invitation.profile}": enroll at /.well-known/est/${invitation.profile}/`,
      );
    return { kind: 'invitation', secret };
  }
  const { chain } = deps.source(c);
  if (chain.length === 0) {
    throw new EstRefusal(
      401,
      allowSecret
        ? 'authenticate with the invitation secret (curl -u x:anvil_inv_…) or with a client certificate Anvil issued under this profile'
        : 'simplereenroll renews the certificate presented over TLS: present it (curl --cert cert.pem --key key.pem)',
    );
  }
  // A server profile's certificate carries serverAuth only: judge it for what it is.
  const verdict = await deps.judge.judge(chain, { purpose: profile.kind === 'server' ? 'server' : 'client', crls: 'anvil' });
  countVerdict(deps.metrics, verdict);
  if (verdict.status !== 'verified')
    throw new EstRefusal(403, `the presented certificate does not verify (${verdict.reason}): ${verdict.hints[0] ?? ''}`.trim());
  const owner = deps.judge.anvilIssuerOf(chain[0]);
  if (!owner) throw new EstRefusal(403, 'the presented certificate was not issued by this Anvil');
  return { kind: 'certificate', issuerId: owner.issuer.record.id, serialHex: owner.serialHex };
}

// ---- issuing ------------------------------------------------------------------------------------

type NewKey = { csr: string } | { keyAlgorithm: KeyAlgorithm; commonName?: string };

/** One issuance through the Authority: the invitation's enrollment, or the certificate's renewal. */
function issue(c: Ctx, deps: EstDeps, profile: Profile, who: Enroller, key: NewKey): Promise<IssuedCertificate> {
  const source = c.get('clientAddress') ?? null;
  return observeIssuance(
    deps.metrics,
    () =>
      who.kind === 'invitation'
        ? deps.authority.enroll(who.secret, key, source)
        : deps.authority.renew({
            issuerId: who.issuerId,
            serialHex: who.serialHex,
            ...('csr' in key ? { csr: key.csr } : { keyAlgorithm: key.keyAlgorithm }),
            profile: profile.name,
            source,
          }),
    (r) => ({ profile: r.record.profile, issuer: r.issuer.record.name }),
  );
}

/** The key serverkeygen makes: the profile's first allowed algorithm (RSA at its minimum size). */
function serverKeyAlgorithm(profile: Profile): KeyAlgorithm {
  const first = profile.policy.keyAlgorithms[0] ?? 'EC-P256';
  if (first !== 'RSA') return first;
  const bits = profile.policy.minRsaBits;
  return bits <= 2048 ? 'RSA-2048' : bits <= 3072 ? 'RSA-3072' : 'RSA-4096';
}

// ---- public answers -----------------------------------------------------------------------------

/** The profile's issuer and the CAs above it up to its root (an imported issuer's external chain included). */
function issuerChainDer(authority: Authority, profile: Profile): Uint8Array[] {
  let issuer: LoadedIssuer | null = profile.policy.issuer ? authority.issuerByName(profile.policy.issuer) : authority.defaultIssuer();
  const out: Uint8Array[] = [];
  while (issuer) {
    out.push(issuer.record.certificateDer);
    if (issuer.record.externalChain) out.push(...pemToDerList(issuer.record.externalChain, ['CERTIFICATE']));
    issuer = issuer.record.parentId ? authority.issuerById(issuer.record.parentId) : null;
  }
  return out;
}

/** What a CSR for this profile should carry (RFC 7030 4.5.2): the key types it accepts, and that names go in extensionRequest. */
function profileCsrAttrs(profile: Profile): CsrAttr[] {
  const keys = profile.policy.keyAlgorithms;
  const curves: string[] = [];
  if (keys.includes('EC-P256')) curves.push(OID.p256);
  if (keys.includes('EC-P384')) curves.push(OID.p384);
  const attrs: CsrAttr[] = [];
  if (curves.length) attrs.push({ type: OID.ecPublicKey, values: curves });
  if (keys.includes('RSA')) attrs.push({ oid: OID.rsaEncryption });
  if (keys.includes('Ed25519')) attrs.push({ oid: OID.ed25519 });
  // Anvil reads the subjectAltName of the CSR's extensionRequest (within the profile or invitation); it sets KU/EKU itself.
  if (profile.policy.sanTypes.length) attrs.push({ type: OID.extensionRequest, values: [OID.subjectAltName] });
  return attrs;
}

// ---- the routes ---------------------------------------------------------------------------------

const BOUNDARY = 'anvil-est-boundary';

export function estRoutes(deps: EstDeps) {
  const { authority } = deps;
  const app = new Hono<AppEnv>();
  const limit = bodyLimit({ maxSize: MAX_BODY, onError: (c) => c.text(`the request body exceeds ${MAX_BODY} bytes\n`, 413) });

  /** Enrollment needs TLS: on plain HTTP nobody could present a certificate, and serverkeygen's key would travel in clear. */
  const requireTls = () => {
    if (deps.channel !== 'tls')
      throw new EstRefusal(403, 'EST enrollment needs TLS: use the mTLS listener (port ANVIL_MTLS_PORT, default 8443)');
  };

  app.get(
    '/:profile/cacerts',
    est(async (c) => base64Answer(c, buildPkcs7CertsOnly(issuerChainDer(authority, await profileOf(c, authority))), CERTS_ONLY)),
  );

  app.get(
    '/:profile/csrattrs',
    est(async (c) => base64Answer(c, encodeCsrAttrs(profileCsrAttrs(await profileOf(c, authority))), 'application/csrattrs')),
  );

  const enroll = (allowSecret: boolean) =>
    est(async (c) => {
      const profile = await profileOf(c, authority);
      requireTls();
      const who = await enroller(c, deps, profile, allowSecret);
      const { base64 } = await readCsr(c);
      return base64Answer(c, issuedPkcs7(await issue(c, deps, profile, who, { csr: base64 })), CERTS_ONLY);
    });
  app.post('/:profile/simpleenroll', limit, enroll(true));
  app.post('/:profile/simplereenroll', limit, enroll(false));

  // RFC 7030 4.4: the CSR says who (its subject); its key is not used. The new key is in this answer only.
  app.post(
    '/:profile/serverkeygen',
    limit,
    est(async (c) => {
      const profile = await profileOf(c, authority);
      requireTls();
      const who = await enroller(c, deps, profile, true);
      const { csr } = await readCsr(c);
      const issued = await issue(c, deps, profile, who, { keyAlgorithm: serverKeyAlgorithm(profile), commonName: csr.subject.CN });
      const key = issued.privateKeyPkcs8;
      if (!key) throw new Error('serverkeygen: the authority returned no generated key');
      // MIME wants CRLF; each base64 part ends with one, which the delimiter after it owns (RFC 2046 5.1.1).
      const part = (type: string, der: Uint8Array) =>
        `--${BOUNDARY}\r\nContent-Type: ${type}\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Lines(der, '\r\n')}`;
      const body = `${part('application/pkcs8', key)}${part(CERTS_ONLY, issuedPkcs7(issued))}--${BOUNDARY}--\r\n`;
      key.fill(0); // the key's one copy outside this answer (it is never stored)
      return c.body(body, 200, { 'Content-Type': `multipart/mixed; boundary=${BOUNDARY}`, 'Cache-Control': 'no-store' });
    }),
  );

  return app;
}
