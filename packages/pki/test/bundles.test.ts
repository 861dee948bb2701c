/**
 * Bundle builders (PKCS#7 certs-only, PKCS#12), checked by readers we did not write:
 * the openssl CLI (OpenSSL 3) and Java 17's keytool. Test material is made with openssl too,
 * so nothing here trusts our own X.509 code to produce its inputs.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleError, buildPkcs12, buildPkcs7CertsOnly, parsePemBlocks, pkcs7ToPem, type Pkcs12Params } from '../src/index.ts';
import { bmpPassword, KDF_PURPOSE, pkcs12Kdf, type Pkcs12KdfParams } from '../src/bundles/pkcs12-crypto.ts';
import { CLIENT_LEAF_EXTENSIONS, INTERMEDIATE_CA_EXTENSIONS, opensslConfig, ROOT_CA_EXTENSIONS } from './support.ts';

let dir: string;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a verifier and returns both streams: `openssl pkcs12 -info` writes its report to stderr. */
function run(cmd: string, args: string[]): Run {
  const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command that must succeed; its stdout. */
function ok(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const read = (name: string) => new Uint8Array(readFileSync(join(dir, name)));
const write = (name: string, data: Uint8Array | string) => writeFileSync(join(dir, name), data);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const countOf = (text: string, needle: string) => text.split(needle).length - 1;
const subjects = (text: string) => [...text.matchAll(/^subject=(.*)$/gm)].map((m) => m[1]);

// --- test material -------------------------------------------------------------------------

const EXTENSIONS = opensslConfig({
  root: ROOT_CA_EXTENSIONS,
  intermediate: [...INTERMEDIATE_CA_EXTENSIONS, 'authorityKeyIdentifier = keyid'],
  leaf: CLIENT_LEAF_EXTENSIONS,
});

const KEY_TYPES = [
  { name: 'EC-P256', genpkey: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'] },
  { name: 'RSA-2048', genpkey: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'] },
  { name: 'Ed25519', genpkey: ['-algorithm', 'ED25519'] },
] as const;
type KeyTypeName = (typeof KEY_TYPES)[number]['name'];

const ROOT_SUBJECT = 'O = Anvil Test, CN = Test Root';
const INTERMEDIATE_SUBJECT = 'O = Anvil Test, CN = Test Intermediate';
const leafSubject = (keyType: KeyTypeName) => `CN = ${keyType.toLowerCase()}.leaf.test`;

/** Key (PKCS#8 PEM and DER) plus certificate (PEM and DER) named `name`, issued by `issuer` or self-signed. */
function issue(name: string, genpkey: readonly string[], subject: string, section: string, issuer?: string): void {
  ok('openssl', ['genpkey', ...genpkey, '-out', `${name}.key`]);
  ok('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', `${name}.key`, '-outform', 'DER', '-out', `${name}.key.der`]);
  ok('openssl', ['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
  const signer = issuer ? ['-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`] : ['-signkey', `${name}.key`];
  ok('openssl', [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    ...signer,
    '-days',
    '30',
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-extfile',
    'ext.cnf',
    '-extensions',
    section,
    '-out',
    `${name}.pem`,
  ]);
  ok('openssl', ['x509', '-in', `${name}.pem`, '-outform', 'DER', '-out', `${name}.der`]);
}

/** "/O=Anvil Test/CN=Test Root" from openssl's one-line form, for -subj. */
const subjArg = (oneline: string) =>
  '/' +
  oneline
    .split(', ')
    .map((rdn) => rdn.replace(' = ', '='))
    .join('/');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'anvil-bundles-'));
  write('ext.cnf', EXTENSIONS);
  const ec = KEY_TYPES[0].genpkey;
  issue('root', ec, subjArg(ROOT_SUBJECT), 'root');
  issue('intermediate', ec, subjArg(INTERMEDIATE_SUBJECT), 'intermediate', 'root');
  for (const kt of KEY_TYPES) issue(`leaf-${kt.name}`, kt.genpkey, subjArg(leafSubject(kt.name)), 'leaf', 'intermediate');
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function p12Params(keyType: KeyTypeName, overrides: Partial<Pkcs12Params> = {}): Pkcs12Params {
  return {
    privateKeyPkcs8: read(`leaf-${keyType}.key.der`),
    certificate: read(`leaf-${keyType}.der`),
    chain: [read('intermediate.der'), read('root.der')],
    password: 'correct horse battery staple',
    friendlyName: `${keyType.toLowerCase()}-alias`,
    ...overrides,
  };
}

// --- PKCS#12 KDF: fixed vectors and openssl's own implementation ---------------------------

describe('bmpPassword', () => {
  it.each([
    ['ab', '006100620000'],
    ['é', '00e90000'],
    ['€', '20ac0000'],
    ['😀', 'd83dde000000'], // beyond the BMP: a surrogate pair, as OpenSSL and Java encode it
  ])('encodes %j as UTF-16BE plus a NUL', (password, expected) => {
    expect(hex(bmpPassword(password))).toBe(expected);
  });
});

describe('pkcs12Kdf', () => {
  // Vectors from the OpenSSL and Bouncy Castle PKCS#12 test suites (password "smeg").
  const smeg = { hash: 'sha1', password: bmpPassword('smeg'), salt: Buffer.from('0a58cf64530d823f', 'hex'), iterations: 1 } as const;
  it('matches the published SHA-1 vectors', () => {
    expect(hex(pkcs12Kdf({ ...smeg, purpose: KDF_PURPOSE.encryptionKey, length: 24 }))).toBe(
      '8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3',
    );
    expect(hex(pkcs12Kdf({ ...smeg, purpose: KDF_PURPOSE.iv, length: 8 }))).toBe('79993dfe048d3b76');
  });

  it.each<[string, Pkcs12KdfParams]>([
    [
      'SHA-256 MAC key, 2048 iterations',
      {
        hash: 'sha256',
        password: bmpPassword('pässwörd 😀'),
        salt: Buffer.alloc(16, 7),
        iterations: 2048,
        purpose: KDF_PURPOSE.macKey,
        length: 32,
      },
    ],
    [
      'SHA-1, password longer than a block',
      {
        hash: 'sha1',
        password: bmpPassword('x'.repeat(70)),
        salt: Buffer.alloc(20, 0xa5),
        iterations: 1000,
        purpose: KDF_PURPOSE.encryptionKey,
        length: 24,
      },
    ],
    [
      'SHA-256, output spanning three hash rounds',
      {
        hash: 'sha256',
        password: bmpPassword('pw'),
        salt: Buffer.alloc(8, 0xff),
        iterations: 3,
        purpose: KDF_PURPOSE.encryptionKey,
        length: 70,
      },
    ],
  ])('agrees with openssl kdf PKCS12KDF: %s', (_label, params) => {
    const out = ok('openssl', [
      'kdf',
      '-keylen',
      String(params.length),
      '-kdfopt',
      `digest:${params.hash.toUpperCase()}`,
      '-kdfopt',
      `hexpass:${hex(params.password)}`,
      '-kdfopt',
      `hexsalt:${hex(params.salt)}`,
      '-kdfopt',
      `iter:${params.iterations}`,
      '-kdfopt',
      `id:${params.purpose}`,
      'PKCS12KDF',
    ]);
    expect(hex(pkcs12Kdf(params))).toBe(out.trim().replace(/:/g, '').toLowerCase());
  });
});

// --- PKCS#12 read by openssl and keytool -------------------------------------------------------

const MODES = [
  {
    mode: 'modern',
    legacy: false,
    opensslArgs: [] as string[],
    info: [
      'MAC: sha256, Iteration 2048',
      'PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256',
      'Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256',
    ],
  },
  {
    mode: 'legacy',
    legacy: true,
    opensslArgs: ['-legacy'],
    info: [
      'MAC: sha1, Iteration 2048',
      'PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048',
      'Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048',
    ],
  },
] as const;

const CASES = KEY_TYPES.flatMap((kt) => MODES.map((m) => ({ ...m, keyType: kt.name, label: `${kt.name} ${m.mode}` })));

describe.each(CASES)('PKCS#12 $label', ({ keyType, legacy, opensslArgs, info }) => {
  const file = `${keyType}-${legacy ? 'legacy' : 'modern'}.p12`;
  let params: Pkcs12Params;

  beforeAll(() => {
    params = p12Params(keyType, { legacy });
    write(file, buildPkcs12(params));
  });

  const pkcs12 = (password: string, ...extra: string[]) =>
    run('openssl', ['pkcs12', '-in', file, '-passin', `pass:${password}`, ...opensslArgs, ...extra]);

  it('openssl reads it and reports the expected algorithms', () => {
    const r = pkcs12(params.password, '-info', '-nodes');
    expect(r.status, r.stderr).toBe(0);
    for (const line of info) expect(r.stderr).toContain(line);
    expect(countOf(r.stdout, '-----BEGIN CERTIFICATE-----')).toBe(3);
    expect(countOf(r.stdout, '-----BEGIN PRIVATE KEY-----')).toBe(1);
    expect(subjects(r.stdout)).toEqual([leafSubject(keyType), INTERMEDIATE_SUBJECT, ROOT_SUBJECT]);
    // friendlyName and the same localKeyID on the key and on the leaf certificate only
    expect(countOf(r.stdout, `friendlyName: ${params.friendlyName}`)).toBe(2);
    const ids = [...r.stdout.matchAll(/localKeyID: ([0-9A-F ]+)/g)].map((m) => m[1].trim());
    expect(ids).toHaveLength(2);
    expect(ids[0]).toBe(ids[1]);
  });

  it('holds the private key of the leaf and the certificates byte for byte', () => {
    write(`${file}.key.pem`, pkcs12(params.password, '-nocerts', '-nodes').stdout);
    const extractedPub = ok('openssl', ['pkey', '-in', `${file}.key.pem`, '-pubout']);
    const leafPub = ok('openssl', ['x509', '-in', `leaf-${keyType}.pem`, '-noout', '-pubkey']);
    expect(extractedPub).toBe(leafPub);

    const certs = parsePemBlocks(pkcs12(params.password, '-nokeys').stdout).map((b) => hex(b.der));
    expect(certs).toEqual([params.certificate, ...params.chain].map(hex));
  });

  it('fails the MAC with a wrong password', () => {
    const r = pkcs12('wrong password', '-info', '-nodes');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('Mac verify error');
  });

  it('keytool lists one PrivateKeyEntry with a chain of 3', () => {
    const out = ok('keytool', ['-list', '-v', '-storetype', 'PKCS12', '-keystore', file, '-storepass', params.password]);
    expect(out).toContain('Your keystore contains 1 entry');
    expect(countOf(out, 'Entry type: PrivateKeyEntry')).toBe(1);
    expect(out).toContain('Certificate chain length: 3');
    expect(out).toContain(`Alias name: ${params.friendlyName}`);
  });

  it('keytool refuses a wrong password', () => {
    const r = run('keytool', ['-list', '-storetype', 'PKCS12', '-keystore', file, '-storepass', 'wrong password']);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('password was incorrect');
  });

  it('is DER: re-encoding the parsed structure gives the same bytes', () => {
    const der = read(file);
    const parsed = asn1js.fromBER(der);
    expect(parsed.offset).toBe(der.byteLength);
    expect(hex(new Uint8Array(parsed.result.toBER()))).toBe(hex(der));
  });
});

describe('PKCS#12 variations', () => {
  it.each(MODES)('a non-ASCII password works in $mode mode (BMP for the MAC, UTF-8 for PBES2)', ({ legacy, opensslArgs }) => {
    const password = 'pässwörd €';
    write('utf8.p12', buildPkcs12(p12Params('EC-P256', { legacy, password })));
    const r = run('openssl', ['pkcs12', '-in', 'utf8.p12', '-passin', `pass:${password}`, '-nodes', ...opensslArgs]);
    expect(r.status, r.stderr).toBe(0);
    expect(countOf(r.stdout, '-----BEGIN PRIVATE KEY-----')).toBe(1);
  });

  it.each(MODES)('no friendlyName, empty chain, one iteration ($mode)', ({ legacy, opensslArgs }) => {
    write('bare.p12', buildPkcs12(p12Params('RSA-2048', { legacy, chain: [], friendlyName: undefined, iterations: 1 })));
    const r = run('openssl', [
      'pkcs12',
      '-in',
      'bare.p12',
      '-passin',
      'pass:correct horse battery staple',
      '-info',
      '-nodes',
      ...opensslArgs,
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('Iteration 1');
    expect(countOf(r.stdout, '-----BEGIN CERTIFICATE-----')).toBe(1);
    expect(r.stdout).not.toContain('friendlyName');
    const out = ok('keytool', [
      '-list',
      '-v',
      '-storetype',
      'PKCS12',
      '-keystore',
      'bare.p12',
      '-storepass',
      'correct horse battery staple',
    ]);
    expect(out).toContain('Entry type: PrivateKeyEntry');
    expect(out).toContain('Certificate chain length: 1');
  });

  it('uses the iteration count it is given', () => {
    write('iter.p12', buildPkcs12(p12Params('EC-P256', { iterations: 10_000 })));
    const r = run('openssl', ['pkcs12', '-in', 'iter.p12', '-passin', 'pass:correct horse battery staple', '-info', '-nodes']);
    expect(r.stderr).toContain('MAC: sha256, Iteration 10000');
    expect(r.stderr).toContain('Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256');
  });
});

describe('PKCS#12 input validation', () => {
  const garbage = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]);
  const cases: [string, () => Partial<Pkcs12Params> | Record<string, unknown>, RegExp][] = [
    ['empty password', () => ({ password: '' }), /^password must not be empty/],
    ['password with NUL', () => ({ password: 'a\u0000b' }), /^password must not contain NUL/],
    ['password with a lone surrogate', () => ({ password: 'a\ud800' }), /unpaired UTF-16 surrogate/],
    ['garbage key', () => ({ privateKeyPkcs8: garbage }), /^privateKeyPkcs8 is not an unencrypted PKCS#8 private key/],
    ['empty key', () => ({ privateKeyPkcs8: new Uint8Array() }), /^privateKeyPkcs8 is empty/],
    ['key given as a string', () => ({ privateKeyPkcs8: 'secret' }), /^privateKeyPkcs8 must be DER bytes \(a Uint8Array\), got string/],
    [
      'SEC1 EC key instead of PKCS#8',
      () => ({
        privateKeyPkcs8: new Uint8Array(execFileSync('openssl', ['pkey', '-in', join(dir, 'leaf-EC-P256.key'), '-outform', 'DER'])),
      }),
      /^privateKeyPkcs8 is not an unencrypted PKCS#8/,
    ],
    [
      'key of another certificate',
      () => ({ privateKeyPkcs8: read('leaf-RSA-2048.key.der') }),
      /^privateKeyPkcs8 does not belong to the certificate's public key/,
    ],
    ['garbage certificate', () => ({ certificate: garbage }), /^certificate is not a DER X.509 certificate/],
    ['PEM certificate', () => ({ certificate: read('leaf-EC-P256.pem') }), /^certificate is PEM text/],
    [
      'certificate with trailing bytes',
      () => ({ certificate: new Uint8Array([...read('leaf-EC-P256.der'), 0]) }),
      /^certificate is not a DER X.509/,
    ],
    ['garbage in the chain', () => ({ chain: [read('intermediate.der'), garbage] }), /^chain\[1\] is not a DER X.509 certificate/],
    ['leaf repeated in the chain', () => ({ chain: [read('leaf-EC-P256.der')] }), /^chain\[0\] is the leaf certificate itself/],
    ['chain missing', () => ({ chain: undefined }), /^chain must be an array/],
    ['empty friendlyName', () => ({ friendlyName: '' }), /^friendlyName, when given, must be a non-empty string/],
    ['zero iterations', () => ({ iterations: 0 }), /^iterations must be an integer from 1 to 5000000, got 0/],
    ['fractional iterations', () => ({ iterations: 1.5 }), /^iterations must be an integer/],
    ['too many iterations', () => ({ iterations: 6_000_000 }), /^iterations must be an integer from 1 to 5000000/],
  ];

  it.each(cases)('rejects %s', (_label, overrides, message) => {
    const params = { ...p12Params('EC-P256'), ...overrides() } as Pkcs12Params;
    let thrown: unknown;
    try {
      buildPkcs12(params);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(BundleError);
    expect((thrown as BundleError).code).toBe('invalid_bundle_input');
    expect((thrown as BundleError).message).toMatch(message);
  });
});

// --- PKCS#7 certs-only -----------------------------------------------------------------------

describe('PKCS#7 certs-only', () => {
  const chainFiles = ['leaf-EC-P256', 'intermediate', 'root'];
  const expectedSubjects = [leafSubject('EC-P256'), INTERMEDIATE_SUBJECT, ROOT_SUBJECT];
  let der: Uint8Array;

  beforeAll(() => {
    der = buildPkcs7CertsOnly(chainFiles.map((f) => read(`${f}.der`)));
    write('bundle.p7b', der);
    write('bundle.p7b.pem', pkcs7ToPem(der));
  });

  it('openssl pkcs7 -inform DER lists every subject in order, byte for byte', () => {
    const out = ok('openssl', ['pkcs7', '-inform', 'DER', '-in', 'bundle.p7b', '-print_certs']);
    expect(subjects(out)).toEqual(expectedSubjects);
    expect(parsePemBlocks(out).map((b) => hex(b.der))).toEqual(chainFiles.map((f) => hex(read(`${f}.der`))));
  });

  it('openssl pkcs7 -inform PEM reads the PEM form', () => {
    expect(readFileSync(join(dir, 'bundle.p7b.pem'), 'utf8')).toMatch(/^-----BEGIN PKCS7-----\n/);
    const out = ok('openssl', ['pkcs7', '-inform', 'PEM', '-in', 'bundle.p7b.pem', '-print_certs']);
    expect(subjects(out)).toEqual(expectedSubjects);
  });

  it('is byte-identical to what openssl crl2pkcs7 -nocrl writes', () => {
    write('chain.pem', chainFiles.map((f) => readFileSync(join(dir, `${f}.pem`), 'utf8')).join(''));
    ok('openssl', ['crl2pkcs7', '-nocrl', '-certfile', 'chain.pem', '-outform', 'DER', '-out', 'reference.p7b']);
    expect(hex(der)).toBe(hex(read('reference.p7b')));
  });

  it('is a degenerate SignedData: version 1, no digests, no content, no signers', () => {
    const contentInfo = pkijs.ContentInfo.fromBER(der);
    expect(contentInfo.contentType).toBe('1.2.840.113549.1.7.2');
    const signedData = new pkijs.SignedData({ schema: contentInfo.content });
    expect(signedData.version).toBe(1);
    expect(signedData.digestAlgorithms).toHaveLength(0);
    expect(signedData.encapContentInfo.eContentType).toBe('1.2.840.113549.1.7.1');
    expect(signedData.encapContentInfo.eContent).toBeUndefined();
    expect(signedData.certificates).toHaveLength(3);
    expect(signedData.signerInfos).toHaveLength(0);
  });

  it('carries a single certificate', () => {
    write('single.p7b', buildPkcs7CertsOnly([read('root.der')]));
    expect(subjects(ok('openssl', ['pkcs7', '-inform', 'DER', '-in', 'single.p7b', '-print_certs']))).toEqual([ROOT_SUBJECT]);
  });

  it.each<[string, () => unknown, RegExp]>([
    ['an empty list', () => [], /^certsDer must hold at least one certificate/],
    ['a non-array', () => read('root.der'), /^certsDer must be an array/],
    ['PEM text', () => [read('root.der'), read('root.pem')], /^certsDer\[1\] is PEM text/],
    ['garbage', () => [new Uint8Array([1, 2, 3])], /^certsDer\[0\] is not a DER X.509 certificate/],
  ])('rejects %s', (_label, input, message) => {
    expect(() => buildPkcs7CertsOnly(input() as Uint8Array[])).toThrow(message);
    expect(() => buildPkcs7CertsOnly(input() as Uint8Array[])).toThrow(BundleError);
  });
});
