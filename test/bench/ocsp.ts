/**
 * OCSP throughput on cached answers: a whole Anvil server (HTTP, hono app, responder) in a child
 * process, hammered over keep-alive HTTP by this process with fixed, nonce-less POST /ocsp requests.
 *
 *   npm run bench:ocsp                                   # PostgreSQL if reachable, else PGlite
 *   npm run bench:ocsp -- --db pglite --concurrency 64 --duration 15 --certs 8
 *   ANVIL_TEST_PG_URL=postgres://user@host:5432/postgres npm run bench:ocsp -- --db postgres
 *
 * The server issues `--certs` certificates, revokes every third, and answers each request once
 * before the run (so every answer during the run comes from the responder's cache). The client
 * runs `--concurrency` request loops for `--duration` seconds after a one-second warm-up and
 * prints answers/s, latency p50/p99, the server's CPU use (and per answer) and os.loadavg(). A cached answer lives
 * at most REVOCATION_CACHE_MAX_MS (5 s), so each request sees a few re-signed answers during a
 * run: every distinct answer is checked to carry the status the request was primed with, and the
 * number of re-signings is printed. Target: >= 5,000 cached answers/s.
 */
import { spawn, spawnSync } from 'node:child_process';
import { Agent, request } from 'node:http';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadAverage } from './support.ts';

const { values } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false },
    db: { type: 'string' },
    concurrency: { type: 'string', default: '64' },
    duration: { type: 'string', default: '10' },
    certs: { type: 'string', default: '8' },
  },
});

// ---------------------------------------------------------------------------- server (child)

interface Ready {
  url: string;
  db: string;
  requests: Array<{ body: string; status: string }>;
}

async function serve() {
  const { issuerHashes, parseOcspResponse } = await import('@anvil/pki');
  const { createTestAnvil } = await import('../support/harness.ts');
  const anvil = await createTestAnvil({ listen: true });
  const issuer = anvil.authority.issuerByName('issuing-ca');

  // A nonce-less request for one serial of the issuing CA, SHA-1 CertID (RFC 6960 4.1.1).
  const der = (tag: number, ...parts: Uint8Array[]) => {
    const body = Buffer.concat(parts);
    const len: number[] = [];
    if (body.length < 128) len.push(body.length);
    else {
      for (let l = body.length; l > 0; l >>= 8) len.unshift(l & 0xff);
      len.unshift(0x80 | len.length);
    }
    return new Uint8Array([tag, ...len, ...body]);
  };
  const nameDer = new Uint8Array(issuer.certificate.subject.toSchema().toBER(false));
  const h = issuerHashes(nameDer, issuer.signer.publicKeySpki, 'sha1');
  const sha1Oid = Uint8Array.from([0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00]);
  const certId = (serialHex: string) =>
    der(0x30, der(0x30, sha1Oid), der(0x04, h.nameHash), der(0x04, h.keyHash), der(0x02, Buffer.from(serialHex, 'hex')));
  // OCSPRequest { TBSRequest { requestList { Request { CertID } } } }
  const requestFor = (serialHex: string) => der(0x30, der(0x30, der(0x30, der(0x30, certId(serialHex)))));

  const requests: Ready['requests'] = [];
  const n = Number(values.certs);
  for (let i = 0; i < n; i++) {
    const res = await anvil.api('POST', '/api/v1/certificates', {
      profile: 'client',
      subject: { CN: `bench-${i}` },
      sans: { dns: [`bench-${i}.test`] },
    });
    const cert = await res.json();
    let status = 'good';
    if (i % 3 === 2) {
      await anvil.api('POST', `/api/v1/certificates/${cert.id}/revoke`, { reason: 'keyCompromise' });
      status = 'revoked';
    }
    const body = requestFor(cert.serial);
    // Prime the cache over HTTP, and check the answer.
    const answer = await fetch(`${anvil.publicUrl}/ocsp`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/ocsp-request' },
    });
    const parsed = parseOcspResponse(new Uint8Array(await answer.arrayBuffer()));
    if (parsed.responses[0]?.status !== status)
      throw new Error(`priming: expected ${status}, got ${parsed.status}/${parsed.responses[0]?.status}`);
    requests.push({ body: Buffer.from(body).toString('base64'), status });
  }
  const ready: Ready = { url: `${anvil.publicUrl}/ocsp`, db: anvil.store.kind, requests };
  process.stdout.write(`READY ${JSON.stringify(ready)}\n`);

  let cpu0 = process.cpuUsage();
  let t0 = performance.now();
  let measured = { cpuPercent: 0, userUs: 0, systemUs: 0 };
  // "mark" and "cpu" bracket the measured window; "stop": report and close (dropping the database).
  for await (const line of createInterface({ input: process.stdin })) {
    const command = line.trim();
    if (command === 'mark') {
      cpu0 = process.cpuUsage();
      t0 = performance.now();
    } else if (command === 'cpu') {
      const cpu = process.cpuUsage(cpu0);
      measured = { cpuPercent: ((cpu.user + cpu.system) / 1000 / (performance.now() - t0)) * 100, userUs: cpu.user, systemUs: cpu.system };
    } else if (command === 'stop') break;
  }
  process.stdout.write(`SERVER ${JSON.stringify({ ...measured, maxRssMb: process.resourceUsage().maxRSS / 1024 })}\n`);
  await anvil.close();
  process.exit(0);
}

// ---------------------------------------------------------------------------- client (parent)

function pgReachable(): boolean {
  const url = process.env.ANVIL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  return spawnSync('psql', [url, '-Atc', 'select 1'], { encoding: 'utf8' }).status === 0;
}

async function main() {
  const db = values.db ?? (pgReachable() ? 'postgres' : 'pglite');
  if (db !== 'postgres' && db !== 'pglite') throw new Error('--db is postgres or pglite');
  const concurrency = Number(values.concurrency);
  const durationMs = Number(values.duration) * 1000;
  console.log(
    `bench:ocsp  db=${db}  concurrency=${concurrency}  duration=${durationMs / 1000}s  certs=${values.certs}  node ${process.version}  cpus=${cpus().length}`,
  );
  console.log(`load average at start: ${loadAverage()}`);

  const script = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [...process.execArgv, script, '--serve', '--certs', values.certs], {
    env: { ...process.env, ANVIL_TEST_DB: db },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const iterator = lines[Symbol.asyncIterator]();
  const nextLine = async (prefix: string): Promise<string> => {
    for (;;) {
      const { value, done } = await iterator.next();
      if (done) throw new Error(`server exited before "${prefix}"`);
      if (value.startsWith(`${prefix} `)) return value.slice(prefix.length + 1);
    }
  };
  const ready = JSON.parse(await nextLine('READY')) as Ready;
  console.log(`server ready on ${ready.url} (store: ${ready.db}); ${ready.requests.length} distinct cached requests`);

  const url = new URL(ready.url);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const bodies = ready.requests.map((r) => Buffer.from(r.body, 'base64'));
  /** Per request, every distinct answer seen (hex): more than one only after the cache entry aged out. */
  const answers: Array<Set<string>> = bodies.map(() => new Set());

  const post = (i: number) =>
    new Promise<Buffer>((resolve, reject) => {
      const req = request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/ocsp-request', 'content-length': bodies[i].length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if (res.statusCode !== 200 || res.headers['content-type'] !== 'application/ocsp-response') {
              reject(new Error(`HTTP ${res.statusCode} ${res.headers['content-type']}`));
            } else resolve(Buffer.concat(chunks));
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(bodies[i]);
    });

  for (let i = 0; i < bodies.length; i++) answers[i].add((await post(i)).toString('hex'));

  let recording = false;
  let stop = false;
  const latencies: number[] = [];
  let errors = 0;
  const worker = async (w: number) => {
    let i = w;
    while (!stop) {
      const k = i++ % bodies.length;
      const t = performance.now();
      try {
        const body = await post(k);
        if (recording) {
          latencies.push(performance.now() - t);
          answers[k].add(body.toString('hex'));
        }
      } catch {
        errors++;
      }
    }
  };
  const workers = Array.from({ length: concurrency }, (_, w) => worker(w));
  await new Promise((r) => setTimeout(r, 1000)); // warm-up
  recording = true;
  child.stdin!.write('mark\n');
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, durationMs));
  recording = false;
  child.stdin!.write('cpu\n');
  const elapsed = performance.now() - t0;
  const loadEnd = loadAverage();
  stop = true;
  await Promise.all(workers);
  agent.destroy();

  child.stdin!.write('stop\n');
  const server = JSON.parse(await nextLine('SERVER')) as { cpuPercent: number; userUs: number; systemUs: number; maxRssMb: number };
  await new Promise((r) => child.once('exit', r));

  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  const rate = latencies.length / (elapsed / 1000);
  console.log(
    `answers: ${latencies.length} in ${(elapsed / 1000).toFixed(1)} s = ${Math.round(rate)} answers/s; ` +
      `latency p50 ${q(0.5).toFixed(2)} ms, p99 ${q(0.99).toFixed(2)} ms; errors ${errors}`,
  );
  // Re-signed answers are expected (the cache bound); a wrong status never is.
  const { parseOcspResponse } = await import('@anvil/pki');
  let wrong = 0;
  let resigned = 0;
  answers.forEach((seen, i) => {
    resigned += seen.size - 1;
    for (const hex of seen)
      if (parseOcspResponse(new Uint8Array(Buffer.from(hex, 'hex'))).responses[0]?.status !== ready.requests[i].status) wrong++;
  });
  console.log(
    `answers re-signed when their cache entry aged out: ${resigned} (over ${bodies.length} requests); with a wrong status: ${wrong}`,
  );
  // CPU per answer is steadier than answers/s on a shared machine: other load slows both, but costs little of the server's own CPU.
  const per = (us: number) => (us / Math.max(1, latencies.length)).toFixed(1);
  console.log(
    `server process: ${server.cpuPercent.toFixed(0)}% of one core (CPU per answer: user ${per(server.userUs)} µs + system ${per(server.systemUs)} µs), ` +
      `peak RSS ${server.maxRssMb.toFixed(0)} MB`,
  );
  console.log(`load average at end: ${loadEnd}`);
  const met = rate >= 5000;
  console.log(`target >= 5,000 cached answers/s: ${met ? 'met' : 'MISSED'}`);
  if (!met || errors || wrong) process.exitCode = 1;
}

if (values.serve) await serve();
else await main();
