/**
 * Kong: a declarative configuration (kong.yml) with the root as a CA certificate and the
 * `mtls-auth` plugin on a service, and the same as Admin API calls for Kong with a database.
 * mtls-auth is a Kong Enterprise plugin; it checks revocation itself (OCSP, then the CRL
 * distribution points in the certificates), so it needs no CRL files.
 */
import { createHash } from 'node:crypto';
import { type GatewayGenerator, root, siblingNote, trustFile, UPSTREAM, verifyDepth } from './types.ts';
import { toYaml } from './yaml.ts';

const ADMIN = 'http://localhost:8001';

/** A stable UUID for the root, so the plugin can name the CA certificate before Kong assigns ids. */
function uuidOf(pem: string): string {
  const h = createHash('sha256').update(pem).digest('hex');
  const variant = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export const kong: GatewayGenerator = (input) => {
  const trust = trustFile(input);
  const caId = uuidOf(input.rootPem);
  const service = `anvil-${input.issuer}`;
  const pluginConfig = {
    ca_certificates: [caId],
    // STRICT: a certificate whose revocation status cannot be fetched is refused, not waved through.
    revocation_check_mode: 'STRICT',
    // Send the root's name in the CertificateRequest so clients with several certificates pick this one.
    send_ca_dn: true,
    // Identity goes to the backend as X-Client-Cert-DN / X-Client-Cert-SAN instead of a consumer lookup.
    skip_consumer_lookup: true,
    allow_partial_chain: false,
    cache_ttl: 60,
  };
  const declarative = {
    _format_version: '3.0',
    ca_certificates: [{ id: caId, cert: input.rootPem, tags: ['anvil', root(input).name] }],
    services: [
      {
        name: service,
        url: `http://${UPSTREAM}`,
        routes: [{ name: `${service}-mtls`, protocols: ['https'], paths: ['/'] }],
        plugins: [{ name: 'mtls-auth', config: pluginConfig }],
      },
    ],
  };
  const apply = [
    `# Kong with a database: the same through the Admin API (${ADMIN}).`,
    `curl -fsS -X POST ${ADMIN}/ca_certificates -F cert=@${trust.path} -F id=${caId}`,
    `curl -fsS -X POST ${ADMIN}/services -H 'content-type: application/json' -d '${JSON.stringify({ name: service, url: `http://${UPSTREAM}` })}'`,
    `curl -fsS -X POST ${ADMIN}/services/${service}/routes -H 'content-type: application/json' -d '${JSON.stringify({ name: `${service}-mtls`, protocols: ['https'], paths: ['/'] })}'`,
    `curl -fsS -X POST ${ADMIN}/services/${service}/plugins -H 'content-type: application/json' -d '${JSON.stringify({ name: 'mtls-auth', config: pluginConfig })}'`,
  ].join('\n');
  return {
    kind: 'kong',
    issuer: input.issuer,
    configName: 'kong.yml',
    config: toYaml(declarative, `# Anvil: accept client certificates of issuer "${input.issuer}" (Kong declarative configuration).\n`),
    files: [trust],
    download: `mkdir -p ${input.dir}\ncurl -fsS -o ${trust.path}.new ${trust.url} && mv ${trust.path}.new ${trust.path}\n`,
    apply: `${apply}\n`,
    depth: verifyDepth(input),
    notes: [
      'Untested by binary: checked against the documented mtls-auth plugin fields and Admin API only (no Kong here).',
      "mtls-auth is a Kong Enterprise plugin. It fetches revocation itself from the OCSP and CRL URLs in each certificate, so Kong must reach Anvil's /ocsp and /pki URLs.",
      'A client without a certificate, or one that does not verify, gets HTTP 401 from Kong; the backend never sees it.',
      'The backend gets X-Client-Cert-DN and X-Client-Cert-SAN (skip_consumer_lookup); map consumers by CN instead with consumer_by.',
      ...(siblingNote(input) ? [siblingNote(input)!] : []),
    ],
    testedWithBinary: false,
  };
};
