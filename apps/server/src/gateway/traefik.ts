/** Traefik: dynamic configuration (file provider, YAML) with TLS options that require Anvil client certificates. */
import { type GatewayGenerator, serverFiles, siblingNote, trustFile, UPSTREAM, verifyDepth } from './types.ts';
import { toYaml } from './yaml.ts';

export const traefik: GatewayGenerator = (input) => {
  const trust = trustFile(input);
  const [cert, key] = serverFiles(input);
  const options = `anvil-${input.issuer}`;
  const dynamic = {
    tls: {
      certificates: [{ certFile: cert!.path, keyFile: key!.path }],
      options: {
        [options]: {
          minVersion: 'VersionTLS12',
          // Go's crypto/tls sends these CAs' names in the CertificateRequest.
          clientAuth: { caFiles: [trust.path], clientAuthType: 'RequireAndVerifyClientCert' },
        },
      },
    },
    http: {
      routers: {
        [`${options}-mtls`]: {
          rule: 'PathPrefix(`/`)',
          entryPoints: ['websecure'],
          service: `${options}-backend`,
          middlewares: [`${options}-client-cert`],
          tls: { options },
        },
      },
      middlewares: {
        // X-Forwarded-Tls-Client-Cert (PEM) and X-Forwarded-Tls-Client-Cert-Info (subject, issuer, serial, SANs).
        [`${options}-client-cert`]: {
          passTLSClientCert: {
            pem: true,
            info: { subject: { commonName: true, organization: true }, issuer: { commonName: true }, serialNumber: true, sans: true },
          },
        },
      },
      services: { [`${options}-backend`]: { loadBalancer: { servers: [{ url: `http://${UPSTREAM}` }] } } },
    },
  };
  return {
    kind: 'traefik',
    issuer: input.issuer,
    configName: `anvil-${input.issuer}.yml`,
    config: toYaml(
      dynamic,
      `# Anvil: accept client certificates of issuer "${input.issuer}" (Traefik dynamic configuration, file provider).\n`,
    ),
    files: [trust, cert!, key!],
    download: `mkdir -p ${input.dir}\ncurl -fsS -o ${trust.path}.new ${trust.url} && mv ${trust.path}.new ${trust.path}\n`,
    depth: verifyDepth(input),
    notes: [
      'Untested by binary: checked against the documented tls.options clientAuth and passTLSClientCert fields only (no Traefik here).',
      'Traefik checks no CRL: a revoked client certificate is accepted until it expires. Keep lifetimes short or check revocation in the backend.',
      'The router uses the entry point "websecure"; rename it to yours.',
      ...(siblingNote(input) ? [siblingNote(input)!] : []),
    ],
    testedWithBinary: false,
  };
};
