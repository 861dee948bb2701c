/**
 * The README's cert-manager ClusterIssuer (section "### cert-manager (Kubernetes)"): parsed with the
 * yaml package and checked field by field against cert-manager's v1 ACME issuer shape and Anvil's
 * routes, and against the Secret the same section tells the reader to create.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const README = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');

function section(title: string): string {
  const start = README.indexOf(`\n${title}\n`);
  expect(start, `README has no "${title}" section`).toBeGreaterThan(0);
  const rest = README.slice(start + title.length + 2);
  const next = rest.search(/\n#{2,3} /);
  return next < 0 ? rest : rest.slice(0, next);
}

const text = section('### cert-manager (Kubernetes)');
const yamlBlock = /```yaml\n([\s\S]*?)```/.exec(text)?.[1] ?? '';
const sh = /```sh\n([\s\S]*?)```/.exec(text)?.[1] ?? '';

describe('README cert-manager ClusterIssuer', () => {
  const doc = parse(yamlBlock);

  it('is a cert-manager v1 ClusterIssuer with an ACME server at an Anvil directory URL', () => {
    expect(doc.apiVersion).toBe('cert-manager.io/v1');
    expect(doc.kind).toBe('ClusterIssuer');
    expect(doc.metadata.name).toMatch(/^[a-z0-9-]+$/);
    const url = new URL(doc.spec.acme.server);
    expect(url.protocol).toBe('https:');
    expect(url.pathname).toMatch(/^\/acme\/[a-z0-9-]+\/directory$/);
    expect(typeof doc.spec.acme.caBundle).toBe('string');
  });

  it('keeps the account key in a Secret and binds the account with EAB from the Secret the README creates', () => {
    expect(doc.spec.acme.privateKeySecretRef.name).toMatch(/^[a-z0-9-]+$/);
    const eab = doc.spec.acme.externalAccountBinding;
    expect(typeof eab.keyID).toBe('string');
    expect(eab.keySecretRef).toEqual({ name: 'anvil-eab', key: 'hmacKey' });
    // The same Secret name and key as the kubectl command above the manifest.
    expect(sh).toContain(`create secret generic ${eab.keySecretRef.name} --from-literal=${eab.keySecretRef.key}=`);
    expect(sh).toMatch(/anvil acme eab create .*--profile server/);
    // The profile of the directory URL is the one the credential is made for.
    expect(new URL(doc.spec.acme.server).pathname.split('/')[2]).toBe('server');
  });

  it('solves http-01 through an ingress', () => {
    expect(doc.spec.acme.solvers).toHaveLength(1);
    expect(doc.spec.acme.solvers[0].http01.ingress.ingressClassName).toBe('nginx');
    // Only fields cert-manager's ACMEIssuer knows.
    const known = [
      'server',
      'caBundle',
      'privateKeySecretRef',
      'externalAccountBinding',
      'solvers',
      'email',
      'skipTLSVerify',
      'preferredChain',
    ];
    for (const key of Object.keys(doc.spec.acme)) expect(known).toContain(key);
  });
});
