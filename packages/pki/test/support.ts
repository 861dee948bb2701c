/**
 * Test material shared by the pki suites: openssl config sections and self-signed P-256
 * certificates, made with the openssl CLI so that no suite trusts our own X.509 code for its inputs.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pemToDerList } from '../src/pem.ts';

/** An openssl config file's text: each section's header, then its settings one a line. */
export function opensslConfig(sections: Record<string, readonly string[]>): string {
  return `${Object.entries(sections)
    .flatMap(([name, lines]) => [`[${name}]`, ...lines])
    .join('\n')}\n`;
}

/** A root CA's extensions. */
export const ROOT_CA_EXTENSIONS = [
  'basicConstraints = critical, CA:TRUE',
  'keyUsage = critical, keyCertSign, cRLSign',
  'subjectKeyIdentifier = hash',
] as const;

/** The start of an intermediate CA's extensions (it may issue only end-entity certificates); its AKI differs by suite. */
export const INTERMEDIATE_CA_EXTENSIONS = [
  'basicConstraints = critical, CA:TRUE, pathlen:0',
  'keyUsage = critical, keyCertSign, cRLSign',
  'subjectKeyIdentifier = hash',
] as const;

/** A TLS client leaf's extensions. */
export const CLIENT_LEAF_EXTENSIONS = [
  'basicConstraints = critical, CA:FALSE',
  'keyUsage = critical, digitalSignature',
  'extendedKeyUsage = clientAuth',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid',
] as const;

/** `openssl req` arguments for a fresh, unencrypted P-256 key written to `keyout`. */
export const newP256KeyArgs = (keyout: string) => ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyout];

/**
 * Makes a self-signed P-256 certificate valid for 2 days with `openssl req -x509` in `dir`
 * (key and certificate file names relative to it; `extra` goes after -subj, e.g. `-addext`) and
 * returns its DER.
 */
export function selfSignedP256(
  dir: string,
  { subj, extra = [], key = 'k.pem', cert = 'c.pem' }: { subj: string; extra?: string[]; key?: string; cert?: string },
): Uint8Array {
  execFileSync('openssl', ['req', '-x509', ...newP256KeyArgs(key), '-out', cert, '-subj', subj, ...extra, '-days', '2'], {
    cwd: dir,
    stdio: 'ignore',
  });
  return pemToDerList(readFileSync(join(dir, cert), 'utf8'), ['CERTIFICATE'])[0];
}
