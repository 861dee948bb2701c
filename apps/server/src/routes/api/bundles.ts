/**
 * Bundle formats beyond plain PEM.
 *
 * Downloads (any time after issuance, routes in downloads.ts; Anvil never stores private keys, so none of them holds one):
 *   GET /api/v1/certificates/{id}/bundle.p7b      PKCS#7 certs-only, DER (application/pkcs7-mime)
 *   GET /api/v1/certificates/{id}/bundle.p7b.pem  the same, PEM ("-----BEGIN PKCS7-----")
 *   GET /api/v1/certificates/{id}/secret.yaml     Kubernetes Secret (type kubernetes.io/tls) without tls.key
 *
 * In the issuance response, only when Anvil generated the key (the one moment it holds it):
 *   pkcs12Password (+ pkcs12Legacy)  ->  `pkcs12`: base64 DER PKCS#12 with key, leaf and intermediates
 *   kubernetesSecret: true | {name?, namespace?}  ->  `kubernetesSecret`: Secret YAML with tls.key
 *
 * Every bundle carries the leaf and its intermediates (what fullchain.pem holds), never the root:
 * a peer must already trust the root, from /pki/trust-bundle.pem, for the chain to mean anything.
 * The Kubernetes Secret adds the trust bundle as ca.crt, which is where ingress controllers look.
 */
import { invalid, type Authority, type CertificateRecord, type IssuedCertificate } from '@anvil/ca';
import { buildPkcs12 } from '@anvil/pki';

/** The issuance-request fields this module reads (declared in IssueRequestSchema). */
export interface BundleOptions {
  pkcs12Password?: string;
  pkcs12Legacy?: boolean;
  kubernetesSecret?: boolean | { name?: string; namespace?: string };
}

/** A Kubernetes object name (DNS-1123 subdomain): what a Secret's metadata.name may be. */
export const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Refuses bundle options that cannot be honoured, before anything is issued. */
export function checkBundleOptions(request: { csr?: string }, options: BundleOptions): void {
  if (options.pkcs12Legacy !== undefined && options.pkcs12Password === undefined) {
    throw invalid('pkcs12_password_required', 'pkcs12Legacy chooses how the PKCS#12 is encrypted; send pkcs12Password with it');
  }
  if (request.csr && options.pkcs12Password !== undefined) {
    throw invalid(
      'pkcs12_requires_generated_key',
      'pkcs12Password asks for a PKCS#12 holding the private key, but with a csr the key stays with you: build the .p12 yourself (openssl pkcs12 -export -inkey key.pem -in fullchain.pem), or omit csr to have a key generated',
    );
  }
  if (request.csr && options.kubernetesSecret) {
    throw invalid(
      'kubernetes_secret_requires_generated_key',
      'kubernetesSecret in the issuance response holds the generated private key, and with a csr there is none: use GET /api/v1/certificates/{id}/secret.yaml and add tls.key yourself, or omit csr',
    );
  }
}

/** The bundles an issuance response carries; empty on a replay, which has no key. */
export function issuanceBundles(authority: Authority, issued: IssuedCertificate, options: BundleOptions) {
  const key = issued.privateKeyPkcs8;
  if (!key) return {};
  const out: { pkcs12?: string; kubernetesSecret?: string } = {};
  if (options.pkcs12Password !== undefined) {
    const der = buildPkcs12({
      privateKeyPkcs8: key,
      certificate: issued.record.der,
      chain: chainDer(authority, issued.record),
      password: options.pkcs12Password,
      legacy: options.pkcs12Legacy ?? false,
      friendlyName: issued.record.commonName ?? issued.record.serial,
    });
    out.pkcs12 = Buffer.from(der).toString('base64');
  }
  if (options.kubernetesSecret) {
    const names = options.kubernetesSecret === true ? {} : options.kubernetesSecret;
    out.kubernetesSecret = kubernetesSecretYaml(authority, issued.record, { ...names, privateKeyPem: pkcs8Pem(key) });
  }
  return out;
}

/** The issuing chain in DER, the leaf's issuer first, without the root. */
export function chainDer(authority: Authority, record: CertificateRecord): Uint8Array[] {
  return authority.chain(authority.issuerById(record.issuerId)).map((i) => i.record.certificateDer);
}

function pkcs8Pem(der: Uint8Array): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

/** metadata.name when none is given: the CN made DNS-safe plus "-tls", else from the serial. */
export function defaultSecretName(record: CertificateRecord): string {
  const fromCn = (record.commonName ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .slice(0, 240);
  const name = fromCn ? `${fromCn}-tls` : `anvil-${record.serial.toLowerCase().slice(0, 16)}`;
  return DNS_SUBDOMAIN.test(name) ? name : `anvil-${record.serial.toLowerCase().slice(0, 16)}`;
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/**
 * A `kubernetes.io/tls` Secret. Values are base64 on one line, so the YAML needs no quoting
 * beyond the annotation strings, which are JSON strings (valid YAML double-quoted scalars).
 */
export function kubernetesSecretYaml(
  authority: Authority,
  record: CertificateRecord,
  options: { name?: string; namespace?: string; privateKeyPem?: string },
): string {
  const pems = authority.pemsOf(record);
  const name = options.name ?? defaultSecretName(record);
  const comment = [
    `# Kubernetes TLS Secret for Anvil certificate ${record.id} (serial ${record.serial}).`,
    '# tls.crt: the certificate and its intermediates; ca.crt: the trust bundle (root CA certificates).',
    ...(options.privateKeyPem
      ? ['# tls.key is the private key Anvil generated for this response; Anvil keeps no copy of it.']
      : [
          '# tls.key is absent: Anvil never stores private keys, so only you hold it. Add it under data',
          '# before applying (kubectl refuses a kubernetes.io/tls Secret without it), for example:',
          '#   anvil download ID --format k8s --key key.pem --out secret.yaml',
          '#   or: kubectl create secret tls NAME --cert=fullchain.pem --key=key.pem',
        ]),
  ];
  const lines = [
    ...comment,
    'apiVersion: v1',
    'kind: Secret',
    'metadata:',
    `  name: ${name}`,
    ...(options.namespace ? [`  namespace: ${options.namespace}`] : []),
    '  labels:',
    '    app.kubernetes.io/managed-by: anvil',
    '  annotations:',
    `    anvil/certificate-id: ${JSON.stringify(record.id)}`,
    `    anvil/serial: ${JSON.stringify(record.serial)}`,
    `    anvil/profile: ${JSON.stringify(record.profile)}`,
    `    anvil/not-after: ${JSON.stringify(record.notAfter.toISOString())}`,
    'type: kubernetes.io/tls',
    'data:',
    `  tls.crt: ${b64(pems.fullchain)}`,
    ...(options.privateKeyPem ? [`  tls.key: ${b64(options.privateKeyPem)}`] : []),
    `  ca.crt: ${b64(authority.trustBundlePem())}`,
  ];
  return `${lines.join('\n')}\n`;
}
