/** Revocation: committed with its audit row, then made visible to CRLs, OCSP and the judge. */
import { isRevokeReason, REVOKE_REASONS, truncateToSeconds, type RevocationReason } from '@anvil/pki';
import { audit, type Actor } from '../audit.ts';
import { conflict, invalid, notFound } from '../errors.ts';
import type { LoadedIssuer } from '../issuers.ts';
import type { AuditEntry, CertificateRecord, IssuerRecord, Store } from '../store.ts';

/** A reason an operator may give (REVOKE_REASONS of @anvil/pki), or invalid_reason. */
export function checkReason(reason: string): RevocationReason {
  if (!isRevokeReason(reason)) {
    throw invalid('invalid_reason', `"${reason}" is not a revocation reason; use one of ${REVOKE_REASONS.join(', ')}`);
  }
  return reason;
}

export interface RevocationOutcome {
  record: CertificateRecord;
  /** False when the certificate was revoked already and the first revocation is returned unchanged. */
  changed: boolean;
}

/**
 * Revoke, release and bulk revoke. Each commits (with its audit rows) before the CRL of the
 * issuer is re-signed and the OCSP cache invalidated, and both happen before the call returns.
 */
export class Revocations {
  constructor(
    private readonly deps: {
      store: Store;
      now: () => Date;
      issuerById: (id: string) => LoadedIssuer;
      issuerByName: (name: string) => LoadedIssuer;
      /** Re-sign CRLs and drop cached OCSP answers for these issuers. */
      afterChange: (issuerIds: string[]) => Promise<void>;
    },
  ) {}

  async revoke(id: string, reasonName: RevocationReason, actor: Actor): Promise<RevocationOutcome> {
    return (await this.revokeMany([id], reasonName, actor))[0];
  }

  async revokeBySerial(issuerName: string, serial: string, reasonName: RevocationReason, actor: Actor): Promise<RevocationOutcome> {
    const issuer = this.deps.issuerByName(issuerName);
    let normalized = serial.toLowerCase().replace(/:/g, '');
    if (!/^[0-9a-f]{1,42}$/.test(normalized)) throw invalid('invalid_serial', 'a serial is hexadecimal, optionally colon-separated');
    // Stored serials are DER content octets (minimal, with a 00 sign octet when the top bit is
    // set); openssl and most tools print them without the sign octet, so rebuild that form.
    normalized = normalized.replace(/^0+/, '');
    if (normalized.length % 2) normalized = `0${normalized}`;
    if (/^[89a-f]/.test(normalized)) normalized = `00${normalized}`;
    const record = await this.deps.store.getCertificateBySerial(issuer.record.id, normalized);
    if (!record) throw notFound('certificate_not_found', `issuer "${issuerName}" has no certificate with serial ${normalized}`);
    return this.revoke(record.id, reasonName, actor);
  }

  /** All or nothing: one unknown id refuses the whole list and changes nothing. */
  async revokeMany(ids: string[], reasonName: RevocationReason, actor: Actor): Promise<RevocationOutcome[]> {
    const reason = checkReason(reasonName);
    if (ids.length === 0) throw invalid('empty_list', 'name at least one certificate');
    const at = truncateToSeconds(this.deps.now());
    const outcomes = await this.deps.store.transaction(async (tx) => {
      const results: RevocationOutcome[] = [];
      const audits: AuditEntry[] = [];
      for (const id of ids) {
        const before = await tx.getCertificate(id);
        if (!before) throw notFound('certificate_not_found', `no certificate with id ${id}`);
        if (before.status === 'revoked') {
          results.push({ record: before, changed: false });
          continue;
        }
        const { record, changed } = (await tx.revokeCertificate(id, reason, at))!;
        // A concurrent call may have revoked it between our read and our update: the update then
        // matched nothing and this is the row as that call left it. Not our change: no audit row.
        if (!changed) {
          results.push({ record, changed: false });
          continue;
        }
        results.push({ record, changed: true });
        audits.push({
          ...audit(actor),
          action: 'certificate.revoke',
          target: id,
          outcome: 'success',
          details: { serial: record.serial, reason },
        });
      }
      // Audit rows last: appending one takes the audit chain's lock until commit (migration 0006),
      // which must never be held while this transaction still waits for certificate row locks.
      for (const entry of audits) await tx.appendAudit(entry);
      for (const issuerId of changedIssuers(results)) await tx.notifyRevocation(issuerId);
      return results;
    });
    await this.deps.afterChange(changedIssuers(outcomes));
    return outcomes;
  }

  /** Ends a certificateHold; the entry leaves the CRL. Other revocations are final. */
  async release(id: string, actor: Actor): Promise<CertificateRecord> {
    const record = await this.deps.store.transaction(async (tx) => {
      const before = await tx.getCertificate(id);
      if (!before) throw notFound('certificate_not_found', `no certificate with id ${id}`);
      if (before.status !== 'revoked' || before.revocationReason !== 'certificateHold') {
        throw conflict('not_on_hold', 'only a certificate on certificateHold can be released; other revocations are final');
      }
      const released = await tx.releaseHold(id);
      // A concurrent release (or revocation) got there between our read and our update.
      if (!released) throw conflict('not_on_hold', 'only a certificate on certificateHold can be released; other revocations are final');
      await tx.appendAudit({
        ...audit(actor),
        action: 'certificate.release',
        target: id,
        outcome: 'success',
        details: { serial: released.serial },
      });
      await tx.notifyRevocation(released.issuerId);
      return released;
    });
    await this.deps.afterChange([record.issuerId]);
    return record;
  }

  /** Revokes an intermediate CA; it then appears on its parent's CRL. */
  async revokeIssuer(name: string, reasonName: RevocationReason, actor: Actor): Promise<IssuerRecord> {
    const reason = checkReason(reasonName);
    const issuer = this.deps.issuerByName(name);
    if (!issuer.record.parentId) throw invalid('cannot_revoke_root', 'a root is not revoked; remove it from trust stores instead');
    const at = truncateToSeconds(this.deps.now());
    const record = await this.deps.store.transaction(async (tx) => {
      const updated = (await tx.revokeIssuer(issuer.record.id, reason, at))!;
      if (updated.revokedAt?.getTime() === at.getTime()) {
        await tx.appendAudit({ ...audit(actor), action: 'issuer.revoke', target: name, outcome: 'success', details: { reason } });
      }
      await tx.notifyRevocation(issuer.record.parentId!);
      return updated;
    });
    Object.assign(issuer.record, { status: record.status, revokedAt: record.revokedAt, revocationReason: record.revocationReason });
    await this.deps.afterChange([issuer.record.parentId]);
    return record;
  }
}

function changedIssuers(outcomes: RevocationOutcome[]): string[] {
  return [...new Set(outcomes.filter((o) => o.changed).map((o) => o.record.issuerId))];
}
