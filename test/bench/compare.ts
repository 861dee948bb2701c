/**
 * npm run bench:compare — Anvil against its peers on this machine, in the same run, with the same
 * load generator, alternating Anvil and the peer (issue 13 item 1):
 *
 *   1. issuance from one P-256 CSR over HTTP (client profile, ECDSA P-256 issuer):
 *      Anvil POST /api/v1/certificates vs `cfssl serve` POST /api/v1/cfssl/sign            (wrk)
 *   2. OCSP answers: Anvil POST /ocsp vs `cfssl ocspserve` over responses cfssl pre-signed for
 *      the same number of certificates                                                     (wrk)
 *   3. a 1M-entry CRL: time and peak RSS of test/bench/crl.ts (child process) vs
 *      `openssl ca -gencrl` over an index.txt of 1M revoked entries             (/usr/bin/time -v)
 *   4. full mTLS handshakes with a verdict: Anvil GET /verify on the mTLS listener vs nginx
 *      `ssl_verify_client on` (BENCH_WORKERS processes each)                 (openssl s_time -new)
 *
 * Anvil is the real server process (apps/server/src/main.ts) on a throwaway PostgreSQL database
 * anvil_bench_<random> (ANVIL_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres),
 * dropped at the end, also on Ctrl-C. Every figure is checked first (a real certificate, a good
 * OCSP answer, a verified client) and non-2xx answers during the runs are counted and printed.
 * The machine's load average is printed beside each figure: other load skews both sides.
 *
 *   BENCH_SECONDS (10)       duration of each wrk / s_time run
 *   BENCH_CONNECTIONS (16)   wrk connections (pairs 1 and 2)
 *   BENCH_TLS_CLIENTS (8)    parallel `openssl s_time -new` processes (pair 4)
 *   BENCH_ROUNDS (2)         alternations Anvil, peer per pair
 *   BENCH_OCSP_CERTS (1000)  certificates each side issues for the OCSP pair
 *   BENCH_CRL_SIZE (1m)      CRL entries (pair 3)
 *   BENCH_PAIRS (issue,ocsp,crl,mtls)  which pairs to run
 *   BENCH_WORKERS (cores)    Anvil's ANVIL_WORKERS, and nginx's worker_processes in pair 4
 *
 * A script, never a timed test. Needs wrk, cfssl (Debian golang-cfssl), nginx, openssl,
 * /usr/bin/time (all in .ci/run's package list) and PostgreSQL.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, NGINX_BIN, type RunningNginx, startNginx } from '../support/nginx.ts';
import { type CrlSeed, publishCrl, seedCrl } from './compare-crl.ts';
import { adminStatement, BENCH_PG_URL } from './support.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SECONDS = positive('BENCH_SECONDS', process.env.BENCH_SECONDS ?? '10');
const CONNECTIONS = positive('BENCH_CONNECTIONS', process.env.BENCH_CONNECTIONS ?? '16');
const TLS_CLIENTS = positive('BENCH_TLS_CLIENTS', process.env.BENCH_TLS_CLIENTS ?? '8');
const ROUNDS = positive('BENCH_ROUNDS', process.env.BENCH_ROUNDS ?? '2');
const OCSP_CERTS = positive('BENCH_OCSP_CERTS', process.env.BENCH_OCSP_CERTS ?? '1000');
const CRL_SIZE = process.env.BENCH_CRL_SIZE ?? '1m';
const PAIRS = new Set((process.env.BENCH_PAIRS ?? 'issue,ocsp,crl,mtls').split(',').map((s) => s.trim()));
const WRK_THREADS = Math.max(1, Math.min(CONNECTIONS, cpus().length));
const WORKERS = positive('BENCH_WORKERS', process.env.BENCH_WORKERS ?? String(cpus().length));

function positive(name: string, value: string): number {
  const v = Number(value);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive whole number (got "${value}")`);
  return v;
}

const load1 = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

// ---- processes, temp files and databases, all cleaned up at exit ------------------------------

const work = mkdtempSync(join(tmpdir(), 'anvil-bench-compare-'));
const children = new Set<ChildProcess>();
const databases = new Set<string>();
let nginx: RunningNginx | null = null;

function track(p: ChildProcess): ChildProcess {
  children.add(p);
  p.once('exit', () => children.delete(p));
  return p;
}

async function stop(p: ChildProcess | null | undefined) {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  await new Promise<void>((r) => {
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      r();
    }, 5000);
    p.once('exit', () => {
      clearTimeout(t);
      r();
    });
    p.kill('SIGTERM');
  });
}

let cleaned = false;
let cleaning: Promise<void> | null = null;
/** Once; a second call (a second SIGINT: tsx forwards Ctrl-C too) waits for the first. */
function cleanup(): Promise<void> {
  cleaned = true;
  cleaning ??= (async () => {
    nginx?.stop();
    await Promise.all([...children].map(stop));
    for (const db of databases) await adminStatement(`drop database if exists ${db} with (force)`).catch(() => {});
    rmSync(work, { recursive: true, force: true });
  })();
  return cleaning;
}
let interrupted = false;
process.on('SIGINT', () => {
  if (!interrupted) console.error('\ninterrupted: stopping every server and dropping the databases');
  interrupted = true;
  void cleanup().finally(() => process.exit(130));
});

/** Runs a command to completion; stdout, stderr and the exit code. */
function run(cmd: string, args: string[], opts: { input?: string | Buffer; cwd?: string } = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    if (cleaned) throw new Error('interrupted');
    const p = track(spawn(cmd, args, { cwd: opts.cwd ?? work, stdio: ['pipe', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d) => (stdout += d));
    p.stderr!.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    p.stdin!.end(opts.input ?? '');
  });
}

async function must(cmd: string, args: string[], opts: { input?: string | Buffer; cwd?: string } = {}) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}):\n${r.stderr.slice(-2000)}${r.stdout.slice(-500)}`);
  return r;
}

async function waitFor(what: string, probe: () => Promise<boolean>, proc: ChildProcess, log: string, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${what} exited (${proc.exitCode}) before it answered:\n${tail(log)}`);
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not answer within ${ms / 1000} s:\n${tail(log)}`);
}

const tail = (file: string) => {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-25).join('\n');
  } catch {
    return '';
  }
};

const tcpOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

/** A long-running child with its output in work/<name>.log. */
function daemon(name: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv) {
  if (cleaned) throw new Error('interrupted');
  const log = join(work, `${name}.log`);
  const fd = openSync(log, 'a');
  const p = track(spawn(cmd, args, { cwd: ROOT, env: env ?? process.env, stdio: ['ignore', fd, fd] }));
  closeSync(fd);
  return { proc: p, log };
}

// ---- the load generator for HTTP: wrk ---------------------------------------------------------

interface WrkResult {
  rps: number;
  requests: number;
  non2xx: number;
  socketErrors: string;
  p50: string;
  p99: string;
  load: string;
  /** CPU milliseconds per request: the server's process tree, PostgreSQL's processes, wrk itself. */
  cpu?: { server: number; postgres: number; wrk: number };
}

// ---- CPU time: /proc/<pid>/stat utime + stime (clock ticks, 100 per second on Linux) -----------

const TICK_MS = 10;

function procStat(pid: number): { ppid: number; comm: string; ticks: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const comm = text.slice(text.indexOf('(') + 1, close);
    const f = text.slice(close + 2).split(' '); // f[0] is field 3 (state)
    return { ppid: Number(f[1]), comm, ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return null; // exited meanwhile
  }
}

function allStats() {
  const out = new Map<number, { ppid: number; comm: string; ticks: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = procStat(Number(name));
    if (st) out.set(Number(name), st);
  }
  return out;
}

/** CPU ticks used so far by `root` and its descendants, and by every process named postgres. */
function cpuTicks(root: number | undefined): { server: number; postgres: number } {
  const stats = allStats();
  const tree = new Set<number>(root ? [root] : []);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, st] of stats) {
      if (!tree.has(pid) && tree.has(st.ppid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  let server = 0;
  let postgres = 0;
  for (const [pid, st] of stats) {
    if (tree.has(pid)) server += st.ticks;
    else if (st.comm === 'postgres') postgres += st.ticks;
  }
  return { server, postgres };
}

/** `wrk.method = "POST"`, the body read from a file (binary-safe), the given headers. */
function wrkScript(name: string, bodyFile: string, headers: Record<string, string>): string {
  const file = join(work, `${name}.lua`);
  const lua = [
    `local f = assert(io.open(${JSON.stringify(bodyFile)}, "rb"))`,
    'wrk.body = f:read("*a")',
    'f:close()',
    'wrk.method = "POST"',
    ...Object.entries(headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`),
  ].join('\n');
  writeFileSync(file, `${lua}\n`);
  return file;
}

async function wrk(url: string, script: string, seconds = SECONDS, server?: ChildProcess): Promise<WrkResult> {
  const before = cpuTicks(server?.pid);
  // wrk under /usr/bin/time: its own CPU seconds on the last line of stderr.
  const r = await must('/usr/bin/time', [
    '-f',
    'wrk-cpu %U %S',
    'wrk',
    `-t${WRK_THREADS}`,
    `-c${CONNECTIONS}`,
    `-d${seconds}s`,
    '--latency',
    '-s',
    script,
    url,
  ]);
  const after = cpuTicks(server?.pid);
  const out = r.stdout;
  const wrkCpu = /wrk-cpu ([\d.]+) ([\d.]+)/.exec(r.stderr);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  if (!Number.isFinite(rps) || !Number.isFinite(requests)) throw new Error(`cannot read wrk's output:\n${out}`);
  return {
    rps,
    requests,
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: /Socket errors:.*/.exec(out)?.[0] ?? '',
    p50: /^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? '?',
    p99: /^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '?',
    load: load1(),
    cpu:
      requests > 0
        ? {
            server: ((after.server - before.server) * TICK_MS) / requests,
            postgres: ((after.postgres - before.postgres) * TICK_MS) / requests,
            wrk: wrkCpu ? ((Number(wrkCpu[1]) + Number(wrkCpu[2])) * 1000) / requests : Number.NaN,
          }
        : undefined,
  };
}

// ---- the summary ------------------------------------------------------------------------------

interface Row {
  pair: string;
  anvil: string;
  peer: string;
  ratio: string;
  load: string;
}
const summary: Row[] = [];
const skipped: string[] = [];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Alternates Anvil, peer, Anvil, peer... and prints each run; returns the per-round ratios. */
async function alternateWrk(
  label: string,
  unit: string,
  sides: {
    anvil: { url: string; script: string; proc: ChildProcess };
    peer: { name: string; url: string; script: string; proc: ChildProcess };
  },
) {
  // Warm-up (JIT, pools), not measured.
  await wrk(sides.anvil.url, sides.anvil.script, 2);
  await wrk(sides.peer.url, sides.peer.script, 2);
  const a: number[] = [];
  const p: number[] = [];
  const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '?');
  const line = (who: string, round: number, r: WrkResult) =>
    console.log(
      `  round ${round} ${who.padEnd(8)} ${r.rps.toFixed(0).padStart(7)} ${unit}  (${r.requests} requests, non-2xx ${r.non2xx}` +
        `${r.socketErrors ? `, ${r.socketErrors}` : ''}; latency p50 ${r.p50} p99 ${r.p99})  load ${r.load}` +
        (r.cpu
          ? `\n           CPU ms per request: server ${ms(r.cpu.server)}, PostgreSQL ${ms(r.cpu.postgres)}, wrk ${ms(r.cpu.wrk)}`
          : ''),
    );
  let bad = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const ra = await wrk(sides.anvil.url, sides.anvil.script, SECONDS, sides.anvil.proc);
    line('anvil', round, ra);
    const rp = await wrk(sides.peer.url, sides.peer.script, SECONDS, sides.peer.proc);
    line(sides.peer.name, round, rp);
    a.push(ra.rps);
    p.push(rp.rps);
    bad += ra.non2xx + rp.non2xx;
  }
  const ratios = a.map((x, i) => x / p[i]);
  console.log(
    `  ${label}: anvil mean ${mean(a).toFixed(0)}, ${sides.peer.name} mean ${mean(p).toFixed(0)} ${unit}; ` +
      `anvil/${sides.peer.name} per round ${ratios.map((r) => r.toFixed(2)).join(', ')}, mean ${mean(ratios).toFixed(2)}`,
  );
  if (bad > 0) {
    console.log(`  WARNING: ${bad} non-2xx answers during the runs; the figures above include them`);
    process.exitCode = 1;
  }
  summary.push({
    pair: label,
    anvil: `${mean(a).toFixed(0)} ${unit}`,
    peer: `${mean(p).toFixed(0)} ${unit} (${sides.peer.name})`,
    ratio: mean(ratios).toFixed(2),
    load: load1(),
  });
}

// ---- Anvil: the real server process on PostgreSQL ---------------------------------------------

interface Anvil {
  base: string;
  mtlsPort: number;
  token: string;
  proc: ChildProcess;
  api(method: string, path: string, body?: unknown): Promise<Response>;
}

async function startAnvil(): Promise<Anvil> {
  const db = `anvil_bench_${randomBytes(5).toString('hex')}`;
  databases.add(db);
  await adminStatement(`create database ${db}`);
  const port = await freePort();
  const mtlsPort = await freePort();
  const token = `anvil_bench_${randomBytes(24).toString('base64url')}`;
  const dataDir = join(work, 'anvil');
  mkdirSync(dataDir);
  const { proc, log } = daemon('anvil', process.execPath, ['--import', 'tsx', join(ROOT, 'apps/server/src/main.ts')], {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    ANVIL_MTLS_PORT: String(mtlsPort),
    DATABASE_URL: BENCH_PG_URL.replace(/\/[^/]*$/, `/${db}`),
    ANVIL_DATA_DIR: dataDir,
    ANVIL_KEK: randomBytes(32).toString('hex'),
    ANVIL_ADMIN_TOKEN: token,
    ANVIL_PUBLIC_URL: `http://127.0.0.1:${port}`,
    ANVIL_CA_KEY_ALGORITHM: 'EC-P256',
    // The benchmark measures issuance, not the per-token limit (60/min by default).
    ANVIL_ISSUE_RATE_LIMIT: '0',
    ANVIL_WORKERS: String(WORKERS),
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    'the Anvil server',
    async () => {
      const res = await fetch(`${base}/pki/trust-bundle.pem`, { signal: AbortSignal.timeout(2000) });
      return res.ok && (await res.text()).includes('BEGIN CERTIFICATE') && (await tcpOpen(mtlsPort));
    },
    proc,
    log,
  );
  // The ports answer once the first worker listens: wait until every worker has answered /healthz.
  const seen = new Set<number>();
  await waitFor(
    `all ${WORKERS} Anvil workers`,
    async () => {
      const res = await fetch(`${base}/healthz`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(2000) });
      seen.add(((await res.json()) as { worker: number }).worker);
      return seen.size >= WORKERS || seen.has(0);
    },
    proc,
    log,
  );
  console.log(
    `Anvil: ${base} (mTLS listener :${mtlsPort}), ANVIL_WORKERS=${WORKERS} (a supervisor and ${WORKERS} worker processes), PostgreSQL database ${db}, LOG_LEVEL=warn`,
  );
  return {
    base,
    mtlsPort,
    token,
    proc,
    api: (method, path, body) =>
      fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
  };
}

// ---- cfssl: an ECDSA P-256 CA, a client profile, `cfssl serve` --------------------------------

interface Cfssl {
  base: string;
  caPem: string;
  caKey: string;
  proc: ChildProcess;
  sign(csr: string): Promise<string>;
}

async function startCfssl(): Promise<Cfssl> {
  const dir = join(work, 'cfssl');
  mkdirSync(dir);
  const csrJson = join(dir, 'ca-csr.json');
  writeFileSync(csrJson, JSON.stringify({ CN: 'cfssl bench CA', key: { algo: 'ecdsa', size: 256 }, names: [{ O: 'Bench' }] }));
  const gen = JSON.parse((await must('cfssl', ['gencert', '-initca', csrJson], { cwd: dir })).stdout) as { cert: string; key: string };
  const caPem = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca-key.pem');
  writeFileSync(caPem, gen.cert);
  writeFileSync(caKey, gen.key, { mode: 0o600 });
  const config = join(dir, 'config.json');
  const client = { expiry: '720h', usages: ['signing', 'digital signature', 'client auth'] };
  writeFileSync(config, JSON.stringify({ signing: { default: client, profiles: { client } } }));
  const port = await freePort();
  const { proc, log } = daemon('cfssl-serve', 'cfssl', [
    'serve',
    '-address',
    '127.0.0.1',
    '-port',
    String(port),
    '-ca',
    caPem,
    '-ca-key',
    caKey,
    '-config',
    config,
    // The CA signs its own OCSP answers (used only to pre-sign the responses of pair 2).
    '-responder',
    caPem,
    '-responder-key',
    caKey,
    '-loglevel',
    '2',
  ]);
  const base = `http://127.0.0.1:${port}`;
  await waitFor('cfssl serve', () => tcpOpen(port), proc, log);
  console.log(`cfssl serve: ${base}, ECDSA P-256 CA, profile client (signing, digital signature, client auth; 720h), -loglevel 2`);
  return {
    base,
    caPem,
    caKey,
    proc,
    async sign(csr) {
      const res = await fetch(`${base}/api/v1/cfssl/sign`, {
        method: 'POST',
        body: JSON.stringify({ certificate_request: csr, profile: 'client' }),
      });
      const body = (await res.json()) as { success: boolean; result?: { certificate?: string }; errors?: unknown };
      if (!res.ok || !body.success || !body.result?.certificate?.includes('BEGIN CERTIFICATE')) {
        throw new Error(`cfssl sign failed: ${res.status} ${JSON.stringify(body).slice(0, 400)}`);
      }
      return body.result.certificate;
    },
  };
}

/** One EC P-256 CSR (CN + DNS SAN), by openssl. */
async function makeCsr(): Promise<{ csr: string; key: string }> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const key = join(work, 'bench-client.key');
  writeFileSync(key, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  const r = await must('openssl', [
    'req',
    '-new',
    '-key',
    key,
    '-subj',
    '/CN=bench-client',
    '-addext',
    'subjectAltName=DNS:bench-client.example.test',
  ]);
  return { csr: r.stdout, key };
}

/** Runs tasks with at most `n` in flight. */
async function pool<T>(count: number, n: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, count) }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await task(i);
      }
    }),
  );
  return out;
}

// ---- pair 1: issuance -------------------------------------------------------------------------

async function pairIssue(anvil: Anvil, cfssl: Cfssl, csr: string) {
  console.log(`\n== 1. issuance from one P-256 CSR over HTTP, client profile, ECDSA P-256 issuer (wrk, ${CONNECTIONS} connections)`);
  const anvilBody = join(work, 'issue-anvil.json');
  const cfsslBody = join(work, 'issue-cfssl.json');
  writeFileSync(anvilBody, JSON.stringify({ profile: 'client', csr, subject: { CN: 'bench-client' } }));
  writeFileSync(cfsslBody, JSON.stringify({ certificate_request: csr, profile: 'client' }));

  // Sanity: both really issue a certificate for this body.
  const res = await fetch(`${anvil.base}/api/v1/certificates`, {
    method: 'POST',
    headers: { authorization: `Bearer ${anvil.token}`, 'content-type': 'application/json' },
    body: readFileSync(anvilBody),
  });
  const issued = (await res.json()) as { certificate?: string };
  if (res.status !== 201 || !issued.certificate?.includes('BEGIN CERTIFICATE')) {
    throw new Error(`Anvil refused the benchmark body: ${res.status} ${JSON.stringify(issued).slice(0, 400)}`);
  }
  const cres = await fetch(`${cfssl.base}/api/v1/cfssl/sign`, { method: 'POST', body: readFileSync(cfsslBody) });
  const cissued = (await cres.json()) as { success?: boolean; result?: { certificate?: string } };
  if (!cres.ok || !cissued.success || !cissued.result?.certificate?.includes('BEGIN CERTIFICATE')) {
    throw new Error(`cfssl refused the benchmark body: ${cres.status} ${JSON.stringify(cissued).slice(0, 400)}`);
  }
  console.log('  checked: Anvil answers 201 with a certificate, cfssl answers success with a certificate');

  await alternateWrk('issuance (certificates/s)', 'certs/s', {
    anvil: {
      url: `${anvil.base}/api/v1/certificates`,
      script: wrkScript('issue-anvil', anvilBody, { 'Content-Type': 'application/json', Authorization: `Bearer ${anvil.token}` }),
      proc: anvil.proc,
    },
    peer: {
      name: 'cfssl',
      proc: cfssl.proc,
      url: `${cfssl.base}/api/v1/cfssl/sign`,
      script: wrkScript('issue-cfssl', cfsslBody, { 'Content-Type': 'application/json' }),
    },
  });
}

// ---- pair 2: OCSP -----------------------------------------------------------------------------

async function checkOcsp(who: string, url: string, reqFile: string, issuer: string, leaf: string, trust: string) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: readFileSync(reqFile) });
  const type = res.headers.get('content-type') ?? '';
  const der = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200 || !type.startsWith('application/ocsp-response')) {
    throw new Error(`${who} OCSP: ${res.status} ${type} ${der.toString().slice(0, 200)}`);
  }
  const file = join(work, `${who}-ocsp-resp.der`);
  writeFileSync(file, der);
  const r = await run('openssl', ['ocsp', '-respin', file, '-issuer', issuer, '-cert', leaf, '-CAfile', trust]);
  const out = `${r.stdout}${r.stderr}`;
  if (!/Response verify OK/.test(out) || !/: good/.test(out)) throw new Error(`${who} OCSP answer does not verify as good:\n${out}`);
  return out.match(/: good/)?.[0];
}

async function pairOcsp(anvil: Anvil, cfssl: Cfssl, csr: string) {
  console.log(
    `\n== 2. OCSP answers, ${OCSP_CERTS} certificates each side, one nonce-less request repeated (wrk, ${CONNECTIONS} connections)`,
  );
  const dir = join(work, 'ocsp');
  mkdirSync(dir);
  const t0 = performance.now();
  // Anvil: N certificates (one more issuance each; the OCSP responder answers from its database).
  const anvilCerts = await pool(OCSP_CERTS, 8, async (i) => {
    const res = await anvil.api('POST', '/api/v1/certificates', { profile: 'client', csr, subject: { CN: `bench-ocsp-${i}` } });
    const body = (await res.json()) as { certificate?: string };
    if (res.status !== 201 || !body.certificate) throw new Error(`Anvil issuance: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
    return body.certificate;
  });
  // cfssl: N certificates, and a response pre-signed by cfssl for each (one base64 DER per line).
  const cfsslCerts = await pool(OCSP_CERTS, 8, () => cfssl.sign(csr));
  const responses = await pool(OCSP_CERTS, 8, async (i) => {
    const res = await fetch(`${cfssl.base}/api/v1/cfssl/ocspsign`, {
      method: 'POST',
      body: JSON.stringify({ certificate: cfsslCerts[i], status: 'good' }),
    });
    const body = (await res.json()) as { success?: boolean; result?: { ocspResponse?: string } };
    if (!res.ok || !body.success || !body.result?.ocspResponse)
      throw new Error(`cfssl ocspsign: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
    return body.result.ocspResponse;
  });
  const responsesFile = join(dir, 'responses');
  writeFileSync(responsesFile, `${responses.join('\n')}\n`);
  console.log(
    `  issued ${anvilCerts.length} (Anvil) + ${cfsslCerts.length} (cfssl) certificates and pre-signed ${responses.length} cfssl responses in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  const port = await freePort();
  const { proc, log } = daemon('cfssl-ocspserve', 'cfssl', [
    'ocspserve',
    '-address',
    '127.0.0.1',
    '-port',
    String(port),
    '-responses',
    responsesFile,
    '-loglevel',
    '2',
  ]);
  await waitFor('cfssl ocspserve', () => tcpOpen(port), proc, log);

  // One request per side, for a certificate in the middle of the set, by openssl.
  const issuerPem = join(dir, 'anvil-issuer.pem');
  const trust = join(dir, 'anvil-trust.pem');
  writeFileSync(issuerPem, await (await fetch(`${anvil.base}/pki/issuers/issuing-ca.pem`)).text());
  writeFileSync(trust, await (await fetch(`${anvil.base}/pki/trust-bundle.pem`)).text());
  const mid = Math.floor(OCSP_CERTS / 2);
  const anvilLeaf = join(dir, 'anvil-leaf.pem');
  const cfsslLeaf = join(dir, 'cfssl-leaf.pem');
  writeFileSync(anvilLeaf, anvilCerts[mid]);
  writeFileSync(cfsslLeaf, cfsslCerts[mid]);
  const anvilReq = join(dir, 'anvil-req.der');
  const cfsslReq = join(dir, 'cfssl-req.der');
  await must('openssl', ['ocsp', '-issuer', issuerPem, '-cert', anvilLeaf, '-reqout', anvilReq, '-no_nonce']);
  await must('openssl', ['ocsp', '-issuer', cfssl.caPem, '-cert', cfsslLeaf, '-reqout', cfsslReq, '-no_nonce']);
  const anvilUrl = `${anvil.base}/ocsp`;
  const cfsslUrl = `http://127.0.0.1:${port}/`;
  await checkOcsp('anvil', anvilUrl, anvilReq, issuerPem, anvilLeaf, trust);
  await checkOcsp('cfssl', cfsslUrl, cfsslReq, cfssl.caPem, cfsslLeaf, cfssl.caPem);
  console.log('  checked: both answer 200 application/ocsp-response, openssl ocsp: "Response verify OK", status good');

  const headers = { 'Content-Type': 'application/ocsp-request' };
  await alternateWrk('OCSP (answers/s)', 'answers/s', {
    anvil: { url: anvilUrl, script: wrkScript('ocsp-anvil', anvilReq, headers), proc: anvil.proc },
    peer: { name: 'cfssl', url: cfsslUrl, script: wrkScript('ocsp-cfssl', cfsslReq, headers), proc },
  });
  await stop(proc);
}

// ---- pair 3: a 1M-entry CRL -------------------------------------------------------------------

interface CrlFigure {
  seconds: number;
  peakMb: number;
  load: string;
  note: string;
}

/** One publication of the seeded CRL in a fresh child process (test/bench/compare-crl.ts). */
async function anvilCrl(seed: CrlSeed): Promise<CrlFigure> {
  if (cleaned) throw new Error('interrupted');
  const r = await publishCrl(seed, (p) => track(p));
  if (r.verify !== 'verify OK') throw new Error(`Anvil's CRL did not verify: ${r.verify}`);
  return {
    seconds: r.seconds,
    peakMb: r.peakMb,
    load: load1(),
    note: `${r.entries} entries counted, CRL ${r.crlMb.toFixed(1)} MB DER, openssl ${r.verify}`,
  };
}

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(s.trim());
  if (!m) throw new Error(`BENCH_CRL_SIZE: "${s}" is not a count like 100000, 100k or 1m`);
  return Math.round(Number(m[1]) * { '': 1, k: 1e3, m: 1e6 }[m[2].toLowerCase() as '' | 'k' | 'm']);
}

/** An openssl `ca` directory over the cfssl P-256 CA: index.txt of n revoked entries. */
function opensslCaDir(caPem: string, caKey: string, n: number): string {
  const dir = join(work, 'openssl-ca');
  mkdirSync(dir);
  const utc = (d: Date) => `${d.toISOString().replace(/[-:T]/g, '').slice(2, 14)}Z`;
  const expiry = utc(new Date(Date.now() + 90 * 86400_000));
  const now = Date.now();
  const lines: string[] = [];
  for (let i = 1; i <= n; i++) {
    // 16-octet serials, as issued serials are, unique; revoked within the last day.
    const serial = (BigInt(i) | (1n << 124n)).toString(16).toUpperCase();
    lines.push(`R\t${expiry}\t${utc(new Date(now - (i % 86400) * 1000))}\t${serial}\tunknown\t/CN=x`);
  }
  writeFileSync(join(dir, 'index.txt'), `${lines.join('\n')}\n`);
  writeFileSync(join(dir, 'index.txt.attr'), 'unique_subject = no\n');
  writeFileSync(join(dir, 'crlnumber'), '01\n');
  writeFileSync(
    join(dir, 'openssl.cnf'),
    `[ ca ]
default_ca = bench
[ bench ]
dir = ${dir}
database = $dir/index.txt
crlnumber = $dir/crlnumber
certificate = ${caPem}
private_key = ${caKey}
default_md = sha256
default_crl_days = 7
unique_subject = no
`,
  );
  return dir;
}

async function opensslCrl(dir: string, caPem: string, n: number, round: number): Promise<CrlFigure> {
  const out = join(dir, `crl-${round}.pem`);
  const r = await must('/usr/bin/time', ['-v', 'openssl', 'ca', '-gencrl', '-config', join(dir, 'openssl.cnf'), '-out', out, '-batch']);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(r.stderr);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  if (!wall || !rss) throw new Error(`cannot read /usr/bin/time -v:\n${r.stderr.slice(-2000)}`);
  const seconds = Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]);
  const v = await run('openssl', ['crl', '-in', out, '-CAfile', caPem, '-noout', '-verify']);
  if (!/verify OK/.test(`${v.stdout}${v.stderr}`)) throw new Error(`openssl's CRL does not verify: ${v.stdout}${v.stderr}`);
  const size = readFileSync(out).length;
  return {
    seconds,
    peakMb: Number(rss[1]) / 1024,
    load: load1(),
    note: `${n} R entries in index.txt, CRL ${(size / 1024 / 1024).toFixed(1)} MB PEM, openssl verify OK`,
  };
}

async function pairCrl(caPem: string, caKey: string) {
  const n = parseSize(CRL_SIZE);
  console.log(`\n== 3. a ${n}-entry CRL: time and peak RSS (ECDSA P-256 issuers both sides)`);
  console.log(
    `  anvil: authority.crls.publish(issuer) as test/bench/crl.ts, ${n} revoked rows seeded once in PostgreSQL, each round in a fresh Node process (publish time, process peak RSS)`,
  );
  console.log(`  openssl: /usr/bin/time -v openssl ca -gencrl over an index.txt of ${n} revoked entries (wall time, max RSS)`);
  const t0 = performance.now();
  const dir = opensslCaDir(caPem, caKey, n);
  console.log(`  wrote the openssl index in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const seed = await seedCrl(n, (db) => {
    if (cleaned) throw new Error('interrupted');
    databases.add(db);
  });
  console.log(`  seeded Anvil's database ${seed.db}: ${n} revoked rows in ${seed.insertSeconds.toFixed(1)} s (not counted)`);
  const a: CrlFigure[] = [];
  const o: CrlFigure[] = [];
  const line = (who: string, round: number, f: CrlFigure) =>
    console.log(
      `  round ${round} ${who.padEnd(8)} ${f.seconds.toFixed(2).padStart(6)} s  peak RSS ${f.peakMb.toFixed(1).padStart(6)} MB  (${f.note})  load ${f.load}`,
    );
  for (let round = 1; round <= ROUNDS; round++) {
    const fa = await anvilCrl(seed);
    line('anvil', round, fa);
    const fo = await opensslCrl(dir, caPem, n, round);
    line('openssl', round, fo);
    a.push(fa);
    o.push(fo);
  }
  const ta = mean(a.map((f) => f.seconds));
  const to = mean(o.map((f) => f.seconds));
  const ma = mean(a.map((f) => f.peakMb));
  const mo = mean(o.map((f) => f.peakMb));
  const tr = mean(a.map((f, i) => f.seconds / o[i].seconds));
  const mr = mean(a.map((f, i) => f.peakMb / o[i].peakMb));
  console.log(
    `  CRL: anvil ${ta.toFixed(2)} s / ${ma.toFixed(0)} MB, openssl ${to.toFixed(2)} s / ${mo.toFixed(0)} MB; ` +
      `anvil/openssl time ${tr.toFixed(2)}, peak memory ${mr.toFixed(2)} (lower is better for both)`,
  );
  summary.push({
    pair: `CRL ${n} entries: time`,
    anvil: `${ta.toFixed(2)} s`,
    peer: `${to.toFixed(2)} s (openssl ca)`,
    ratio: tr.toFixed(2),
    load: load1(),
  });
  summary.push({
    pair: `CRL ${n} entries: peak RSS`,
    anvil: `${ma.toFixed(0)} MB`,
    peer: `${mo.toFixed(0)} MB (openssl ca)`,
    ratio: mr.toFixed(2),
    load: load1(),
  });
}

// ---- pair 4: mTLS handshakes with a verdict ---------------------------------------------------

/** TLS_CLIENTS parallel `openssl s_time -new` (a full handshake per connection, HTTP/1.0). */
async function sTime(port: number, f: { leaf: string; key: string; chain: string }, seconds = SECONDS) {
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: TLS_CLIENTS }, async () => {
      const r = await run('openssl', [
        's_time',
        '-connect',
        `127.0.0.1:${port}`,
        '-new',
        '-cert',
        f.leaf,
        '-key',
        f.key,
        '-CAfile',
        f.chain,
        '-www',
        '/verify',
        '-time',
        String(seconds),
      ]);
      const m = /(\d+) connections in \d+ real seconds, (\d+) bytes read per connection/.exec(`${r.stdout}${r.stderr}`);
      if (r.code !== 0 || !m) throw new Error(`s_time failed (${r.code}):\n${(r.stdout + r.stderr).slice(-2000)}`);
      return Number(m[1]);
    }),
  );
  const wall = (performance.now() - started) / 1000;
  const n = results.reduce((a, b) => a + b, 0);
  return { rate: n / wall, n, load: load1() };
}

async function curl(args: string[]): Promise<string> {
  return (await run('curl', ['-sk', '--max-time', '10', ...args])).stdout;
}

async function pairMtls(anvil: Anvil) {
  console.log(
    `\n== 4. full mTLS handshakes with a verdict (openssl s_time -new for both: ${TLS_CLIENTS} processes, no resumption, HTTP/1.0, a new connection per request)`,
  );
  const dir = join(work, 'mtls');
  mkdirSync(dir);
  const issue = async (body: unknown) => {
    const res = await anvil.api('POST', '/api/v1/certificates', body);
    const cert = (await res.json()) as { certificate: string; chain: string; fullchain: string; privateKey: string };
    if (res.status !== 201) throw new Error(`Anvil issuance: ${res.status} ${JSON.stringify(cert).slice(0, 300)}`);
    return cert;
  };
  const client = await issue({ profile: 'client', subject: { CN: 'bench-mtls-client' }, sans: { dns: ['bench-mtls.example.test'] } });
  const server = await issue({ profile: 'server', subject: { CN: 'localhost' }, sans: { dns: ['localhost'], ip: ['127.0.0.1'] } });
  const f = {
    leaf: join(dir, 'client.pem'),
    key: join(dir, 'client.key'),
    chain: join(dir, 'chain.pem'),
    fullchain: join(dir, 'fullchain.pem'),
    trust: join(dir, 'trust.pem'),
    crls: join(dir, 'crls.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
  };
  writeFileSync(f.leaf, client.certificate);
  writeFileSync(f.key, client.privateKey, { mode: 0o600 });
  writeFileSync(f.chain, client.chain);
  writeFileSync(f.fullchain, client.fullchain);
  writeFileSync(f.serverCert, server.fullchain);
  writeFileSync(f.serverKey, server.privateKey, { mode: 0o600 });
  writeFileSync(f.trust, await (await fetch(`${anvil.base}/pki/trust-bundle.pem`)).text());
  // The same trust as Anvil's judge: the trust bundle, and the CRLs of the issuer and the root.
  writeFileSync(f.crls, await (await fetch(`${anvil.base}/pki/issuers/issuing-ca/crls.pem`)).text());

  const port = await freePort();
  // The same worker count on both sides: nginx worker_processes = Anvil's ANVIL_WORKERS (BENCH_WORKERS).
  nginx = await startNginx(
    join(dir, 'nginx'),
    [
      {
        port,
        certPath: f.serverCert,
        keyPath: f.serverKey,
        clientCaPath: f.trust,
        crlPath: f.crls,
        verifyClient: 'on',
        depth: 3,
      },
    ],
    WORKERS,
  );
  const anvilVerdict = JSON.parse(await curl(['--cert', f.fullchain, '--key', f.key, `https://127.0.0.1:${anvil.mtlsPort}/verify`])) as {
    status?: string;
    nginx?: string;
  };
  const nginxVerdict = await curl(['--cert', f.fullchain, '--key', f.key, `https://127.0.0.1:${port}/verify`]);
  if (anvilVerdict.status !== 'verified' || nginxVerdict !== 'SUCCESS' || anvilVerdict.nginx !== nginxVerdict) {
    throw new Error(`mTLS sanity check failed: anvil ${JSON.stringify(anvilVerdict).slice(0, 300)}, nginx ${nginxVerdict}`);
  }
  console.log(`  checked: Anvil /verify says "verified" (nginx verdict ${anvilVerdict.nginx}), nginx says ${nginxVerdict}`);
  await sTime(anvil.mtlsPort, f, 2);
  await sTime(port, f, 2);
  const a: number[] = [];
  const p: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const ra = await sTime(anvil.mtlsPort, f);
    console.log(`  round ${round} anvil    ${ra.rate.toFixed(0).padStart(7)} handshakes/s  (${ra.n} connections)  load ${ra.load}`);
    const rn = await sTime(port, f);
    console.log(`  round ${round} nginx    ${rn.rate.toFixed(0).padStart(7)} handshakes/s  (${rn.n} connections)  load ${rn.load}`);
    a.push(ra.rate);
    p.push(rn.rate);
  }
  const ratios = a.map((x, i) => x / p[i]);
  console.log(
    `  mTLS: anvil mean ${mean(a).toFixed(0)}, nginx mean ${mean(p).toFixed(0)} handshakes/s; anvil/nginx per round ${ratios
      .map((r) => r.toFixed(2))
      .join(', ')}, mean ${mean(ratios).toFixed(2)}`,
  );
  summary.push({
    pair: 'mTLS handshake + verdict (handshakes/s)',
    anvil: `${mean(a).toFixed(0)} /s`,
    peer: `${mean(p).toFixed(0)} /s (nginx, ${WORKERS} worker${WORKERS > 1 ? 's' : ''})`,
    ratio: mean(ratios).toFixed(2),
    load: load1(),
  });
  nginx.stop();
  nginx = null;
}

// ---- main -------------------------------------------------------------------------------------

async function main() {
  const missing = ['wrk', 'cfssl', 'openssl', 'curl'].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
  if (!NGINX_BIN) missing.push('nginx');
  if (spawnSync('sh', ['-c', 'test -x /usr/bin/time']).status !== 0) missing.push('/usr/bin/time');
  if (missing.length) {
    console.error(`bench:compare needs ${missing.join(', ')} (.ci/run installs them)`);
    process.exit(2);
  }
  const started = performance.now();
  console.log(
    `bench:compare — ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}; ${SECONDS} s per run, ` +
      `${ROUNDS} rounds alternating Anvil and the peer; wrk ${CONNECTIONS} connections / ${WRK_THREADS} threads`,
  );
  console.log(`load average at start: ${load1()}`);
  const anvil = await startAnvil();
  const cfssl = await startCfssl();
  const { csr } = await makeCsr();

  const attempt = async (name: string, fn: () => Promise<void>) => {
    if (!PAIRS.has(name) || cleaned) return;
    try {
      await fn();
    } catch (err) {
      if (cleaned) return;
      console.log(`  PAIR FAILED: ${(err as Error).message}`);
      skipped.push(`${name}: ${(err as Error).message.split('\n')[0]}`);
      process.exitCode = 1;
    }
  };
  await attempt('issue', () => pairIssue(anvil, cfssl, csr));
  await attempt('ocsp', () => pairOcsp(anvil, cfssl, csr));
  await attempt('mtls', () => pairMtls(anvil));
  // The CRL pair runs alone: no server of the other pairs is left running.
  await stop(anvil.proc);
  await stop(cfssl.proc);
  await attempt('crl', () => pairCrl(cfssl.caPem, cfssl.caKey));
  if (cleaned) return;

  console.log('\n== summary (ratio = Anvil / peer; higher is better for rates, lower for time and memory)');
  console.table(summary.map((r) => ({ pair: r.pair, anvil: r.anvil, peer: r.peer, 'anvil/peer': r.ratio, 'load avg (1 5 15)': r.load })));
  if (skipped.length) console.log(`not measured: ${skipped.join('; ')}`);
  console.log(`total ${((performance.now() - started) / 1000).toFixed(0)} s; load average at the end: ${load1()}`);
}

try {
  await main();
} finally {
  await cleanup();
}
