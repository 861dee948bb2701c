/**
 * Changing the hierarchy without breaking clients: an intermediate rotated out (its profiles moved
 * to a new one, itself retired: it signs no more certificates and keeps publishing CRLs and OCSP
 * answers for those it issued until the last of them expires: `stillPublishes` in issuers.ts), and root rollover's cross-certificates (a newer root's subject and
 * key certified by an older root, so clients trusting only the older one reach the newer hierarchy).
 */
import {
  encodeName,
  keyIdentifier,
  readCertificate,
  readNameRecordDer,
  serialToHex,
  toPem,
  type CertificateParams,
  type SubjectInput,
} from '@anvil/pki';
import { audit, type Actor } from './audit.ts';
import { conflict, invalid } from './errors.ts';
import type { IssuerRegistry } from './issuer-registry.ts';
import { chainOf, type LoadedIssuer } from './issuers.ts';
import type { ProfileCatalog } from './profile-catalog.ts';
import { kindExtensions } from './profiles.ts';
import type { SerialReservations } from './serials.ts';
import { BACKDATE_MS, recordSigned, signLinted } from './signing.ts';
import type { CrossCertificateRecord, Store } from './store.ts';

/** A cross-certificate with the names of the two roots it joins. */
export interface LoadedCrossCertificate {
  record: CrossCertificateRecord;
  /** The root it certifies (its subject and key). */
  subject: LoadedIssuer;
  /** The older root that signed it. */
  signer: LoadedIssuer;
  pem: string;
}

export interface RotationResult {
  retired: LoadedIssuer;
  to: LoadedIssuer | null;
  /** The profiles that now issue from `to`. */
  profiles: string[];
}

const SUBJECT_KEYS = ['C', 'ST', 'L', 'O', 'OU', 'CN'] as const;

export class IssuerRotation {
  private crosses: LoadedCrossCertificate[] | null = null;

  constructor(
    private readonly deps: {
      store: Store;
      registry: Pick<IssuerRegistry, 'issuerByName' | 'issuerById' | 'defaultIssuer'>;
      profiles: Pick<ProfileCatalog, 'listProfiles' | 'forget'>;
      serials: SerialReservations;
      publicUrl: string;
      now: () => Date;
    },
  ) {}

  /**
   * Moves profiles from intermediate `from` to `to` and retires `from`, in one transaction with its
   * audit rows. `profiles` names the ones to move (default: every profile issuing from `from`); a
   * profile issuing from `from` that is left behind refuses the whole rotation, as does retiring
   * without `to` while any profile issues from it: no profile is left without a working issuer.
   */
  async rotate(fromName: string, params: { to?: string; profiles?: string[] }, actor: Actor): Promise<RotationResult> {
    const from = this.deps.registry.issuerByName(fromName);
    if (from.record.kind !== 'intermediate') {
      throw invalid('not_an_intermediate', `"${fromName}" is a root: a root is rolled over with a new root and a cross-certificate`);
    }
    refuseInactive(from, 'rotated out');
    const to = params.to === undefined ? null : this.deps.registry.issuerByName(params.to);
    if (to) {
      if (to.record.id === from.record.id) throw invalid('rotate_to_self', 'rotate to another intermediate, not to the same one');
      if (to.record.kind !== 'intermediate')
        throw invalid('not_an_intermediate', `"${to.record.name}" is a root: profiles issue from intermediates`);
      refuseInactive(to, 'rotated to');
    }
    const defaultName = this.deps.registry.defaultIssuer().record.name;
    const all = await this.deps.profiles.listProfiles();
    const issuing = all.filter((p) => (p.policy.issuer ?? defaultName) === from.record.name).map((p) => p.name);
    const moving = params.profiles ?? (to ? issuing : []);
    if (moving.length && !to) throw invalid('rotate_needs_target', 'profiles move to an issuer: give "to"');
    for (const name of moving) {
      if (!all.some((p) => p.name === name)) throw invalid('unknown_profile', `no profile named "${name}"`);
      if (!issuing.includes(name)) throw invalid('profile_not_on_issuer', `profile "${name}" does not issue from "${from.record.name}"`);
    }
    const stranded = issuing.filter((n) => !moving.includes(n));
    if (stranded.length) {
      throw conflict(
        'issuer_in_use',
        `profile${stranded.length > 1 ? 's' : ''} ${stranded.map((n) => `"${n}"`).join(', ')} would be left without an issuer: move ${stranded.length > 1 ? 'them' : 'it'} to another intermediate in the same rotation`,
      );
    }
    const at = this.deps.now();
    const retired = await this.deps.store.transaction(async (tx) => {
      const row = await tx.retireIssuer(from.record.id, at, to?.record.id ?? null);
      if (!row) throw conflict('issuer_retired', `issuer "${from.record.name}" was retired or revoked meanwhile`);
      for (const name of moving) {
        const profile = (await tx.getProfile(name))!;
        await tx.upsertProfile({ ...profile, policy: { ...(profile.policy as object), issuer: to!.record.name } });
        await tx.appendAudit({
          ...audit(actor),
          action: 'profile.update',
          target: name,
          outcome: 'success',
          details: { issuer: { from: from.record.name, to: to!.record.name } },
        });
      }
      await tx.appendAudit({
        ...audit(actor),
        action: 'issuer.retire',
        target: from.record.name,
        outcome: 'success',
        details: { to: to?.record.name ?? null, profiles: moving },
      });
      return row;
    });
    this.deps.profiles.forget(moving);
    Object.assign(from.record, {
      status: retired.status,
      retiredAt: retired.retiredAt,
      successorId: retired.successorId,
      lastCertificateExpiry: retired.lastCertificateExpiry,
    });
    return { retired: from, to, profiles: moving };
  }

  /** Another process changed the cross-certificates: read them again on next use. */
  forgetCrossCertificates(): void {
    this.crosses = null;
  }

  /** Every cross-certificate, read once from the store and kept up to date by crossCertify. */
  async crossCertificates(): Promise<LoadedCrossCertificate[]> {
    if (!this.crosses) {
      const rows = await this.deps.store.listCrossCertificates();
      this.crosses = rows.map((record) => this.loaded(record));
    }
    return this.crosses;
  }

  private loaded(record: CrossCertificateRecord): LoadedCrossCertificate {
    return {
      record,
      subject: this.deps.registry.issuerById(record.subjectIssuerId),
      signer: this.deps.registry.issuerById(record.signerIssuerId),
      pem: toPem(record.certificateDer, 'CERTIFICATE'),
    };
  }

  /**
   * Root rollover: certifies root `subjectName`'s subject and key under the older root
   * `signerName` — a CA certificate (pathLen 1: an intermediate below it, nothing deeper) with the
   * signer's CRL and certificate URLs, never outliving either root. Its serial is on record under
   * the signer before it signs.
   */
  async crossCertify(subjectName: string, signerName: string, actor: Actor): Promise<LoadedCrossCertificate> {
    const subject = this.deps.registry.issuerByName(subjectName);
    const signer = this.deps.registry.issuerByName(signerName);
    if (subject.record.kind !== 'root' || signer.record.kind !== 'root') {
      throw invalid('not_a_root', 'a cross-certificate joins two roots: the new root (its subject and key) and the old root that signs it');
    }
    if (subject.record.id === signer.record.id) throw invalid('cross_certify_self', 'a root is not cross-certified by itself');
    refuseInactive(signer, 'used to cross-certify');
    refuseInactive(subject, 'cross-certified');
    const now = this.deps.now();
    if (signer.record.notAfter <= now) throw invalid('issuer_expired', `root "${signer.record.name}" has expired`);
    const existing = (await this.crossCertificates()).find(
      (c) => c.subject.record.id === subject.record.id && c.signer.record.id === signer.record.id,
    );
    if (existing)
      throw conflict('cross_certificate_exists', `"${subject.record.name}" is cross-certified by "${signer.record.name}" already`);
    const subjectInput = sameSubject(subject);
    const notAfter = new Date(Math.min(subject.record.notAfter.getTime(), signer.record.notAfter.getTime()));
    const notBefore = new Date(now.getTime() - BACKDATE_MS);
    const serial = (await this.deps.serials.take(signer.record.id)).bytes;
    const base = this.deps.publicUrl.replace(/\/+$/, '');
    const tbs: CertificateParams = {
      serial,
      subject: subjectInput,
      issuerName: signer.certificate.subject,
      issuerKeyId: keyIdentifier(signer.signer.publicKeySpki),
      subjectPublicKeySpki: subject.signer.publicKeySpki,
      notBefore,
      notAfter,
      ...kindExtensions('root', subject.record.keyAlgorithm.split('-')[0]),
      basicConstraints: { ca: true, pathLen: 1 },
      // The signer's CRL lists it if it is ever revoked; no OCSP URL: the responder answers for leaves and intermediates.
      crlUrl: `${base}/pki/crl/${signer.record.name}.crl`,
      caIssuersUrl: `${base}/pki/issuers/${signer.record.name}.crt`,
    };
    const der = await signLinted(tbs, signer.signer, 'intermediate', signer.record.notAfter);
    const serialHex = serialToHex(serial);
    const record = await recordSigned(this.deps.store, { serialHex, issuer: signer, actor }, () =>
      this.deps.store.transaction(async (tx) => {
        const row = await tx.insertCrossCertificate({
          subjectIssuerId: subject.record.id,
          signerIssuerId: signer.record.id,
          serial: serialHex,
          certificateDer: der,
          notBefore,
          notAfter,
        });
        await tx.appendAudit({
          ...audit(actor),
          action: 'issuer.cross_certify',
          target: subject.record.name,
          outcome: 'success',
          details: { signer: signer.record.name, serial: serialHex },
        });
        return row;
      }),
    );
    const loaded = this.loaded(record);
    (await this.crossCertificates()).push(loaded);
    return loaded;
  }

  /**
   * What a server sends after its leaf when some of its clients trust only an older root:
   * chain.pem (the intermediates), then every unexpired cross-certificate of its root from a
   * root that is not revoked. Clients trusting the new root stop at it (OpenSSL tries trusted
   * certificates first); the others continue through the cross-certificate to the old root.
   */
  async crossChain(issuer: LoadedIssuer): Promise<LoadedIssuer['pem'][]> {
    const chain = chainOf(issuer);
    const top = chain.length ? chain[chain.length - 1] : issuer;
    const root = top.record.kind === 'root' ? top : top.record.parentId ? this.deps.registry.issuerById(top.record.parentId) : top;
    const now = this.deps.now();
    const crosses = (await this.crossCertificates()).filter(
      (c) => c.subject.record.id === root.record.id && c.record.notAfter > now && c.signer.record.status !== 'revoked',
    );
    return [...chain.map((i) => i.pem), ...crosses.map((c) => c.pem)];
  }
}

function refuseInactive(issuer: LoadedIssuer, what: string): void {
  if (issuer.record.status === 'retired')
    throw conflict('issuer_retired', `issuer "${issuer.record.name}" is retired: it cannot be ${what}`);
  if (issuer.record.status !== 'active')
    throw conflict('issuer_revoked', `issuer "${issuer.record.name}" is revoked: it cannot be ${what}`);
}

/**
 * The subject of a root as Anvil's encoder writes it, refused unless those are the very bytes the
 * root's certificate holds: a client chains the intermediate to the cross-certificate by that name.
 */
function sameSubject(root: LoadedIssuer): SubjectInput {
  const der = root.record.certificateDer;
  const name = readCertificate({ der }).subject;
  const attributes = readNameRecordDer(der, name);
  const subject: SubjectInput = {};
  for (const k of SUBJECT_KEYS) if (attributes[k]) subject[k] = attributes[k];
  const actual = der.subarray(name.start, name.end);
  const written = encodeName(subject);
  if (actual.length !== written.length || actual.some((b, i) => b !== written[i])) {
    throw invalid(
      'cross_certify_unsupported_subject',
      `the subject of "${root.record.name}" cannot be re-encoded byte for byte; cross-certify it with openssl`,
    );
  }
  return subject;
}
