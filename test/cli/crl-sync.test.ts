/** `anvil crl sync` (the real binary) against a listening test Anvil, and a stand-in server that serves forged or old CRLs. */
// First sync, an unchanged second one, a revocation, then every refusal (forged signature,
// rollback, stale, unknown issuer, no server) leaving the files exactly as they were.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCrl, pemToDerList } from '@anvil/pki';
import { createTestAnvil, freePort, type TestAnvil } from '../support/harness.ts';
import { tempDir, writeFiles } from '../support/tools.ts';
import { ANVIL_BIN, anvilCli } from './cli-runner.ts';

let anvil: TestAnvil;
let stand: StandIn;
let dir: string;
let work: string;
let trustPath: string;
beforeAll(async () => {
  anvil = await createTestAnvil({ listen: true });
  stand = await standIn(anvil.publicUrl);
  dir = join(tempDir('anvil-crl-sync-'), 'crls'); // not there yet: the first sync makes it
  work = tempDir('anvil-crl-sync-work-');
  trustPath = writeFiles(work, { 'trust.pem': await (await fetch(`${anvil.publicUrl}/pki/trust-bundle.pem`)).text() })['trust.pem'];
});
afterAll(async () => {
  await stand?.close();
  await anvil?.close();
});

/** Forwards to Anvil; `override` answers a path itself (a forged or an old CRL). */
interface StandIn {
  url: string;
  override: Map<string, Uint8Array>;
  close(): Promise<void>;
}

async function standIn(upstream: string): Promise<StandIn> {
  const override = new Map<string, Uint8Array>();
  const server: Server = createServer(async (req, res) => {
    const own = override.get(req.url ?? '');
    if (own) {
      res.writeHead(200, { 'content-type': 'application/pkix-crl' }).end(own);
      return;
    }
    const up = await fetch(upstream + req.url);
    res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/octet-stream' });
    res.end(Buffer.from(await up.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    override,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const marker = () => join(work, 'reloaded');
const sync = (extra: string[] = [], url = anvil.publicUrl) =>
  anvilCli(['crl', 'sync', '--dir', dir, '--issuer', 'issuing-ca', '--reload', `touch ${marker()}`, ...extra], { ANVIL_URL: url });

/** Each file of the directory: content, inode and mtime, to tell "untouched" from "rewritten the same". */
function snapshot(d: string) {
  return Object.fromEntries(
    readdirSync(d)
      .sort()
      .map((f) => {
        const s = statSync(join(d, f));
        return [f, { text: readFileSync(join(d, f), 'utf8'), ino: s.ino, mtimeMs: s.mtimeMs }];
      }),
  );
}

const crlOf = (path: string) => parseCrl(pemToDerList(readFileSync(path, 'utf8'), ['X509 CRL'])[0]);
const crlDer = async (name: string) => new Uint8Array(await (await fetch(`${anvil.publicUrl}/pki/crl/${name}.crl`)).arrayBuffer());

describe('anvil crl sync', () => {
  let before: Uint8Array; // the issuing CA's CRL before the revocation, for the rollback

  it('first sync: one file per CA in the path and crls.pem (0644), then the reload command', async () => {
    const r = await sync();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^issuing-ca\s+CRL \d+\s+written\s+next update \S+Z \(in /m);
    expect(r.stdout).toMatch(/^root-ca\s+CRL \d+\s+written/m);
    expect(r.stdout).toContain(`reloaded: touch ${marker()}`);
    expect(existsSync(marker())).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['crls.pem', 'issuing-ca.crl.pem', 'root-ca.crl.pem']);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o644);
    const bundle = readFileSync(join(dir, 'crls.pem'), 'utf8');
    expect(bundle).toBe(readFileSync(join(dir, 'issuing-ca.crl.pem'), 'utf8') + readFileSync(join(dir, 'root-ca.crl.pem'), 'utf8'));
    expect(crlOf(join(dir, 'issuing-ca.crl.pem')).number).toBe(parseCrl(await crlDer('issuing-ca')).number);
    before = await crlDer('issuing-ca');
  });

  it('second sync: nothing changes, no reload', async () => {
    rmSync(marker());
    const was = snapshot(dir);
    const r = await sync();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^issuing-ca\s+CRL \d+\s+unchanged/m);
    expect(r.stdout).toContain('nothing changed');
    expect(r.stdout).not.toContain('reloaded');
    expect(existsSync(marker())).toBe(false);
    expect(snapshot(dir)).toEqual(was);
  });

  it('after a revocation: a higher CRL number holding the serial, and a reload', async () => {
    const res = await anvil.api('POST', '/api/v1/certificates', {
      profile: 'client',
      subject: { CN: 'sync-revoked' },
      sans: { dns: ['s.test'] },
    });
    const cert = (await res.json()) as { id: string; serial: string };
    const n0 = crlOf(join(dir, 'issuing-ca.crl.pem')).number!;
    expect((await anvil.api('POST', `/api/v1/certificates/${cert.id}/revoke`, { reason: 'keyCompromise' })).status).toBe(200);
    const rootBefore = snapshot(dir)['root-ca.crl.pem'];

    const r = await sync(['--ca-file', trustPath]);
    expect(r.code, r.stderr).toBe(0);
    const now = crlOf(join(dir, 'issuing-ca.crl.pem'));
    expect(now.number! > n0).toBe(true);
    expect(r.stdout).toContain(`updated (was ${n0})`);
    expect(now.entries.map((e) => e.serialHex)).toContain(cert.serial);
    expect(readFileSync(join(dir, 'crls.pem'), 'utf8')).toContain(readFileSync(join(dir, 'issuing-ca.crl.pem'), 'utf8'));
    expect(snapshot(dir)['root-ca.crl.pem']).toEqual(rootBefore); // the root's CRL did not change
    expect(existsSync(marker())).toBe(true);
  });

  it('a CRL whose signature does not verify: exit 2, files untouched, no reload', async () => {
    rmSync(marker());
    const forged = await crlDer('issuing-ca');
    forged[forged.length - 1] ^= 0x01; // the last byte of the signature's s: still DER, no longer valid
    stand.override.set('/pki/crl/issuing-ca.crl', forged);
    const was = snapshot(dir);
    try {
      const r = await sync([], stand.url);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('a CRL was refused; no file was changed');
      expect(r.stderr).toMatch(/issuing-ca: the signature does not verify with the key of /);
    } finally {
      stand.override.clear();
    }
    expect(snapshot(dir)).toEqual(was);
    expect(existsSync(marker())).toBe(false);
  });

  it('an older CRL (lower number) than the file in place: refused as a rollback, exit 2', async () => {
    stand.override.set('/pki/crl/issuing-ca.crl', before);
    const was = snapshot(dir);
    try {
      const r = await sync([], stand.url);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/issuing-ca: CRL number \d+ is lower than the \d+ already in issuing-ca\.crl\.pem: refused as a rollback/);
    } finally {
      stand.override.clear();
    }
    expect(snapshot(dir)).toEqual(was);
    expect(existsSync(marker())).toBe(false);
  });

  it('a reload command that fails: exit 4 with the files written, and the next run reloads even though nothing changed', async () => {
    const fresh = join(tempDir('anvil-crl-sync-reload-'), 'crls');
    const failing = await anvilCli(['crl', 'sync', '--dir', fresh, '--issuer', 'issuing-ca', '--reload', 'exit 7'], {
      ANVIL_URL: anvil.publicUrl,
    });
    expect(failing.code, failing.stderr).toBe(4);
    expect(failing.stderr).toContain('the reload command failed (exit 7)');
    expect(existsSync(join(fresh, 'crls.pem'))).toBe(true);
    const again = await anvilCli(['crl', 'sync', '--dir', fresh, '--issuer', 'issuing-ca', '--reload', `touch ${join(work, 'late')}`], {
      ANVIL_URL: anvil.publicUrl,
    });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('nothing changed');
    expect(existsSync(join(work, 'late'))).toBe(true);
    expect(readdirSync(fresh).sort()).toEqual(['crls.pem', 'issuing-ca.crl.pem', 'root-ca.crl.pem']); // marker gone
  }, 120_000);

  it('several issuers: each CA in their paths once', async () => {
    const d = tempDir('anvil-crl-sync-two-');
    const r = await anvilCli(['crl', 'sync', '--dir', d, '--issuer', 'issuing-ca', 'root-ca', '--quiet'], { ANVIL_URL: anvil.publicUrl });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(readdirSync(d).sort()).toEqual(['crls.pem', 'issuing-ca.crl.pem', 'root-ca.crl.pem']);
    expect(readFileSync(join(d, 'crls.pem'), 'utf8').match(/BEGIN X509 CRL/g)).toHaveLength(2);
  });

  it('an unknown issuer: one readable line, exit 1', async () => {
    const r = await anvilCli(['crl', 'sync', '--dir', dir, '--issuer', 'no-such-ca'], { ANVIL_URL: anvil.publicUrl });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`error: no issuer named "no-such-ca" at ${anvil.publicUrl}`);
  });

  it('no server: exit 3, files untouched', async () => {
    const was = snapshot(dir);
    const r = await sync([], `http://127.0.0.1:${await freePort()}`);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('cannot reach Anvil');
    expect(snapshot(dir)).toEqual(was);
  });

  it('`anvil crl ISSUER` still shows a CRL beside the sync subcommand', async () => {
    const r = await anvilCli(['crl', 'issuing-ca'], { ANVIL_URL: anvil.publicUrl });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^signature\s+valid/m);
    const help = await anvilCli(['crl', 'sync', '--help']);
    expect(help.stdout).toContain('Exit status: 0 written or unchanged');
  }, 120_000);

  it('--every: syncs in a loop and ends cleanly (exit 0) on SIGTERM', async () => {
    const loopDir = join(tempDir('anvil-crl-sync-loop-'), 'crls');
    const child = spawn(process.execPath, [ANVIL_BIN, 'crl', 'sync', '--dir', loopDir, '--issuer', 'issuing-ca', '--every', '1s'], {
      env: { PATH: process.env.PATH ?? '', HOME: tempDir('anvil-cli-home-'), ANVIL_URL: anvil.publicUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 90_000;
      while (!out.includes('nothing changed') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(out).toMatch(/written[\s\S]*nothing changed/); // the first run wrote, the second found it done
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 120_000);
});

describe('anvil crl sync: a server whose CRLs have gone stale', () => {
  let stale: TestAnvil;
  beforeAll(async () => {
    const threeDaysAgo = Date.now() - 3 * 86_400_000;
    stale = await createTestAnvil({ listen: true, now: () => new Date(threeDaysAgo) });
  });
  afterAll(async () => {
    await stale?.close();
  });

  it('a CRL past its next update: exit 2, saying so, nothing written', async () => {
    const d = tempDir('anvil-crl-sync-stale-');
    const r = await anvilCli(['crl', 'sync', '--dir', d, '--issuer', 'issuing-ca'], { ANVIL_URL: stale.publicUrl });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/issuing-ca: stale: its next update was \S+Z/);
    expect(r.stderr).toMatch(/root-ca: stale/);
    expect(readdirSync(d)).toEqual([]);
  });

  it("CAs that do not chain to --ca-file (another Anvil's roots): exit 2, nothing written", async () => {
    const d = tempDir('anvil-crl-sync-foreign-');
    const foreign = writeFiles(d, { 'other-trust.pem': await (await fetch(`${stale.publicUrl}/pki/trust-bundle.pem`)).text() })[
      'other-trust.pem'
    ];
    const out = join(d, 'crls');
    const r = await anvilCli(['crl', 'sync', '--dir', out, '--issuer', 'issuing-ca', '--ca-file', foreign], { ANVIL_URL: anvil.publicUrl });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('the path of issuing-ca does not verify against the trust bundle');
    expect(existsSync(out)).toBe(false);
  });
});
