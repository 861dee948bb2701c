/** TLS alerts (RFC 8446 6.2) a server sends about a client certificate: their names, what they usually mean, and how Node reports them. */

export const ALERTS: Record<number, { name: string; meaning: string }> = {
  40: {
    name: 'handshake_failure',
    meaning: 'the server could not agree on parameters, or (TLS 1.2) required a client certificate and refused the one sent',
  },
  42: {
    name: 'bad_certificate',
    meaning: 'the server could not verify the certificate: a bad signature, a chain it cannot build, or a certificate it cannot parse',
  },
  43: {
    name: 'unsupported_certificate',
    meaning: 'the certificate is not for this purpose: usually an extended key usage without clientAuth',
  },
  44: { name: 'certificate_revoked', meaning: 'the certificate (or a CA above it) is revoked in the CRL or OCSP answer the server uses' },
  45: { name: 'certificate_expired', meaning: 'the certificate (or a CA above it) has expired or is not valid yet' },
  46: { name: 'certificate_unknown', meaning: 'the server refused the certificate for a reason it did not name' },
  48: {
    name: 'unknown_ca',
    meaning:
      'the server does not trust the CA that issued the certificate: the wrong CA, or the intermediate is missing from what you send',
  },
  49: { name: 'access_denied', meaning: 'the certificate verified but the server policy denies it' },
  51: { name: 'decrypt_error', meaning: 'the handshake signature did not verify: usually the key does not match the certificate' },
  116: { name: 'certificate_required', meaning: 'the server requires a client certificate and none was sent' },
};

const ALERT_BY_NAME = new Map(Object.entries(ALERTS).map(([n, a]) => [a.name, Number(n)]));

/** Reads the alert number from OpenSSL's text ("SSL alert number 48") or Node's code (ERR_SSL_TLSV1_ALERT_UNKNOWN_CA). */
export function alertOf(err: NodeJS.ErrnoException): number | null {
  const n = /SSL alert number (\d+)/.exec(err.message);
  if (n) return Number(n[1]);
  const m = /ALERT_([A-Z_]+)$/.exec(err.code ?? '');
  return m ? (ALERT_BY_NAME.get(m[1].toLowerCase()) ?? null) : null;
}
