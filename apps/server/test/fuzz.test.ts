/**
 * Fuzzing the server's decoders of what arrives over HTTP for the judge (issue 8, item 7): the
 * proxy headers (nginx X-Client-Cert, Envoy X-Forwarded-Client-Cert), pasted PEM, expected
 * names, Accept and client addresses. Each must return or throw JudgeInputProblem (which the
 * routes turn into a 400/422), within a second. Inputs are random header text and mutations of
 * real headers carrying engine-made certificates (Ed25519, fixed key and dates: deterministic).
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildName, encodeTbsCertificate, signTbs, SoftwareSigner, toPem, type CertificateParams } from '@anvil/pki';
import { fuzzParams, mutatedOf, ownErrorsOnly } from '../../../test/support/fuzz.ts';
import { JudgeInputProblem, parseExpectName, pemBlocksOf, prefersHtml } from '../src/routes/judge/input.ts';
import { forwardedChain, parseXfcc, trustedProxies } from '../src/routes/judge/proxy-headers.ts';

const ed25519 = (fill: number) =>
  new SoftwareSigner('Ed25519', Uint8Array.from([...Buffer.from('302e020100300506032b657004220420', 'hex'), ...new Array(32).fill(fill)]));

async function certificate(
  subject: string,
  signer: SoftwareSigner,
  subjectKey: SoftwareSigner,
  issuer: string,
  ca: boolean,
): Promise<Uint8Array> {
  const p: CertificateParams = {
    serial: Uint8Array.of(0x01, ca ? 0x01 : 0x02),
    subject: { CN: subject, O: 'Fuzz' },
    issuerName: buildName({ CN: issuer, O: 'Fuzz' }),
    issuerKeyId: Uint8Array.of(1, 2, 3, 4),
    subjectPublicKeySpki: subjectKey.publicKeySpki,
    notBefore: new Date('2025-01-01T00:00:00Z'),
    notAfter: new Date('2035-01-01T00:00:00Z'),
    keyUsage: ca ? ['keyCertSign', 'cRLSign'] : ['digitalSignature'],
    extKeyUsage: ca ? undefined : ['clientAuth'],
    basicConstraints: { ca },
    sans: ca ? undefined : { dns: ['leaf.fuzz.test'], ip: ['10.0.0.1'], uri: ['spiffe://fuzz.test/leaf'], email: [] },
    crlUrl: 'http://crl.fuzz.test/ca.crl',
  };
  return signTbs(encodeTbsCertificate(p, signer.signatureAlgorithm), signer);
}

/** Header texts as the proxies send them. */
let headers: { xfcc: string[]; nginx: string[]; pem: string[] };

/** What Envoy URL-encodes in Cert= and Chain= (it leaves unreserved characters alone). */
const envoyEncode = (s: string) => encodeURIComponent(s);

beforeAll(async () => {
  const caKey = ed25519(0x51);
  const leafKey = ed25519(0x52);
  const ca = await certificate('Fuzz CA', caKey, caKey, 'Fuzz CA', true);
  const leaf = await certificate('leaf.fuzz.test', caKey, leafKey, 'Fuzz CA', false);
  const leafPem = toPem(leaf, 'CERTIFICATE');
  const chainPem = leafPem + toPem(ca, 'CERTIFICATE');
  headers = {
    xfcc: [
      `By=spiffe://fuzz.test/anvil;Hash=${'ab'.repeat(32)};Cert="${envoyEncode(leafPem)}";Subject="CN=leaf.fuzz.test,O=Fuzz";URI=spiffe://fuzz.test/leaf;DNS=leaf.fuzz.test`,
      `By=spiffe://a;Hash=00,By=spiffe://fuzz.test/anvil;Hash=${'cd'.repeat(32)};Chain="${envoyEncode(chainPem)}"`,
      `Cert=${envoyEncode(leafPem)};Subject="CN=\\"quoted\\", O=Fuzz"`,
    ],
    nginx: [envoyEncode(leafPem), leafPem.trimEnd().replace(/\n/g, '\n\t')],
    pem: [chainPem, toPem(ca, 'X509 CRL'), `${toPem(leaf, 'PRIVATE KEY')}${leafPem}`],
  };
});

const latin1 = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');

/** Random header text: arbitrary characters, and runs of the tokens the decoders split on. */
const headerText = () =>
  fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 100 }),
    fc.string({
      unit: fc.constantFrom(
        'Cert=',
        'Chain=',
        'By=',
        'Hash=',
        '"',
        '\\',
        ';',
        ',',
        '=',
        ' ',
        '%',
        '%2',
        '%ZZ',
        '%0A',
        '%E0%A4%A',
        '-----BEGIN CERTIFICATE-----',
        '-----END CERTIFICATE-----',
        'QUFB',
        '\t',
        '\n',
      ),
      maxLength: 60,
    }),
  );

describe('fuzz: judge input decoders throw only JudgeInputProblem, quickly', () => {
  it('X-Forwarded-Client-Cert (Envoy)', () => {
    fc.assert(
      fc.property(fc.oneof(headerText(), mutatedOf(headers.xfcc.map(latin1)).map(text)), (h) => {
        const elements = ownErrorsOnly('parseXfcc', [], () => parseXfcc(h));
        expect(Array.isArray(elements)).toBe(true);
        ownErrorsOnly('forwardedChain(xfcc)', [JudgeInputProblem], () =>
          forwardedChain({ get: (n) => (n === 'x-forwarded-client-cert' ? h : undefined) }),
        );
      }),
      fuzzParams('xfcc', 600),
    );
  });

  it('X-Client-Cert (nginx $ssl_client_escaped_cert and $ssl_client_cert)', () => {
    fc.assert(
      fc.property(fc.oneof(headerText(), mutatedOf(headers.nginx.map(latin1)).map(text)), (h) => {
        ownErrorsOnly('forwardedChain(x-client-cert)', [JudgeInputProblem], () =>
          forwardedChain({ get: (n) => (n === 'x-client-cert' ? h : undefined) }),
        );
      }),
      fuzzParams('nginx', 600),
    );
  });

  it('pasted PEM (chain, trustAnchors, crls)', () => {
    fc.assert(
      fc.property(
        fc.oneof(headerText(), mutatedOf(headers.pem.map(latin1)).map(text)),
        fc.constantFrom<'certificate' | 'crl'>('certificate', 'crl'),
        (t, what) => {
          ownErrorsOnly('pemBlocksOf', [JudgeInputProblem], () => pemBlocksOf(t, 'chain', 'chain', what));
        },
      ),
      fuzzParams('pasted-pem', 600),
    );
    // the judge route accepts 16 MiB of crls: an unclosed BEGIN repeated that far is no hang
    const unclosed = '-----BEGIN X509 CRL-----\n'.repeat((16 * 1024 * 1024) / 25);
    ownErrorsOnly('pemBlocksOf on 16 MiB of BEGIN lines', [JudgeInputProblem], () => pemBlocksOf(unclosed, 'crls', 'crls', 'crl'));
  });

  it('expectName, Accept and the trusted-proxy check', () => {
    const proxies = trustedProxies(['10.0.0.0/8', '::1', '192.0.2.7']);
    const name = fc.oneof(
      headerText(),
      fc.tuple(fc.constantFrom('dns', 'ip', 'uri', 'email', 'DNS', 'x', ''), fc.string({ maxLength: 40 })).map(([t, v]) => `${t}:${v}`),
      fc.record({ type: fc.string({ maxLength: 8 }), value: fc.string({ maxLength: 40 }) }),
    );
    fc.assert(
      fc.property(name, headerText(), headerText(), (n, accept, address) => {
        ownErrorsOnly('parseExpectName', [JudgeInputProblem], () => parseExpectName(n));
        expect(typeof ownErrorsOnly('prefersHtml', [], () => prefersHtml(accept))).toBe('boolean');
        expect(typeof ownErrorsOnly('trusts', [], () => proxies.trusts(address))).toBe('boolean');
      }),
      fuzzParams('judge-input-misc', 600),
    );
  });

  it('ANVIL_TRUSTED_PROXIES entries: a list or an error naming the variable, never a node RangeError', () => {
    const entry = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc
        .tuple(
          fc.constantFrom('10.0.0.0', '192.0.2.1', '::1', 'fd00::', '::ffff:10.0.0.1', '999.1.1.1'),
          fc.string({ unit: fc.constantFrom('/', '0', '1', '2', '8', '9', '3', '-', ' ', 'x', '.'), maxLength: 5 }),
        )
        .map(([a, b]) => a + b),
    );
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 4 }), headerText(), (list, address) => {
        let proxies;
        try {
          proxies = trustedProxies(list);
        } catch (e) {
          expect(e).not.toBeInstanceOf(RangeError);
          expect(e).not.toBeInstanceOf(TypeError);
          expect((e as Error).message).toMatch(/^ANVIL_TRUSTED_PROXIES: /);
          return;
        }
        expect(typeof ownErrorsOnly('trusts', [], () => proxies.trusts(address))).toBe('boolean');
      }),
      fuzzParams('trusted-proxies', 400),
    );
  });

  it('the seed headers decode (so mutations start from real input)', () => {
    for (const h of headers.xfcc)
      expect(forwardedChain({ get: (n) => (n === 'x-forwarded-client-cert' ? h : undefined) })?.chain.length).toBeGreaterThan(0);
    for (const h of headers.nginx) expect(forwardedChain({ get: (n) => (n === 'x-client-cert' ? h : undefined) })?.chain).toHaveLength(1);
  });
});

/** The smallest inputs fuzzing found for each bug, as fixed vectors. */
describe('fuzz regressions', () => {
  it('ANVIL_TRUSTED_PROXIES: "10.0.0.0/" is refused, not read as /0 (which trusted every address)', () => {
    expect(() => trustedProxies(['10.0.0.0/'])).toThrow('ANVIL_TRUSTED_PROXIES: "10.0.0.0/" has no valid prefix length (0-32)');
    expect(() => trustedProxies(['10.0.0.0/33'])).toThrow('ANVIL_TRUSTED_PROXIES: "10.0.0.0/33" has no valid prefix length (0-32)');
    expect(() => trustedProxies(['fd00::/8x'])).toThrow('ANVIL_TRUSTED_PROXIES: "fd00::/8x" has no valid prefix length (0-128)');
    expect(() => trustedProxies(['10.0.0.0/8/9'])).toThrow(/has no valid prefix length/);
    const proxies = trustedProxies(['10.0.0.0/8', 'fd00::/8', '192.0.2.0/0']);
    expect(proxies.trusts('10.1.2.3')).toBe(true);
    expect(proxies.trusts('fd00::1')).toBe(true);
  });
});
