/** certificateFacts against what openssl reads from the same certificate. */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { certificateFacts, pemToDerList } from '../src/index.ts';
import { haveTool, tempDir } from '../../../test/support/tools.ts';
import { newP256KeyArgs, selfSignedP256 } from './support.ts';

const hasOpenssl = haveTool('openssl');

describe.skipIf(!hasOpenssl)('certificateFacts reads what openssl reads', () => {
  let dir: string;
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, encoding: 'utf8' });

  beforeAll(() => {
    dir = tempDir();
    writeFileSync(
      join(dir, 'ext.cnf'),
      [
        'authorityKeyIdentifier = keyid',
        'crlDistributionPoints = URI:http://crl.example/a.crl, URI:http://crl.example/b.crl',
        'basicConstraints = critical, CA:FALSE',
      ].join('\n'),
    );
    selfSignedP256(dir, { subj: '/O=Facts/CN=Facts CA', key: 'ca.key', cert: 'ca.pem' });
    openssl('req', '-new', ...newP256KeyArgs('leaf.key'), '-out', 'leaf.csr', '-subj', '/CN=leaf');
    openssl(
      'x509',
      '-req',
      '-in',
      'leaf.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-set_serial',
      '0x00ff0102',
      '-days',
      '1',
      '-extfile',
      'ext.cnf',
      '-out',
      'leaf.pem',
    );
  });

  it('serial, names, key, AKI and CDP URIs', () => {
    const der = pemToDerList(readFileSync(join(dir, 'leaf.pem'), 'utf8'), ['CERTIFICATE'])[0];
    const facts = certificateFacts(der);
    expect(facts.serialHex).toBe('00ff0102');
    expect(facts.crlUrls).toEqual(['http://crl.example/a.crl', 'http://crl.example/b.crl']);
    const ski = openssl('x509', '-in', 'ca.pem', '-noout', '-ext', 'subjectKeyIdentifier')
      .split('\n')[1]
      .trim()
      .replace(/:/g, '')
      .toLowerCase();
    expect(facts.akiHex).toBe(ski);
    const caFacts = certificateFacts(pemToDerList(readFileSync(join(dir, 'ca.pem'), 'utf8'), ['CERTIFICATE'])[0]);
    expect(facts.issuerNameHex).toBe(caFacts.subjectNameHex);
    const spki = execFileSync('openssl', ['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-pubkey']).toString();
    expect(Buffer.from(facts.spki).toString('base64')).toBe(spki.replace(/-----[^-]+-----|\s/g, ''));
  });

  it('refuses what is not a certificate', () => {
    expect(() => certificateFacts(Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01))).toThrow();
    expect(() => certificateFacts(new Uint8Array([1, 2, 3]))).toThrow();
  });
});
