/** Envoy: a static bootstrap (YAML) whose listener requires Anvil client certificates and forwards them in XFCC. */
import {
  crlRefreshNote,
  crlsFile,
  downloadScript,
  type GatewayGenerator,
  LISTEN_PORT,
  serverFiles,
  siblingNote,
  trustFile,
  UPSTREAM,
  verifyDepth,
} from './types.ts';
import { toYaml } from './yaml.ts';

const RELOAD = 'systemctl restart envoy';

export const envoy: GatewayGenerator = (input) => {
  const trust = trustFile(input);
  const crls = crlsFile(input);
  const [cert, key] = serverFiles(input);
  const depth = verifyDepth(input);
  const [upstreamHost, upstreamPort] = UPSTREAM.split(':');
  const tls = {
    '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
    require_client_certificate: true,
    common_tls_context: {
      tls_certificates: [{ certificate_chain: { filename: cert!.path }, private_key: { filename: key!.path } }],
      validation_context: {
        trusted_ca: { filename: trust.path },
        // Without only_verify_leaf_cert_crl, Envoy wants a CRL for every CA on the path: crls.pem holds them all.
        crl: { filename: crls.path },
        max_verify_depth: depth,
      },
    },
  };
  const hcm = {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: 'anvil_mtls',
    // SANITIZE_SET: drop any X-Forwarded-Client-Cert the client sent, then set this connection's.
    forward_client_cert_details: 'SANITIZE_SET',
    set_current_client_cert_details: { subject: true, cert: true, chain: true, dns: true, uri: true },
    route_config: {
      virtual_hosts: [{ name: 'backend', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'anvil_backend' } }] }],
    },
    http_filters: [
      {
        name: 'envoy.filters.http.router',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
      },
    ],
  };
  const bootstrap = {
    static_resources: {
      listeners: [
        {
          name: 'anvil_mtls',
          address: { socket_address: { address: '0.0.0.0', port_value: LISTEN_PORT } },
          filter_chains: [
            {
              transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: tls },
              filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }],
            },
          ],
        },
      ],
      clusters: [
        {
          name: 'anvil_backend',
          type: 'STATIC',
          load_assignment: {
            cluster_name: 'anvil_backend',
            endpoints: [
              {
                lb_endpoints: [{ endpoint: { address: { socket_address: { address: upstreamHost!, port_value: Number(upstreamPort) } } } }],
              },
            ],
          },
        },
      ],
    },
  };
  return {
    kind: 'envoy',
    issuer: input.issuer,
    configName: 'envoy.yaml',
    config: toYaml(bootstrap, `# Anvil: accept client certificates of issuer "${input.issuer}" (Envoy v3 bootstrap).\n`),
    files: [trust, crls, cert!, key!],
    download: downloadScript(input, [trust, crls], RELOAD),
    depth,
    notes: [
      'Untested by binary: checked against the documented DownstreamTlsContext and HttpConnectionManager fields only (no Envoy here).',
      'The backend gets X-Forwarded-Client-Cert: Hash, Cert (URL-encoded PEM), Chain, Subject, URI and DNS of the verified client.',
      crlRefreshNote(RELOAD),
      'Envoy reads these files at start; to pick up a new CRL without a restart, serve the validation context through SDS (watched_directory).',
      ...(siblingNote(input) ? [siblingNote(input)!] : []),
    ],
    testedWithBinary: false,
  };
};
