/**
 * The gateway generators that no binary here can run (Envoy, Kong, Traefik), checked against
 * their documented schemas: the YAML parses, and the fields the documentation names for client
 * certificate verification hold what they should. Also the YAML writer itself, on hostile strings.
 * nginx, HAProxy and Caddy run for real in test/interop/gateway.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { gatewayConfig, type GatewayInput } from '../src/gateway/index.ts';
import { toYaml } from '../src/gateway/yaml.ts';

const ROOT_PEM = '-----BEGIN CERTIFICATE-----\nMIIBroot\nAAAA\n-----END CERTIFICATE-----\n';
const INPUT: GatewayInput = {
  issuer: 'issuing-ca',
  path: [
    { name: 'issuing-ca', subject: 'CN=Issuing,O=Anvil' },
    { name: 'root-ca', subject: 'CN=Root,O=Anvil' },
  ],
  rootPem: ROOT_PEM,
  pkiUrl: 'http://pki.example',
  dir: '/etc/anvil/issuing-ca',
};

const gen = (kind: string) => gatewayConfig(kind, INPUT);

describe('Envoy (DownstreamTlsContext, HttpConnectionManager)', () => {
  const doc = parse(gen('envoy').config);
  const listener = doc.static_resources.listeners[0];
  const chain = listener.filter_chains[0];
  const tls = chain.transport_socket.typed_config;
  const hcm = chain.filters[0].typed_config;

  it('requires a client certificate, trusting the root and checking every CA’s CRL', () => {
    expect(chain.transport_socket.name).toBe('envoy.transport_sockets.tls');
    expect(tls['@type']).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext');
    expect(tls.require_client_certificate).toBe(true);
    const v = tls.common_tls_context.validation_context;
    expect(v.trusted_ca).toEqual({ filename: '/etc/anvil/issuing-ca/trust.pem' });
    expect(v.crl).toEqual({ filename: '/etc/anvil/issuing-ca/crls.pem' });
    expect(v.max_verify_depth).toBe(2);
    expect(v.only_verify_leaf_cert_crl).toBeUndefined();
    expect(tls.common_tls_context.tls_certificates[0]).toEqual({
      certificate_chain: { filename: '/etc/anvil/issuing-ca/server.pem' },
      private_key: { filename: '/etc/anvil/issuing-ca/server.key' },
    });
  });

  it('forwards the verified client in X-Forwarded-Client-Cert (SANITIZE_SET)', () => {
    expect(chain.filters[0].name).toBe('envoy.filters.network.http_connection_manager');
    expect(hcm['@type']).toBe('type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');
    expect(hcm.forward_client_cert_details).toBe('SANITIZE_SET');
    expect(hcm.set_current_client_cert_details).toMatchObject({ subject: true, cert: true, chain: true, uri: true, dns: true });
    expect(hcm.http_filters.at(-1).name).toBe('envoy.filters.http.router');
    const cluster = doc.static_resources.clusters[0];
    expect(hcm.route_config.virtual_hosts[0].routes[0].route.cluster).toBe(cluster.name);
    expect(cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({
      address: '127.0.0.1',
      port_value: 8080,
    });
  });

  it('lists the files it reads, with their URLs', () => {
    expect(gen('envoy').files.map((f) => [f.name, f.url])).toEqual([
      ['trust.pem', 'http://pki.example/pki/issuers/root-ca.pem'],
      ['crls.pem', 'http://pki.example/pki/issuers/issuing-ca/crls.pem'],
      ['server.pem', null],
      ['server.key', null],
    ]);
    expect(gen('envoy').testedWithBinary).toBe(false);
  });
});

describe('Kong (mtls-auth plugin, Admin API)', () => {
  const out = gen('kong');
  const doc = parse(out.config);

  it('declares the root as a CA certificate and the mtls-auth plugin naming it', () => {
    expect(doc._format_version).toBe('3.0');
    const ca = doc.ca_certificates[0];
    expect(ca.cert).toBe(ROOT_PEM);
    expect(ca.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const plugin = doc.services[0].plugins[0];
    expect(plugin.name).toBe('mtls-auth');
    expect(plugin.config.ca_certificates).toEqual([ca.id]);
    expect(plugin.config.revocation_check_mode).toBe('STRICT');
    expect(['SKIP', 'IGNORE_CA_ERROR', 'STRICT']).toContain(plugin.config.revocation_check_mode);
    expect(plugin.config.send_ca_dn).toBe(true);
    expect(plugin.config.allow_partial_chain).toBe(false);
    expect(doc.services[0].routes[0].protocols).toEqual(['https']);
  });

  it('uploads the CA with POST /ca_certificates and attaches the same plugin config', () => {
    const lines = out.apply!.split('\n');
    const upload = lines.find((l) => l.includes('/ca_certificates'))!;
    expect(upload).toContain('-X POST http://localhost:8001/ca_certificates');
    expect(upload).toContain('-F cert=@/etc/anvil/issuing-ca/trust.pem');
    expect(upload).toContain(`-F id=${doc.ca_certificates[0].id}`);
    const plugin = lines.find((l) => l.includes('/plugins'))!;
    const body = JSON.parse(/-d '(.*)'$/.exec(plugin)![1]!);
    expect(body).toEqual({ name: 'mtls-auth', config: doc.services[0].plugins[0].config });
  });
});

describe('Traefik (tls.options clientAuth, passTLSClientCert)', () => {
  const doc = parse(gen('traefik').config);

  it('requires and verifies client certificates against the root', () => {
    const options = doc.tls.options['anvil-issuing-ca'];
    expect(options.clientAuth).toEqual({ caFiles: ['/etc/anvil/issuing-ca/trust.pem'], clientAuthType: 'RequireAndVerifyClientCert' });
    const router = doc.http.routers['anvil-issuing-ca-mtls'];
    expect(router.tls.options).toBe('anvil-issuing-ca');
    expect(router.rule).toBe('PathPrefix(`/`)');
    expect(doc.http.middlewares[router.middlewares[0]].passTLSClientCert.pem).toBe(true);
    expect(doc.http.services[router.service].loadBalancer.servers[0].url).toBe('http://127.0.0.1:8080');
  });

  it('says it checks no CRL', () => {
    expect(gen('traefik').notes.join(' ')).toMatch(/no CRL/);
  });
});

describe('toYaml', () => {
  it('round-trips hostile strings, keys and multi-line blocks', () => {
    const value = {
      '@type': 'x',
      'a: b': ['- not a list', '#comment', 'yes', '0123', '', 'tab\there', 'quote " and \\ backslash'],
      nested: { empty: [], none: {}, n: 3, t: true, z: null, deep: [{ a: 1, b: [{ c: 'd' }] }] },
      pem: ROOT_PEM,
    };
    expect(parse(toYaml(value))).toEqual(value);
  });
});
