/**
 * Anvil's side of bench:compare's CRL pair, the way test/bench/crl.ts measures it, but seeded once
 * and published in a fresh child process per round (so each round's peak RSS is its own):
 *
 *   seedCrl(n)      a throwaway database, a bootstrapped authority, an EC P-256 intermediate
 *                   `bench-crl` and n revoked rows inserted in bulk (support.ts `insertRevoked`, as crl.ts)
 *   publishCrl(s)   `node --import tsx compare-crl.ts` with ANVIL_BENCH_CRL_CHILD set: opens the
 *                   store, bootstraps, `authority.crls.publish(issuer)`; prints one JSON line with
 *                   the publish time, process.resourceUsage().maxRSS, and the CRL checked by
 *                   `openssl crl -verify` and counted.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { Authority, KeyEncryptionKey, SoftwareKeyCustody, SYSTEM_ACTOR } from '@anvil/ca';
import { openStore } from '@anvil/db';
import { parseCrl, toPem } from '@anvil/pki';
import { adminStatement, BENCH_PG_URL, insertRevoked } from './support.ts';

const ISSUER = 'bench-crl';

export interface CrlSeed {
  db: string;
  url: string;
  kek: string;
  insertSeconds: number;
}

function authorityOn(store: Awaited<ReturnType<typeof openStore>>, kek: string) {
  return new Authority({
    store,
    custody: new SoftwareKeyCustody(KeyEncryptionKey.fromString(kek)),
    config: { publicUrl: 'http://anvil.bench', caKeyAlgorithm: 'EC-P256', organization: 'Anvil Bench' },
  });
}

/** Creates the database (its name is given to `onDatabase` first, for cleanup) and seeds it. */
export async function seedCrl(n: number, onDatabase: (db: string) => void): Promise<CrlSeed> {
  const db = `anvil_bench_${randomBytes(5).toString('hex')}`;
  const url = BENCH_PG_URL.replace(/\/[^/]*$/, `/${db}`);
  const kek = randomBytes(32).toString('hex');
  onDatabase(db);
  await adminStatement(`create database ${db}`);
  const store = await openStore({ url, poolSize: 4 });
  try {
    const authority = authorityOn(store, kek);
    await authority.bootstrap({ adminToken: `anvil_bench_${randomBytes(16).toString('hex')}` });
    const issuer = await authority.createIssuer({ name: ISSUER, kind: 'intermediate', keyAlgorithm: 'EC-P256' }, SYSTEM_ACTOR);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    const t0 = performance.now();
    try {
      await insertRevoked(sql, issuer.record.id, n, 0);
    } finally {
      await sql.end();
    }
    return { db, url, kek, insertSeconds: (performance.now() - t0) / 1000 };
  } finally {
    await store.close();
  }
}

export interface CrlPublish {
  seconds: number;
  peakMb: number;
  crlMb: number;
  entries: number;
  verify: string;
}

/** One publication in a fresh child process. */
export async function publishCrl(seed: CrlSeed, track: (p: ReturnType<typeof spawn>) => void): Promise<CrlPublish> {
  const p = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    env: { ...process.env, ANVIL_BENCH_CRL_CHILD: JSON.stringify(seed) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(p);
  let out = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stderr!.on('data', (d) => (out += d));
  const code = await new Promise<number>((r) => p.on('close', (c) => r(c ?? -1)));
  const line = /^RESULT (.*)$/m.exec(out)?.[1];
  if (code !== 0 || !line) throw new Error(`the CRL publication child failed (${code}):\n${out.slice(-2000)}`);
  return JSON.parse(line) as CrlPublish;
}

async function child(seed: CrlSeed) {
  const store = await openStore({ url: seed.url, poolSize: 4 });
  const work = mkdtempSync(join(tmpdir(), 'anvil-bench-compare-crl-'));
  try {
    const authority = authorityOn(store, seed.kek);
    await authority.bootstrap({});
    const issuer = authority.issuerByName(ISSUER);
    const t0 = performance.now();
    const crl = await authority.crls.publish(issuer);
    const seconds = (performance.now() - t0) / 1000;
    const peakMb = process.resourceUsage().maxRSS / 1024;
    const file = join(work, 'bench.crl');
    const issuerPem = join(work, 'issuer.pem');
    writeFileSync(file, crl.der);
    writeFileSync(issuerPem, toPem(issuer.record.certificateDer, 'CERTIFICATE'));
    const r = spawnSync('openssl', ['crl', '-inform', 'DER', '-in', file, '-CAfile', issuerPem, '-noout', '-verify'], { encoding: 'utf8' });
    const verify = /verify OK/.test(`${r.stdout}${r.stderr}`) ? 'verify OK' : `${r.stdout}${r.stderr}`.trim();
    const result: CrlPublish = { seconds, peakMb, crlMb: crl.der.length / 1024 / 1024, entries: parseCrl(crl.der).entries.length, verify };
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
    await store.close();
  }
}

if (process.env.ANVIL_BENCH_CRL_CHILD) await child(JSON.parse(process.env.ANVIL_BENCH_CRL_CHILD) as CrlSeed);
