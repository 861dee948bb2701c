/** The two rules every signature of the authority follows: lint before signing, record what was signed. */
import { encodeTbsCertificate, lintTbs, signTbs, type CertificateParams, type CertificateRole } from '@anvil/pki';
import { audit, type Actor } from './audit.ts';
import { invalid } from './errors.ts';
import type { LoadedIssuer } from './issuers.ts';
import type { StoreTx } from './store.ts';

/** notBefore is backdated this much, for relying parties whose clocks run slightly behind. */
export const BACKDATE_MS = 60_000;

/**
 * Encodes the TBS, lints it as read back from that DER, and signs exactly those bytes; any
 * finding refuses the signature.
 */
export async function signLinted(
  params: CertificateParams,
  signer: LoadedIssuer['signer'],
  role: CertificateRole,
  issuerNotAfter: Date,
): Promise<Uint8Array> {
  const tbsDer = encodeTbsCertificate(params, signer.signatureAlgorithm);
  const findings = lintTbs(tbsDer, { role, issuerNotAfter });
  if (findings.length) {
    throw invalid('lint_failed', `the certificate would break: ${findings.map((f) => f.message).join('; ')}`, { findings });
  }
  return signTbs(tbsDer, signer);
}

/**
 * Writes the row of a certificate that is already signed. Its serial is on record already
 * (reserved before signing); when the write fails, the serial and why are written to the audit
 * trail too, as far as the database lets us, and the failure goes on to the caller.
 */
export async function recordSigned<T>(
  store: Pick<StoreTx, 'appendAudit'>,
  signed: { serialHex: string; issuer: LoadedIssuer; actor: Actor },
  write: () => Promise<T>,
): Promise<T> {
  try {
    return await write();
  } catch (err) {
    // A code, never the message: a driver's message can carry the query and its parameters.
    const e = err as { code?: unknown; name?: unknown; cause?: { code?: unknown } };
    const reason = String(e.code ?? e.cause?.code ?? e.name ?? 'unknown');
    await store
      .appendAudit({
        ...audit(signed.actor),
        action: 'certificate.issue',
        target: null,
        outcome: 'failure',
        details: { code: 'record_failed', serial: signed.serialHex, issuer: signed.issuer.record.name, reason },
      })
      .catch(() => {}); // the database may be what failed: the reservation still names the serial
    throw err;
  }
}
