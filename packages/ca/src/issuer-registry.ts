/** The issuers of this Anvil: loaded once per process, found by name or id, and created (roots and intermediates). */
import { randomBytes } from 'node:crypto';
import {
  buildName,
  emptySans,
  generateKey,
  keyIdentifier,
  nameToString,
  serialFromRandom,
  serialToHex,
  type CertificateParams,
  type KeyAlgorithm,
  type SubjectInput,
} from '@anvil/pki';
import { audit, type Actor } from './audit.ts';
import { conflict, invalid, notFound } from './errors.ts';
import { chainOf, issuerUrls, loadIssuer, type LoadedIssuer } from './issuers.ts';
import type { KeyCustody } from './key-custody.ts';
import { checkSubject, kindExtensions } from './profiles.ts';
import type { SerialReservations } from './serials.ts';
import { BACKDATE_MS, recordSigned, signLinted } from './signing.ts';
import type { Store } from './store.ts';

/** What an issuer may be called (the API schema uses the same): it appears in URLs. */
export const ISSUER_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const ROOT_NAME = 'root-ca';
export const ISSUING_NAME = 'issuing-ca';

export interface CreateIssuerParams {
  name: string;
  kind: 'root' | 'intermediate';
  keyAlgorithm: KeyAlgorithm;
  /** Default ROOT_NAME. */
  parent?: string;
  commonName?: string;
  /** Default 3650 for roots, 1825 for intermediates; never beyond the parent's notAfter. */
  ttlDays?: number;
}

export class IssuerRegistry {
  private readonly byName = new Map<string, LoadedIssuer>();
  private readonly byId = new Map<string, LoadedIssuer>();

  constructor(
    private readonly deps: {
      store: Store;
      custody: KeyCustody;
      serials: SerialReservations;
      /** Base of the CRL and AIA URLs an intermediate carries. */
      publicUrl: string;
      organization: string;
      now: () => Date;
    },
  ) {}

  /** (Re)reads issuers from the store; parents before children. */
  async load(): Promise<void> {
    const records = await this.deps.store.listIssuers();
    const pending = [...records];
    while (pending.length) {
      const before = pending.length;
      for (let i = 0; i < pending.length; i++) {
        const r = pending[i];
        const parent = r.parentId ? this.byId.get(r.parentId) : null;
        if (r.parentId && !parent) continue;
        if (!this.byId.has(r.id)) this.remember(loadIssuer(r, this.deps.custody.signer(r), parent ?? null));
        pending.splice(i--, 1);
      }
      if (pending.length === before) throw new Error('issuer rows reference missing parents');
    }
  }

  private remember(issuer: LoadedIssuer) {
    this.byName.set(issuer.record.name, issuer);
    this.byId.set(issuer.record.id, issuer);
  }

  issuers(): LoadedIssuer[] {
    return [...this.byId.values()];
  }

  issuerByName(name: string): LoadedIssuer {
    const issuer = this.byName.get(name);
    if (!issuer) throw notFound('unknown_issuer', `no issuer named "${name}"`);
    return issuer;
  }

  issuerById(id: string): LoadedIssuer {
    const issuer = this.byId.get(id);
    if (!issuer) throw notFound('unknown_issuer', `no issuer with id ${id}`);
    return issuer;
  }

  roots(): LoadedIssuer[] {
    return this.issuers().filter((i) => i.record.kind === 'root');
  }

  defaultIssuer(): LoadedIssuer {
    return this.byName.get(ISSUING_NAME) ?? this.issuers().find((i) => i.record.kind === 'intermediate') ?? this.issuerByName(ISSUING_NAME);
  }

  chain(issuer: LoadedIssuer): LoadedIssuer[] {
    return chainOf(issuer);
  }

  /** Creates a root (self-signed) or an intermediate under `parent`, with the extensions PROFILE_KINDS gives its kind. */
  async createIssuer(params: CreateIssuerParams, actor: Actor): Promise<LoadedIssuer> {
    if (!ISSUER_NAME.test(params.name)) {
      throw invalid('invalid_issuer_name', 'issuer names are lower-case letters, digits and hyphens (they appear in URLs)');
    }
    if (this.byName.has(params.name)) throw conflict('issuer_exists', `an issuer named "${params.name}" exists`);
    const parent = params.kind === 'intermediate' ? this.issuerByName(params.parent ?? ROOT_NAME) : null;
    if (parent && parent.record.kind !== 'root') {
      throw invalid('invalid_parent', 'intermediates are created under a root (they carry pathLen 0)');
    }
    const subject: SubjectInput = checkSubject(
      params.kind,
      {
        CN: params.commonName ?? (params.kind === 'root' ? `Anvil Root CA (${params.name})` : `Anvil Issuing CA (${params.name})`),
        O: this.deps.organization,
      },
      emptySans(),
    );
    const now = this.deps.now();
    const key = await generateKey(params.keyAlgorithm);
    const lifetime = (params.ttlDays ?? (params.kind === 'root' ? 3650 : 1825)) * 86_400_000;
    let notAfter = new Date(now.getTime() + lifetime);
    if (parent && notAfter > parent.record.notAfter) notAfter = parent.record.notAfter;
    const selfKeyId = keyIdentifier(key.spkiDer);
    const custody = this.deps.custody.wrap(params.name, key.pkcs8Der);
    const signer = parent ? parent.signer : this.deps.custody.signer({ name: params.name, keyAlgorithm: params.keyAlgorithm, ...custody });
    // An intermediate's serial is on record under its parent before the parent signs it.
    const serial = parent ? (await this.deps.serials.take(parent.record.id)).bytes : serialFromRandom(randomBytes(16));
    const tbs: CertificateParams = {
      serial,
      subject,
      issuerName: parent ? parent.certificate.subject : buildName(subject),
      issuerKeyId: parent ? keyIdentifier(parent.signer.publicKeySpki) : selfKeyId,
      subjectPublicKeySpki: key.spkiDer,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter,
      ...kindExtensions(params.kind, params.keyAlgorithm.split('-')[0]),
      // Java's PKIX revocation checking asks for the intermediate's status too: give it a CDP and AIA.
      ...(parent ? issuerUrls(this.deps.publicUrl, parent.record.name) : {}),
    };
    const der = await signLinted(tbs, signer, params.kind, parent ? parent.record.notAfter : notAfter);
    const insert = () =>
      this.deps.store.transaction(async (tx) => {
        const row = await tx.insertIssuer({
          name: params.name,
          kind: params.kind,
          parentId: parent?.record.id ?? null,
          subject: nameToString(buildName(subject)),
          keyAlgorithm: params.keyAlgorithm,
          encryptedKey: custody.encryptedKey,
          keyRef: custody.keyRef,
          certificateDer: der,
          serial: serialToHex(serial),
          subjectKeyId: Buffer.from(selfKeyId).toString('hex'),
          notBefore: new Date(now.getTime() - BACKDATE_MS),
          notAfter,
        });
        await tx.appendAudit({
          ...audit(actor),
          action: 'issuer.create',
          target: params.name,
          outcome: 'success',
          details: { kind: params.kind, keyAlgorithm: params.keyAlgorithm },
        });
        return row;
      });
    const record = await (parent
      ? recordSigned(this.deps.store, { serialHex: serialToHex(serial), issuer: parent, actor }, insert)
      : insert());
    const loaded = loadIssuer(record, this.deps.custody.signer(record), parent);
    this.remember(loaded);
    return loaded;
  }
}
