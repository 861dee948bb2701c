/**
 * CAs brought in from elsewhere (issue 14, items 2 and 3): an existing CA imported with its key,
 * and an intermediate whose key Anvil holds while an external root signs its CSR. Every refusal
 * is a CaError with a stable code, checked before anything is written; both end in one
 * transaction with their audit row.
 */
import {
  buildSignerCsr,
  CaImportError,
  caCertificateFacts,
  emptySans,
  isSigningCa,
  keyIdentifier,
  parseAndVerifyCsr,
  readCertificates,
  readPrivateKey,
  sameKey,
  signedBy,
  toPem,
  unfitForIssuing,
  type CaCertificateFacts,
  type KeyAlgorithm,
} from '@anvil/pki';
import { audit, type Actor } from './audit.ts';
import { CaError, conflict, invalid, isUniqueViolation, notFound } from './errors.ts';
import type { LoadedIssuer } from './issuers.ts';
import { withNewKey, type CustodyEntry, type KeyCustody } from './key-custody.ts';
import { checkSubject } from './profiles.ts';
import type { IssuerRecord, PendingIssuerRecord, Store, StoreTx, TrustAnchorRecord } from './store.ts';

/** `POST /api/v1/issuers/import`: a CA certificate and its key (or, later, a PKCS#11 key reference). */
export interface ImportIssuerParams {
  name: string;
  /** PEM, or base64 of DER. */
  certificate: string;
  /** PKCS#8: PEM, encrypted PEM (with `passphrase`), or base64 of DER. */
  privateKey?: string;
  passphrase?: string;
  /** PEM certificates above `certificate`, up to a root (the root may be left out when Anvil has it). */
  chain?: string;
  /**
   * The key is already on the PKCS#11 token: its RFC 7512 URI. Without it (and without
   * `privateKey`) the token's key whose public key is the certificate's is taken.
   */
  keyRef?: string;
}

export interface PendingIssuerParams {
  name: string;
  keyAlgorithm: KeyAlgorithm;
  commonName?: string;
}

export interface CompletePendingParams {
  /** The intermediate's certificate signed by the external root (PEM, or base64 of DER). */
  certificate: string;
  /** The external root, and any CA between it and the certificate (PEM). */
  chain?: string;
}

/** What the import needs of the issuer registry (issuer-registry.ts implements it). */
export interface ImportHost {
  issuers(): LoadedIssuer[];
  trustAnchors(): TrustAnchorRecord[];
  nameTaken(name: string): boolean;
  checkName(name: string): void;
  pendingIssuer(name: string): PendingIssuerRecord | undefined;
  adopt(changes: {
    issuer?: IssuerRecord;
    anchor?: TrustAnchorRecord | null;
    pending?: PendingIssuerRecord;
    donePending?: string;
  }): LoadedIssuer | null;
}

export interface ImportDeps {
  store: Store;
  custody: KeyCustody;
  host: ImportHost;
  organization: string;
  now: () => Date;
}

/** Where a path built from an imported certificate ends. */
interface PathEnd {
  /** The Anvil issuer that signed the certificate (or the top of `external`). */
  parent: LoadedIssuer | null;
  /** CA certificates between the certificate and its anchor that Anvil holds no key for, nearest first. */
  external: CaCertificateFacts[];
  /** A root given in `chain` that Anvil does not know yet: stored as a trust anchor. */
  newAnchor: CaCertificateFacts | null;
}

const MAX_PATH = 8;

const malformed = (e: unknown): never => {
  if (e instanceof CaImportError) throw invalid(e.code, e.message);
  throw e;
};

function readOneCertificate(text: string, what: string): CaCertificateFacts {
  let ders: Uint8Array[] = [];
  try {
    ders = readCertificates(text);
  } catch (e) {
    malformed(e);
  }
  if (ders.length !== 1) throw invalid('malformed_certificate', `${what}: give exactly one certificate (the chain goes in "chain")`);
  return caCertificateFacts(ders[0]);
}

function readChain(text: string | undefined): CaCertificateFacts[] {
  try {
    return readCertificates(text).map((der) => caCertificateFacts(der));
  } catch (e) {
    return malformed(e);
  }
}

function checkValidity(facts: CaCertificateFacts, now: Date, what: string) {
  if (now < facts.notBefore)
    throw invalid('certificate_expired', `${what} "${facts.subject}" is not valid before ${facts.notBefore.toISOString()}`);
  if (now > facts.notAfter) throw invalid('certificate_expired', `${what} "${facts.subject}" expired on ${facts.notAfter.toISOString()}`);
}

/**
 * RFC 5280 path building from `target` upwards: each issuer found by its Name (Anvil's issuers,
 * then stored trust anchors, then the given chain), its signature verified, valid now, a CA allowed
 * to sign certificates, with a pathLen that leaves room for what is below it. Ends at an Anvil
 * issuer, a stored anchor, or a self-signed root in `given`.
 */
function buildPath(target: CaCertificateFacts, given: CaCertificateFacts[], deps: ImportDeps, now: Date): PathEnd {
  const issuers = deps.host.issuers().map((issuer) => ({ issuer, facts: caCertificateFacts(issuer.record.certificateDer) }));
  const anchors = deps.host.trustAnchors().map((a) => caCertificateFacts(a.certificateDer));
  const external: CaCertificateFacts[] = [];
  let current = target;
  for (let below = 1; below <= MAX_PATH; below++) {
    const byName = (f: CaCertificateFacts) => f.subjectHex === current.issuerHex;
    const candidates: { facts: CaCertificateFacts; issuer?: LoadedIssuer; anchor?: true }[] = [
      ...issuers.filter((i) => byName(i.facts)),
      ...anchors.filter(byName).map((facts) => ({ facts, anchor: true as const })),
      ...given.filter((f) => byName(f) && f !== current).map((facts) => ({ facts })),
    ];
    if (!candidates.length) {
      throw invalid(
        'chain_incomplete',
        `no certificate of "${current.issuer}", which signed "${current.subject}": give the chain up to a root in "chain"`,
      );
    }
    const found = candidates.find((c) => signedBy(current.der, c.facts.spki));
    if (!found) throw invalid('chain_invalid', `the signature of "${current.subject}" does not verify under "${current.issuer}"'s key`);
    const parent = found.facts;
    checkValidity(parent, now, 'chain certificate');
    if (!isSigningCa(parent)) throw invalid('chain_invalid', `"${parent.subject}" is not a CA allowed to sign certificates`);
    // `below` CA certificates sit between this one and the end entities it will stand above.
    if (parent.pathLen !== null && parent.pathLen < below) {
      throw invalid(
        'chain_invalid',
        `"${parent.subject}" allows ${parent.pathLen} CA certificate(s) below it (pathLen), the path needs ${below}`,
      );
    }
    if (found.issuer) {
      if (found.issuer.record.status !== 'active') throw invalid('chain_invalid', `issuer "${found.issuer.record.name}" is revoked`);
      return { parent: found.issuer, external, newAnchor: null };
    }
    if (found.anchor) return { parent: null, external, newAnchor: null };
    if (parent.selfSigned) return { parent: null, external, newAnchor: parent };
    external.push(parent);
    current = parent;
  }
  throw invalid('chain_invalid', `the chain is longer than ${MAX_PATH} certificates`);
}

/** What Anvil writes needs: the AKI of what it signs is the SHA-1 key identifier (RFC 5280 4.2.1.2 method 1), so the CA's SKI must be that too. */
function checkKeyIdentifier(facts: CaCertificateFacts) {
  const ours = Buffer.from(keyIdentifier(facts.spki)).toString('hex');
  if (facts.skiHex && facts.skiHex.toLowerCase() !== ours) {
    throw invalid(
      'not_fit_for_issuing',
      "the certificate's subjectKeyIdentifier is not the SHA-1 of its key (RFC 5280 method 1): what Anvil signs would name another key identifier",
    );
  }
  return facts.skiHex?.toLowerCase() ?? ours;
}

function anchorRecord(facts: CaCertificateFacts): Omit<TrustAnchorRecord, 'id'> {
  return {
    name: `anchor-${facts.fingerprintSha256.replace(/:/g, '').slice(0, 16).toLowerCase()}`,
    subject: facts.subject,
    certificateDer: facts.der,
    fingerprintSha256: facts.fingerprintSha256,
    notAfter: facts.notAfter,
  };
}

function externalChainPem(external: CaCertificateFacts[]): string | null {
  return external.length ? external.map((f) => toPem(f.der, 'CERTIFICATE')).join('') : null;
}

/** Runs `act`; a refusal is audited as a failed `action` with its code (best effort, like issuance), then rethrown. */
async function audited<T>(deps: ImportDeps, actor: Actor, action: string, target: string, act: () => Promise<T>): Promise<T> {
  try {
    return await act();
  } catch (err) {
    if (err instanceof CaError && err.kind !== 'unavailable') {
      await deps.store
        .appendAudit({ ...audit(actor), action, target, outcome: 'failure', details: { code: err.code, reason: err.message } })
        .catch(() => {});
    }
    throw err;
  }
}

/** Writes an issuer (and a new trust anchor) with its audit row in one transaction. */
async function insertImported(
  deps: ImportDeps,
  write: (tx: StoreTx) => Promise<{ issuer: IssuerRecord; anchor: TrustAnchorRecord | null }>,
): Promise<{ issuer: IssuerRecord; anchor: TrustAnchorRecord | null }> {
  try {
    return await deps.store.transaction(write);
  } catch (err) {
    // Another process took the name (or stored the anchor) between our check and our insert.
    if (isUniqueViolation(err)) {
      throw conflict('issuer_exists', 'an issuer of that name was created meanwhile');
    }
    throw err;
  }
}

/**
 * The imported CA's key: a PKCS#8 given in the request (wrapped by software custody), or a key
 * already on the PKCS#11 token (its reference kept, the key never leaving the token).
 */
async function importedKey(
  deps: ImportDeps,
  params: ImportIssuerParams,
  spki: Uint8Array,
): Promise<{ algorithm: KeyAlgorithm; pkcs8Der?: Uint8Array; custody?: CustodyEntry }> {
  if (params.privateKey) {
    if (params.keyRef !== undefined) throw invalid('key_ref_conflict', 'give either "privateKey" or "keyRef", not both');
    let key: ReturnType<typeof readPrivateKey>;
    try {
      key = readPrivateKey(params.privateKey, params.passphrase || undefined);
    } catch (e) {
      return malformed(e);
    }
    if (!sameKey(spki, key.spkiDer)) throw invalid('key_mismatch', 'the private key is not the key of this certificate');
    return { algorithm: key.algorithm, pkcs8Der: key.pkcs8Der };
  }
  if (!deps.custody.tokenKey) {
    if (params.keyRef !== undefined) {
      throw invalid('key_ref_unsupported', 'keyRef names a PKCS#11 key, but this Anvil has no token configured (ANVIL_PKCS11_MODULE)');
    }
    throw invalid('private_key_required', 'give the CA\'s PKCS#8 private key in "privateKey"');
  }
  const found = await deps.custody.tokenKey(spki, params.keyRef);
  return { algorithm: found.keyAlgorithm, custody: { encryptedKey: null, keyRef: found.keyRef } };
}

/**
 * Imports an existing CA with its private key. A self-signed certificate becomes a root issuer;
 * any other an intermediate under the Anvil issuer that signed it, or under a trust anchor (stored
 * or given in `chain`). Audited as `issuer.import` (success or failure with its code).
 */
export function importIssuer(deps: ImportDeps, params: ImportIssuerParams, actor: Actor): Promise<LoadedIssuer> {
  return audited(deps, actor, 'issuer.import', params.name, async () => {
    deps.host.checkName(params.name);
    const facts = readOneCertificate(params.certificate, 'certificate');
    const key = await importedKey(deps, params, facts.spki);
    if (!isSigningCa(facts)) {
      throw invalid('not_a_ca', 'the certificate is not a CA certificate: basicConstraints CA:TRUE and keyUsage keyCertSign are required');
    }
    const unfit = unfitForIssuing(facts);
    if (unfit) throw invalid('not_fit_for_issuing', `the CA cannot sign Anvil's certificates and CRLs: ${unfit}`);
    const now = deps.now();
    checkValidity(facts, now, 'certificate');
    const subjectKeyId = checkKeyIdentifier(facts);
    const given = readChain(params.chain);
    const end: PathEnd = facts.selfSigned ? { parent: null, external: [], newAnchor: null } : buildPath(facts, given, deps, now);
    const kind = facts.selfSigned ? 'root' : 'intermediate';
    const custody = key.custody ?? deps.custody.wrap(params.name, key.pkcs8Der!);
    const written = await insertImported(deps, async (tx) => {
      const anchor = end.newAnchor ? await tx.insertTrustAnchor(anchorRecord(end.newAnchor)) : null;
      const issuer = await tx.insertIssuer({
        name: params.name,
        kind,
        parentId: end.parent?.record.id ?? null,
        subject: facts.subject,
        keyAlgorithm: key.algorithm,
        encryptedKey: custody.encryptedKey,
        keyRef: custody.keyRef,
        externalChain: externalChainPem(end.external),
        certificateDer: facts.der,
        serial: facts.serialHex,
        subjectKeyId,
        notBefore: facts.notBefore,
        notAfter: facts.notAfter,
      });
      await tx.appendAudit({
        ...audit(actor),
        action: 'issuer.import',
        target: params.name,
        outcome: 'success',
        details: {
          kind,
          keyAlgorithm: key.algorithm,
          subject: facts.subject,
          fingerprintSha256: facts.fingerprintSha256,
          parent: end.parent?.record.name ?? null,
          anchor: anchor?.name ?? null,
        },
      });
      return { issuer, anchor };
    });
    return deps.host.adopt({ issuer: written.issuer, anchor: written.anchor })!;
  });
}

/**
 * An intermediate whose key Anvil generates and keeps, and whose CSR an external root signs:
 * `pending` (issues nothing) until `completePendingIssuer`. Audited as `issuer.csr`.
 */
export function createPendingIssuer(deps: ImportDeps, params: PendingIssuerParams, actor: Actor): Promise<PendingIssuerRecord> {
  return audited(deps, actor, 'issuer.csr', params.name, async () => {
    deps.host.checkName(params.name);
    const subject = checkSubject(
      'intermediate',
      { CN: params.commonName ?? `Anvil Issuing CA (${params.name})`, O: deps.organization },
      emptySans(),
    );
    // Where custody puts new keys: in software, or generated on the PKCS#11 token and never leaving it.
    const pending = await withNewKey(deps.custody, params.name, params.keyAlgorithm, async (custody) => {
      const signer = deps.custody.signer({ name: params.name, keyAlgorithm: params.keyAlgorithm, ...custody });
      const csrDer = await buildSignerCsr({ signer, subject });
      try {
        return await deps.store.transaction(async (tx) => {
          const row = await tx.insertPendingIssuer({
            name: params.name,
            subject: Object.entries(subject)
              .map(([k, v]) => `${k}=${v}`)
              .join(', '),
            keyAlgorithm: params.keyAlgorithm,
            encryptedKey: custody.encryptedKey,
            keyRef: custody.keyRef,
            csrDer,
          });
          await tx.appendAudit({
            ...audit(actor),
            action: 'issuer.csr',
            target: params.name,
            outcome: 'success',
            details: { keyAlgorithm: params.keyAlgorithm, subject: row.subject },
          });
          return row;
        });
      } catch (err) {
        if (isUniqueViolation(err)) {
          throw conflict('issuer_exists', `an issuer named "${params.name}" exists`);
        }
        throw err;
      }
    });
    deps.host.adopt({ pending });
    return pending;
  });
}

/** The CSR of a pending intermediate (PEM). */
export function pendingCsrPem(deps: ImportDeps, name: string): string {
  const pending = deps.host.pendingIssuer(name);
  if (!pending) throw notFound('pending_issuer_not_found', `no issuer named "${name}" is waiting for its certificate`);
  return toPem(pending.csrDer, 'CERTIFICATE REQUEST');
}

/**
 * Takes the certificate an external root signed for a pending intermediate, and that root as a
 * trust anchor. Checked first: the certificate's key is the CSR's (`key_mismatch`), its CA
 * extensions are fit for issuing (`not_fit_for_issuing`), it is valid now (`certificate_expired`),
 * its chain verifies up to a root (`chain_invalid`, `chain_incomplete`). Only then is the issuer
 * active. Audited as `issuer.certificate`.
 */
export function completePendingIssuer(deps: ImportDeps, name: string, params: CompletePendingParams, actor: Actor): Promise<LoadedIssuer> {
  return audited(deps, actor, 'issuer.certificate', name, async () => {
    const pending = deps.host.pendingIssuer(name);
    if (!pending) throw notFound('pending_issuer_not_found', `no issuer named "${name}" is waiting for its certificate`);
    const facts = readOneCertificate(params.certificate, 'certificate');
    const csrKey = parseAndVerifyCsr(pending.csrDer).publicKeySpki;
    if (!sameKey(facts.spki, csrKey)) throw invalid('key_mismatch', "the certificate is not for the key of this issuer's CSR");
    const unfit = unfitForIssuing(facts);
    if (unfit) throw invalid('not_fit_for_issuing', `the certificate cannot issue: ${unfit}`);
    const now = deps.now();
    checkValidity(facts, now, 'certificate');
    const subjectKeyId = checkKeyIdentifier(facts);
    if (facts.selfSigned) throw invalid('chain_invalid', 'the certificate is self-signed: an external root must sign the CSR');
    const given = readChain(params.chain);
    const end = buildPath(facts, given, deps, now);
    const written = await insertImported(deps, async (tx) => {
      if (!(await tx.deletePendingIssuer(pending.id))) throw conflict('issuer_exists', `issuer "${name}" was completed meanwhile`);
      const anchor = end.newAnchor ? await tx.insertTrustAnchor(anchorRecord(end.newAnchor)) : null;
      const issuer = await tx.insertIssuer({
        name,
        kind: 'intermediate',
        parentId: end.parent?.record.id ?? null,
        subject: facts.subject,
        keyAlgorithm: pending.keyAlgorithm,
        encryptedKey: pending.encryptedKey,
        keyRef: pending.keyRef,
        externalChain: externalChainPem(end.external),
        certificateDer: facts.der,
        serial: facts.serialHex,
        subjectKeyId,
        notBefore: facts.notBefore,
        notAfter: facts.notAfter,
      });
      await tx.appendAudit({
        ...audit(actor),
        action: 'issuer.certificate',
        target: name,
        outcome: 'success',
        details: { subject: facts.subject, fingerprintSha256: facts.fingerprintSha256, anchor: anchor?.name ?? null },
      });
      return { issuer, anchor };
    });
    return deps.host.adopt({ issuer: written.issuer, anchor: written.anchor, donePending: name })!;
  });
}
