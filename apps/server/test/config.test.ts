/**
 * ANVIL_PUBLIC_URL (where people reach the console; may be https) and ANVIL_PKI_URL (the base
 * of the CRL, AIA and OCSP URLs in certificates; always http, RFC 5280), and a start-up that
 * refuses an https PKI base with a message that says why.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';

describe('ANVIL_PUBLIC_URL and ANVIL_PKI_URL', () => {
  it('defaults the PKI base to the public URL while that is http', () => {
    expect(loadConfig({}).pkiUrl).toBe('http://localhost:8080');
    expect(loadConfig({ ANVIL_PUBLIC_URL: 'http://ca.example:8080/' }).pkiUrl).toBe('http://ca.example:8080');
  });

  it('serves the console over https with an http PKI base of its own', () => {
    const c = loadConfig({ ANVIL_PUBLIC_URL: 'https://console.example', ANVIL_PKI_URL: 'http://pki.example/' });
    expect(c.publicUrl).toBe('https://console.example');
    expect(c.pkiUrl).toBe('http://pki.example');
  });

  it('refuses an https PKI base, and an https public URL without a PKI base, saying why', () => {
    expect(() => loadConfig({ ANVIL_PKI_URL: 'https://pki.example' })).toThrow(/ANVIL_PKI_URL: must be an http:\/\/ URL.*RFC 5280/s);
    expect(() => loadConfig({ ANVIL_PUBLIC_URL: 'https://console.example' })).toThrow(/set ANVIL_PKI_URL to the http:\/\/ base/);
    expect(() => loadConfig({ ANVIL_PUBLIC_URL: 'ftp://x.example' })).toThrow(/ANVIL_PUBLIC_URL/);
  });

  it('reads the session timeouts', () => {
    const c = loadConfig({ ANVIL_SESSION_IDLE_MINUTES: '5', ANVIL_SESSION_MAX_HOURS: '1' });
    expect([c.sessionIdleMinutes, c.sessionMaxHours]).toEqual([5, 1]);
    expect(() => loadConfig({ ANVIL_SESSION_IDLE_MINUTES: '-1' })).toThrow(/ANVIL_SESSION_IDLE_MINUTES/);
  });

  it('reads the default issuance rate limit (60 a minute; 0: none)', () => {
    expect(loadConfig({}).issueRateLimit).toBe(60);
    expect(loadConfig({ ANVIL_ISSUE_RATE_LIMIT: '0' }).issueRateLimit).toBe(0);
    expect(() => loadConfig({ ANVIL_ISSUE_RATE_LIMIT: '1.5' })).toThrow(/ANVIL_ISSUE_RATE_LIMIT/);
    expect(() => loadConfig({ ANVIL_ISSUE_RATE_LIMIT: '-1' })).toThrow(/ANVIL_ISSUE_RATE_LIMIT/);
  });

  it('a server started with an https PKI base exits 2 before opening anything, with the reason', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'apps/server/src/main.ts'], {
      env: { ...process.env, ANVIL_PKI_URL: 'https://pki.example', ANVIL_DATA_DIR: '/nonexistent/never-created' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/ANVIL_PKI_URL: must be an http:\/\/ URL/);
    expect(run.stderr).toMatch(/revocation check/);
  });
});
