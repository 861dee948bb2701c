/** What follows a committed revocation in this process: caches dropped, then CRLs re-signed. */
import { CaError } from '../errors.ts';
import type { LoadedIssuer } from '../issuers.ts';
import type { CrlPublisher } from './crl-publisher.ts';
import type { RevocationNotices } from './notices.ts';

/** The `afterChange` of Revocations: throws `crl_publish_failed` when a CRL could not be re-signed (the revocation stands). */
export function propagateRevocation(deps: {
  notices: Pick<RevocationNotices, 'revokedHere' | 'confirm'>;
  crls: Pick<CrlPublisher, 'publish'>;
  issuerById: (id: string) => LoadedIssuer;
}): (issuerIds: string[]) => Promise<void> {
  return async (issuerIds) => {
    // Caches go first, all of them, so a failed CRL signature cannot leave one stale. Other
    // processes learn of it through the store's notification; the call returns only once they
    // confirmed (notices.ts), which runs while this process re-signs the CRLs.
    for (const id of issuerIds) deps.notices.revokedHere(id);
    const confirmed = issuerIds.length ? deps.notices.confirm() : null;
    const failed: string[] = [];
    let cause: unknown;
    for (const id of issuerIds) {
      await deps.crls.publish(deps.issuerById(id)).catch((err) => {
        failed.push(deps.issuerById(id).record.name);
        cause = err;
      });
    }
    await confirmed;
    if (failed.length) {
      throw Object.assign(
        new CaError(
          'unavailable',
          'crl_publish_failed',
          `the revocation is committed and OCSP shows it, but re-signing the CRL of ${failed.join(', ')} failed; the next CRL request retries it`,
        ),
        { cause },
      );
    }
  };
}
