/**
 * Issuance throughput, end to end over HTTP: a real Anvil server process (apps/server/src/main.ts)
 * on PostgreSQL, N pre-generated EC P-256 CSRs POSTed to /api/v1/certificates over keep-alive
 * connections at a fixed concurrency.
 *
 *   npm run bench:issue                                   # 5000 CSRs, concurrency 32, 1 server process
 *   npm run bench:issue -- --n 20000 --concurrency 64
 *   npm run bench:issue -- --duration 30                  # run 30 s, cycling through the CSRs
 *   npm run bench:issue -- --workers 2                    # ANVIL_WORKERS=2: the server's supervisor and 2 workers
 *   npm run bench:issue -- --cpu-prof                     # server writes .cpuprofile files to the temp dir
 *   BENCH_N=2000 BENCH_CONCURRENCY=16 BENCH_WORKERS=2 npm run bench:issue
 *   ANVIL_BENCH_PG_URL=postgres://user@host:5432/postgres npm run bench:issue
 *   npm run bench:issue -- --custody pkcs11 --duration 10 # CA keys on a SoftHSM2 token (made in the temp dir)
 *
 * Everything lives in a throwaway database anvil_bench_<random> on 127.0.0.1:5432, dropped at
 * the end (also on Ctrl-C), and a temp dir (kept with --cpu-prof). The server runs as in
 * production: the unmodified entry point, EC P-256 CAs, LOG_LEVEL=info (JSON to a file in the temp
 * dir; override with LOG_LEVEL). The first --warmup requests (default 200, their own CSRs) are
 * not measured. The CSRs carry CN and a DNS SAN; the body names only the profile, so the CSR path
 * (proof of possession, names from the CSR) is what is measured.
 *
 * Prints certificates/s, latency percentiles, os.loadavg() before and after, and the CPU time
 * per certificate of the server process(es), the PostgreSQL backends and this load generator
 * (from /proc): on a machine other people also use, that budget is the figure that does not
 * depend on their load. Then checks the database holds exactly the certificates answered 201.
 * Target: >= 500 certificates/s on a 2-core machine with an ECDSA P-256 issuer.
 *
 * --custody pkcs11 initialises a SoftHSM2 token in the temp dir and starts the server with
 * ANVIL_CA_KEY_STORE=pkcs11, so the root and the issuing CA are generated on the token and every
 * certificate is signed there. After the HTTP run (not during it: they would share the CPUs) it
 * prints SoftHSM2's own signing rate with the issuing CA's key, measured through the same
 * Pkcs11KeyCustody session queues (node-webcrypto-p11, same number of sessions) in this process:
 * certificates/s can never exceed it, and the gap is what Anvil costs around each signature.
 *
 * --workers N starts the server with ANVIL_WORKERS=N: main.ts's own supervisor forks N workers
 * sharing the port and one database, as in production (the default there is the number of cores;
 * here 1 unless given).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { Agent, request } from 'node:http';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { derHeader, derSequence, toPem } from '@anvil/pki';
import { cpuMs, freePort, postgresBackends, processTree, waitForServer } from './support.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const MAIN = join(ROOT, 'apps/server/src/main.ts');

// ---- the benchmark ---------------------------------------------------------------------------

async function bench() {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: process.env.BENCH_N ?? '5000' },
      concurrency: { type: 'string', default: process.env.BENCH_CONCURRENCY ?? '32' },
      duration: { type: 'string', default: process.env.BENCH_DURATION ?? '' },
      warmup: { type: 'string', default: process.env.BENCH_WARMUP ?? '200' },
      workers: { type: 'string', default: process.env.BENCH_WORKERS ?? '1' },
      'cpu-prof': { type: 'boolean', default: false },
      'keep-db': { type: 'boolean', default: false },
      custody: { type: 'string', default: process.env.BENCH_CUSTODY ?? 'software' },
    },
  });
  const n = positive('n', values.n);
  const concurrency = positive('concurrency', values.concurrency);
  const durationS = values.duration ? positive('duration', values.duration) : 0;
  const warmup = Number(values.warmup);
  if (!Number.isInteger(warmup) || warmup < 0) throw new Error(`--warmup must be a whole number >= 0 (got "${values.warmup}")`);
  const workers = positive('workers', values.workers);
  if (values.custody !== 'software' && values.custody !== 'pkcs11')
    throw new Error(`--custody is software or pkcs11 (got "${values.custody}")`);

  const ADMIN_URL = process.env.ANVIL_BENCH_PG_URL ?? process.env.ANVIL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const dbName = `anvil_bench_${randomBytes(5).toString('hex')}`;
  const dbUrl = ADMIN_URL.replace(/\/[^/]*$/, `/${dbName}`);
  const token = `anvil_bench_${randomBytes(24).toString('base64url')}`;
  const work = mkdtempSync(join(tmpdir(), 'anvil-bench-issue-'));
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');

  let server: ChildProcess | null = null;
  let dbCreated = false;
  const cleanup = async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          server?.kill('SIGKILL');
          r();
        }, 5000);
        server!.once('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
    if (dbCreated && !values['keep-db']) await admin(ADMIN_URL, `drop database if exists ${dbName} with (force)`);
    if (!values['cpu-prof']) rmSync(work, { recursive: true, force: true });
  };
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error('\ninterrupted: stopping the server and dropping the database');
    void cleanup().finally(() => process.exit(130));
  });

  try {
    console.log(`Anvil issuance benchmark — ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}`);
    console.log(`load average before setup: ${load()}`);

    // 1. CSRs, made before the clock starts.
    const t0 = performance.now();
    const csrs = Array.from({ length: n + warmup }, (_, i) => makeCsr(`bench-${i}.example.com`));
    console.log(`pre-generated ${csrs.length} EC P-256 CSRs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // 2. A throwaway database and the server (one process, or a cluster of `workers`).
    await admin(ADMIN_URL, `create database ${dbName}`);
    dbCreated = true;
    const port = await freePort();
    const logFile = join(work, 'server.log');
    const logFd = openSync(logFile, 'a');
    const env = {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      ANVIL_MTLS_PORT: String(await freePort()),
      DATABASE_URL: dbUrl,
      ANVIL_DATA_DIR: work,
      // Given explicitly so worker processes do not race to create the key file.
      ANVIL_KEK: randomBytes(32).toString('hex'),
      ANVIL_ADMIN_TOKEN: token,
      ANVIL_PUBLIC_URL: `http://127.0.0.1:${port}`,
      ANVIL_CA_KEY_ALGORITHM: 'EC-P256',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
      NODE_ENV: 'production',
      ANVIL_WORKERS: String(workers),
    };
    const token11 = values.custody === 'pkcs11' ? softHsmToken(work) : null;
    if (token11) Object.assign(env, token11.env);
    const execArgv = ['--import', 'tsx', ...(values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${work}`] : [])];
    server = spawn(process.execPath, [...execArgv, MAIN], { cwd: ROOT, env, stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
    const base = `http://127.0.0.1:${port}`;
    await waitForServer(base, server, logFile);
    console.log(
      `server: ${workers > 1 ? `a supervisor and ${workers} workers (ANVIL_WORKERS)` : '1 process'} on ${base}, PostgreSQL database ${dbName}, ` +
        `CA keys ${token11 ? `on SoftHSM2 token "${token11.label}" (${token11.sessions} PKCS#11 sessions per process)` : 'in software'}, ` +
        `LOG_LEVEL=${env.LOG_LEVEL}${values['cpu-prof'] ? ` (log: ${logFile})` : ''}`,
    );

    const post = (csr: string) => httpPost(agent, port, '/api/v1/certificates', token, JSON.stringify({ profile: 'server', csr }));

    // 3. Sanity: the first answer is a real certificate for the CSR's name.
    const first = await post(csrs[0]);
    if (first.status !== 201) throw new Error(`the server refused a benchmark CSR: ${first.status} ${first.body}`);
    const firstCert = JSON.parse(first.body) as { sans: { dns: string[] }; certificate: string };
    if (firstCert.sans.dns[0] !== 'bench-0.example.com' || !firstCert.certificate.includes('BEGIN CERTIFICATE')) {
      throw new Error(`unexpected issuance response: ${first.body.slice(0, 300)}`);
    }

    // 4. Warm-up (JIT, connection pools), not measured.
    const warm = warmup > 1 ? await drive(post, csrs.slice(1, warmup), Math.min(concurrency, warmup - 1), 0) : null;
    const warmOk = warm?.statuses.get(201) ?? 0;

    // 5. The measured run.
    const measured = csrs.slice(warmup);
    const loadBefore = load();
    const serverPids = () => processTree(server!.pid!);
    const pgPids = () => postgresBackends(dbName);
    const cpu0 = { server: cpuMs(serverPids()), pg: cpuMs(pgPids()), client: process.cpuUsage() };
    const started = performance.now();
    const result = await drive(post, measured, concurrency, durationS);
    const seconds = (performance.now() - started) / 1000;
    const clientCpu = process.cpuUsage(cpu0.client);
    const cpu = {
      server: cpuMs(serverPids()) - cpu0.server,
      pg: cpuMs(pgPids()) - cpu0.pg,
      client: (clientCpu.user + clientCpu.system) / 1000,
    };
    const loadAfter = load();

    const lat = result.latencies.sort((a, b) => a - b);
    const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? NaN;
    const ok = result.statuses.get(201) ?? 0;
    const rate = ok / seconds;
    console.log('');
    console.log(
      `requests         ${result.total} (${[...result.statuses].map(([s, c]) => `${c} x ${s}`).join(', ')})${durationS ? `, cycling ${measured.length} CSRs for ${durationS} s` : ''}`,
    );
    console.log(`concurrency      ${concurrency} keep-alive connections, ${workers} server process${workers > 1 ? 'es' : ''}`);
    console.log(`elapsed          ${seconds.toFixed(2)} s`);
    console.log(`throughput       ${rate.toFixed(0)} certificates/s`);
    console.log(
      `latency (ms)     p50 ${pct(50).toFixed(1)}  p90 ${pct(90).toFixed(1)}  p99 ${pct(99).toFixed(1)}  max ${lat[lat.length - 1]?.toFixed(1)}`,
    );
    console.log(`load average     before ${loadBefore}  after ${loadAfter}  (1, 5, 15 min; ${availableParallelism()} CPUs)`);
    // CPU time per certificate does not depend on what else the machine runs: it is the budget.
    const per = (ms: number) => (ms / Math.max(ok, 1)).toFixed(2);
    const total = cpu.server + cpu.pg + cpu.client;
    console.log(
      `CPU per cert     server ${per(cpu.server)} ms, PostgreSQL ${per(cpu.pg)} ms, load generator ${per(cpu.client)} ms ` +
        `= ${per(total)} ms; ${availableParallelism()} CPUs could do ~${((availableParallelism() * 1000) / (total / Math.max(ok, 1))).toFixed(0)}/s`,
    );
    console.log(
      `CPU share        server used ${(cpu.server / 10 / seconds).toFixed(0)}% of one CPU, PostgreSQL ${(cpu.pg / 10 / seconds).toFixed(0)}%, load generator ${(cpu.client / 10 / seconds).toFixed(0)}%`,
    );
    for (const [status, body] of result.samples) console.log(`sample ${status}: ${body.slice(0, 300)}`);
    if (token11) {
      const raw = await tokenSignRate(dbUrl, token11, Math.min(Math.max(durationS, 3), 10));
      console.log(
        `token raw sign   ${raw.rate.toFixed(0)} signatures/s (SoftHSM2, issuing-ca ${raw.keyAlgorithm}, ${token11.sessions} sessions, ${raw.count} in ${raw.seconds.toFixed(1)} s); ` +
          `certificates/s is ${((100 * rate) / raw.rate).toFixed(0)}% of it`,
      );
    }

    // 6. Every 201 is a committed row (plus the sanity and warm-up issuances).
    const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
    const [{ count }] = await sql<{ count: number }[]>`select count(*)::int as count from certificates where common_name like 'bench-%'`;
    await sql.end();
    const expected = ok + 1 + warmOk;
    console.log(`database         ${count} certificate rows (expected ${expected})`);
    agent.destroy();
    if (values['cpu-prof']) {
      await cleanup();
      const profiles = readdirSync(work).filter((f) => f.endsWith('.cpuprofile'));
      console.log(`CPU profiles: ${profiles.map((f) => join(work, f)).join(', ')}`);
    }
    const target = 500;
    console.log(
      rate >= target
        ? `\nOK: ${rate.toFixed(0)} >= ${target} certificates/s`
        : `\nBELOW TARGET: ${rate.toFixed(0)} < ${target} certificates/s`,
    );
    if (result.total !== ok || count !== expected) process.exitCode = 1;
  } catch (err) {
    const log = spawnSync('tail', ['-n', '20', join(work, 'server.log')], { encoding: 'utf8' }).stdout;
    if (log) console.error(`--- last lines of the server log:\n${log}`);
    throw err;
  } finally {
    await cleanup();
  }
}

// ---- a SoftHSM2 token for --custody pkcs11 ------------------------------------------------------

interface BenchToken {
  label: string;
  pin: string;
  sessions: number;
  module: string;
  env: Record<string, string>;
}

function softHsmToken(work: string): BenchToken {
  const module = process.env.ANVIL_PKCS11_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';
  const conf = join(work, 'softhsm2.conf');
  const tokenDir = join(work, 'tokens');
  mkdirSync(tokenDir, { recursive: true });
  writeFileSync(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const label = 'anvil-bench';
  const pin = randomBytes(9).toString('base64url');
  const init = spawnSync(
    'softhsm2-util',
    ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', randomBytes(9).toString('base64url')],
    {
      env: { ...process.env, SOFTHSM2_CONF: conf },
      encoding: 'utf8',
    },
  );
  if (init.status !== 0)
    throw new Error(`softhsm2-util --init-token failed (is Debian's softhsm2 installed?): ${init.stderr || init.error}`);
  const pinFile = join(work, 'pin');
  writeFileSync(pinFile, pin, { mode: 0o600 });
  const sessions = Number(process.env.ANVIL_PKCS11_SESSIONS ?? 2);
  return {
    label,
    pin,
    sessions,
    module,
    env: {
      SOFTHSM2_CONF: conf,
      ANVIL_CA_KEY_STORE: 'pkcs11',
      ANVIL_PKCS11_MODULE: module,
      ANVIL_PKCS11_TOKEN_LABEL: label,
      ANVIL_PKCS11_PIN_FILE: pinFile,
      ANVIL_PKCS11_SESSIONS: String(sessions),
    },
  };
}

/** SoftHSM2's signing rate with the issuing CA's token key, through Pkcs11KeyCustody's own sessions and queues. */
async function tokenSignRate(dbUrl: string, token: BenchToken, seconds: number) {
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
  const [row] = await sql<
    { key_ref: string; key_algorithm: string }[]
  >`select key_ref, key_algorithm from issuers where name = 'issuing-ca'`;
  await sql.end();
  const { Pkcs11KeyCustody, parseKeyRef } = await import('@anvil/ca/pkcs11');
  const { SoftwareKeyCustody, KeyEncryptionKey } = await import('@anvil/ca');
  process.env.SOFTHSM2_CONF = token.env.SOFTHSM2_CONF;
  const custody = Pkcs11KeyCustody.open(
    { module: token.module, tokenLabel: token.label, pin: token.pin, generateOn: 'token', sessions: token.sessions },
    new SoftwareKeyCustody(KeyEncryptionKey.random()),
  );
  try {
    const ref = parseKeyRef(row.key_ref);
    if (!ref) throw new Error(`issuing-ca's key is not on the token (key_ref ${row.key_ref})`);
    // What the server signs per certificate: a TBS of about this size.
    const data = randomBytes(600);
    const alg = row.key_algorithm as 'EC-P256';
    await custody.rawSign(ref.id, alg, data);
    let count = 0;
    const started = performance.now();
    const deadline = started + seconds * 1000;
    const loop = async () => {
      while (performance.now() < deadline) {
        await custody.rawSign(ref.id, alg, data);
        count++;
      }
    };
    await Promise.all(Array.from({ length: token.sessions * 2 }, loop));
    const elapsed = (performance.now() - started) / 1000;
    return { rate: count / elapsed, count, seconds: elapsed, keyAlgorithm: row.key_algorithm };
  } finally {
    custody.close();
  }
}

// ---- load generation -------------------------------------------------------------------------

interface DriveResult {
  total: number;
  statuses: Map<number, number>;
  latencies: number[];
  /** The first body seen for each non-201 status. */
  samples: Map<number, string>;
}

/** `concurrency` loops, each sending its next CSR when the previous answer arrived. */
async function drive(
  post: (csr: string) => Promise<{ status: number; body: string }>,
  csrs: string[],
  concurrency: number,
  durationS: number,
): Promise<DriveResult> {
  const statuses = new Map<number, number>();
  const samples = new Map<number, string>();
  const latencies: number[] = [];
  const deadline = durationS ? performance.now() + durationS * 1000 : Infinity;
  let next = 0;
  let total = 0;
  const loop = async () => {
    for (;;) {
      if (durationS ? performance.now() >= deadline : next >= csrs.length) return;
      const csr = csrs[next++ % csrs.length];
      const t = performance.now();
      const res = await post(csr);
      latencies.push(performance.now() - t);
      total++;
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status !== 201 && !samples.has(res.status)) samples.set(res.status, res.body);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { total, statuses, latencies, samples };
}

function httpPost(agent: Agent, port: number, path: string, token: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('request timed out after 30 s')));
    req.on('error', reject);
    req.end(body);
  });
}

// ---- CSRs, encoded by hand (PKCS#10, RFC 2986): fast enough to make thousands up front -------

const OID_DER = {
  commonName: Uint8Array.of(0x06, 0x03, 0x55, 0x04, 0x03),
  ecdsaWithSha256: Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02),
  extensionRequest: Uint8Array.of(0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e),
  subjectAltName: Uint8Array.of(0x06, 0x03, 0x55, 0x1d, 0x11),
};

function tlv(tag: number, content: Uint8Array): Uint8Array {
  const header = derHeader(tag, content.length);
  const out = new Uint8Array(header.length + content.length);
  out.set(header);
  out.set(content, header.length);
  return out;
}

/** CN=<name>, SAN dNSName=<name>, an EC P-256 key, signed with ECDSA-SHA256. */
function makeCsr(name: string): string {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const utf8 = new TextEncoder().encode(name);
  const subject = derSequence([tlv(0x31, derSequence([OID_DER.commonName, tlv(0x0c, utf8)]))]);
  const san = derSequence([tlv(0x82, utf8)]); // GeneralNames { dNSName }
  const extensions = derSequence([derSequence([OID_DER.subjectAltName, tlv(0x04, san)])]);
  const attributes = tlv(0xa0, derSequence([OID_DER.extensionRequest, tlv(0x31, extensions)]));
  const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const info = derSequence([Uint8Array.of(0x02, 0x01, 0x00), subject, spki, attributes]);
  const signature = sign('sha256', info, privateKey);
  const der = derSequence([info, derSequence([OID_DER.ecdsaWithSha256]), tlv(0x03, Buffer.concat([Uint8Array.of(0), signature]))]);
  return toPem(der, 'CERTIFICATE REQUEST');
}

// ---- plumbing --------------------------------------------------------------------------------

function positive(name: string, value: string): number {
  const v = Number(value);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive whole number (got "${value}")`);
  return v;
}

async function admin(url: string, statement: string) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(statement);
  } finally {
    await sql.end();
  }
}

// Last, so every module-level constant above is initialised before it starts.
await bench();
