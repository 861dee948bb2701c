/**
 * CRL publication at scale, end to end: N revoked certificates in PostgreSQL, streamed by
 * `authority.crls.publish(issuer)` (pages PostgreSQL packs from one cursor -> entries encoded into
 * the CRL's one buffer -> one signature -> stored in parts).
 *
 *   npm run bench:crl                       # 100k and 1M (default)
 *   npm run bench:crl -- --sizes 100k       # one size; also 1m, 250000, "100k,1m"
 *   ANVIL_BENCH_PG_URL=postgres://user@host:5432/postgres npm run bench:crl
 *
 * Each size gets its own freshly created intermediate (a real, bootstrapped issuer with its key
 * in custody), and its revoked rows are inserted in bulk with SQL straight into `certificates`.
 * Everything lives in a throwaway database anvil_bench_<random>, dropped at the end.
 * Prints build time, CRL size, peak RSS (process.resourceUsage().maxRSS) and the load average,
 * then checks the CRL with `openssl crl -verify` and counts its entries.
 * Targets: 1M entries in < 15 s with peak RSS < 512 MB.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { Authority, KeyEncryptionKey, SoftwareKeyCustody, SYSTEM_ACTOR } from '@anvil/ca';
import { openStore } from '@anvil/db';
import { adminStatement, BENCH_PG_URL, insertRevoked, loadAverage } from './support.ts';
import { parseCrl, toPem } from '@anvil/pki';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100k,1m' },
    'keep-db': { type: 'boolean', default: false },
  },
});

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(s.trim());
  if (!m) throw new Error(`--sizes: "${s}" is not a count like 100000, 100k or 1m`);
  return Math.round(Number(m[1]) * { '': 1, k: 1e3, m: 1e6 }[m[2].toLowerCase() as '' | 'k' | 'm']);
}
const sizes = values.sizes.split(',').map(parseSize);

const dbName = `anvil_bench_${randomBytes(5).toString('hex')}`;
const dbUrl = BENCH_PG_URL.replace(/\/[^/]*$/, `/${dbName}`);
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

const results: Array<Record<string, string | number>> = [];
let store: Awaited<ReturnType<typeof openStore>> | undefined;
const work = mkdtempSync(join(tmpdir(), 'anvil-bench-crl-'));

async function main() {
  console.log(
    `bench:crl  sizes=${sizes.join(',')}  database=${dbName} (PostgreSQL ${BENCH_PG_URL.replace(/\/\/[^@]*@/, '//')})  node ${process.version}`,
  );
  console.log(`load average at start: ${loadAverage()}`);
  await adminStatement(`create database ${dbName}`);
  store = await openStore({ url: dbUrl, poolSize: 4 });
  const authority = new Authority({
    store,
    custody: new SoftwareKeyCustody(KeyEncryptionKey.random()),
    config: { publicUrl: 'http://anvil.bench', caKeyAlgorithm: 'EC-P256', organization: 'Anvil Bench' },
  });
  await authority.bootstrap({ adminToken: `anvil_bench_${randomBytes(16).toString('hex')}` });
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });

  let offset = 0;
  try {
    for (const n of sizes) {
      const issuer = await authority.createIssuer({ name: `bench-${n}`, kind: 'intermediate', keyAlgorithm: 'EC-P256' }, SYSTEM_ACTOR);
      const t0 = performance.now();
      await insertRevoked(sql, issuer.record.id, n, offset);
      offset += n;
      const insertMs = performance.now() - t0;

      const rssBefore = process.memoryUsage().rss;
      const t1 = performance.now();
      const crl = await authority.crls.publish(issuer);
      const buildMs = performance.now() - t1;
      const peak = process.resourceUsage().maxRSS * 1024;
      const loadAfter = loadAverage();

      // Checked by a verifier we did not write, and counted.
      const file = join(work, `bench-${n}.crl`);
      const issuerPem = join(work, `bench-${n}.pem`);
      writeFileSync(file, crl.der);
      writeFileSync(issuerPem, toPem(issuer.record.certificateDer, 'CERTIFICATE'));
      // openssl 3 prints "verify OK" on stderr
      const r = spawnSync('openssl', ['crl', '-inform', 'DER', '-in', file, '-CAfile', issuerPem, '-noout', '-verify', '-crlnumber'], {
        encoding: 'utf8',
      });
      const verify = `${r.stdout ?? ''}${r.stderr ?? ''}`;
      const entries = parseCrl(crl.der).entries.length;
      const ok = /verify OK/.test(verify) && entries === n;
      const row = {
        entries: n,
        insert_s: (insertMs / 1000).toFixed(1),
        publish_s: (buildMs / 1000).toFixed(2),
        crl_size: mb(crl.der.length),
        rss_before: mb(rssBefore),
        peak_rss: mb(peak),
        openssl: /verify OK/.test(verify) ? `verify OK, ${/crlNumber=\S+/.exec(verify)?.[0]}` : verify.trim(),
        counted: entries,
        load: loadAfter,
      };
      results.push(row);
      console.log(
        `${String(n).padStart(8)} entries: publish ${row.publish_s} s, CRL ${row.crl_size}, peak RSS ${row.peak_rss} ` +
          `(RSS before ${row.rss_before}); bulk insert ${row.insert_s} s; openssl: ${row.openssl}; counted ${entries}; load ${loadAfter}`,
      );
      if (!ok) process.exitCode = 1;
      if (n >= 1_000_000) {
        const fast = buildMs < 15_000;
        const lean = peak < 512 * 1024 * 1024;
        console.log(`  target 1M < 15 s: ${fast ? 'met' : 'MISSED'}; peak RSS < 512 MB: ${lean ? 'met' : 'MISSED'}`);
        if (!fast || !lean) process.exitCode = 1;
      }
    }
  } finally {
    await sql.end();
  }
  console.table(results);
}

try {
  await main();
} finally {
  await store?.close();
  rmSync(work, { recursive: true, force: true });
  if (values['keep-db']) console.log(`kept database ${dbName}`);
  else await adminStatement(`drop database if exists ${dbName} with (force)`);
}
