/** The issuers of this Anvil: loaded once per process, found by name or id, and created (roots and intermediates). */
import { randomBytes } from 'node:crypto';
import {
  buildName,
  emptySans,
  keyIdentifier,
  NameConstraintError,
  nameToString,
  parseNameConstraints,
  serialFromRandom,
  serialToHex,
  type CertificateParams,
  type KeyAlgorithm,
  type NameConstraints,
  type NameConstraintsInput,
  type SubjectInput,
} from '@anvil/pki';
import { audit, type Actor } from './audit.ts';
import { conflict, invalid, isUniqueViolation, notFound } from './errors.ts';
import { chainOf, issuerUrls, loadIssuer, type LoadedIssuer } from './issuers.ts';
import { withNewKey, type KeyCustody } from './key-custody.ts';
import { checkSubject, kindExtensions } from './profiles.ts';
import type { SerialReservations } from './serials.ts';
import { BACKDATE_MS, recordSigned, signLinted } from './signing.ts';
import type { IssuerRecord, PendingIssuerRecord, Store, TrustAnchorRecord } from './store.ts';

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
  /** Intermediates only: the permitted / excluded subtrees its certificate carries (critical). */
  nameConstraints?: NameConstraintsInput;
}

/** Parses an operator's name constraints into a CaError on bad input; roots carry none (a relying party's trust in a root is not bounded by it). */
export function checkNameConstraintsInput(kind: 'root' | 'intermediate', input: NameConstraintsInput | undefined): NameConstraints | null {
  if (input === undefined) return null;
  if (kind === 'root') {
    throw invalid(
      'name_constraints_on_root',
      'name constraints go on an intermediate: a root is a trust anchor, and verifiers ignore its own extensions',
    );
  }
  try {
    return parseNameConstraints(input);
  } catch (err) {
    if (err instanceof NameConstraintError) throw invalid('invalid_name_constraints', err.message, { field: err.field });
    throw err;
  }
}

export class IssuerRegistry {
  private readonly byName = new Map<string, LoadedIssuer>();
  private readonly byId = new Map<string, LoadedIssuer>();
  /** Roots trusted without a key, and intermediates waiting for an external signature (issuer-import.ts). */
  private anchors: TrustAnchorRecord[] = [];
  private readonly waiting = new Map<string, PendingIssuerRecord>();

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

  /**
   * (Re)reads issuers from the store; parents before children. Run at start and again whenever
   * another process changed an issuer (Authority.start: the database notifies every process).
   */
  async load(): Promise<void> {
    const records = await this.deps.store.listIssuers();
    const pending = [...records];
    while (pending.length) {
      const before = pending.length;
      for (let i = 0; i < pending.length; i++) {
        const r = pending[i];
        const parent = r.parentId ? this.byId.get(r.parentId) : null;
        if (r.parentId && !parent) continue;
        const known = this.byId.get(r.id);
        // Known: its row may have changed elsewhere (status, successor); its certificate and key never do.
        if (known) Object.assign(known.record, r);
        else this.remember(loadIssuer(r, this.deps.custody.signer(r), parent ?? null));
        pending.splice(i--, 1);
      }
      if (pending.length === before) throw new Error('issuer rows reference missing parents');
    }
    await this.loadImported();
  }

  private remember(issuer: LoadedIssuer) {
    this.byName.set(issuer.record.name, issuer);
    this.byId.set(issuer.record.id, issuer);
  }

  // ---- CAs brought in from elsewhere (issuer-import.ts is the logic; this keeps what it made) ----

  private async loadImported(): Promise<void> {
    this.anchors = await this.deps.store.listTrustAnchors();
    this.waiting.clear();
    for (const p of await this.deps.store.listPendingIssuers()) this.waiting.set(p.name, p);
  }

  trustAnchors(): TrustAnchorRecord[] {
    return [...this.anchors];
  }

  pendingIssuers(): PendingIssuerRecord[] {
    return [...this.waiting.values()];
  }

  pendingIssuer(name: string): PendingIssuerRecord | undefined {
    return this.waiting.get(name);
  }

  nameTaken(name: string): boolean {
    return this.byName.has(name) || this.waiting.has(name);
  }

  /** The name checks of every new issuer: the URL-safe form, and not taken by an issuer or a pending one. */
  checkName(name: string): void {
    if (!ISSUER_NAME.test(name)) {
      throw invalid('invalid_issuer_name', 'issuer names are lower-case letters, digits and hyphens (they appear in URLs)');
    }
    if (this.nameTaken(name)) throw conflict('issuer_exists', `an issuer named "${name}" exists`);
  }

  /** Takes in what an import committed: an issuer (loaded with its signer), a trust anchor, a pending issuer made or done. */
  adopt(changes: {
    issuer?: IssuerRecord;
    anchor?: TrustAnchorRecord | null;
    pending?: PendingIssuerRecord;
    donePending?: string;
  }): LoadedIssuer | null {
    if (changes.anchor) this.anchors.push(changes.anchor);
    if (changes.pending) this.waiting.set(changes.pending.name, changes.pending);
    if (changes.donePending) this.waiting.delete(changes.donePending);
    if (!changes.issuer) return null;
    const record = changes.issuer;
    const parent = record.parentId ? this.issuerById(record.parentId) : null;
    const loaded = loadIssuer(record, this.deps.custody.signer(record), parent);
    this.remember(loaded);
    return loaded;
  }

  issuers(): LoadedIssuer[] {
    return [...this.byId.values()];
  }

  issuerByName(name: string): LoadedIssuer {
    const issuer = this.byName.get(name);
    if (!issuer && this.waiting.has(name)) {
      throw conflict('issuer_pending', `issuer "${name}" is waiting for its certificate from an external root and issues nothing yet`);
    }
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
    let issuer =
      this.byName.get(ISSUING_NAME) ?? this.issuers().find((i) => i.record.kind === 'intermediate') ?? this.issuerByName(ISSUING_NAME);
    // A rotated-out default hands over to its successor (issuer-rotation.ts), hop by hop.
    for (let hops = 0; issuer.record.status === 'retired' && issuer.record.successorId && hops < 64; hops++) {
      issuer = this.byId.get(issuer.record.successorId) ?? issuer;
    }
    return issuer;
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
    if (params.kind === 'root' && params.parent) throw invalid('invalid_parent', 'a root is self-signed: it has no parent');
    const nameConstraints = checkNameConstraintsInput(params.kind, params.nameConstraints);
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
    // Where custody puts new keys: in software (wrapped under the KEK) or generated on the PKCS#11 token.
    const record = await withNewKey(this.deps.custody, params.name, params.keyAlgorithm, async (key) => {
      const lifetime = (params.ttlDays ?? (params.kind === 'root' ? 3650 : 1825)) * 86_400_000;
      let notAfter = new Date(now.getTime() + lifetime);
      if (parent && notAfter > parent.record.notAfter) notAfter = parent.record.notAfter;
      const selfKeyId = keyIdentifier(key.spkiDer);
      const custody = { encryptedKey: key.encryptedKey, keyRef: key.keyRef };
      const signer = parent ? parent.signer : this.deps.custody.signer({ name: params.name, keyAlgorithm: params.keyAlgorithm, ...key });
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
        ...(nameConstraints ? { nameConstraints } : {}),
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
            nameConstraints,
          });
          await tx.appendAudit({
            ...audit(actor),
            action: 'issuer.create',
            target: params.name,
            outcome: 'success',
            details: { kind: params.kind, keyAlgorithm: params.keyAlgorithm, ...(nameConstraints ? { nameConstraints } : {}) },
          });
          return row;
        });
      try {
        return await (parent ? recordSigned(this.deps.store, { serialHex: serialToHex(serial), issuer: parent, actor }, insert) : insert());
      } catch (err) {
        // Another process created the name between the check above and this insert.
        if (isUniqueViolation(err)) throw conflict('issuer_exists', `an issuer named "${params.name}" exists`);
        throw err;
      }
    });
    const loaded = loadIssuer(record, this.deps.custody.signer(record), parent);
    this.remember(loaded);
    return loaded;
  }
}
