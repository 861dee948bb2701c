/** A CA loaded for signing, its chain, and the URLs written into what it signs. */
import type * as pkijs from 'pkijs';
import { parseCertificate, toPem, type Signer } from '@anvil/pki';
import type { IssuerRecord } from './store.ts';

/** An issuer ready to sign: its row, parsed certificate and signer, loaded once per process. */
export interface LoadedIssuer {
  record: IssuerRecord;
  certificate: pkijs.Certificate;
  pem: string;
  signer: Signer;
  /** Issuer certificates above this one up to, not including, the root. */
  parents: LoadedIssuer[];
}

export function loadIssuer(record: IssuerRecord, signer: Signer, parent: LoadedIssuer | null): LoadedIssuer {
  return {
    record,
    certificate: parseCertificate(record.certificateDer),
    pem: toPem(record.certificateDer, 'CERTIFICATE'),
    signer,
    parents: parent ? (parent.record.kind === 'root' ? [] : [parent, ...parent.parents]) : [],
  };
}

/** The intermediates a client presents after its leaf (what certbot calls chain.pem). */
export function chainOf(issuer: LoadedIssuer): LoadedIssuer[] {
  return issuer.record.kind === 'root' ? [] : [issuer, ...issuer.parents];
}

/** chain.pem: the PEM of chainOf(issuer), the one place it is written. */
export function chainPem(issuer: LoadedIssuer): string {
  // An imported issuer's external CA certificates (issuer-import.ts) follow it, nearest first.
  return chainOf(issuer)
    .map((i) => i.pem + (i.record.externalChain ?? ''))
    .join('');
}

export function issuerUrls(publicUrl: string, issuerName: string) {
  const base = publicUrl.replace(/\/+$/, '');
  return {
    crlUrl: `${base}/pki/crl/${issuerName}.crl`,
    caIssuersUrl: `${base}/pki/issuers/${issuerName}.crt`,
    ocspUrl: `${base}/ocsp`,
  };
}

/**
 * Whether the issuer still publishes CRLs and OCSP answers: always, unless retired (rotated out)
 * and its last certificate has expired, when nothing it signed can still be checked. A record
 * retired by this process since it was loaded (no expiry known yet) publishes until the reload.
 */
export function stillPublishes(issuer: LoadedIssuer, now: Date): boolean {
  const { status, lastCertificateExpiry } = issuer.record;
  if (status !== 'retired' || lastCertificateExpiry === undefined) return true;
  return lastCertificateExpiry !== null && lastCertificateExpiry > now;
}
