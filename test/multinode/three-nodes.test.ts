/**
 * Issue 13, item 6: more than one node. Three real server processes (`node --import tsx
 * apps/server/src/main.ts`) on one PostgreSQL database, the same key-encryption key (ANVIL_KEK),
 * behind a real HAProxy 2.6 (round robin, health check on /healthz, `X-Served-By` naming the node):
 *
 *   - concurrent issuance and revocation through HAProxy: every node served some, no serial twice;
 *     each revocation, once its call returns, is revoked in OCSP and listed in the CRL of EVERY node
 *     asked directly (each node's OCSP cache was warmed with a "good" answer first), and the CRL
 *     numbers only ever go up;
 *   - a console session opened on node 1 is signed in on nodes 2 and 3;
 *   - a token's rate limit is one budget: 4 issued through HAProxy, then 429 from every node;
 *   - a node killed (SIGKILL) under load: the load balancer's clients lose no acknowledged (2xx)
 *     certificate, and a retried POST with its Idempotency-Key never issues twice.
 *
 * Needs PostgreSQL (ANVIL_TEST_DB=postgres; on PGlite it skips loudly), haproxy and openssl
 * (haveTool: a skip on a laptop, a failure under CI=true). test/run-all.sh runs it in the
 * PostgreSQL step, never beside test/failover.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient, textOf } from '../support/console.ts';
import { ADMIN_PASSWORD, ADMIN_TOKEN, freePort, freshPostgresDatabase, TEST_DB, type TestAnvil } from '../support/harness.ts';
import { haveTool, tempDir } from '../support/tools.ts';

const exec = promisify(execFile);

function postgresRun(): boolean {
  if (TEST_DB !== 'postgres') {
    console.warn(
      '\n  !!! SKIPPING test/multinode: three nodes share one PostgreSQL database; run it with ANVIL_TEST_DB=postgres npx vitest run test/multinode\n',
    );
    return false;
  }
  return true;
}
const AVAILABLE = postgresRun() && ['haproxy', 'openssl'].map(haveTool).every(Boolean);

const HAPROXY = '/usr/sbin/haproxy';
const NODES = 3;
/** The concurrent run: issuances through HAProxy, this many at a time, every REVOKE_EVERY-th followed by a revocation. */
const ISSUES = 150;
const CONCURRENCY = 16;
const REVOKE_EVERY = 5;
/** The kill: load workers, how long before and after the SIGKILL, and client retries per request. */
const KILL_WORKERS = 8;
const BEFORE_KILL_MS = 1_500;
const AFTER_KILL_MS = 3_000;
const CLIENT_RETRIES = 3;

interface Node {
  name: string;
  port: number;
  base: string;
  proc: ChildProcess;
  out: string;
  err: string;
  /** Log lines of level warn and above, and how the process ended. */
  warnings: string[];
  exit?: string;
}

interface Issued {
  id: string;
  serial: string;
  issuer: string;
  certificate: string;
  chain: string;
}

const nodes: Node[] = [];
let haproxy: ChildProcess | undefined;
let haproxyLog = '';
let lb = '';
let database: { url: string; drop: () => Promise<void> } | undefined;
let sql: postgres.Sql | undefined;
let work = '';
const kek = randomBytes(32).toString('hex');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * fetch, but on a connection of its own (closed after the answer): for requests straight to one
 * node. A kept-alive connection to a Node server may be closed by it (after 5 s idle) just as the
 * client reuses it, on a loaded machine more often ("other side closed"): not what these
 * assertions are about. Through HAProxy the ordinary fetch is used.
 */
function direct(url: string | URL, init: RequestInit = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => {
      headers[name] = value;
    });
    const body = init.body === undefined || init.body === null ? undefined : Buffer.from(init.body as string | Uint8Array);
    if (body) headers['content-length'] = String(body.length);
    const req = httpRequest(url, { method: init.method ?? 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const out = new Headers();
        for (const [k, v] of Object.entries(res.headers)) for (const one of Array.isArray(v) ? v : [v ?? '']) out.append(k, one);
        const status = res.statusCode ?? 0;
        resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers: out }));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Keeps the tail of a process's output: enough to show why it died, never the whole access log. */
const tail = (s: string, more: string) => (s + more).slice(-20_000);

async function startNode(name: string, publicUrl: string): Promise<Node> {
  const port = await freePort();
  const mtlsPort = await freePort();
  const proc = spawn(process.execPath, ['--import', 'tsx', 'apps/server/src/main.ts'], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      ANVIL_MTLS_PORT: String(mtlsPort),
      ANVIL_DATA_DIR: tempDir(`anvil-${name}-`),
      DATABASE_URL: database!.url,
      ANVIL_PUBLIC_URL: publicUrl,
      ANVIL_ADMIN_TOKEN: ADMIN_TOKEN,
      ANVIL_ADMIN_PASSWORD: ADMIN_PASSWORD,
      // Every node must decrypt the CA keys node 1 stored: one key-encryption key for all.
      ANVIL_KEK: kek,
      ANVIL_ISSUE_RATE_LIMIT: '0',
      LOG_LEVEL: 'info',
      NODE_ENV: 'production',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const node: Node = { name, port, base: `http://127.0.0.1:${port}`, proc, out: '', err: '', warnings: [] };
  proc.stdout!.on('data', (d) => {
    node.out = tail(node.out, String(d));
    for (const line of String(d).split('\n')) if (/"level":(4|5|6)\d/.test(line)) node.warnings.push(line.slice(0, 2000));
  });
  proc.once('exit', (code, signal) => (node.exit = `${code ?? signal}`));
  proc.stderr!.on('data', (d) => (node.err = tail(node.err, String(d))));
  nodes.push(node);
  // A node is a supervisor and its workers (ANVIL_WORKERS, the cores by default), each loading the whole server.
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (node.out.includes('Anvil listening')) return node;
    if (proc.exitCode !== null) break;
    await sleep(100);
  }
  throw new Error(`${name} did not start:\n${node.out}\n${node.err}`);
}

function haproxyConfig(port: number): string {
  return `global
  maxconn 512
  # Server state changes (DOWN, UP) only: the test prints them.
  log stderr format raw local0 notice

defaults
  mode http
  log global
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  # A connection refused or reset before any answer is tried again on another node. For a POST
  # that may repeat a request the dead node had already committed: the clients send an
  # Idempotency-Key, so the repeat replays the first issuance instead of issuing twice.
  retries 2
  option redispatch
  retry-on conn-failure empty-response

frontend anvil
  bind 127.0.0.1:${port}
  default_backend nodes

backend nodes
  balance roundrobin
  # Generous: on a loaded machine a busy node may take a while to answer its check.
  timeout check 2s
  option httpchk GET /healthz
  http-check expect status 200
  http-response set-header X-Served-By %s
${nodes.map((n) => `  server ${n.name} 127.0.0.1:${n.port} check inter 500 fall 2 rise 1`).join('\n')}
`;
}

async function startHaproxy(port: number): Promise<void> {
  lb = `http://127.0.0.1:${port}`;
  const cfg = join(work, 'haproxy.cfg');
  writeFileSync(cfg, haproxyConfig(port));
  await exec(HAPROXY, ['-c', '-q', '-f', cfg]);
  haproxy = spawn(HAPROXY, ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  haproxy.stdout!.on('data', (d) => (haproxyLog = tail(haproxyLog, String(d))));
  haproxy.stderr!.on('data', (d) => (haproxyLog = tail(haproxyLog, String(d))));
  // Ready when round robin has reached every node.
  const seen = new Set<string>();
  const deadline = Date.now() + 20_000;
  while (seen.size < NODES && Date.now() < deadline) {
    try {
      const res = await fetch(`${lb}/healthz`);
      await res.arrayBuffer();
      if (res.status === 200) seen.add(res.headers.get('x-served-by') ?? '?');
    } catch {
      // not listening yet
    }
    if (seen.size < NODES) await sleep(100);
  }
  if (seen.size < NODES) throw new Error(`HAProxy reached only ${[...seen].join(', ')}:\n${haproxyLog}`);
}

async function stop(proc: ChildProcess | undefined): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

interface Answer {
  status: number;
  body: any;
  servedBy: string | null;
  replayed: boolean;
}

async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await (base === lb ? fetch : direct)(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: kept as text for the assertion message
  }
  return {
    status: res.status,
    body: parsed,
    servedBy: res.headers.get('x-served-by'),
    replayed: res.headers.get('idempotent-replayed') === 'true',
  };
}

/** A nonce-less OCSP request for one certificate (openssl builds it), so a node may cache its answer. */
async function ocspRequest(cert: Issued): Promise<Buffer> {
  const dir = tempDir('anvil-multinode-ocsp-');
  writeFileSync(join(dir, 'leaf.pem'), cert.certificate);
  writeFileSync(join(dir, 'issuer.pem'), cert.chain);
  await exec('openssl', [
    'ocsp',
    '-issuer',
    join(dir, 'issuer.pem'),
    '-cert',
    join(dir, 'leaf.pem'),
    '-no_nonce',
    '-reqout',
    join(dir, 'req.der'),
  ]);
  return readFileSync(join(dir, 'req.der'));
}

/** POST /ocsp to one node; openssl reads the answer: "good", "revoked", … */
async function ocspStatus(node: Node, request: Buffer): Promise<string> {
  const res = await direct(`${node.base}/ocsp`, {
    method: 'POST',
    headers: { 'content-type': 'application/ocsp-request' },
    body: request,
  });
  const der = Buffer.from(await res.arrayBuffer());
  const file = join(tempDir('anvil-multinode-ocsp-'), 'resp.der');
  writeFileSync(file, der);
  const { stdout } = await exec('openssl', ['ocsp', '-respin', file, '-resp_text', '-noverify']);
  const m = /Cert Status: (\w+)/.exec(stdout);
  return m ? m[1] : `no status (HTTP ${res.status}): ${stdout.slice(0, 300)}`;
}

interface CrlSeen {
  node: string;
  number: bigint;
  serials: Set<string>;
  hash: string;
  started: number;
  ended: number;
}

const normalSerial = (s: string) => s.toLowerCase().replace(/:/g, '').replace(/^0+/, '');

/** GET /pki/crl/{issuer}.pem from one node; openssl reads its number and serials. */
async function crlOf(node: Node, issuer: string): Promise<CrlSeen> {
  const started = Date.now();
  const res = await direct(`${node.base}/pki/crl/${issuer}.pem`);
  const pem = await res.text();
  if (res.status !== 200) throw new Error(`${node.name} GET /pki/crl/${issuer}.pem: ${res.status} ${pem.slice(0, 300)}`);
  const file = join(tempDir('anvil-multinode-crl-'), 'crl.pem');
  writeFileSync(file, pem);
  const { stdout } = await exec('openssl', ['crl', '-in', file, '-noout', '-text']);
  const number = /X509v3 CRL Number:\s*\n?\s*(?:0x)?([0-9A-Fa-f]+)/.exec(stdout);
  if (!number) throw new Error(`no CRL number in:\n${stdout.slice(0, 500)}`);
  const serials = new Set([...stdout.matchAll(/Serial Number: ([0-9A-Fa-f]+)/g)].map((m) => normalSerial(m[1])));
  // openssl -text prints the number in decimal (with the hex in parentheses) or in hex, depending on its size
  const crlNumber = /X509v3 CRL Number:\s*\n?\s*(\d+)(?:\s|$)/.exec(stdout);
  return {
    node: node.name,
    number: crlNumber ? BigInt(crlNumber[1]) : BigInt(`0x${number[1]}`),
    serials,
    hash: createHash('sha256').update(pem).digest('hex'),
    started,
    ended: Date.now(),
  };
}

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

describe.skipIf(!AVAILABLE)('three Anvil nodes on one PostgreSQL behind HAProxy', () => {
  beforeAll(async () => {
    work = tempDir('anvil-multinode-');
    database = await freshPostgresDatabase('anvil_multinode');
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
    const lbPort = await freePort();
    // Every node is configured as the deployment would be: the public URL is the load balancer's.
    const publicUrl = `http://127.0.0.1:${lbPort}`;
    // Node 1 alone first: its bootstrap creates the CAs; 2 and 3 find them.
    await startNode('node1', publicUrl);
    await Promise.all([startNode('node2', publicUrl), startNode('node3', publicUrl)]);
    await startHaproxy(lbPort);
  }, 120_000);

  afterAll(async () => {
    for (const n of nodes) {
      console.log(
        `multinode ${n.name}: ${n.exit ? `exited (${n.exit})` : 'running'}, ${n.warnings.length} warn/error log lines${n.warnings.length ? `:\n  ${n.warnings.slice(0, 5).join('\n  ')}` : ''}`,
      );
    }
    if (haproxyLog.trim()) console.log(`multinode haproxy:\n${haproxyLog.trim()}`);
    await stop(haproxy);
    await Promise.all(nodes.map((n) => stop(n.proc)));
    await sql?.end({ timeout: 2 });
    await database?.drop();
  });

  it('issues and revokes concurrently: every node serves, no serial twice, each revocation in every node’s OCSP and CRL before the call returns, CRL numbers only go up', async () => {
    const issued: Array<Issued & { servedBy: string }> = [];
    const revocations: Array<{ cert: Issued; servedBy: string; before: bigint; after: CrlSeen[]; ocsp: string[] }> = [];
    const crls: CrlSeen[] = [];
    const failures: string[] = [];
    const claimed = new Set<string>();
    let next = 0;
    let stopPolling = false;
    const t0 = Date.now();

    const revokeAndCheck = async (cert: Issued) => {
      // Warm every node's OCSP cache with a "good" answer, and note the CRL numbers before.
      const request = await ocspRequest(cert);
      const warm = await Promise.all(nodes.map((n) => ocspStatus(n, request)));
      if (warm.some((s) => s !== 'good')) failures.push(`${cert.serial} before revocation: ${warm.join(', ')}`);
      const before = await Promise.all(nodes.map((n) => crlOf(n, cert.issuer)));
      crls.push(...before);
      const revoked = await call(lb, 'POST', `/api/v1/certificates/${cert.id}/revoke`, { reason: 'keyCompromise' });
      if (revoked.status !== 200) {
        failures.push(`revoke ${cert.id}: ${revoked.status} ${JSON.stringify(revoked.body)}`);
        return;
      }
      // The call has returned: every node, asked directly, must know.
      const [ocsp, after] = await Promise.all([
        Promise.all(nodes.map((n) => ocspStatus(n, request))),
        Promise.all(nodes.map((n) => crlOf(n, cert.issuer))),
      ]);
      crls.push(...after);
      revocations.push({
        cert,
        servedBy: revoked.servedBy ?? '?',
        before: before.map((c) => c.number).sort((a, b) => (a < b ? 1 : -1))[0],
        after,
        ocsp,
      });
    };

    const worker = async () => {
      for (let i = next++; i < ISSUES; i = next++) {
        const res = await call(lb, 'POST', '/api/v1/certificates', { profile: 'server', sans: { dns: [`c${i}.multinode.test`] } });
        if (res.status !== 201) {
          failures.push(`issue ${i}: ${res.status} ${JSON.stringify(res.body)}`);
          continue;
        }
        issued.push({ ...(res.body as Issued), servedBy: res.servedBy ?? '?' });
        if (i % REVOKE_EVERY === REVOKE_EVERY - 1) {
          // An earlier certificate, one not revoked yet (issued by any worker, through any node).
          const candidates = issued.filter((c) => !claimed.has(c.id));
          const target = candidates[Math.floor(Math.random() * candidates.length)];
          claimed.add(target.id);
          await revokeAndCheck(target);
        }
      }
    };

    // Meanwhile: the CRL read again and again, from node to node in turn, one fetch at a time.
    const poller = async () => {
      for (let k = 0; !stopPolling; k++) {
        try {
          crls.push(await crlOf(nodes[k % NODES], 'issuing-ca'));
        } catch (err) {
          failures.push(String(err));
        }
        await sleep(20);
      }
    };
    const polling = poller();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    stopPolling = true;
    await polling;
    const elapsed = Date.now() - t0;

    expect(failures).toEqual([]);
    expect(issued).toHaveLength(ISSUES);

    // Every node served some.
    const perNode = countBy(issued.map((c) => c.servedBy));
    expect(Object.keys(perNode).sort()).toEqual(nodes.map((n) => n.name));

    // No serial twice, in the answers or in the database.
    expect(new Set(issued.map((c) => `${c.issuer}/${c.serial}`)).size).toBe(ISSUES);
    const rows = await sql!`select issuer_id, serial, count(*)::int as n from certificates group by 1, 2 having count(*) > 1`;
    expect(rows).toEqual([]);
    const [{ total }] = await sql!`select count(*)::int as total from certificates where sans->'dns'->>0 like '%.multinode.test'`;
    expect(total).toBe(ISSUES);

    // Each revocation, right after its call returned: revoked in every node's OCSP, listed in every node's CRL.
    const late = revocations.flatMap((r) => [
      ...r.ocsp.map((s, k) => (s === 'revoked' ? null : `${r.cert.serial}: OCSP of ${nodes[k].name} said ${s}`)),
      ...r.after.map((c) =>
        c.serials.has(normalSerial(r.cert.serial)) ? null : `${r.cert.serial}: CRL ${c.number} of ${c.node} does not list it`,
      ),
      ...r.after.map((c) => (c.number > r.before ? null : `${r.cert.serial}: CRL of ${c.node} still ${c.number} (before: ${r.before})`)),
    ]);
    expect(late.filter(Boolean)).toEqual([]);
    expect(revocations.length).toBe(Math.floor(ISSUES / REVOKE_EVERY));

    // CRL numbers: one number is one CRL, whichever node serves it; a fetch that starts after
    // another ended never sees a smaller number; and each revocation's CRL is newer than the one before it.
    const byNumber = new Map<bigint, Set<string>>();
    for (const c of crls) byNumber.set(c.number, (byNumber.get(c.number) ?? new Set()).add(c.hash));
    expect([...byNumber].filter(([, hashes]) => hashes.size > 1).map(([n]) => String(n))).toEqual([]);
    const sorted = [...crls].sort((a, b) => a.started - b.started);
    const backwards = sorted.flatMap((c) => {
      const earlier = sorted.filter((p) => p.ended < c.started && p.number > c.number);
      return earlier.length ? [`${c.node} served ${c.number} after ${earlier[0].node} had served ${earlier[0].number}`] : [];
    });
    expect(backwards).toEqual([]);
    const numbers = [...byNumber.keys()].sort((a, b) => (a < b ? -1 : 1));

    console.log(
      `multinode: ${ISSUES} issued through HAProxy in ${elapsed} ms (${CONCURRENCY} at a time), per node ${JSON.stringify(perNode)}; ` +
        `${revocations.length} revocations (revoke calls per node ${JSON.stringify(countBy(revocations.map((r) => r.servedBy)))}), ` +
        `each checked right after the call on all ${NODES} nodes: ${revocations.length * NODES} OCSP answers revoked (caches warmed with "good" first), ` +
        `${revocations.length * NODES} CRLs listing it; ${crls.length} CRL fetches, ${numbers.length} distinct CRL numbers ${numbers[0]}…${numbers.at(-1)}, none backwards`,
    );
  });

  it('shares console sessions: signed in through node 1, signed in on nodes 2 and 3', async () => {
    const client = (node: Node) =>
      new ConsoleClient({
        app: {
          // Redirects are the client's to follow (by hand, as ConsoleClient does); `direct` never follows one.
          request: (url: string, init?: RequestInit) => direct(new URL(url, node.base), init),
        },
      } as unknown as Pick<TestAnvil, 'app'>);
    const first = client(nodes[0]);
    const signedIn = await first.signIn();
    expect(signedIn.url).toBe('/');
    const cookie = first.cookie('anvil_session');
    expect(cookie).toBeTruthy();

    for (const node of nodes.slice(1)) {
      const other = client(node);
      other.setCookie('anvil_session', cookie!);
      const page = await other.get('/');
      expect(page.status, node.name).toBe(200);
      expect(page.url, node.name).toBe('/');
      expect(textOf(page.html), node.name).toContain('Sign out');
    }
    // Signed out on node 3 (a form post with the CSRF token of node 3's page): over on node 1 too.
    const third = client(nodes[2]);
    third.setCookie('anvil_session', cookie!);
    await third.get('/');
    await third.post('/sign-out', {});
    const after = client(nodes[0]);
    after.setCookie('anvil_session', cookie!);
    expect((await after.get('/')).url).toMatch(/^\/sign-in/);
    console.log(`multinode: one session signed in on ${nodes.map((n) => n.name).join(', ')}; signed out on node3, over on node1`);
  });

  it('shares rate limits: rateLimit 4 gives 4 certificates through round robin, then 429 rate_limited from every node', async () => {
    const created = await call(lb, 'POST', '/api/v1/tokens', {
      name: 'multinode-rated',
      scopes: ['certificates:issue', 'certificates:read'],
      rateLimit: 4,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const token = created.body.token as string;
    const issue = (base: string, n: number) =>
      call(
        base,
        'POST',
        '/api/v1/certificates',
        { profile: 'server', sans: { dns: [`rated-${n}.multinode.test`] } },
        {
          authorization: `Bearer ${token}`,
        },
      );
    const answers: Answer[] = [];
    for (let n = 0; n < 5; n++) answers.push(await issue(lb, n));
    const seen = answers.map((a) => `${a.status}@${a.servedBy}`).join(', ');
    expect(
      answers.map((a) => a.status),
      seen,
    ).toEqual([201, 201, 201, 201, 429]);
    expect(answers[4].body.code).toBe('rate_limited');
    expect(new Set(answers.map((a) => a.servedBy)).size, seen).toBe(NODES);
    // And on every node, asked directly: the same budget, spent.
    const direct = await Promise.all(nodes.map((node, k) => issue(node.base, 10 + k)));
    expect(direct.map((a) => `${a.status} ${a.body.code}`)).toEqual(nodes.map(() => '429 rate_limited'));
    console.log(
      `multinode: rateLimit 4 through HAProxy: ${answers.map((a) => `${a.status}@${a.servedBy}`).join(', ')}; directly: ${direct.map((a, k) => `${a.status}@${nodes[k].name}`).join(', ')}`,
    );
  });

  it('a node killed under load: the clients lose no acknowledged certificate, and no retry issues twice', async () => {
    const victim = nodes[1];
    interface Ack {
      id: string;
      serial: string;
      key: string;
      dns: string;
      status: number;
      servedBy: string;
      replayed: boolean;
      attempts: number;
      at: number;
    }
    const acks: Ack[] = [];
    const errors: Array<{ at: number; what: string }> = [];
    const servedAfterKill: string[] = [];
    let killedAt = 0;
    let stopLoad = false;

    const worker = async (w: number) => {
      for (let n = 0; !stopLoad; n++) {
        const key = randomUUID();
        const dns = `kill-w${w}-n${n}.multinode.test`;
        // A client that retries a failed POST with the same Idempotency-Key, as the README says to.
        for (let attempt = 1; attempt <= 1 + CLIENT_RETRIES; attempt++) {
          try {
            const res = await call(
              lb,
              'POST',
              '/api/v1/certificates',
              { profile: 'server', sans: { dns: [dns] } },
              { 'idempotency-key': key },
            );
            if (killedAt && res.servedBy) servedAfterKill.push(res.servedBy);
            if (res.status === 201 || res.status === 200) {
              acks.push({
                id: res.body.id,
                serial: res.body.serial,
                key,
                dns,
                status: res.status,
                servedBy: res.servedBy ?? '?',
                replayed: res.replayed,
                attempts: attempt,
                at: Date.now(),
              });
              break;
            }
            errors.push({ at: Date.now(), what: `${res.status} ${res.body?.code ?? String(res.body).slice(0, 80)} via ${res.servedBy}` });
          } catch (err) {
            errors.push({ at: Date.now(), what: `connection: ${(err as Error).cause ?? err}` });
          }
          await sleep(100);
        }
      }
    };

    const conductor = async () => {
      await sleep(BEFORE_KILL_MS);
      killedAt = Date.now();
      victim.proc.kill('SIGKILL');
      await sleep(AFTER_KILL_MS);
      stopLoad = true;
    };
    await Promise.all([conductor(), ...Array.from({ length: KILL_WORKERS }, (_, w) => worker(w))]);
    expect(victim.proc.signalCode ?? (await new Promise((r) => victim.proc.once('exit', (_c, s) => r(s))))).toBe('SIGKILL');

    const before = acks.filter((a) => a.servedBy === victim.name).length;
    expect(before, 'the victim served nothing before it was killed').toBeGreaterThan(0);
    expect(acks.filter((a) => a.at > killedAt).length, 'the load went on after the kill').toBeGreaterThan(KILL_WORKERS);

    // Every acknowledged certificate exists: read back from a surviving node, directly.
    const survivor = nodes[0];
    const missing: string[] = [];
    for (const a of acks) {
      const got = await call(survivor.base, 'GET', `/api/v1/certificates/${a.id}`);
      if (got.status !== 200 || got.body.serial !== a.serial) missing.push(`${a.id} (${a.dns}): ${got.status}`);
    }
    expect(missing).toEqual([]);
    // No request issued twice (one certificate per Idempotency-Key, retried or not), and every request answered in the end.
    const twice = await sql!`select sans->'dns'->>0 as dns, count(*)::int as n from certificates
      where sans->'dns'->>0 like 'kill-%' group by 1 having count(*) > 1`;
    expect(twice.map((r) => `${r.dns}: ${r.n}`)).toEqual([]);
    const requests = new Set(acks.map((a) => a.dns));
    expect(requests.size).toBe(acks.length);
    const [{ stored }] = await sql!`select count(*)::int as stored from certificates where sans->'dns'->>0 like 'kill-%'`;
    // Stored but never acknowledged: only a request whose client gave up (none here: every loop ends on an answer).
    expect(stored).toBe(acks.length);

    const perNode = countBy(acks.map((a) => a.servedBy));
    const afterKill = countBy(servedAfterKill);
    console.log(
      `multinode kill: ${KILL_WORKERS} clients, ${acks.length} certificates acknowledged (per node ${JSON.stringify(perNode)}), ` +
        `${acks.filter((a) => a.replayed).length} idempotent replays, ${acks.filter((a) => a.attempts > 1).length} needed a client retry; ` +
        `SIGKILL of ${victim.name} at +${BEFORE_KILL_MS} ms; answers after the kill per node ${JSON.stringify(afterKill)}; ` +
        `5xx/connection errors seen by clients: ${errors.length}${errors.length ? ` ${JSON.stringify(countBy(errors.map((e) => e.what)))}` : ''}; ` +
        `all ${acks.length} acknowledged certificates read back from ${survivor.name}, ${stored} stored, none twice`,
    );
  });
});
